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
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Pool } from 'pg';
import { createPlatformCrypto, type PlatformCrypto } from '../platform-api/crypto';
import { createPool } from '../platform-api/db/pool';
import { inTransaction } from '../platform-api/repos/db';
import { env, newWorkspace, writeRunnerKeyFile } from './harness/env';
import { migrate } from '../platform-api/db/migrate';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../platform-api/db/embedded';
import { ensureTemporalCli } from '../scripts/tools';
import { checkBooks, faultsProfile, LoadDriver, ownTemporal, startDelayTarget, startStack, summary, type LoadReport, type Stack } from './harness/faults';

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
  for (const deadline = Date.now() + timeoutMs; !probe(); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The load's answers other than 202, refusals (503) and transport errors: each would be a bug. */
function unexpectedAnswers(load: LoadReport): Record<string, number> {
  return Object.fromEntries(Object.entries(load.answers).filter(([k]) => /^\d+$/.test(k) && k !== '202' && k !== '503'));
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

describe(`faults under load (profile ${profile.name}: ${profile.runs} runs per fault, ${profile.runners} Runners, ${profile.kills} faults each)`, () => {
  it('SIGKILLed Runners mid-check: a live or restarted Runner finishes every run, each with one stored result', async () => {
    const target = await startDelayTarget(200, 900);
    const ws = await newWorkspace({ pool, crypto }, { probeUrl: `${target.url}/slow`, policy: POLICY });
    const stack = await startStack({ label: 'runner-kill', temporalAddress: env.temporalAddress, databaseUrl: env.databaseUrl, workspaceId: ws.workspaceId, runnerId: ws.runnerId, keysFile: await writeRunnerKeyFile({ pool, crypto }, ws.workspaceId), runners: profile.runners });
    try {
      const driver = new LoadDriver({ apiUrl: stack.apiUrl, token: ws.token, workspaceId: ws.workspaceId, taskIds: [ws.taskId], runs: profile.runs, ratePerSecond: profile.ratePerSecond, stopWhen: () => stack.crashes().length > 0 });
      const loading = driver.run();
      for (let k = 1; k <= profile.kills; k++) {
        await faultPoint(driver, k, profile.kills);
        // Mid-check: probes are waiting for their answers.
        await until('checks in flight', () => target.inFlight() >= 2);
        const victim = stack.runners[(k - 1) % stack.runners.length]!;
        await victim.kill();
        await sleep(500);
        await victim.start();
      }
      const load = await loading;
      const books = await checkBooks(pool, ws.workspaceId, load.accepted, { temporalAddress: env.temporalAddress });
      const kills = stack.runners.reduce((n, r) => n + r.kills, 0);
      console.log(summary('runner-sigkill', profile, load, books, { kills, checksCutOff: target.cutOff(), probeRequests: target.hits() }));
      expect(books.problems).toEqual([]);
      expect(stack.crashes()).toEqual([]);
      expect(unexpectedAnswers(load)).toEqual({});
      expect(load.accepted).toHaveLength(profile.runs);
      expect(books.byStatus).toEqual({ succeeded: profile.runs });
      expect(kills).toBe(profile.kills);
      // The kills did cut checks off mid-flight, and those checks ran again elsewhere.
      expect(target.cutOff()).toBeGreaterThan(0);
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
    const ws = await newWorkspace({ pool, crypto }, { probeUrl: `${target.url}/ok`, policy: POLICY });
    let stack: Stack | undefined;
    try {
      stack = await startStack({ label: 'temporal-restart', temporalAddress: temporal.address, databaseUrl: env.databaseUrl, workspaceId: ws.workspaceId, runnerId: ws.runnerId, keysFile: await writeRunnerKeyFile({ pool, crypto }, ws.workspaceId), runners: profile.runners });
      const driver = new LoadDriver({ apiUrl: stack.apiUrl, token: ws.token, workspaceId: ws.workspaceId, taskIds: [ws.taskId], runs: profile.runs, ratePerSecond: profile.ratePerSecond, stopWhen: () => stack!.crashes().length > 0 });
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
      console.log(summary('temporal-restart', profile, load, books, { restarts: temporal.server.kills, downS: downMs.map((ms) => Math.round(ms / 100) / 10) }));
      expect(books.problems).toEqual([]);
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
      stack = await startStack({ label: 'pg-restart', temporalAddress: env.temporalAddress, databaseUrl: pg.url, workspaceId: ws.workspaceId, runnerId: ws.runnerId, keysFile: await writeRunnerKeyFile({ pool: ownPool, crypto: ownCrypto }, ws.workspaceId), runners: profile.runners });
      const driver = new LoadDriver({ apiUrl: stack.apiUrl, token: ws.token, workspaceId: ws.workspaceId, taskIds: [ws.taskId], runs: profile.runs, ratePerSecond: profile.ratePerSecond, stopWhen: () => stack!.crashes().length > 0 });
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
      console.log(summary('postgres-restart', profile, load, books, { restarts: profile.kills, downS: downMs.map((ms) => Math.round(ms / 100) / 10) }));
      expect(books.problems).toEqual([]);
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
    const stack = await startStack({ label: 'platform-kill', temporalAddress: env.temporalAddress, databaseUrl: env.databaseUrl, workspaceId: ws.workspaceId, runnerId: ws.runnerId, keysFile: await writeRunnerKeyFile({ pool, crypto }, ws.workspaceId), runners: profile.runners });
    try {
      const driver = new LoadDriver({ apiUrl: stack.apiUrl, token: ws.token, workspaceId: ws.workspaceId, taskIds: [ws.taskId], runs: profile.runs, ratePerSecond: profile.ratePerSecond, stopWhen: () => stack.crashes().length > 0 });
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
});

