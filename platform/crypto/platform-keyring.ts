/**
 * The Platform's keyrings: every workspace's keys, wrapped under the master key in PostgreSQL and
 * unwrapped on demand into a process cache. The active key and every key's state are re-read after
 * a short TTL (15 s), so a rotation or a revocation by another process takes effect without a
 * restart: retired keys keep decrypting and attest nothing, revoked keys are refused.
 */
import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { INTERNAL_KEY_WORKSPACE, keyId, parseKeyId, type KeyFile, type Keyring, type WorkspaceKey } from '../../common/keyring';
import type { Queryable } from '../repos/db';
import {
  getActiveKey,
  getKey,
  insertKey,
  listKeys,
  retireActiveKey,
  revokeKey,
  type KeyPurposeColumn,
  type KeyState,
} from '../repos/keys.repo';
import { MASTER_LABELS, type MasterKey } from './master-key';

const ACTIVE_TTL_MS = 15_000;
const STATE_TTL_MS = 15_000;

const label = MASTER_LABELS.workspaceKey;

export class PlatformKeyring implements Keyring {
  readonly soleWorkspaceId = undefined;
  /** Unwrapped roots by key id, and when the key's state was last read. */
  readonly #cache = new Map<string, { key: WorkspaceKey; at: number }>();
  #internal: WorkspaceKey | undefined;
  readonly #active = new Map<string, { key: WorkspaceKey; at: number }>();

  constructor(
    private readonly pool: Pool,
    private readonly master: MasterKey,
    readonly purpose: KeyPurposeColumn,
  ) {}

  /** The key of a row just read (a revoked one is forgotten and never unwrapped). */
  #fromRow(workspaceId: string, version: number, wrapped: Buffer, state: KeyState): WorkspaceKey | undefined {
    const id = keyId(workspaceId, version);
    if (state === 'revoked') {
      this.#cache.delete(id);
      return undefined;
    }
    // The same root Buffer stays, so its derived subkeys stay cached too.
    const root = this.#cache.get(id)?.key.root ?? this.master.unwrap(wrapped, label(this.purpose, id));
    const key: WorkspaceKey = { id, workspaceId, root, state };
    this.#cache.set(id, { key, at: Date.now() });
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
    const key = row && this.#fromRow(workspaceId, row.version, row.wrapped, row.state);
    if (!key) throw new Error(`workspace ${workspaceId} has no active ${this.purpose} key`);
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
    if (cached && Date.now() - cached.at < STATE_TTL_MS) return cached.key;
    const parsed = parseKeyId(id);
    if (!parsed) return undefined;
    let row: Awaited<ReturnType<typeof getKey>>;
    try {
      row = await getKey(this.pool, parsed.workspaceId, this.purpose, parsed.version);
    } catch (err) {
      // As for the active key: a database restart must not stop the worker's codec.
      if (cached) return cached.key;
      throw err;
    }
    if (!row) {
      this.#cache.delete(id);
      return undefined;
    }
    return this.#fromRow(parsed.workspaceId, row.version, row.wrapped, row.state);
  }

  /** Re-reads every key's state at its next use; unwrapped roots stay (a retired key decrypts as before). */
  recheckStates(): void {
    for (const entry of this.#cache.values()) entry.at = 0;
    for (const entry of this.#active.values()) entry.at = 0;
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

/**
 * Revokes a payload or data key: refused from then on by every Platform process (within the state
 * TTL), by the codec and in attestations; an active key is first replaced by a new one. Answers the
 * new active key id when there was a rotation, undefined when the key was not the active one.
 * Throws when the workspace has no such key. Call in a transaction.
 */
export async function revokeWorkspaceKey(
  db: Queryable,
  master: MasterKey,
  id: string,
  purpose: KeyPurposeColumn,
): Promise<{ rotatedTo?: string }> {
  const parsed = parseKeyId(id);
  if (!parsed) throw new Error(`${id} is not a key id (<workspace id>:v<n>)`);
  const current = await getKey(db, parsed.workspaceId, purpose, parsed.version);
  if (!current) throw new Error(`the workspace has no ${purpose} key ${id}`);
  const rotatedTo = current.state === 'active' ? await rotateWorkspaceKey(db, master, parsed.workspaceId, purpose) : undefined;
  await revokeKey(db, parsed.workspaceId, purpose, parsed.version);
  return rotatedTo ? { rotatedTo } : {};
}

/**
 * The key file a workspace's Runner (and codec server) loads: its payload keys with their states,
 * active and retired, and the ids of revoked keys (never their material).
 */
export async function exportRunnerKeyFile(db: Queryable, master: MasterKey, workspaceId: string): Promise<KeyFile> {
  const rows = await listKeys(db, workspaceId, 'payload');
  const active = rows.find((r) => r.state === 'active');
  if (!active) throw new Error('the workspace has no active payload key');
  const revoked = rows.filter((r) => r.state === 'revoked').map((r) => keyId(workspaceId, r.version));
  return {
    workspaceId,
    activeKeyId: keyId(workspaceId, active.version),
    keys: rows.flatMap((r) => {
      if (r.state === 'revoked') return [];
      const id = keyId(workspaceId, r.version);
      return [{ id, key: master.unwrap(r.wrapped, label('payload', id)).toString('base64'), state: r.state }];
    }),
    ...(revoked.length > 0 ? { revoked } : {}),
  };
}
