/**
 * The master key wrapped by a KMS (issue 16): Vault / OpenBao Transit, the real OpenBao of the test
 * run. The CLI makes a master key that only the KMS ever sees in clear, an existing deployment moves
 * to it with `lookout keys rewrap`, a Transit key rotation is followed by `lookout kms rewrap-master`,
 * and a token the KMS does not allow gets nothing: the Platform's processes cannot start.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Pool } from 'pg';
import { ApiConfig, CliConfig, ConfigError, parseConfig } from '../common/config';
import { resolveMasterKeys } from '../platform/crypto/kms';
import { MasterKey } from '../platform/crypto/master-key';
import { createWorkspaceKeys, PlatformKeyring } from '../platform/crypto/platform-keyring';
import { migrate } from '../platform/db/migrate';
import { createPool } from '../platform/db/pool';
import { createWorkspace } from '../platform/repos/workspaces.repo';
import { createVaultClient } from '../platform/vault/vault-client';
import { createEmptyDatabase } from './harness/databases';

const dist = path.resolve(__dirname, '..', 'dist');
const VAULT_ADDR = process.env['LOOKOUT_TEST_VAULT_ADDR']!;
const ROOT = process.env['LOOKOUT_TEST_VAULT_ROOT_TOKEN']!;
const MOUNT = `transit-${randomBytes(4).toString('hex')}`;
const KEY = 'lookout-master';
const K1 = MasterKey.generate();

let db: Awaited<ReturnType<typeof createEmptyDatabase>>;
let pool: Pool;
let platformToken: string;
let strangerToken: string;
const workspaces: string[] = [];

function cli(args: string[], env: Record<string, string | undefined>) {
  return spawnSync(process.execPath, [path.join(dist, 'platform-api', 'cli.js'), ...args], {
    env: { PATH: process.env['PATH'], ...env },
    encoding: 'utf8',
  });
}
const kmsEnv = (token: string) => ({
  LOOKOUT_KMS_ADDR: VAULT_ADDR,
  LOOKOUT_KMS_TOKEN: token,
  LOOKOUT_KMS_TRANSIT_MOUNT: MOUNT,
  LOOKOUT_KMS_TRANSIT_KEY: KEY,
});

beforeAll(async () => {
  const root = createVaultClient({ endpoint: VAULT_ADDR, token: ROOT });
  await root.write(`sys/mounts/${MOUNT}`, { type: 'transit' });
  await root.write(`${MOUNT}/keys/${KEY}`, {});
  const policy = `lookout-kms-${MOUNT}`;
  await root.write(`sys/policies/acl/${policy}`, {
    policy: ['decrypt', 'datakey/wrapped', 'rewrap'].map((op) => `path "${MOUNT}/${op}/${KEY}" { capabilities = ["update"] }`).join('\n'),
  });
  platformToken = ((await root.write('auth/token/create', { policies: [policy], ttl: '1h' })) as { auth: { client_token: string } }).auth
    .client_token;
  strangerToken = ((await root.write('auth/token/create', { policies: ['default'], ttl: '1h' })) as { auth: { client_token: string } }).auth
    .client_token;

  // A deployment with its master key in clear, before it moves to the KMS.
  db = await createEmptyDatabase();
  pool = createPool(db.url, () => undefined, 4);
  await migrate(pool);
  for (let i = 0; i < 5; i++) {
    const id = randomUUID();
    await createWorkspace(pool, { id, name: `kms-${i}` });
    await createWorkspaceKeys(pool, MasterKey.fromBase64(K1), id);
    workspaces.push(id);
  }
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('the master key wrapped by Vault / OpenBao Transit', () => {
  let wrapped: string;

  it('makes a master key only the KMS sees in clear, and moves a deployment to it with rewrap', async () => {
    const made = cli(['kms', 'generate-master'], kmsEnv(platformToken));
    expect(made.stderr).toBe('');
    expect(made.status).toBe(0);
    wrapped = /^LOOKOUT_MASTER_KEY_WRAPPED=(vault:v1:\S+)$/m.exec(made.stdout)![1]!;
    expect(made.stdout.trim().split('\n')).toHaveLength(1);

    const moved = cli(['keys', 'rewrap'], {
      ...kmsEnv(platformToken),
      DATABASE_URL: db.url,
      LOOKOUT_MASTER_KEY_WRAPPED: wrapped,
      LOOKOUT_MASTER_KEY_PREVIOUS: K1,
    });
    expect(moved.stderr).toBe('');
    expect(moved.status).toBe(0);
    expect(moved.stdout).toContain('done: 10 value(s) rewrapped');

    // What the KMS unwraps reads every workspace; the old key is no longer needed.
    const config = parseConfig('lookout', CliConfig, {
      ...kmsEnv(platformToken),
      DATABASE_URL: db.url,
      LOOKOUT_MASTER_KEY_WRAPPED: wrapped,
    });
    const keys = await resolveMasterKeys(config);
    expect(keys.previous).toEqual([]);
    const master = MasterKey.fromBase64(keys.current);
    const keyring = new PlatformKeyring(pool, master, 'payload');
    for (const ws of workspaces) expect((await keyring.activeKey(ws)).root).toHaveLength(32);
    await expect(new PlatformKeyring(pool, MasterKey.fromBase64(K1), 'data').activeKey(workspaces[0]!)).rejects.toThrow(/not configured/);

    // A CLI command that needs the keys works with the wrapped key alone.
    const out = path.join(os.tmpdir(), `kms-keys-${randomUUID()}.json`);
    const exported = cli(['keys', 'export', '--workspace', workspaces[0]!, '--out', out], {
      ...kmsEnv(platformToken),
      DATABASE_URL: db.url,
      LOOKOUT_MASTER_KEY_WRAPPED: wrapped,
    });
    expect(exported.stderr).toBe('');
    expect(exported.status).toBe(0);
    expect(existsSync(out)).toBe(true);
  });

  it('follows a rotation of the Transit key: the rewrapped master key is the same key', async () => {
    const root = createVaultClient({ endpoint: VAULT_ADDR, token: ROOT });
    await root.write(`${MOUNT}/keys/${KEY}/rotate`, {});
    const rewrapped = cli(['kms', 'rewrap-master', '--wrapped', wrapped], kmsEnv(platformToken));
    expect(rewrapped.stderr).toBe('');
    const next = /^LOOKOUT_MASTER_KEY_WRAPPED=(vault:v2:\S+)$/m.exec(rewrapped.stdout)![1]!;
    const base = { ...kmsEnv(platformToken), DATABASE_URL: db.url };
    const before = await resolveMasterKeys(parseConfig('lookout', CliConfig, { ...base, LOOKOUT_MASTER_KEY_WRAPPED: wrapped }));
    const after = await resolveMasterKeys(parseConfig('lookout', CliConfig, { ...base, LOOKOUT_MASTER_KEY_WRAPPED: next }));
    expect(after.current).toBe(before.current);
  });

  it('gives a token the KMS does not allow nothing, and says so without a secret', () => {
    const refused = cli(['keys', 'export', '--workspace', workspaces[0]!, '--out', path.join(os.tmpdir(), `kms-${randomUUID()}.json`)], {
      ...kmsEnv(strangerToken),
      DATABASE_URL: db.url,
      LOOKOUT_MASTER_KEY_WRAPPED: wrapped,
    });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`the KMS (transit:${MOUNT}/${KEY}) refused decrypt: HTTP 403`);
    for (const secret of [strangerToken, wrapped, platformToken]) expect(refused.stderr + refused.stdout).not.toContain(secret);
    const made = cli(['kms', 'generate-master'], kmsEnv(strangerToken));
    expect(made.status).toBe(1);
    expect(made.stdout).toBe('');
  });

  it('takes exactly one master key, and the KMS settings with a wrapped one', () => {
    const base = { DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db', LOOKOUT_MASTER_KEY: K1 };
    expect(() => parseConfig('api', ApiConfig, { ...base, LOOKOUT_MASTER_KEY_WRAPPED: 'vault:v1:' + 'A'.repeat(40) })).toThrow(
      /give only one of LOOKOUT_MASTER_KEY and LOOKOUT_MASTER_KEY_WRAPPED/,
    );
    expect(() => parseConfig('api', ApiConfig, { DATABASE_URL: base.DATABASE_URL })).toThrow(ConfigError);
    expect(() =>
      parseConfig('api', ApiConfig, { DATABASE_URL: base.DATABASE_URL, LOOKOUT_MASTER_KEY_WRAPPED: 'vault:v1:' + 'A'.repeat(40) }),
    ).toThrow(/LOOKOUT_KMS_ADDR: required with a wrapped master key/);
    expect(() => parseConfig('api', ApiConfig, { ...base, LOOKOUT_MASTER_KEY_PREVIOUS: 'not-a-key' })).toThrow(
      /LOOKOUT_MASTER_KEY_PREVIOUS/,
    );
  });
});
