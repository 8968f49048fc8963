/**
 * `postgres.health` against real PostgreSQL servers (a primary with a low max_connections and TLS,
 * and its streaming standby), run through the API, the platform worker, Temporal and a real Runner
 * process with a policy file. Each test makes the state it reports (connections held, a transaction
 * left open, a row lock waited for, replay delayed or paused) and asserts the numbers and words that
 * come back, and that nothing of the server's own (query text, role or standby names) or of the
 * password does: not in results, errors, Temporal histories (raw or decrypted) nor the Runner log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import type { Client as PgClient } from 'pg';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ENCRYPTED_ENCODING, WorkspaceCodec } from '../common/codec';
import { ExecutionPolicy } from '../common/contracts';
import { freePort } from '../platform/db/embedded';
import { PlatformKeyring } from '../platform/crypto/platform-keyring';
import { createTask } from '../platform/repos/tasks.repo';
import type { BootstrapOutput } from '../platform-api/services/bootstrap.service';
import {
  api,
  env,
  newWorkspace,
  resultOf,
  startPlatform,
  waitForRun,
  type RunResult,
  type TestPlatform,
  runnerProcessEnv,
} from './harness/env';
import { collectPayloads, metadataText } from './harness/history';
import { needles } from './harness/needles';
import { startPgCluster, startStandby, type PgCluster } from './harness/pg-cluster';
import { testPlatformPublicKey, writePolicyFile } from './harness/policy';
import { parsePolicy } from '../activities/runner/policy';
import { destinationFor } from '../common/runner-policy';
import { makePki } from './harness/tls';

const dist = path.resolve(__dirname, '..', 'dist');

/** The check role's password: a canary that must appear nowhere but in the Runner's environment and the server. */
const PASSWORD = `cnryPG${randomBytes(12).toString('hex')}`;
const WRONG_PASSWORD = `cnryWR${randomBytes(12).toString('hex')}`;
/** Customer data on the server that must not leave: a standby's name and a query's text. */
const STANDBY_NAME = `orders-replica-${randomBytes(4).toString('hex')}`;
const QUERY_MARKER = `marker_${randomBytes(6).toString('hex')}`;

