/**
 * `lookout backup`: a workspace and runs made through the real API and workers are backed up and
 * restored into a fresh PostgreSQL; the restored Platform holds the same rows, its audit chains
 * verify, and its API serves the same results. The file holds nothing readable; a wrong key, a
 * truncated or modified file, or a target that is not empty are refused with a clear message and
 * change nothing.
 */
import { flushApp } from '../platform-api/app';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, type Pool } from 'pg';
import { createBackup, dependencyOrder, restoreBackup, type BackupSummary } from '../platform/backup/backup';
import { BACKUP_MAGIC, readBackupBody, readBackupHeader } from '../platform/backup/format';
import { generateBackupKey, resolveBackupKey } from '../platform/backup/key';
import { migrate } from '../platform/db/migrate';
import { createPool } from '../platform/db/pool';
import { appendAudit, verifyAuditChain } from '../platform/repos/audit.repo';
import { createEmptyDatabase } from './harness/databases';
import {
  addTask,
  api,
  env,
  newWorkspace,
  runTaskViaApi,
  startHttpServer,
  startPlatform,
  startRunner,
  type TestPlatform,
} from './harness/env';
import { needles } from './harness/needles';

const dist = path.resolve(__dirname, '..', 'dist');
const CHUNK = 1024;
const FRAME = 5 + CHUNK + 16;

const contains = (haystack: Buffer, value: string) => needles(value).some((n) => haystack.includes(n));

async function withPool<T>(url: string, fn: (pool: Pool) => Promise<T>): Promise<T> {
  const pool = createPool(url);
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

/** Every table of the schema (schema_migrations aside) with an md5 of its sorted rows. */
async function fingerprint(url: string): Promise<Record<string, string>> {
  return withPool(url, async (pool) => {
    const { rows } = await pool.query<{ tablename: string }>(
      "select tablename from pg_tables where schemaname = 'public' and tablename <> 'schema_migrations' order by 1",
    );
    const out: Record<string, string> = {};
    for (const { tablename } of rows) {
      const r = await pool.query<{ h: string; n: number }>(
        `select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as h, count(*)::int as n from "${tablename}" t`,
      );
      out[tablename] = `${r.rows[0]!.n}:${r.rows[0]!.h}`;
    }
    return out;
  });
}

async function tableCount(url: string): Promise<number> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: number }>("select count(*)::int as n from pg_tables where schemaname = 'public'");
    return rows[0]!.n;
  } finally {
    await c.end();
  }
}

function runCli(args: string[], extraEnv: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(dist, 'platform-api', 'cli.js'), ...args], {
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/', ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const canary = {
  workspaceName: `cnryW${randomBytes(10).toString('hex')}`,
  ownerEmail: `cnrye${randomBytes(10).toString('hex')}@example.test`,
  probePath: `cnryP${randomBytes(10).toString('hex')}`,
};
const key = randomBytes(32);

let source: Awaited<ReturnType<typeof createEmptyDatabase>>;
let platform: TestPlatform;
let ws: Awaited<ReturnType<typeof newWorkspace>>;
const runs: Record<string, unknown>[] = [];
let backupFile: string;
let summary: BackupSummary;
let sourcePrint: Record<string, string>;

