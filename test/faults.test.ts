/**
 * Reliability under faults and load, with nothing lost (issue 9). Each test drives a steady load of
 * runs through the real API with an API token, injects one class of fault into real processes,
 * then checks the books (test/harness/faults.ts): every accepted run ends in exactly one terminal
 * status, every succeeded run has exactly one stored result and no other run has one, the audit
 * chain verifies with one row per step, and every workflow is closed in Temporal.
 *
 * LOOKOUT_FAULTS_PROFILE=ci (default) keeps the counts small; `npm run faults` runs the full profile.
 * Measured numbers go to the output, one line per fault; timing is not asserted (see bench/).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Pool } from 'pg';
import { createPlatformCrypto, type PlatformCrypto } from '../platform/crypto';
import { createPool } from '../platform/db/pool';
import { inTransaction } from '../platform/repos/db';
import { StaticKeyring } from '../common/keyring';
import { exportRunnerKeyFile, PlatformKeyring } from '../platform/crypto/platform-keyring';
import { addTask, api, env, newWorkspace, writeRunnerKeyFile } from './harness/env';
import * as fx from './harness/kube-fixtures';
import { migrate } from '../platform/db/migrate';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../platform/db/embedded';
import { ensureTemporalCli } from '../scripts/tools';
import {
  BAD_RESULT_REASON,
  checkBooks,
  faultsProfile,
  kubeApiServer,
  LoadDriver,
  ownTemporal,
  startDelayTarget,
  startRogueRunner,
  startStack,
  startTcpProxy,
  summary,
  writeKubeconfigVia,
  type BadResultKind,
  type LoadReport,
  type Stack,
} from './harness/faults';

const profile = faultsProfile();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
// The whole file: the full profile offers a thousand runs per fault.
jest.setTimeout(profile.name === 'full' ? 3_600_000 : 600_000);

/**
 * Checks that can lose a Runner mid-flight: a lost attempt is noticed after 2 s without a
 * heartbeat and retried (up to 10 attempts, so that the kills cannot exhaust them); a check waits
 * for a Runner for up to 5 minutes instead of ending runner_unavailable while Runners restart.
 */
const POLICY = { heartbeatMs: 2_000, maxAttempts: 10, initialRetryIntervalMs: 200, scheduleToStartMs: 300_000 };

async function until(what: string, probe: () => boolean, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !probe();) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The load's answers other than 202, refusals (503) and transport errors: each would be a bug. */
function unexpectedAnswers(load: LoadReport): Record<string, number> {
  return Object.fromEntries(Object.entries(load.answers).filter(([k]) => /^\d+$/.test(k) && k !== '202' && k !== '503'));
}

