/**
 * The Platform's keyrings: every workspace's keys, wrapped under the master key in PostgreSQL and
 * unwrapped on demand into a process cache. The active key is re-read after a short TTL, so a
 * rotation by another process takes effect without a restart; retired keys keep decrypting.
 */
import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { INTERNAL_KEY_WORKSPACE, keyId, parseKeyId, type Keyring, type WorkspaceKey } from '../../common/keyring';
import type { Queryable } from '../repos/db';
import { getActiveKey, getKey, insertKey, listKeys, retireActiveKey, type KeyPurposeColumn } from '../repos/keys.repo';
import type { MasterKey } from './master-key';

const ACTIVE_TTL_MS = 15_000;

function label(purpose: KeyPurposeColumn, id: string): string {
  return `${purpose}:${id}`;
}

export class PlatformKeyring implements Keyring {
  readonly soleWorkspaceId = undefined;
  readonly #cache = new Map<string, WorkspaceKey>();
  #internal: WorkspaceKey | undefined;
  readonly #active = new Map<string, { key: WorkspaceKey; at: number }>();

  constructor(
    private readonly pool: Pool,
    private readonly master: MasterKey,
    readonly purpose: KeyPurposeColumn,
  ) {}

  #unwrap(workspaceId: string, version: number, wrapped: Buffer): WorkspaceKey {
    const id = keyId(workspaceId, version);
    const cached = this.#cache.get(id);
    if (cached) return cached;
    const key = { id, workspaceId, root: this.master.unwrap(wrapped, label(this.purpose, id)) };
    this.#cache.set(id, key);
    return key;
  }

  /**
   * `db` lets a caller inside a transaction see keys that transaction created. While the database
   * cannot be read, the last active key known is used (a retired key still decrypts): the codec
   * encodes every completion of the platform worker, and an encoding error there stops the
   * worker, so a database restart must not turn into one.
   */
  async activeKey(workspaceId: string, db: Queryable = this.pool): Promise<WorkspaceKey> {
    const hit = this.#active.get(workspaceId);
    if (hit && Date.now() - hit.at < ACTIVE_TTL_MS) return hit.key;
    let row: Awaited<ReturnType<typeof getActiveKey>>;
    try {
      row = await getActiveKey(db, workspaceId, this.purpose);
    } catch (err) {
      if (hit) return hit.key;
      throw err;
    }
    if (!row) throw new Error(`workspace ${workspaceId} has no active ${this.purpose} key`);
    const key = this.#unwrap(workspaceId, row.version, row.wrapped);
    this.#active.set(workspaceId, { key, at: Date.now() });
    return key;
  }

  /** Derived from the master key, never stored: for the platform worker's own failure reports. */
  async internalKey(): Promise<WorkspaceKey> {
    this.#internal ??= {
      id: keyId(INTERNAL_KEY_WORKSPACE, 1),
      workspaceId: INTERNAL_KEY_WORKSPACE,
      root: this.master.derive(`internal-${this.purpose}-key`),
    };
    return this.#internal;
  }

  async keyById(id: string): Promise<WorkspaceKey | undefined> {
    if (id === keyId(INTERNAL_KEY_WORKSPACE, 1)) return this.internalKey();
    const cached = this.#cache.get(id);
    if (cached) return cached;
    const parsed = parseKeyId(id);
    if (!parsed) return undefined;
    const row = await getKey(this.pool, parsed.workspaceId, this.purpose, parsed.version);
    return row && this.#unwrap(parsed.workspaceId, row.version, row.wrapped);
  }

  /** Forgets a workspace's keys (after its deletion). */
  forget(workspaceId: string): void {
    this.#active.delete(workspaceId);
    for (const id of [...this.#cache.keys()]) if (parseKeyId(id)?.workspaceId === workspaceId) this.#cache.delete(id);
  }
}

/** Creates version 1 of a workspace's payload and data keys; call in the transaction that creates the workspace. */
export async function createWorkspaceKeys(db: Queryable, master: MasterKey, workspaceId: string): Promise<void> {
  for (const purpose of ['payload', 'data'] as const) {
    await insertKey(db, { workspaceId, purpose, version: 1, wrapped: master.wrap(randomBytes(32), label(purpose, keyId(workspaceId, 1))) });
  }
}

/** Retires the active key of `purpose` and makes a new one active; returns the new key id. Call in a transaction. */
export async function rotateWorkspaceKey(
  db: Queryable,
  master: MasterKey,
  workspaceId: string,
  purpose: KeyPurposeColumn,
): Promise<string> {
  const version = await retireActiveKey(db, workspaceId, purpose);
  const id = keyId(workspaceId, version);
  await insertKey(db, { workspaceId, purpose, version, wrapped: master.wrap(randomBytes(32), label(purpose, id)) });
  return id;
}

/** The key file a workspace's Runner (and codec server) loads: its payload keys, active and retired. */
export async function exportRunnerKeyFile(
  db: Queryable,
  master: MasterKey,
  workspaceId: string,
): Promise<{ workspaceId: string; activeKeyId: string; keys: { id: string; key: string }[] }> {
  const rows = await listKeys(db, workspaceId, 'payload');
  const active = rows.find((r) => r.state === 'active');
  if (!active) throw new Error('the workspace has no active payload key');
  return {
    workspaceId,
    activeKeyId: keyId(workspaceId, active.version),
    keys: rows.map((r) => {
      const id = keyId(workspaceId, r.version);
      return { id, key: master.unwrap(r.wrapped, label('payload', id)).toString('base64') };
    }),
  };
}
