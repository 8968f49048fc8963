/**
 * The whole system as separate processes, for the soak and the Runner memory bench: a Temporal dev
 * server and an embedded PostgreSQL, then the API, the platform worker and a Runner started from
 * dist/ with their own environments (as `npm start` does), a workspace made by the bootstrap
 * service with an `http.probe` task, and the helpers both benches use to load it and to read the
 * processes' memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { TERMINAL_RUN_STATUSES } from '../common/contracts';
import { createPlatformCrypto } from '../platform/crypto';
import { MasterKey } from '../platform/crypto/master-key';
import { platformSigningKey } from '../platform/crypto/signing-key';
import { exportRunnerKeyFile } from '../platform/crypto/platform-keyring';
import { freePort, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../platform/db/embedded';
import { migrate } from '../platform/db/migrate';
import { createPool } from '../platform/db/pool';
import { bootstrap, type BootstrapOutput } from '../platform-api/services/bootstrap.service';
import { ensureTemporalCli, temporalDevServerArgs } from '../scripts/tools';
import { lookoutDataConverter } from '../common/data-converter';
import { devWorkspaceTemporal } from '../platform/workspace-temporal';

const dist = path.resolve(__dirname, '..');

export type LookoutProcess = 'api' | 'platform-worker' | 'runner';

export interface System {
  /** Scratch directory: PostgreSQL data, the Runner's key file and `logs/<process>.log`. */
  dir: string;
  temporalAddress: string;
  /** The Temporal dev server's process id (its memory is reported, not bounded). */
  temporalPid: number;
  apiUrl: string;
  /** The local endpoint the workspace's `http.probe` task checks. */
  probeUrl: string;
  workspace: BootstrapOutput;
  /** Process ids of the Lookout processes. */
  pids: Record<LookoutProcess, number>;
  /** Processes that exited before {@link System.stop}, with their status: any entry is a failure. */
  exited: string[];
  /** Starts another Node process (from dist/) beside the system, stopped with it. */
  spawnNode(name: string, script: string, env: NodeJS.ProcessEnv): ChildProcess;
  /** Stops every process, PostgreSQL and the probe target; removes `dir` unless `keepDir`. */
  stop(options?: { keepDir?: boolean }): Promise<void>;
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not become ready within ${Math.round(timeoutMs / 1000)} s`);
}

/**
 * Starts the system. The API, the platform worker and the Runner run `process.execPath` (Node 24
 * under `npm run`) on the compiled entry points at log level `info`, logging to `dir/logs`. Resolves
 * once the API answers `/readyz` and the Runner polls its queue. On failure, everything started so
 * far is stopped and the logs are kept.
 */
export async function startSystem(options: { runnerEnv?: NodeJS.ProcessEnv } = {}): Promise<System> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-system-'));
  chmodSync(dir, 0o755); // as root the embedded PostgreSQL runs as another user
  mkdirSync(path.join(dir, 'logs'));
  const children: { name: string; proc: ChildProcess; group: boolean }[] = [];
  const exited: string[] = [];
  let stopping = false;
  let pg: EmbeddedPostgresHandle | undefined;

  const target = http.createServer((_req, res) => res.writeHead(200).end('ok'));
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const probeUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}/healthz`;

  const spawnLogged = (name: string, command: string, args: string[], env: NodeJS.ProcessEnv, detached = false): ChildProcess => {
    const log = createWriteStream(path.join(dir, 'logs', `${name}.log`));
    const proc = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached });
    proc.stdout?.pipe(log);
    proc.stderr?.pipe(log);
    proc.once('exit', (code, signal) => {
      if (!stopping) exited.push(`${name} exited (${signal ?? code})`);
    });
    children.push({ name, proc, group: detached });
    return proc;
  };
  const spawnNode = (name: string, script: string, env: NodeJS.ProcessEnv) =>
    spawnLogged(name, process.execPath, [path.join(dist, script)], env);

  const stop = async ({ keepDir = false } = {}) => {
    stopping = true;
    for (const { proc, group } of [...children].reverse()) {
      if (proc.exitCode !== null || proc.signalCode !== null) continue;
      try {
        // Temporal runs in its own process group (detached); the Node processes are signalled directly.
        if (group) process.kill(-proc.pid!, 'SIGTERM');
        else proc.kill('SIGTERM');
      } catch {
        // already gone
      }
    }
    await Promise.all(
      children.map(({ proc }) =>
        proc.exitCode === null && proc.signalCode === null ? new Promise((r) => proc.once('exit', r)) : Promise.resolve(),
      ),
    );
    await pg?.stop();
    target.close();
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
  };

  try {
    const port = await freePort();
    const temporal = spawnLogged(
      'temporal',
      ensureTemporalCli(),
      temporalDevServerArgs({ port, httpPort: await freePort(), metricsPort: await freePort() }),
      process.env,
      true,
    );
    const temporalAddress = `127.0.0.1:${port}`;
    pg = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), persistent: false });
    await waitFor(
      'the Temporal dev server',
      async () => {
        await (await Connection.connect({ address: temporalAddress, connectTimeout: 1_000 })).close();
        return true;
      },
      60_000,
    );

    const masterKey = MasterKey.generate();
    const pool = createPool(pg.url, () => undefined, 2);
    const runnerKeysFile = path.join(dir, 'runner-keys.json');
    const runnerAttestationFile = path.join(dir, 'runner-attestation.key');
    // The probed target listens on loopback, which a Runner policy refuses unless a destination names it.
    const runnerPolicyFile = path.join(dir, 'runner-policy.json');
    writeFileSync(
      runnerPolicyFile,
      JSON.stringify({
        checks: ['http.probe'],
        destinations: [{ name: 'target', scheme: 'http', host: '127.0.0.1', port: '*', allowAddresses: ['127.0.0.0/8'] }],
        platformKeys: [platformSigningKey(MasterKey.fromBase64(masterKey)).publicKey],
      }),
    );
    let workspace: BootstrapOutput;
    try {
      await migrate(pool);
      const crypto = createPlatformCrypto(pool, masterKey);
      const temporal = devWorkspaceTemporal({
        connection: await Connection.connect({ address: temporalAddress }),
        db: pool,
        identity: 'bench',
        dataConverter: lookoutDataConverter(crypto.payloadKeys),
      });
      workspace = await bootstrap(pool, crypto, temporal, {
        workspaceName: 'bench',
        ownerEmail: 'bench@lookout.localhost',
        probeUrl,
      }).finally(() => temporal.connection.close());
      writeFileSync(runnerKeysFile, JSON.stringify(await exportRunnerKeyFile(pool, crypto.master, workspace.workspaceId)), { mode: 0o600 });
      writeFileSync(runnerAttestationFile, `${workspace.runnerAttestationKey}\n`, { mode: 0o600 });
    } finally {
      await pool.end();
    }

    const apiPort = await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const common: NodeJS.ProcessEnv = { PATH: process.env['PATH'], LOOKOUT_TEMPORAL_ADDRESS: temporalAddress, LOOKOUT_LOG_LEVEL: 'info' };
    const platformEnv = { ...common, DATABASE_URL: pg.url, LOOKOUT_MASTER_KEY: masterKey };
    const api = spawnNode('api', 'platform-api/main.js', { ...platformEnv, LOOKOUT_API_PORT: String(apiPort) });
    const platformWorker = spawnNode('platform-worker', 'workers/platform-worker.js', platformEnv);
    // The Runner gets neither the database nor the master key: only its workspace's key file.
    const runner = spawnNode('runner', 'workers/runner.js', {
      ...common,
      LOOKOUT_TEMPORAL_NAMESPACE: workspace.temporalNamespace,
      LOOKOUT_RUNNER_ID: workspace.runnerId,
      LOOKOUT_WORKSPACE_ID: workspace.workspaceId,
      LOOKOUT_RUNNER_KEYS_FILE: runnerKeysFile,
      LOOKOUT_RUNNER_ATTESTATION_KEY_FILE: runnerAttestationFile,
      LOOKOUT_RUNNER_POLICY_FILE: runnerPolicyFile,
      ...options.runnerEnv,
    });
    const alive = () => {
      if (exited.length) throw new Error(exited.join('; '));
      return true;
    };
    await waitFor('the API', async () => alive() && (await fetch(`${apiUrl}/readyz`)).ok, 60_000);
    const headers = { authorization: `Bearer ${workspace.token}` };
    await waitFor(
      'the Runner',
      async () => {
        const res = await fetch(`${apiUrl}/v1/workspaces/${workspace.workspaceId}/runners`, { headers });
        const body = (await res.json()) as { items: { online: boolean }[] };
        return alive() && body.items.some((r) => r.online);
      },
      60_000,
    );
    return {
      dir,
      temporalAddress,
      temporalPid: temporal.pid!,
      apiUrl,
      probeUrl,
      workspace,
      pids: { api: api.pid!, 'platform-worker': platformWorker.pid!, runner: runner.pid! },
      exited,
      spawnNode,
      stop,
    };
  } catch (err) {
    await stop({ keepDir: true });
    throw new Error(`${err instanceof Error ? err.message : String(err)} (logs in ${path.join(dir, 'logs')})`, { cause: err });
  }
}

