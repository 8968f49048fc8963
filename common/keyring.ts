/**
 * Workspace keys. Each workspace has a keyring: one active key used to encrypt, retired keys kept
 * to decrypt older history. A key is a 32-byte root from which purpose-bound subkeys are derived
 * (HKDF-SHA256), so one root never serves two purposes directly. Key ids name the workspace
 * (`<workspaceId>:v<n>`), so a key can be found from payload metadata alone (codec server, replay).
 */
import { hkdfSync } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';

export interface WorkspaceKey {
  /** `<workspaceId>:v<version>` */
  id: string;
  workspaceId: string;
  /**
   * `retired`: decrypts history, attests nothing. Absent means active (or a key file from before
   * key states). A revoked key is never handed out by a keyring.
   */
  state?: 'active' | 'retired' | undefined;
  /** 32 random bytes; never leaves the process except wrapped or in a Runner's key file. */
  root: Buffer;
}

export interface Keyring {
  /** The key that encrypts new payloads of `workspaceId`. Throws if the workspace has none. */
  activeKey(workspaceId: string): Promise<WorkspaceKey>;
  /** Any key by id, active or retired; undefined when this keyring does not hold it. */
  keyById(keyId: string): Promise<WorkspaceKey | undefined>;
  /** The one workspace this keyring serves, when it serves exactly one (Runner, codec server). */
  readonly soleWorkspaceId?: string | undefined;
  /**
   * The key for payloads that belong to no workflow of a workspace: the Platform's own reports of a
   * failed workflow task, which the SDK encodes without a serialization context. Only the Platform
   * holds it; without it such an encode fails (and a worker whose completion cannot be encoded stops).
   */
  internalKey?(): Promise<WorkspaceKey>;
}

/** The workspace id of the Platform's internal key (no workspace has it). */
export const INTERNAL_KEY_WORKSPACE = '00000000-0000-0000-0000-000000000000';

const KEY_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):v([1-9][0-9]{0,8})$/;

export function keyId(workspaceId: string, version: number): string {
  return `${workspaceId}:v${version}`;
}

export function parseKeyId(id: string): { workspaceId: string; version: number } | undefined {
  const m = KEY_ID.exec(id);
  return m?.[1] && m[2] ? { workspaceId: m[1], version: Number(m[2]) } : undefined;
}

export type KeyPurpose = 'payload' | 'attestation';
const derived = new WeakMap<Buffer, Map<KeyPurpose, Buffer>>();

/** The subkey of `root` for one purpose (HKDF-SHA256, cached per root). */
export function subkey(root: Buffer, purpose: KeyPurpose): Buffer {
  let byPurpose = derived.get(root);
  if (!byPurpose) {
    byPurpose = new Map();
    derived.set(root, byPurpose);
  }
  let key = byPurpose.get(purpose);
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), `lookout/${purpose}/v1`, 32));
    byPurpose.set(purpose, key);
  }
  return key;
}

/**
 * The key file a Runner or codec server loads: one workspace's keys, nothing else. Each key carries
 * its state (a file from before key states has none: all held keys count as usable); revoked keys
 * are listed by id only, never with their material, and refused even if an older file held them.
 */
export const KeyFile = z.strictObject({
  workspaceId: z.uuid(),
  activeKeyId: z.string(),
  keys: z
    .array(
      z.strictObject({
        id: z.string().regex(KEY_ID),
        key: z.base64().refine((k) => Buffer.from(k, 'base64').length === 32, 'must be 32 bytes'),
        state: z.enum(['active', 'retired']).optional(),
      }),
    )
    .min(1),
  revoked: z.array(z.string().regex(KEY_ID)).max(10_000).optional(),
});
export type KeyFile = z.infer<typeof KeyFile>;

/** A keyring holding exactly one workspace's keys, as a Runner or a codec server does. */
export class StaticKeyring implements Keyring {
  readonly soleWorkspaceId: string;
  readonly #keys: Map<string, WorkspaceKey>;
  readonly #active: WorkspaceKey;