beforeAll(async () => {
  source = await createEmptyDatabase();
  await withPool(source.url, (pool) => migrate(pool));
  platform = await startPlatform({ databaseUrl: source.url });
  const target = await startHttpServer((req, res) => {
    if (req.url?.includes('/broken')) res.writeHead(503).end('down');
    else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  try {
    ws = await newWorkspace(platform, {
      probeUrl: `${target.url}/healthz/${canary.probePath}`,
      workspaceName: canary.workspaceName,
      ownerEmail: canary.ownerEmail,
    });
    // A second workspace, so that the dump holds more than one chain and tenant.
    await newWorkspace(platform, { probeUrl: `${target.url}/other` });
    const runner = await startRunner(platform, ws);
    try {
      runs.push(await runTaskViaApi(platform, ws, ws.taskId));
      const broken = await addTask(platform, ws, 'http.probe', { url: `${target.url}/broken/${canary.probePath}` });
      runs.push(await runTaskViaApi(platform, ws, broken));
    } finally {
      await runner.stop();
    }
  } finally {
    await target.stop();
  }
  expect(runs.map((r) => r['status'])).toEqual(['succeeded', 'succeeded']);
  expect(runs.map((r) => (r['result'] as { status: string }).status)).toEqual(['ok', 'issues']);

  // Token uses are written once per interval: write them now, so that the source stays as backed up.
  await flushApp(platform.app);
  backupFile = path.join(env.dir, `backup-${randomBytes(4).toString('hex')}.lkb`);
  // Small chunks, so that the file has many and truncation at chunk boundaries can be tried.
  summary = await createBackup(platform.pool, { file: backupFile, key, chunkSize: CHUNK });
  sourcePrint = await fingerprint(source.url);
}, 240_000);

afterAll(async () => {
  await platform?.stop();
  await source?.drop();
});

describe('lookout backup create / restore', () => {
  it('restores into a fresh PostgreSQL: same rows, intact audit chains, the same results through the API', async () => {
    const fresh = await createEmptyDatabase();
    try {
      const restored = await withPool(fresh.url, (pool) => restoreBackup(pool, { file: backupFile, key }));
      console.log(
        `backup of ${summary.rows} rows in ${summary.tables} tables: ${summary.bytes} bytes, created in ${summary.durationMs} ms, restored in ${restored.durationMs} ms`,
      );
      expect(restored).toMatchObject({
        rows: summary.rows,
        tables: summary.tables,
        schemaVersion: summary.schemaVersion,
        migratedAfter: [],
      });
      expect(await fingerprint(fresh.url)).toEqual(sourcePrint);

      await withPool(fresh.url, async (pool) => {
        const wsChain = await verifyAuditChain(pool, ws.workspaceId);
        expect(wsChain.ok).toBe(true);
        expect(wsChain.rows).toBeGreaterThanOrEqual(8);
        expect(await verifyAuditChain(pool, null)).toMatchObject({ ok: true });
        // Identity sequence and chain heads came back too: the chain goes on from where it stopped.
        await appendAudit(pool, { workspaceId: ws.workspaceId, actor: 'test', action: 'after.restore', outcome: 'success' });
        expect(await verifyAuditChain(pool, ws.workspaceId)).toEqual({ ok: true, rows: wsChain.rows + 1 });
      });

      const restoredPlatform = await startPlatform({ databaseUrl: fresh.url });
      try {
        for (const run of runs) {
          const res = await api(restoredPlatform.baseUrl, 'GET', `/v1/runs/${String(run['id'])}`, { token: ws.token });
          expect(res.status).toBe(200);
          expect(res.body['result']).toEqual(run['result']);
          expect(res.body['status']).toBe(run['status']);
        }
        const audit = await api(restoredPlatform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/audit`, { token: ws.token });
        expect(audit.status).toBe(200);
        expect(audit.body['chain']).toMatchObject({ ok: true });
      } finally {
        await restoredPlatform.stop();
      }
    } finally {
      await fresh.drop();
    }
  });

  it('holds no canary, result summary, API token or id in readable form, though its decrypted body does', async () => {
    const file = readFileSync(backupFile);
    const summaries = runs.map((r) => String((r['result'] as { summary: string }).summary));
    expect(summaries.some((s) => s.includes(canary.probePath))).toBe(true);
    const secrets = {
      ...canary,
      token: ws.token,
      workspaceId: ws.workspaceId,
      ...Object.fromEntries(summaries.map((s, i) => [`summary${i}`, s])),
    };
    expect(
      Object.entries(secrets)
        .filter(([, v]) => contains(file, v))
        .map(([k]) => k),
    ).toEqual([]);
    expect(statSync(backupFile).mode & 0o777).toBe(0o600);

    // The search can fail: the plaintext columns are in the decrypted body.
    const chunks: Buffer[] = [];
    for await (const chunk of readBackupBody(backupFile, key)) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    expect(contains(body, canary.workspaceName)).toBe(true);
    expect(contains(body, canary.ownerEmail)).toBe(true);
    expect(contains(body, ws.workspaceId)).toBe(true);
    // Sealed columns stay sealed in the dump; the token was never stored.
    expect(contains(body, canary.probePath)).toBe(false);
    expect(contains(body, ws.token)).toBe(false);
  });

  it('refuses a wrong key with a clear message and writes nothing', async () => {
    const fresh = await createEmptyDatabase();
    try {
      await expect(withPool(fresh.url, (pool) => restoreBackup(pool, { file: backupFile, key: randomBytes(32) }))).rejects.toThrow(
        /^the backup key does not match this backup \(key id [0-9a-f]{16}; the key given has key id [0-9a-f]{16}\)$/,
      );
      expect(await tableCount(fresh.url)).toBe(0);
    } finally {
      await fresh.drop();
    }
  });

  it('refuses a file truncated anywhere, at chunk boundaries too, and writes nothing', async () => {
    const full = readFileSync(backupFile);
    const { bodyOffset } = await readBackupHeader(backupFile);
    const chunks = Math.ceil((full.length - bodyOffset) / FRAME);
    expect(chunks).toBeGreaterThanOrEqual(3);
    const boundaries = Array.from({ length: chunks }, (_, i) => bodyOffset + i * FRAME);
    const cuts = [
      0,
      7,
      BACKUP_MAGIC.length + 3,
      bodyOffset - 1,
      ...boundaries,
      bodyOffset + 100,
      bodyOffset + FRAME + 5,
      full.length - 16,
      full.length - 1,
    ];
    const fresh = await createEmptyDatabase();
    try {
      for (const cut of cuts) {
        const file = `${backupFile}.cut-${cut}`;
        writeFileSync(file, full.subarray(0, cut));
        await expect(withPool(fresh.url, (pool) => restoreBackup(pool, { file, key }))).rejects.toThrow(
          /^the backup file is truncated or was modified$/,
        );
      }
      expect(await tableCount(fresh.url)).toBe(0);
    } finally {
      await fresh.drop();
    }
  });

  it('refuses a modified file: a flipped bit, swapped, dropped or repeated chunks, appended bytes, an edited header', async () => {
    const full = readFileSync(backupFile);
    const { bodyOffset } = await readBackupHeader(backupFile);
    const chunk = (i: number) => full.subarray(bodyOffset + i * FRAME, bodyOffset + (i + 1) * FRAME);
    const head = full.subarray(0, bodyOffset);
    const rest = (from: number) => full.subarray(bodyOffset + from * FRAME);
    const flipped = Buffer.from(full);
    flipped[bodyOffset + FRAME + 200]! ^= 0x01;
    const header = Buffer.from(full);
    const at = header.indexOf(Buffer.from(`"schemaVersion":${summary.schemaVersion}`));
    header.write(`"schemaVersion":${summary.schemaVersion - 1}`, at);
    const variants: Record<string, Buffer> = {
      flipped,
      swapped: Buffer.concat([head, chunk(1), chunk(0), rest(2)]),
      dropped: Buffer.concat([head, chunk(0), rest(2)]),
      repeated: Buffer.concat([head, chunk(0), chunk(0), rest(1)]),
      appended: Buffer.concat([full, Buffer.from([0])]),
      header,
    };
    const fresh = await createEmptyDatabase();
    try {
      for (const [name, bytes] of Object.entries(variants)) {
        const file = `${backupFile}.${name}`;
        writeFileSync(file, bytes);
        await expect(withPool(fresh.url, (pool) => restoreBackup(pool, { file, key }))).rejects.toThrow(
          /^the backup file is truncated or was modified$/,
        );
      }
      expect(await tableCount(fresh.url)).toBe(0);
    } finally {
      await fresh.drop();
    }
  });

  it('refuses to restore into a database that holds rows, and leaves it as it was', async () => {
    await expect(withPool(source.url, (pool) => restoreBackup(pool, { file: backupFile, key }))).rejects.toThrow(
      /^the target database is not empty \(rows in .*\): restore into an empty database$/,
    );
    expect(await fingerprint(source.url)).toEqual(sourcePrint);
  });

  it('takes one consistent snapshot while the Platform keeps appending to the audit log', async () => {
    let stop = false;
    let appended = 0;
    // Two chains, each with its own writer: appends to one chain are serialised by its head row.
    const writers = [ws.workspaceId, null].map(async (workspaceId) => {
      while (!stop) {
        await appendAudit(platform.pool, { workspaceId, actor: 'test', action: 'concurrent.write', outcome: 'success' });
        appended++;
      }
    });
    const waitForWrites = async (n: number) => {
      const until = appended + n;
      while (appended < until) await new Promise((r) => setTimeout(r, 5));
    };
    try {
      // audit_events is read before audit_heads: outside one snapshot the heads would run ahead of
      // the rows (this fails most rounds under read committed), so try a few rounds.
      for (let round = 0; round < 3; round++) {
        await waitForWrites(5);
        const file = `${backupFile}.concurrent-${round}`;
        await createBackup(platform.pool, { file, key, chunkSize: CHUNK });
        await waitForWrites(5);
        const fresh = await createEmptyDatabase();
        try {
          await withPool(fresh.url, async (pool) => {
            await restoreBackup(pool, { file, key });
            for (const chain of [ws.workspaceId, null]) {
              const restored = await verifyAuditChain(pool, chain);
              expect(restored.ok).toBe(true);
              expect(restored.rows).toBeLessThan((await verifyAuditChain(platform.pool, chain)).rows);
            }
          });
        } finally {
          await fresh.drop();
        }
      }
    } finally {
      stop = true;
      await Promise.all(writers);
    }
  });

  it('runs as a real process: keygen, create, restore, and a one-line error for a wrong or reused key', async () => {
    const keygen = await runCli(['backup', 'keygen'], {});
    expect(keygen.status).toBe(0);
    const cliKey = keygen.stdout.trim();
    expect(Buffer.from(cliKey, 'base64')).toHaveLength(32);
    const keyFile = path.join(env.dir, `backup-key-${randomBytes(4).toString('hex')}`);
    writeFileSync(keyFile, `${cliKey}\n`, { mode: 0o600 });
    const file = path.join(env.dir, `cli-${randomBytes(4).toString('hex')}.lkb`);

    const created = await runCli(['backup', 'create', '--out', file], {
      DATABASE_URL: source.url,
      LOOKOUT_BACKUP_KEY: cliKey,
      LOOKOUT_MASTER_KEY: env.masterKey,
    });
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    expect(created.stdout).toMatch(
      new RegExp(`^wrote ${file}: \\d+ rows in \\d+ tables, schema version \\d+, \\d+ bytes, key id [0-9a-f]{16} \\(\\d+ ms\\)\\n$`),
    );
    const again = await runCli(['backup', 'create', '--out', file], { DATABASE_URL: source.url, LOOKOUT_BACKUP_KEY: cliKey });
    expect(again.status).not.toBe(0);
    expect(again.stderr).toMatch(/exists; pass --force/);

    const fresh = await createEmptyDatabase();
    try {
      const wrong = await runCli(['backup', 'restore', '--in', file], { DATABASE_URL: fresh.url, LOOKOUT_BACKUP_KEY: generateBackupKey() });
      expect(wrong.status).toBe(1);
      expect(wrong.stderr).toMatch(
        /^lookout: the backup key does not match this backup \(key id [0-9a-f]{16}; the key given has key id [0-9a-f]{16}\)\n$/,
      );
      expect(await tableCount(fresh.url)).toBe(0);

      const other = path.join(env.dir, `not-a-backup-${randomBytes(4).toString('hex')}`);
      writeFileSync(other, 'garbage\n');
      const notBackup = await runCli(['backup', 'restore', '--in', other], { DATABASE_URL: fresh.url, LOOKOUT_BACKUP_KEY: cliKey });
      expect(notBackup.status).toBe(1);
      expect(notBackup.stderr).toBe(`lookout: ${other} is not a Lookout backup file\n`);

      const reused = await runCli(['backup', 'restore', '--in', file], {
        DATABASE_URL: fresh.url,
        LOOKOUT_BACKUP_KEY: env.masterKey,
        LOOKOUT_MASTER_KEY: env.masterKey,
      });
      expect(reused.status).not.toBe(0);
      expect(reused.stderr).toMatch(/LOOKOUT_BACKUP_KEY must not be LOOKOUT_MASTER_KEY/);
      expect(reused.stderr).not.toContain(env.masterKey);

      const restored = await runCli(['backup', 'restore', '--in', file, '--key-file', keyFile], { DATABASE_URL: fresh.url });
      expect(restored.stderr).toBe('');
      expect(restored.status).toBe(0);
      expect(restored.stdout).toMatch(/^restored \d+ rows in \d+ tables from .* in \d+ ms\n$/);
      await withPool(fresh.url, async (pool) => {
        expect(await verifyAuditChain(pool, ws.workspaceId)).toMatchObject({ ok: true });
        const system = await verifyAuditChain(pool, null);
        expect(system.ok).toBe(true);
        const actions = await pool.query<{ action: string }>(
          "select action from audit_events where workspace_id is null and action like 'backup.%' order by id",
        );
        // The source's `backup.created` was written after its snapshot; the restore adds its own event.
        expect(actions.rows.map((r) => r.action)).toEqual(['backup.restored']);
      });
    } finally {
      await fresh.drop();
    }
  });
});

describe('backup keys and table order', () => {
  it('takes the key from exactly one source and never reuses the master key', () => {
    const master = generateBackupKey();
    const other = generateBackupKey();
    expect(resolveBackupKey({ envKey: other, masterKey: master })).toEqual(Buffer.from(other, 'base64'));
    expect(() => resolveBackupKey({})).toThrow(/no backup key: set LOOKOUT_BACKUP_KEY or pass --key-file/);
    expect(() => resolveBackupKey({ envKey: master, masterKey: master })).toThrow(
      'LOOKOUT_BACKUP_KEY must not be LOOKOUT_MASTER_KEY: backups are encrypted under a key of their own',
    );
    const file = path.join(env.dir, `bad-key-${randomBytes(4).toString('hex')}`);
    writeFileSync(file, 'not a key');
    expect(() => resolveBackupKey({ keyFile: file })).toThrow(`the backup key file ${file} must hold 32 bytes in base64`);
    expect(() => resolveBackupKey({ keyFile: file, envKey: other })).toThrow(/not both/);
  });

  it('orders parents before children and refuses cycles instead of guessing', () => {
    const t = (name: string) => ({ name, columns: [] });
    const order = dependencyOrder(
      [t('results'), t('runs'), t('workspaces'), t('tasks')],
      [
        { from: 'results', to: 'runs' },
        { from: 'runs', to: 'tasks' },
        { from: 'tasks', to: 'workspaces' },
        { from: 'runs', to: 'workspaces' },
      ],
    );
    expect(order.map((x) => x.name)).toEqual(['workspaces', 'tasks', 'runs', 'results']);
    expect(() =>
      dependencyOrder(
        [t('a'), t('b')],
        [
          { from: 'a', to: 'b' },
          { from: 'b', to: 'a' },
        ],
      ),
    ).toThrow(/cycle among a, b/);
    expect(() => dependencyOrder([t('a')], [{ from: 'a', to: 'a' }])).toThrow(/references itself/);
  });
});