/** Resident set size of a process in MiB, from /proc/<pid>/status (Linux); NaN when it is gone. */
export function rssMiB(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round((Number(match[1]) / 1024) * 10) / 10 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * CPU time (user + system) a process has used, in ms, from /proc/<pid>/stat; NaN when it is gone.
 * Assumes the usual 100 clock ticks per second (`getconf CLK_TCK`).
 */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: utime is field 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

export interface RssSample {
  /** Seconds since the sampler started. */
  t: number;
  mib: Record<string, number>;
}

/** Samples the RSS of `pids` every `intervalMs`, from now until `stop()`, which returns the samples. */
export function sampleRss(pids: Record<string, number>, intervalMs: number): { samples: RssSample[]; stop(): RssSample[] } {
  const started = performance.now();
  const samples: RssSample[] = [];
  const take = () =>
    samples.push({
      t: Math.round((performance.now() - started) / 100) / 10,
      mib: Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, rssMiB(pid)])),
    });
  take();
  const timer = setInterval(take, intervalMs);
  return {
    samples,
    stop: () => {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

/** Least-squares slope of y over x; 0 with fewer than two points. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return sxx === 0 ? 0 : points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx;
}

export const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

/** How one run went, as its client saw it. */
export interface RunOutcome {
  /** `succeeded`, another terminal status, `create <status>` when the API refused it, or `timeout`. */
  outcome: string;
  /** From the POST to the poll that saw the terminal status. */
  latencyMs: number;
}

/**
 * Runs the workspace's task once through the API, as a user would: `POST …/runs` with the owner API
 * token, then `GET /v1/runs/{id}` every `pollMs` until a terminal status or `timeoutMs`. Never
 * throws: a failure is an outcome.
 */
export async function runThroughApi(system: System, pollMs = 250, timeoutMs = 120_000): Promise<RunOutcome> {
  const { apiUrl, workspace } = system;
  const headers = { authorization: `Bearer ${workspace.token}`, 'content-type': 'application/json' };
  const started = performance.now();
  const done = (outcome: string): RunOutcome => ({ outcome, latencyMs: Math.round(performance.now() - started) });
  try {
    const created = await fetch(`${apiUrl}/v1/workspaces/${workspace.workspaceId}/runs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ taskId: workspace.taskId }),
    });
    const body = (await created.json()) as { id?: string };
    if (created.status !== 202 || !body.id) return done(`create ${created.status}`);
    while (performance.now() - started < timeoutMs) {
      await new Promise((r) => setTimeout(r, pollMs));
      const res = await fetch(`${apiUrl}/v1/runs/${body.id}`, { headers });
      if (res.status !== 200) {
        await res.body?.cancel();
        return done(`get ${res.status}`);
      }
      const view = (await res.json()) as { status: string };
      if ((TERMINAL_RUN_STATUSES as readonly string[]).includes(view.status)) return done(view.status);
    }
    return done('timeout');
  } catch (err) {
    return done(`error ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Starts `one()` at a steady `ratePerSec` for `durationMs` (open loop: a start never waits for an
 * earlier one to end, so a slow system shows as latency and in-flight count, not as a lower rate),
 * then waits for every started call. Returns what each call returned or threw, and the most calls
 * in flight.
 */
export async function driveAtRate<T>(
  ratePerSec: number,
  durationMs: number,
  one: () => Promise<T>,
): Promise<{ outcomes: T[]; errors: string[]; maxInFlight: number; started: number }> {
  const outcomes: T[] = [];
  const errors: string[] = [];
  const pending = new Set<Promise<void>>();
  let maxInFlight = 0;
  const t0 = performance.now();
  const total = Math.floor((durationMs / 1000) * ratePerSec);
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / ratePerSec;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const p: Promise<void> = one()
      .then(
        (o) => void outcomes.push(o),
        (err: unknown) => void errors.push(err instanceof Error ? err.message : String(err)),
      )
      .finally(() => pending.delete(p));
    pending.add(p);
    maxInFlight = Math.max(maxInFlight, pending.size);
  }
  await Promise.all(pending);
  return { outcomes, errors, maxInFlight, started: total };
}