  constructor(file: KeyFile) {
    const parsed = KeyFile.parse(file);
    this.soleWorkspaceId = parsed.workspaceId;
    const revoked = new Set(parsed.revoked ?? []);
    this.#keys = new Map(
      parsed.keys
        .filter((k) => !revoked.has(k.id))
        .map((k) => {
          if (parseKeyId(k.id)?.workspaceId !== parsed.workspaceId)
            throw new Error(`key ${k.id} belongs to another workspace than the key file`);
          const state = k.id === parsed.activeKeyId ? 'active' : k.state;
          return [k.id, { id: k.id, workspaceId: parsed.workspaceId, root: Buffer.from(k.key, 'base64'), state }];
        }),
    );
    const active = this.#keys.get(parsed.activeKeyId);
    if (!active) throw new Error('the key file names an active key it does not hold (or revoked)');
    this.#active = active;
  }

  static fromFile(path: string): StaticKeyring {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new Error(`cannot read the key file ${path}: ${err instanceof Error ? err.message.split('\n')[0] : 'unreadable'}`);
    }
    const parsed = KeyFile.safeParse(raw);
    if (!parsed.success)
      throw new Error(`the key file ${path} is invalid: ${parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')}`);
    return new StaticKeyring(parsed.data);
  }

  async activeKey(workspaceId: string): Promise<WorkspaceKey> {
    if (workspaceId !== this.soleWorkspaceId) throw new Error('this keyring holds no key of that workspace');
    return this.#active;
  }

  async keyById(id: string): Promise<WorkspaceKey | undefined> {
    return this.#keys.get(id);
  }
}

/**
 * A keyring read from a key file that may change under the process (a Kubernetes Secret volume is
 * updated in place after `lookout keys rotate` + `lookout keys export`). The file is re-read when its
 * modification time changes (checked at most every `reloadIntervalMs`) and at once when a payload
 * names a key this keyring does not hold, so a rotation reaches a running Runner without a restart.
 * A file for another workspace or a broken file is ignored: the keys already loaded stay in use.
 */
export class FileKeyring implements Keyring {
  #current: StaticKeyring;
  #mtimeMs: number;
  #checkedAt = Date.now();

  constructor(
    private readonly path: string,
    private readonly reloadIntervalMs = 5_000,
    private readonly onReload: (event: { ok: boolean; reason?: string }) => void = () => undefined,
  ) {
    this.#current = StaticKeyring.fromFile(path);
    this.#mtimeMs = statSync(path).mtimeMs;
  }

  get soleWorkspaceId(): string {
    return this.#current.soleWorkspaceId;
  }

  #reloadIfChanged(force: boolean): void {
    if (!force && Date.now() - this.#checkedAt < this.reloadIntervalMs) return;
    this.#checkedAt = Date.now();
    let mtimeMs: number;
    try {
      mtimeMs = statSync(this.path).mtimeMs;
    } catch {
      return;
    }
    if (mtimeMs === this.#mtimeMs) return;
    try {
      const next = StaticKeyring.fromFile(this.path);
      if (next.soleWorkspaceId !== this.#current.soleWorkspaceId) throw new Error('the key file now names another workspace');
      this.#current = next;
      this.#mtimeMs = mtimeMs;
      this.onReload({ ok: true });
    } catch (err) {
      this.onReload({ ok: false, reason: err instanceof Error ? err.message : 'unreadable' });
    }
  }

  async activeKey(workspaceId: string): Promise<WorkspaceKey> {
    this.#reloadIfChanged(false);
    return this.#current.activeKey(workspaceId);
  }

  async keyById(id: string): Promise<WorkspaceKey | undefined> {
    const key = await this.#current.keyById(id);
    if (key) return key;
    this.#reloadIfChanged(true);
    return this.#current.keyById(id);
  }
}