/** Requests the API took and never answered: their connection broke mid-request. */
function cutOffRequests(load: LoadReport): number {
  return ['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'TimeoutError', 'AbortError'].reduce((n, k) => n + (load.answers[k] ?? 0), 0);
}

function sumCounts(counts: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of counts) for (const [k, v] of Object.entries(c)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Waits until `i` of `n` evenly spaced fault points of the load is reached. */
const faultPoint = (driver: LoadDriver, i: number, n: number) => driver.whenAccepted(Math.floor((profile.runs * i) / (n + 1)));

let pool: Pool;
let crypto: PlatformCrypto;
beforeAll(() => {
  pool = createPool(env.databaseUrl);
  crypto = createPlatformCrypto(pool, env.masterKey);
});
afterAll(async () => {
  await pool?.end();
});

describe('a database connection lost inside a transaction', () => {
  it('fails that transaction and leaves the process running (the client is destroyed, not pooled)', async () => {
    const own = createPool(env.databaseUrl, () => undefined, 2);
    try {
      const failed = inTransaction(own, async (tx) => {
        const { rows } = await tx.query<{ pid: number }>('select pg_backend_pid() as pid');
        // Another session ends this one while it is idle in the transaction, as a restart does.
        await pool.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
        await sleep(300);
      });
      await expect(failed).rejects.toThrow(/connection error|terminated/);
      // The pool hands out working connections afterwards.
      expect((await inTransaction(own, (tx) => tx.query<{ one: number }>('select 1 as one'))).rows).toEqual([{ one: 1 }]);
    } finally {
      await own.end();
    }
  });
});

describe('the platform keyring while the database is down', () => {
  it('keeps encrypting with the last active key it knew instead of failing (a failed encoding stops the platform worker)', async () => {
    const ws = await newWorkspace({ pool, crypto }, { probeUrl: 'http://127.0.0.1:9/' });
    const own = createPool(env.databaseUrl, () => undefined, 1);
    const keyring = new PlatformKeyring(own, crypto.master, 'payload');
    const active = await keyring.activeKey(ws.workspaceId);
    await own.end();
    // Past the cache's freshness, with the database unreachable.
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now + 60_000);
    try {
      await expect(keyring.activeKey(ws.workspaceId)).resolves.toEqual(active);
      // A workspace it never saw still fails loudly.
      await expect(keyring.activeKey(randomUUID())).rejects.toThrow();
    } finally {
      clock.mockRestore();
    }
  });
});

describe(`faults under load (profile ${profile.name}: ${profile.runs} runs per fault, ${profile.runners} Runners, ${profile.kills} faults each)`, () => {
  it('SIGKILLed Runners mid-check: a live or restarted Runner finishes every run, each with one stored result', async () => {
    const target = await startDelayTarget(200, 900);
    const ws = await newWorkspace({ pool, crypto }, { probeUrl: `${target.url}/slow`, policy: POLICY });
    const stack = await startStack({
      label: 'runner-kill',
      temporalAddress: env.temporalAddress,
      databaseUrl: env.databaseUrl,
      workspaceId: ws.workspaceId,
      runnerId: ws.runnerId,
      keysFile: await writeRunnerKeyFile({ pool, crypto }, ws.workspaceId),
      runners: profile.runners,
    });
    try {
      const driver = new LoadDriver({
        apiUrl: stack.apiUrl,
        token: ws.token,
        workspaceId: ws.workspaceId,
        taskIds: [ws.taskId],
        runs: profile.runs,
        ratePerSecond: profile.ratePerSecond,
        stopWhen: () => stack.crashes().length > 0,
      });
      const loading = driver.run();
      let attempt = 0;
      for (let k = 1; k <= profile.kills; k++) {
        await faultPoint(driver, k, profile.kills);
        // Mid-check: probes are waiting for their answers. Which Runner holds them is not known from
        // here, so kill Runners in turn until one kill has cut a check off (bounded).
        const before = target.cutOff();
        for (let tries = 0; tries < 3 * stack.runners.length && target.cutOff() === before; tries++) {
          await until('checks in flight', () => target.inFlight() >= 2);
          const victim = stack.runners[attempt++ % stack.runners.length]!;
          await victim.kill();
          await sleep(500);
          await victim.start();
        }
      }
      const load = await loading;
      const books = await checkBooks(pool, ws.workspaceId, load.accepted, { temporalAddress: env.temporalAddress });
      const kills = stack.runners.reduce((n, r) => n + r.kills, 0);
      console.log(summary('runner-sigkill', profile, load, books, { kills, checksCutOff: target.cutOff(), probeRequests: target.hits() }));
      expect(books.problems).toEqual([]);
      expect(books.neverStarted).toEqual([]);
      expect(stack.crashes()).toEqual([]);
      expect(unexpectedAnswers(load)).toEqual({});
      expect(load.accepted).toHaveLength(profile.runs);
      expect(books.byStatus).toEqual({ succeeded: profile.runs });
      expect(kills).toBeGreaterThanOrEqual(profile.kills);
      // The kills did cut checks off mid-flight, each fault at least one, and those checks ran again elsewhere.
      expect(target.cutOff()).toBeGreaterThanOrEqual(profile.kills);
      expect(target.hits()).toBeGreaterThanOrEqual(profile.runs + target.cutOff());
    } finally {
      await stack.stop();
      await target.stop();
    }
  });

  it('Temporal dev server SIGKILLed and restarted on its SQLite file mid-load: every accepted run finishes once', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-faults-temporal-'));
    const temporal = await ownTemporal(ensureTemporalCli(), dir);
    const target = await startDelayTarget(100, 500);
    const ws = await newWorkspace({ pool, crypto, temporalAddress: temporal.address }, { probeUrl: `${target.url}/ok`, policy: POLICY });
    let stack: Stack | undefined;
    try {
      stack = await startStack({
        label: 'temporal-restart',
        temporalAddress: temporal.address,
        databaseUrl: env.databaseUrl,
        workspaceId: ws.workspaceId,
        runnerId: ws.runnerId,
        keysFile: await writeRunnerKeyFile({ pool, crypto }, ws.workspaceId),
        runners: profile.runners,
      });
      const driver = new LoadDriver({
        apiUrl: stack.apiUrl,
        token: ws.token,
        workspaceId: ws.workspaceId,
        taskIds: [ws.taskId],
        runs: profile.runs,
        ratePerSecond: profile.ratePerSecond,
        stopWhen: () => stack!.crashes().length > 0,
      });
      const loading = driver.run();
      const downMs: number[] = [];
      for (let k = 1; k <= profile.kills; k++) {
        await faultPoint(driver, k, profile.kills);
        const down = Date.now();
        await temporal.server.kill();
        await sleep(1_000);
        await temporal.server.start();
        downMs.push(Date.now() - down);
      }
      const load = await loading;
      const books = await checkBooks(pool, ws.workspaceId, load.accepted, { temporalAddress: temporal.address });
      console.log(
        summary('temporal-restart', profile, load, books, {
          restarts: temporal.server.kills,
          downS: downMs.map((ms) => Math.round(ms / 100) / 10),
        }),
      );
      expect(books.problems).toEqual([]);
      expect(books.neverStarted).toEqual([]);
      expect(stack.crashes()).toEqual([]);
      expect(unexpectedAnswers(load)).toEqual({});
      expect(books.byStatus).toEqual({ succeeded: load.accepted.length });
      expect(load.accepted.length).toBe(profile.runs);
      expect(temporal.server.kills).toBe(profile.kills);
    } finally {
      await stack?.stop();
      await temporal.server.stop();
      temporal.server.close();
      await target.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('PostgreSQL restarted mid-load: platform activities retry, writes stay idempotent, every accepted run finishes once', async () => {
    // As root the server runs as user "postgres": the directory must be reachable by others.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-faults-pg-'));
    chmodSync(dir, 0o755);
    let pg: EmbeddedPostgresHandle = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), database: 'lookout', persistent: true });
    const port = pg.port;
    const ownPool = createPool(pg.url);
    const target = await startDelayTarget(100, 500);
    let stack: Stack | undefined;
    try {
      await migrate(ownPool);
      const ownCrypto = createPlatformCrypto(ownPool, env.masterKey);
      const ws = await newWorkspace({ pool: ownPool, crypto: ownCrypto }, { probeUrl: `${target.url}/ok`, policy: POLICY });
      stack = await startStack({
        label: 'pg-restart',
        temporalAddress: env.temporalAddress,
        databaseUrl: pg.url,
        workspaceId: ws.workspaceId,
        runnerId: ws.runnerId,
        keysFile: await writeRunnerKeyFile({ pool: ownPool, crypto: ownCrypto }, ws.workspaceId),
        runners: profile.runners,
      });
      const driver = new LoadDriver({
        apiUrl: stack.apiUrl,
        token: ws.token,
        workspaceId: ws.workspaceId,
        taskIds: [ws.taskId],
        runs: profile.runs,
        ratePerSecond: profile.ratePerSecond,
        stopWhen: () => stack!.crashes().length > 0,
      });
      const loading = driver.run();
      const downMs: number[] = [];
      for (let k = 1; k <= profile.kills; k++) {
        await faultPoint(driver, k, profile.kills);
        const down = Date.now();
        await pg.stop();
        await sleep(2_000);
        pg = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), port, database: 'lookout', persistent: true });
        downMs.push(Date.now() - down);
      }
      const load = await loading;
      const books = await checkBooks(ownPool, ws.workspaceId, load.accepted, { temporalAddress: env.temporalAddress });
      console.log(
        summary('postgres-restart', profile, load, books, {
          restarts: profile.kills,
          downS: downMs.map((ms) => Math.round(ms / 100) / 10),
        }),
      );
      expect(books.problems).toEqual([]);
      expect(books.neverStarted).toEqual([]);
      expect(stack.crashes()).toEqual([]);
      expect(unexpectedAnswers(load)).toEqual({});
      expect(books.byStatus).toEqual({ succeeded: load.accepted.length });
      expect(load.accepted.length).toBe(profile.runs);
    } finally {
      await stack?.stop();
      await target.stop();
      await ownPool.end();
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('platform worker and API SIGKILLed mid-load: after their restart every accepted run finishes once', async () => {
    const target = await startDelayTarget(100, 500);
    const ws = await newWorkspace({ pool, crypto }, { probeUrl: `${target.url}/ok`, policy: POLICY });
    const stack = await startStack({
      label: 'platform-kill',
      temporalAddress: env.temporalAddress,
      databaseUrl: env.databaseUrl,
      workspaceId: ws.workspaceId,
      runnerId: ws.runnerId,
      keysFile: await writeRunnerKeyFile({ pool, crypto }, ws.workspaceId),
      runners: profile.runners,
    });
    try {
      const driver = new LoadDriver({
        apiUrl: stack.apiUrl,
        token: ws.token,
        workspaceId: ws.workspaceId,
        taskIds: [ws.taskId],
        runs: profile.runs,
        ratePerSecond: profile.ratePerSecond,
        stopWhen: () => stack.crashes().length > 0,
      });
      const loading = driver.run();
      // Alternately the API and the platform worker; with two faults, one of each.
      for (let k = 1; k <= profile.kills; k++) {
        await faultPoint(driver, k, profile.kills);
        const victim = k % 2 === 1 ? stack.api : stack.worker;
        await victim.kill();
        await sleep(1_000);
        await victim.start();
      }
      const load = await loading;
      const books = await checkBooks(pool, ws.workspaceId, load.accepted, { temporalAddress: env.temporalAddress });
      console.log(summary('platform-kill', profile, load, books, { apiKills: stack.api.kills, workerKills: stack.worker.kills }));
      expect(books.problems).toEqual([]);
      // An API killed between recording a run and starting its workflow leaves that run queued (the
      // client got no 202, so it is not an accepted run): at most one per request the kill cut off.
      // The platform worker closes such runs as failed/NotStarted once they are two minutes old
      // (platform/orphan-runs.ts, tested in api.test.ts), later than this test looks.
      expect(books.neverStarted.length).toBeLessThanOrEqual(cutOffRequests(load));
      expect(stack.crashes()).toEqual([]);
      expect(unexpectedAnswers(load)).toEqual({});
      expect(books.byStatus).toEqual({ succeeded: load.accepted.length });
      expect(load.accepted.length).toBe(profile.runs);
      expect(stack.api.kills + stack.worker.kills).toBe(profile.kills);
    } finally {
      await stack.stop();
      await target.stop();
    }
  });

  it('a slow or hanging Kubernetes API: checks end cleanly with an error result, and the same Runner then completes healthy checks', async () => {
    const admin = fx.adminClients();
    const ns = await fx.namespace(admin, 'faults');
    await fx.pod(admin, ns, 'web', { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] });
    const proxy = await startTcpProxy(kubeApiServer());
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-faults-kube-'));
    const target = await startDelayTarget(0, 50);
    // One attempt, so that every run shows what its one check met; a heartbeat timeout long enough
    // that a CPU-starved Runner (the full profile on two cores) is not mistaken for a lost one.
    const policy = { ...POLICY, maxAttempts: 1, heartbeatMs: 15_000 };
    const ws = await newWorkspace({ pool, crypto }, { probeUrl: `${target.url}/ok`, policy });
    const taskId = await addTask({ pool, crypto }, ws, 'k8s.pod-status', { namespaces: [ns], pendingMinutes: 0 }, policy);
    const kubeTimeoutMs = 1_000;
    const stack = await startStack({
      label: 'kube-slow',
      temporalAddress: env.temporalAddress,
      databaseUrl: env.databaseUrl,
      workspaceId: ws.workspaceId,
      runnerId: ws.runnerId,
      keysFile: await writeRunnerKeyFile({ pool, crypto }, ws.workspaceId),
      runners: 1,
      runnerEnv: {
        LOOKOUT_KUBECONFIG: writeKubeconfigVia(proxy.port, path.join(dir, 'runner.kubeconfig')),
        LOOKOUT_KUBE_TIMEOUT_MS: String(kubeTimeoutMs),
        LOOKOUT_RUNNER_ALLOWED_CHECKS: 'http.probe,k8s.pod-status',
      },
    });
    const perPhase = Math.max(8, Math.floor(profile.runs / 4));
    const phase = async (taskIds: string[]) => {
      const load = await new LoadDriver({
        apiUrl: stack.apiUrl,
        token: ws.token,
        workspaceId: ws.workspaceId,
        taskIds,
        runs: perPhase,
        ratePerSecond: profile.ratePerSecond,
        stopWhen: () => stack.crashes().length > 0,
      }).run();
      const results = await Promise.all(
        load.accepted.map(async (id) => {
          for (let i = 0; i < 600; i++) {
            const run = (await api(stack.apiUrl, 'GET', `/v1/runs/${id}`, { token: ws.token })).body;
            if (run['status'] !== 'queued' && run['status'] !== 'running')
              return { status: run['status'], result: run['result'] as { status: string; summary: string } | null };
            await sleep(250);
          }
          return { status: 'stuck', result: null };
        }),
      );
      return { load, results };
    };
    try {
      const stuckCall = `cannot list pods in namespace ${ns}: the Kubernetes API did not answer in time`;
      // 1. Every byte delayed by twice the call timeout; 2. connections accepted, nothing forwarded.
      proxy.setMode({ kind: 'delay', ms: 2 * kubeTimeoutMs });
      const slow = await phase([taskId]);
      proxy.setMode({ kind: 'blackhole' });
      const hanging = await phase([taskId]);
      // 3. TLS handshakes pass, answers never come: the Runner gives up on each call after its
      //    timeout and closes the connection (none held for good).
      proxy.setMode({ kind: 'stall' });
      const stalled = await phase([taskId]);
      const openAfterStall = proxy.open();
      const closing = Date.now();
      // A connection still in its TLS handshake closes at the connect timeout (10 s) at the latest.
      await until('the Runner closing the connections it gave up on', () => proxy.open() === 0, 15_000);
      const closedAfterMs = Date.now() - closing;
      // 4. The API server answers again: the same Runner process runs Kubernetes and HTTP checks.
      proxy.setMode({ kind: 'pass' });
      const healthy = await phase([taskId, ws.taskId]);
      const accepted = [...slow.load.accepted, ...hanging.load.accepted, ...stalled.load.accepted, ...healthy.load.accepted];
      const books = await checkBooks(pool, ws.workspaceId, accepted, { temporalAddress: env.temporalAddress });
      const load = {
        accepted,
        answers: sumCounts([slow.load.answers, hanging.load.answers, stalled.load.answers, healthy.load.answers]),
        abandoned: 0,
        durationMs: slow.load.durationMs + hanging.load.durationMs + stalled.load.durationMs + healthy.load.durationMs,
      };
      console.log(
        summary('kube-slow', { ...profile, runs: 4 * perPhase }, load, books, {
          kubeTimeoutMs,
          proxyConnections: proxy.accepted(),
          openRightAfterStall: openAfterStall,
          allClosedAfterS: Math.round(closedAfterMs / 100) / 10,
        }),
      );
      expect(books.problems).toEqual([]);
      expect(books.neverStarted).toEqual([]);
      expect(stack.crashes()).toEqual([]);
      expect(books.byStatus).toEqual({ succeeded: 4 * perPhase });
      for (const r of [...slow.results, ...hanging.results, ...stalled.results])
        expect(r).toEqual({ status: 'succeeded', result: expect.objectContaining({ status: 'error', summary: stuckCall }) });
      for (const r of healthy.results) {
        expect(r.status).toBe('succeeded');
        expect(['ok', 'issues']).toContain(r.result?.status);
      }
      expect(stack.runners[0]!.kills).toBe(0);
    } finally {
      await stack.stop();
      await proxy.stop();
      await target.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a Runner that answers with oversized, malformed, unattested or tampered results: each run ends rejected, is audited, and nothing is stored', async () => {
    const target = await startDelayTarget(50, 200);
    const ws = await newWorkspace({ pool, crypto }, { probeUrl: `${target.url}/ok`, policy: POLICY });
    const kinds: BadResultKind[] = ['oversized', 'malformed', 'unattested', 'tampered'];
    // The rogue holds the workspace's keys (a compromised Runner host) but skips the boundary.
    const rogue = await startRogueRunner({
      temporalAddress: env.temporalAddress,
      namespace: ws.temporalNamespace!,
      runnerId: ws.runnerId,
      keyring: new StaticKeyring(await exportRunnerKeyFile(pool, crypto.master, ws.workspaceId)),
      kinds,
      pollers: 2,
    });
    // The real Runners join once the rogue has answered every kind twice, and share the queue with it.
    const stack = await startStack({
      label: 'bad-results',
      temporalAddress: env.temporalAddress,
      databaseUrl: env.databaseUrl,
      workspaceId: ws.workspaceId,
      runnerId: ws.runnerId,
      keysFile: await writeRunnerKeyFile({ pool, crypto }, ws.workspaceId),
      runners: 0,
    });
    let runners: Stack | undefined;
    try {
      const driver = new LoadDriver({
        apiUrl: stack.apiUrl,
        token: ws.token,
        workspaceId: ws.workspaceId,
        taskIds: [ws.taskId],
        runs: profile.runs,
        ratePerSecond: profile.ratePerSecond,
        stopWhen: () => stack.crashes().length > 0,
      });
      const loading = driver.run();
      await until('the rogue answering every kind', () => rogue.answered.size >= 2 * kinds.length, 60_000);
      runners = await startStack({
        label: 'bad-results-good',
        temporalAddress: env.temporalAddress,
        databaseUrl: env.databaseUrl,
        workspaceId: ws.workspaceId,
        runnerId: ws.runnerId,
        keysFile: await writeRunnerKeyFile({ pool, crypto }, ws.workspaceId),
        runners: profile.runners,
        runnersOnly: true,
      });
      const load = await loading;
      const books = await checkBooks(pool, ws.workspaceId, load.accepted, { temporalAddress: env.temporalAddress });
      const byKind = Object.fromEntries(kinds.map((k) => [k, [...rogue.answered.values()].filter((v) => v === k).length]));
      console.log(summary('bad-results', profile, load, books, { rogueAnswers: byKind }));
      expect(books.problems).toEqual([]);
      expect(books.neverStarted).toEqual([]);
      expect([...stack.crashes(), ...runners.crashes()]).toEqual([]);
      expect(load.accepted).toHaveLength(profile.runs);
      // Exactly the rogue's answers are rejected, each for its own reason; the real Runners' runs succeed.
      expect(books.byStatus).toEqual({ rejected: rogue.answered.size, succeeded: profile.runs - rogue.answered.size });
      const audit = await pool.query<{ target: string; details: { reason: string } }>(
        "select target, details from audit_events where workspace_id = $1 and action = 'run.result_rejected'",
        [ws.workspaceId],
      );
      const reasons = new Map(audit.rows.map((r) => [r.target.replace(/^run:/, ''), r.details.reason]));
      for (const [runId, kind] of rogue.answered)
        expect({ runId, kind, reason: reasons.get(runId) }).toEqual({
          runId,
          kind,
          reason: expect.stringMatching(BAD_RESULT_REASON[kind]),
        });
      const stored = await pool.query<{ n: number }>('select count(*)::int as n from results where run_id = any($1::uuid[])', [
        [...rogue.answered.keys()],
      ]);
      expect(stored.rows[0]!.n).toBe(0);
      for (const kind of kinds) expect(byKind[kind]).toBeGreaterThanOrEqual(2);
    } finally {
      await rogue.stop();
      await runners?.stop();
      await stack.stop();
      await target.stop();
    }
  });
});
