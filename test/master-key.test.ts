/**
 * A versioned master key (issue 16): values name the master key that wrapped them, older keys unwrap
 * only while configured as previous keys, and `lookout keys rewrap` moves everything to the current
 * key — resumable after a kill mid-way — so that every workspace stays readable with the new key
 * alone. Runs on a database of its own (it rewraps every row it finds).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Pool } from 'pg';
import { keyId } from '../common/keyring';
import { MASTER_LABELS, MasterKey } from '../platform/crypto/master-key';
import { createWorkspaceKeys, PlatformKeyring } from '../platform/crypto/platform-keyring';
import { migrate } from '../platform/db/migrate';
import { createPool } from '../platform/db/pool';
import { createUser, setPendingTotp } from '../platform/repos/users.repo';
import { createWorkspace } from '../platform/repos/workspaces.repo';
import { createEmptyDatabase } from './harness/databases';

const K1 = MasterKey.generate();
const K2 = MasterKey.generate();
const WORKSPACES = 40;
const dist = path.resolve(__dirname, '..', 'dist');

/** A value as the Platform wrapped it before master key versions (format v1: nonce || ciphertext || tag). */
function wrapV1(key: string, plain: Buffer, label: string): Buffer {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(key, 'base64'), nonce);
  cipher.setAAD(Buffer.from(`lookout-key/v1:${label}`));
  return Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