/** A TCP listener on loopback that counts connections and answers nothing. */
async function recorder(): Promise<{ port: number; connections: () => number; stop(): Promise<void> }> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    count += 1;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => count,
    async stop() {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let platform: TestPlatform;
let primary: PgCluster;
let standby: PgCluster;
let attacker: Awaited<ReturnType<typeof recorder>>;
/** Accepts connections and never answers: a server that hangs. */
let silent: Awaited<ReturnType<typeof recorder>>;
/** A loopback port nothing listens on. */
let gonePort: number;
let ws: BootstrapOutput;
let runner: ChildProcess;
let runnerOutput = '';
/** Every API response about a run of this file, for the canary scan. */
const seen: string[] = [];

beforeAll(async () => {
  platform = await startPlatform();
  const pki = makePki('pg');
  primary = await startPgCluster({
    maxConnections: 20,
    tls: pki,
    // A role the server asks for its password in clear text.
    hba: ['host all lookout_cleartext 127.0.0.1/32 password'],
  });
  const admin = await primary.connect();
  try {
    for (const role of ['lookout_check', 'lookout_cleartext', 'lookout_nomon'])
      await admin.query(`create role ${role} login password '${PASSWORD}'`);
    await admin.query('grant pg_monitor to lookout_check, lookout_cleartext');
    await admin.query('create database appdb');
  } finally {
    await admin.end();
  }
  const app = await primary.connect({ database: 'appdb' });
  try {
    await app.query('create table items (id int primary key, v int not null)');
    await app.query('insert into items select g, 0 from generate_series(1, 10) g');
  } finally {
    await app.end();
  }
  standby = await startStandby(primary, STANDBY_NAME, { maxConnections: 20 });
  attacker = await recorder();
  silent = await recorder();
  gonePort = await freePort();

  ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
  const loopback = { allowAddresses: ['127.0.0.0/8'] };
  const policyFile = writePolicyFile({
    checks: ['postgres.health', 'http.probe'],
    platformKeys: [testPlatformPublicKey()],
    destinations: [
      { name: 'pg-primary', scheme: 'postgres', host: '127.0.0.1', port: primary.port, ...loopback, allowSslmode: 'disable' },
      { name: 'pg-standby', scheme: 'postgres', host: '127.0.0.1', port: standby.port, ...loopback, allowSslmode: 'disable' },
      // By name, verified TLS only (the default).
      { name: 'pg-verified', scheme: 'postgres', host: 'localhost', port: primary.port, ...loopback },
      // Named by the operator, without the loopback range: refused by address, as a literal and by name.
      // (For database `other` only: the path of a postgres destination is the database.)
      { name: 'pg-no-ranges', scheme: 'postgres', host: '127.0.0.1', port: attacker.port, pathPrefix: '/other', allowSslmode: 'disable' },
      { name: 'pg-lure', scheme: 'postgres', host: 'localhost', port: attacker.port, allowSslmode: 'disable' },
      // Allowed, but no binding may send a password there.
      { name: 'pg-unbound', scheme: 'postgres', host: '127.0.0.1', port: attacker.port, ...loopback, allowSslmode: 'disable' },
      { name: 'pg-silent', scheme: 'postgres', host: '127.0.0.1', port: silent.port, ...loopback, allowSslmode: 'disable' },
      { name: 'pg-gone', scheme: 'postgres', host: '127.0.0.1', port: gonePort, ...loopback, allowSslmode: 'disable' },
      { name: 'web', scheme: 'http', host: '127.0.0.1', port: '*', ...loopback },
    ],
    secretBindings: [
      {
        name: 'pg-password',
        ref: 'env:PG_CHECK_PASSWORD',
        destinations: ['pg-primary', 'pg-standby', 'pg-verified', 'pg-no-ranges', 'pg-lure', 'pg-silent', 'pg-gone'],
      },
      { name: 'wrong-password', ref: 'env:PG_WRONG_PASSWORD', destinations: ['pg-primary'] },
      { name: 'web-token', ref: 'env:WEB_TOKEN', destinations: ['web'] },
    ],
  });
  runner = spawn(process.execPath, [path.join(dist, 'workers', 'runner.js')], {
    env: await runnerProcessEnv(platform, ws, policyFile, {
      LOOKOUT_LOG_LEVEL: 'trace',
      // The test CA, as an operator adds a private CA for verify-full.
      NODE_EXTRA_CA_CERTS: pki.caFile,
      PG_CHECK_PASSWORD: PASSWORD,
      PG_WRONG_PASSWORD: WRONG_PASSWORD,
      WEB_TOKEN: `web-${randomBytes(8).toString('hex')}`,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runner.stdout!.on('data', (d: Buffer) => (runnerOutput += d.toString()));
  runner.stderr!.on('data', (d: Buffer) => (runnerOutput += d.toString()));
  for (const deadline = Date.now() + 30_000; !runnerOutput.includes('runner polling');) {
    if (Date.now() > deadline || runner.exitCode !== null) throw new Error(`the Runner did not start: ${runnerOutput.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The Platform learns the Runner's policy (and refuses at task creation what it would refuse).
  expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners`, { token: ws.token })).status).toBe(200);
}, 180_000);

afterAll(async () => {
  runner?.kill('SIGTERM');
  await attacker?.stop();
  await silent?.stop();
  await standby?.destroy();
  await primary?.destroy();
  await platform?.stop();
});

const params = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  host: '127.0.0.1',
  port: primary.port,
  database: 'appdb',
  user: 'lookout_check',
  auth: { binding: 'pg-password' },
  sslmode: 'disable',
  ...over,
});

const createViaApi = (p: Record<string, unknown>) =>
  api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/tasks`, {
    token: ws.token,
    body: {
      name: `pg-${randomUUID().slice(0, 8)}`,
      runnerId: ws.runnerId,
      checkType: 'postgres.health',
      params: p,
      policy: { maxAttempts: 1 },
    },
  });

async function runTask(taskId: string): Promise<Record<string, unknown>> {
  const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, { token: ws.token, body: { taskId } });
  expect(created.status).toBe(202);
  const run = await waitForRun(platform.baseUrl, ws.token, String(created.body['id']));
  seen.push(JSON.stringify(run));
  return run;
}

/** Saves the task through the API (the Platform checks it against the Runner's policy) and runs it. */
async function check(over: Record<string, unknown> = {}): Promise<RunResult> {
  const created = await createViaApi(params(over));
  expect(created.status).toBe(201);
  return resultOf(await runTask(String(created.body['id'])));
}

/** A task a hostile Platform wrote straight into its database, past the API's checks; the Runner decides alone. */
async function forced(p: Record<string, unknown>): Promise<Record<string, unknown>> {
  const taskId = randomUUID();
  await createTask(platform.pool, platform.crypto.sealer, {
    id: taskId,
    workspaceId: ws.workspaceId,
    runnerId: ws.runnerId,
    name: `hostile-${taskId.slice(0, 8)}`,
    checkType: 'postgres.health',
    params: p,
    policy: ExecutionPolicy.parse({ maxAttempts: 1 }),
  });
  return runTask(taskId);
}

async function withClient<T>(server: PgCluster, fn: (c: PgClient) => Promise<T>, database = 'appdb'): Promise<T> {
  const c = await server.connect({ database });
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Polls `sql` (one boolean `ok`) on `server` until it holds. */
async function until(server: PgCluster, sql: string, what: string, timeoutMs = 30_000): Promise<void> {
  await withClient(server, async (c) => {
    for (const deadline = Date.now() + timeoutMs; ;) {
      if ((await c.query<{ ok: boolean }>(sql)).rows[0]?.ok) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
}

/** Waits until no client session but the poller's own is left on the primary (closed clients linger for a moment). */
const settled = () =>
  until(
    primary,
    "select count(*) = 0 as ok from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()",
    'client sessions to end',
  );

async function hold(n: number): Promise<PgClient[]> {
  return Promise.all(Array.from({ length: n }, () => primary.connect({ database: 'appdb' })));
}

describe('postgres.health on a primary', () => {
  beforeEach(() => settled());

  it('reports a healthy primary in numbers: connection slots, transactions, locks and its standby', async () => {
    const r = await check();
    expect(r).toMatchObject({ status: 'ok', issues: [], score: 1 });
    expect(r.summary).toBe(`127.0.0.1:${primary.port}/appdb: primary healthy, 0 of 17 connection slots in use`);
    expect(r.metrics).toMatchObject({
      'postgres.up': 1,
      'postgres.in_recovery': 0,
      'postgres.connections': 0,
      // max_connections 20 minus 3 reserved for superusers.
      'postgres.connections_max': 17,
      'postgres.long_transactions': 0,
      'postgres.blocked_queries': 0,
      'postgres.standbys': 1,
      'postgres.standbys_lagging': 0,
    });
  });

  it('warns when connections near max_connections and is critical past the critical threshold', async () => {
    const held = await hold(14);
    try {
      const warn = await check();
      expect(warn.status).toBe('issues');
      expect(warn.issues).toEqual([
        expect.objectContaining({
          severity: 3,
          title: 'Connections near the limit',
          resource: { kind: 'PostgreSQL', name: `127.0.0.1:${primary.port}/appdb` },
          expected: 'below 80% of 17 connection slots (max_connections 20 minus 3 reserved)',
          actual: "14 client connections besides the check's own (82.4%)",
        }),
      ]);
      expect(warn.metrics).toMatchObject({ 'postgres.connections': 14, 'postgres.connections_percent': 82.4 });
      held.push(...(await hold(2)));
      const critical = await check({ connectionsCriticalPercent: 90 });
      expect(critical.issues[0]).toMatchObject({ severity: 2, actual: "16 client connections besides the check's own (94.1%)" });
    } finally {
      await Promise.all(held.map((c) => c.end()));
    }
  });

  it('reports no connection slot left as unavailable when the check itself cannot get one', async () => {
    const held = await hold(17);
    try {
      const r = await check();
      expect(r).toMatchObject({ status: 'issues', score: 0, metrics: { 'postgres.up': 0 } });
      expect(r.issues).toEqual([
        expect.objectContaining({
          severity: 1,
          title: 'No connection slots left',
          actual: 'the server refused a new connection: too many clients (SQLSTATE 53300)',
        }),
      ]);
    } finally {
      await Promise.all(held.map((c) => c.end()));
    }
  });

  it('reports a transaction left open past the threshold by count and age, never by its query', async () => {
    const [session] = await hold(1);
    try {
      await session!.query('begin');
      await session!.query(`select v as ${QUERY_MARKER} from items where id = 1`);
      await until(
        primary,
        "select bool_or(now() - xact_start > interval '1.5 seconds') as ok from pg_stat_activity where state = 'idle in transaction'",
        'the transaction to age',
      );
      const r = await check({ longTransactionSeconds: 1 });
      expect(r.status).toBe('issues');
      expect(r.issues).toHaveLength(1);
      expect(r.issues[0]).toMatchObject({ severity: 3, title: 'Transactions open too long' });
      expect(r.issues[0]!.actual).toMatch(/^1 transaction open longer than 1 s \(1 idle in transaction\); the oldest for \d+ s$/);
      expect(r.metrics).toMatchObject({ 'postgres.long_transactions': 1, 'postgres.idle_in_transaction': 1 });
      expect(r.metrics['postgres.oldest_transaction_seconds']).toBeGreaterThanOrEqual(1);
      // With the default threshold (300 s) the same transaction is no finding.
      expect((await check()).issues).toEqual([]);
      expect(seen.join('\n')).not.toContain(QUERY_MARKER);
    } finally {
      await session!.end();
    }
  });

  it("reports a query waiting for another session's row lock", async () => {
    const [holder, waiter] = await hold(2);
    try {
      await holder!.query('begin');
      await holder!.query('update items set v = v + 1 where id = 2');
      const waiting = waiter!.query('update items set v = v + 10 where id = 2');
      await until(primary, 'select count(*) > 0 as ok from pg_locks where not granted', 'the second update to wait');
      const r = await check();
      expect(r.issues).toEqual([
        expect.objectContaining({
          severity: 2,
          title: 'Queries blocked by locks',
          expected: "at most 0 sessions waiting for another's lock",
          actual: '1 session waiting for locks held by 1 other session',
        }),
      ]);
      expect(r.metrics).toMatchObject({ 'postgres.blocked_queries': 1, 'postgres.blocking_sessions': 1 });
      // One blocked query within blockedQueriesMax is no finding.
      expect((await check({ blockedQueriesMax: 1 })).issues).toEqual([]);
      await holder!.query('rollback');
      await waiting;
    } finally {
      await Promise.all([holder!.end(), waiter!.end()]);
    }
  });

  it('tells a role that cannot see other sessions to get pg_monitor', async () => {
    const r = await check({ user: 'lookout_nomon' });
    expect(r.status).toBe('issues');
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 4,
        title: 'The check cannot see other sessions',
        nextSteps: ['On the server: grant pg_monitor to the role the check connects as'],
      }),
    ]);
  });
});

describe('postgres.health and replication', () => {
  it('reports a standby whose replay falls behind, on the primary and on the standby, without naming it', async () => {
    await standby.reconfigure({ recovery_min_apply_delay: '4s' });
    let writing = true;
    const writer = withClient(primary, async (c) => {
      while (writing) {
        await c.query('update items set v = v + 1 where id = 3');
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    try {
      await until(
        primary,
        'select coalesce(max(extract(epoch from replay_lag)), 0) > 2.5 as ok from pg_stat_replication',
        'the replay lag to grow',
      );
      const onPrimary = await check({ replicationLagSeconds: 2 });
      expect(onPrimary.issues).toEqual([
        expect.objectContaining({ severity: 2, title: 'Standbys behind the primary', expected: 'every standby replaying within 2 s' }),
      ]);
      expect(onPrimary.issues[0]!.actual).toMatch(/^1 of 1 standby more than 2 s behind; the furthest \d+ s$/);
      expect(onPrimary.metrics).toMatchObject({ 'postgres.standbys': 1, 'postgres.standbys_lagging': 1 });
      expect(onPrimary.metrics['postgres.replication_lag_seconds']).toBeGreaterThan(2);

      const onStandby = await check({ port: standby.port, replicationLagSeconds: 2 });
      expect(onStandby.metrics).toMatchObject({ 'postgres.in_recovery': 1 });
      expect(onStandby.issues).toEqual([expect.objectContaining({ severity: 2, title: 'Replay behind the primary' })]);
      expect(onStandby.issues[0]!.actual).toMatch(/^the last replayed transaction is \d+ s old while received WAL waits$/);
    } finally {
      writing = false;
      await writer;
      await standby.reconfigure({ recovery_min_apply_delay: undefined });
    }
    await until(standby, 'select pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() as ok', 'the standby to catch up', 60_000);
    expect(seen.join('\n')).not.toContain(STANDBY_NAME);
  });

  it('reports a healthy standby, and one whose replay is paused', async () => {
    const healthy = await check({ port: standby.port });
    expect(healthy).toMatchObject({ status: 'ok', metrics: { 'postgres.in_recovery': 1, 'postgres.replay_delay_seconds': 0 } });
    expect(healthy.summary).toMatch(/: standby healthy, /);

    await withClient(standby, (c) => c.query('select pg_wal_replay_pause()'), 'postgres');
    try {
      await until(standby, "select pg_get_wal_replay_pause_state() = 'paused' as ok", 'replay to pause');
      await withClient(primary, (c) => c.query('update items set v = v + 1 where id = 4'));
      await until(
        standby,
        "select pg_last_wal_receive_lsn() <> pg_last_wal_replay_lsn() and now() - pg_last_xact_replay_timestamp() > interval '1.5 seconds' as ok",
        'received WAL to wait',
      );
      const paused = await check({ port: standby.port, replicationLagSeconds: 1 });
      expect(paused.issues).toEqual([
        expect.objectContaining({
          severity: 2,
          title: 'Replay behind the primary',
          nextSteps: ['Resume replay if nobody paused it on purpose: select pg_wal_replay_resume()'],
        }),
      ]);
      expect(paused.issues[0]!.actual).toMatch(/; replay is paused$/);
      expect(paused.metrics['postgres.replay_delay_seconds']).toBeGreaterThan(1);
    } finally {
      await withClient(standby, (c) => c.query('select pg_wal_replay_resume()'), 'postgres');
    }
  });
});

describe('postgres.health on a server it cannot reach', () => {
  it('reports a server that does not answer within timeoutMs as unavailable', async () => {
    const r = await check({ port: silent.port, timeoutMs: 500 });
    expect(r).toMatchObject({ status: 'issues', score: 0, metrics: { 'postgres.up': 0 } });
    expect(r.issues).toEqual([
      expect.objectContaining({ severity: 1, title: 'Database did not answer in time', expected: 'an answer within 500 ms' }),
    ]);
    expect(r.issues[0]!.actual).toMatch(/^no answer after \d+ ms$/);
    expect(silent.connections()).toBeGreaterThan(0);
  });

  it('reports a refused connection as unavailable', async () => {
    const r = await check({ port: gonePort });
    expect(r.issues).toEqual([
      expect.objectContaining({ severity: 1, title: 'Database unreachable', actual: 'connection failed (ECONNREFUSED)' }),
    ]);
  });
});

describe('postgres.health connection security', () => {
  it('verifies the server certificate by host name, with the CA the Runner trusts (verify-full, the default)', async () => {
    const r = await check({ host: 'localhost', sslmode: undefined, user: 'lookout_cleartext' });
    expect(r).toMatchObject({ status: 'ok', metrics: { 'postgres.up': 1 } });
    expect(r.summary).toMatch(new RegExp(`^localhost:${primary.port}/appdb: primary healthy`));
  });

  it('connects with TLS but without verification only where the destination allows require', async () => {
    expect((await check({ sslmode: 'require' })).status).toBe('ok');
  });

  it('answers a clear-text password request only over a verified connection', async () => {
    const r = await check({ user: 'lookout_cleartext' });
    expect(r.status).toBe('error');
    expect(r.summary).toMatch(/asked for the password in clear text over a connection whose server is not verified \(sslmode disable\)/);
  });

  it('reports a server without TLS as an error under verify-full', async () => {
    const r = await check({ port: standby.port, sslmode: 'verify-full' });
    expect(r).toMatchObject({ status: 'error', issues: [] });
    expect(r.summary).toBe(`127.0.0.1:${standby.port}/appdb: the server does not offer TLS, and sslmode verify-full requires it`);
  });

  it('reports a wrong password as an error result naming neither the password nor the role', async () => {
    const created = await createViaApi(params({ auth: { binding: 'wrong-password' } }));
    expect(created.status).toBe(201);
    const run = await runTask(String(created.body['id']));
    expect(run['status']).toBe('succeeded');
    const r = run['result'] as RunResult;
    expect(r).toMatchObject({ status: 'error', issues: [] });
    expect(r.summary).toBe(
      `127.0.0.1:${primary.port}/appdb: password authentication failed for the role (SQLSTATE 28P01): check the secret binding and the role`,
    );
    expect(JSON.stringify(run)).not.toContain(WRONG_PASSWORD);
    expect(JSON.stringify(r)).not.toContain('lookout_check');
  });
});

describe("postgres.health under the Runner's policy", () => {
  it('is refused by the Platform at task creation where the Runner would refuse it', async () => {
    const refused = async (p: Record<string, unknown>, pattern: RegExp) => {
      const res = await createViaApi(params(p));
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body['errors'])).toMatch(pattern);
    };
    await refused({ host: 'db.example.com' }, /params\.host.*postgres:\/\/db\.example\.com:\d+\/appdb is not a destination/);
    await refused({ port: 1 }, /params\.host.*postgres:\/\/127\.0\.0\.1:1\/appdb is not a destination/);
    await refused(
      { port: attacker.port, database: 'other' },
      /params\.host.*is not a public address, and destination pg-no-ranges allows no other/,
    );
    await refused({ auth: { binding: 'web-token' } }, /secret binding web-token may not be sent to destination pg-primary/);
    await refused({ auth: { binding: 'nope' } }, /params\.auth\.binding.*no secret binding named nope/);
    await refused(
      { host: 'localhost', sslmode: 'disable' },
      /params\.sslmode.*destination pg-verified allows sslmode verify-full or stronger only/,
    );
    await refused({ port: attacker.port }, /params\.auth\.binding.*pg-password may not be sent to destination pg-unbound/);
  });

  it.each([
    ['a server under no destination', () => ({ port: 1 }), /postgres:\/\/127\.0\.0\.1:1 is not a destination of this Runner/],
    [
      'a binding that may not go to the destination',
      () => ({ port: attacker.port }),
      /secret binding pg-password may not be sent to destination pg-unbound/,
    ],
    [
      'a binding of another destination',
      () => ({ auth: { binding: 'web-token' } }),
      /secret binding web-token may not be sent to destination pg-primary/,
    ],
    [
      'a weaker sslmode than the destination allows',
      () => ({ host: 'localhost', sslmode: 'disable' }),
      /destination pg-verified allows sslmode verify-full or stronger only/,
    ],
    [
      'an address the destination does not allow',
      () => ({ port: attacker.port, database: 'other' }),
      /127\.0\.0\.1 is a loopback address, which destination pg-no-ranges does not allow/,
    ],
    [
      'a name resolving to an address the destination does not allow',
      () => ({ host: 'localhost', port: attacker.port }),
      /localhost resolves to a loopback address, which destination pg-lure does not allow/,
    ],
  ])('is refused by the Runner when forced: %s, before anything is contacted', async (_name, over, message) => {
    const run = await forced(params(over()));
    expect(run).toMatchObject({ status: 'failed', error: { type: 'PolicyDenied' } });
    expect(String((run['error'] as { message: string }).message)).toMatch(message);
    expect(attacker.connections()).toBe(0);
  });

  it('takes allowSslmode on postgres destinations only, whose port defaults to 5432', () => {
    expect(() =>
      parsePolicy('destinations:\n  - { name: web, scheme: https, host: a.example, allowSslmode: disable }\n', 'p.yaml'),
    ).toThrow(/destinations\.0\.allowSslmode: only a postgres destination takes allowSslmode/);
    const policy = parsePolicy('destinations:\n  - { name: db, scheme: postgres, host: db.example }\n', 'p.yaml');
    expect(destinationFor(policy.destinations, new URL('postgres://db.example:5432/orders'))?.name).toBe('db');
    expect(destinationFor(policy.destinations, new URL('postgres://db.example:5433/orders'))).toBeUndefined();
    expect(destinationFor(policy.destinations, new URL('https://db.example/'))).toBeUndefined();
  });

  it('leaves the password nowhere: API results, Temporal histories (raw and decrypted), Temporal files, the Runner log', async () => {
    expect(seen.length).toBeGreaterThan(10);
    const canaries = { PASSWORD, WRONG_PASSWORD };
    const hits: string[] = [];
    const scan = (where: string, bytes: Buffer) => {
      for (const [name, value] of Object.entries(canaries))
        if (needles(value).some((n) => bytes.includes(n))) hits.push(`${name} in ${where}`);
    };
    scan('API responses', Buffer.from(seen.join('\n')));
    scan('the Runner log', Buffer.from(runnerOutput));
    for (const file of readdirSync(env.dir).filter((f) => f.startsWith('temporal'))) {
      try {
        scan(file, readFileSync(path.join(env.dir, file)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    const connection = await Connection.connect({ address: env.temporalAddress });
    const codec = new WorkspaceCodec(new PlatformKeyring(platform.pool, platform.crypto.master, 'payload'));
    let decoded = 0;
    try {
      const raw = new Client({ connection, namespace: ws.temporalNamespace! });
      for await (const wf of raw.workflow.list()) {
        const history = await raw.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
        scan(`history of ${wf.workflowId}`, Buffer.from(temporal.api.history.v1.History.encode(history).finish()));
        const sealed = collectPayloads(history).filter((p) => metadataText(p, 'encoding') === ENCRYPTED_ENCODING);
        for (const payload of await codec.decode(sealed)) {
          decoded += 1;
          scan(`a decrypted payload of ${wf.workflowId}`, Buffer.from(payload.data ?? new Uint8Array()));
        }
      }
    } finally {
      await connection.close();
    }
    expect(decoded).toBeGreaterThan(10);
    expect(hits).toEqual([]);
    // Nor any of the server's own data: its standby's name, a session's query text.
    for (const text of [seen.join('\n'), runnerOutput]) {
      expect(text).not.toContain(STANDBY_NAME);
      expect(text).not.toContain(QUERY_MARKER);
    }
  });
});