describe('master key versions', () => {
  it('unwraps a value under the key that wrapped it, old format included, and names a missing key', () => {
    const old = MasterKey.fromBase64(K1);
    const rotated = MasterKey.fromBase64(K2, [K1]);
    const alone = MasterKey.fromBase64(K2);
    const secret = randomBytes(32);
    const wrapped = old.wrap(secret, 'payload:x');
    expect(old.isCurrent(wrapped)).toBe(true);
    expect(rotated.isCurrent(wrapped)).toBe(false);
    expect(rotated.unwrap(wrapped, 'payload:x')).toEqual(secret);
    expect(() => alone.unwrap(wrapped, 'payload:x')).toThrow(`wrapped under master key ${old.fingerprint}, which is not configured`);
    // Bound to its label: it cannot be moved to another row.
    expect(() => rotated.unwrap(wrapped, 'payload:y')).toThrow(/wrong master key or tampered row/);
    const legacy = wrapV1(K1, secret, 'payload:x');
    expect(rotated.unwrap(legacy, 'payload:x')).toEqual(secret);
    expect(() => alone.unwrap(legacy, 'payload:x')).toThrow(/wrong master key or tampered row/);
    // The fingerprint says which key, and nothing about it.
    expect(old.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(Buffer.from(K1, 'base64').toString('hex')).not.toContain(old.fingerprint);
  });
});

describe('lookout keys rewrap', () => {
  let db: Awaited<ReturnType<typeof createEmptyDatabase>>;
  let pool: Pool;
  const workspaces: string[] = [];
  const userId = randomUUID();
  const totp = 'JBSWY3DPEHPK3PXP';

  beforeAll(async () => {
    db = await createEmptyDatabase();
    pool = createPool(db.url, () => undefined, 4);
    await migrate(pool);
    const old = MasterKey.fromBase64(K1);
    for (let i = 0; i < WORKSPACES; i++) {
      const id = randomUUID();
      await createWorkspace(pool, { id, name: `rewrap-${i}` });
      await createWorkspaceKeys(pool, old, id);
      workspaces.push(id);
    }
    // One workspace's payload key as it was stored before versions existed.
    const legacyId = keyId(workspaces[0]!, 1);
    await pool.query("update workspace_keys set wrapped = $2 where workspace_id = $1 and purpose = 'payload'", [
      workspaces[0],
      wrapV1(K1, randomBytes(32), MASTER_LABELS.workspaceKey('payload', legacyId)),
    ]);
    await createUser(pool, { id: userId, email: `rewrap-${userId}@example.test` });
    await setPendingTotp(pool, userId, old.wrap(Buffer.from(totp), MASTER_LABELS.userTotp(userId)));
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  const env = (previous: string | undefined) => ({
    ...process.env,
    DATABASE_URL: db.url,
    LOOKOUT_MASTER_KEY: K2,
    ...(previous ? { LOOKOUT_MASTER_KEY_PREVIOUS: previous } : {}),
  });
  const underK2 = async () =>
    (
      await pool.query<{ n: number }>('select count(*)::int as n from workspace_keys where substring(wrapped from 1 for 12) = $1', [
        MasterKey.fromBase64(K2).currentHeader,
      ])
    ).rows[0]!.n;

  it('moves every value to the new key, resumes after a kill, and leaves every workspace readable with the new key alone', async () => {
    // Without the old key configured, nothing can move: it says which key is missing.
    const missing = spawnSync(process.execPath, [path.join(dist, 'platform-api', 'cli.js'), 'keys', 'rewrap'], {
      env: env(undefined),
      encoding: 'utf8',
    });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain(`wrapped under master key ${MasterKey.fromBase64(K1).fingerprint}, which is not configured`);
    expect(await underK2()).toBe(0);

    // Killed after its first batches: what it committed stays, nothing is half-written.
    const first: ChildProcess = spawn(
      process.execPath,
      [path.join(dist, 'platform-api', 'cli.js'), 'keys', 'rewrap', '--batch-size', '4', '--pause-ms', '300'],
      { env: env(K1), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    await new Promise<void>((resolve, reject) => {
      first.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if ((out.match(/^rewrapped 4 workspace_key/gm) ?? []).length >= 2) resolve();
      });
      first.once('exit', (code) => reject(new Error(`rewrap ended (${code}) before it could be killed: ${out}`)));
    });
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const midway = await underK2();
    expect(midway).toBeGreaterThanOrEqual(8);
    expect(midway).toBeLessThan(WORKSPACES * 2);

    // Run again: it picks up what is left.
    const second = spawnSync(process.execPath, [path.join(dist, 'platform-api', 'cli.js'), 'keys', 'rewrap', '--batch-size', '16'], {
      env: env(K1),
      encoding: 'utf8',
    });
    expect(second.stderr).toBe('');
    expect(second.status).toBe(0);
    expect(second.stdout).toContain(`everything is under master key ${MasterKey.fromBase64(K2).fingerprint}`);
    expect(await underK2()).toBe(WORKSPACES * 2);
    const rewrappedAgain = Number(/done: (\d+) value/.exec(second.stdout)?.[1]);
    expect(rewrappedAgain).toBe(WORKSPACES * 2 - midway + 1); // the rest of the keys, and the TOTP secret

    // Every workspace key and the TOTP secret open with the new key alone.
    const alone = MasterKey.fromBase64(K2);
    for (const purpose of ['payload', 'data'] as const) {
      const keyring = new PlatformKeyring(pool, alone, purpose);
      for (const ws of workspaces) expect((await keyring.activeKey(ws)).root).toHaveLength(32);
    }
    const { rows } = await pool.query<{ totp_secret: Buffer }>('select totp_secret from users where id = $1', [userId]);
    expect(alone.unwrap(rows[0]!.totp_secret, MASTER_LABELS.userTotp(userId)).toString()).toBe(totp);

    // A third run finds nothing to do; the audit log has each run.
    const third = spawnSync(process.execPath, [path.join(dist, 'platform-api', 'cli.js'), 'keys', 'rewrap'], {
      env: env(undefined),
      encoding: 'utf8',
    });
    expect(third.status).toBe(0);
    expect(third.stdout).toContain('done: 0 value(s) rewrapped');
    const audit = await pool.query<{ outcome: string; target: string }>(
      "select outcome, target from audit_events where action = 'keys.rewrapped' order by id",
    );
    expect(audit.rows).toEqual([
      { outcome: 'success', target: `master-key:${alone.fingerprint}` },
      { outcome: 'success', target: `master-key:${alone.fingerprint}` },
    ]);
  });
});
