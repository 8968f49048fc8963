/**
 * Fault injection on the real processes: the API (`dist/platform-api/main.js`), the platform worker
 * and Runners started as child processes that tests SIGKILL and restart; a steady load of runs
 * through the API with an API token; and {@link checkBooks}, the accounting every fault test ends
 * with. Profiles: `LOOKOUT_FAULTS_PROFILE=ci` (default, small) or `full` (the issue's scale).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync, type WriteStream } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { attestAsRunner } from '../../common/attestation';
import type { SigningKey } from '../../common/ed25519';
import { WorkspaceCodec } from '../../common/codec';
import type { StaticKeyring } from '../../common/keyring';
import { Pool as PgPool, type Pool } from 'pg';
import { TERMINAL_RUN_STATUSES, type TaskRequest, type TaskResultBody } from '../../common/contracts';
import { runnerTaskQueue, runWorkflowId } from '../../common/ids';
import { freePort } from '../../platform/db/embedded';
import { temporalDevServerArgs } from '../../scripts/tools';
import { verifyAuditChain } from '../../platform/repos/audit.repo';
import { env, runnerAttestationEnv, runnerAttestationKeyOf } from './env';
import { loopbackPolicyInput, writePolicyFile } from './policy';
import { CHECK_TYPES } from '../../common/checks';

const dist = path.resolve(__dirname, '..', '..', 'dist');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface FaultsProfile {
  name: 'ci' | 'full';
  /** Runs offered per fault. */
  runs: number;
  /** Runner processes sharing the workspace's queue. */
  runners: number;
  /** Faults injected per test (kills, restarts). */
  kills: number;
  /** The steady rate the driver offers runs at. */
  ratePerSecond: number;
}

/** `ci` keeps the whole file within a few minutes on two cores; `full` is the issue's scale. */
export function faultsProfile(): FaultsProfile {
  const name = process.env['LOOKOUT_FAULTS_PROFILE'] ?? 'ci';
  if (name === 'full') return { name, runs: 1_000, runners: 4, kills: 6, ratePerSecond: 15 };
  if (name === 'ci') return { name, runs: 48, runners: 3, kills: 2, ratePerSecond: 8 };
  throw new Error(`LOOKOUT_FAULTS_PROFILE must be ci or full, not ${name}`);
}

// ---------------------------------------------------------------------------------------------
// Real processes

const baseEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/', LOOKOUT_LOG_LEVEL: 'info' });
const live = new Set<ChildProcess>();
process.once('exit', () => live.forEach((p) => p.kill('SIGKILL')));

/**
 * One Lookout process (or a server), restartable with the same command and environment. Output goes
 * to a log file in the test directory; `ready` decides from it (or by probing) when it is up.
 */
export class ManagedProcess {
  private proc: ChildProcess | undefined;
  private log: WriteStream;
  private output = '';
  /** SIGKILLs sent to it. */
  kills = 0;
  /** Exits nobody asked for, with their status: a crash. */
  readonly crashes: string[] = [];
  private stopping = false;

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly environment: NodeJS.ProcessEnv,
    private readonly ready: (output: string) => boolean | Promise<boolean>,
  ) {
    // LOOKOUT_FAULTS_LOGS keeps the logs after the run (the test directory is removed at the end).
    this.log = createWriteStream(path.join(process.env['LOOKOUT_FAULTS_LOGS'] ?? env.dir, `faults-${name}.log`), { flags: 'a' });
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return Boolean(this.proc && this.proc.exitCode === null && this.proc.signalCode === null);
  }

  /** Starts it and waits until it is ready (or throws with the tail of its output). */
  async start(timeoutMs = 60_000): Promise<void> {
    this.output = '';
    const proc = spawn(this.command, this.args, { env: this.environment, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    live.add(proc);
    this.stopping = false;
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      if (!this.stopping) this.crashes.push(`${this.name} exited by itself (${signal ?? code})`);
    });
    const onData = (d: Buffer) => {
      this.log.write(d);
      // Only the start-up output matters for readiness; keep it bounded.
      if (this.output.length < 200_000) this.output += d.toString();
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`${this.name} exited during start (${proc.signalCode ?? proc.exitCode}): ${this.output.slice(-2000)}`);
      if (await Promise.resolve(this.ready(this.output)).catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`${this.name} was not ready within ${timeoutMs} ms: ${this.output.slice(-2000)}`);
      await sleep(100);
    }
  }

  /** SIGKILL, and wait for the exit. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    this.kills += 1;
    this.stopping = true;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM (SIGKILL after 10 s), and wait for the exit. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    this.stopping = true;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  close(): void {
    this.log.end();
  }
}

const logged = (msg: string) => (output: string) => output.includes(`"msg":"${msg}"`);

export interface StackOptions {
  temporalAddress: string;
  databaseUrl: string;
  workspaceId: string;
  runnerId: string;
  /** The workspace's Runner key file (writeRunnerKeyFile). */
  keysFile: string;
  runners: number;
  /** Extra environment of every Runner (kubeconfig, allowlist, timeouts). */
  runnerEnv?: NodeJS.ProcessEnv;
  /** A name prefix for log files. */
  label: string;
  /** Start the Runners only (more Runners for a Platform that runs already). */
  runnersOnly?: boolean;
}

/** The Platform (API and platform worker) and the workspace's Runners, as real processes. */
export interface Stack {
  apiUrl: string;
  api: ManagedProcess;
  worker: ManagedProcess;
  runners: ManagedProcess[];
  /** Exits of any of its processes that were not a test's kill or stop. */
  crashes(): string[];
  stop(): Promise<void>;
}

/** The Temporal namespace a workspace lives in, as the Platform records it. */
export async function namespaceOfWorkspace(db: Pick<Pool, 'query'> | string, workspaceId: string): Promise<string> {
  const pool = typeof db === 'string' ? new PgPool({ connectionString: db, max: 1 }) : db;
  try {
    const { rows } = await pool.query<{ ns: string | null }>('select temporal_namespace as ns from workspaces where id = $1', [
      workspaceId,
    ]);
    return rows[0]?.ns ?? 'default';
  } finally {
    if (typeof db === 'string') await (pool as PgPool).end();
  }
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const node = process.execPath;
  const namespace = await namespaceOfWorkspace(o.databaseUrl, o.workspaceId);
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const platformEnv = {
    ...baseEnv(),
    LOOKOUT_TEMPORAL_ADDRESS: o.temporalAddress,
    DATABASE_URL: o.databaseUrl,
    LOOKOUT_MASTER_KEY: env.masterKey,
    // The shared test database holds every test file's workspaces: serve this one's namespace only.
    LOOKOUT_WORKER_NAMESPACES: namespace,
  };
  const api = new ManagedProcess(
    `${o.label}-api`,
    node,
    [path.join(dist, 'platform-api', 'main.js')],
    { ...platformEnv, LOOKOUT_API_PORT: String(apiPort) },
    async () => (await fetch(`${apiUrl}/readyz`)).ok,
  );
  const worker = new ManagedProcess(
    `${o.label}-platform-worker`,
    node,
    [path.join(dist, 'workers', 'platform-worker.js')],
    platformEnv,
    logged('platform worker polling'),
  );
  // A Runner gets neither the database nor the master key: only its workspace's key file.
  const runnerEnv = {
    ...baseEnv(),
    LOOKOUT_TEMPORAL_ADDRESS: o.temporalAddress,
    LOOKOUT_TEMPORAL_NAMESPACE: namespace,
    LOOKOUT_RUNNER_ID: o.runnerId,
    LOOKOUT_WORKSPACE_ID: o.workspaceId,
    LOOKOUT_RUNNER_KEYS_FILE: o.keysFile,
    ...runnerAttestationEnv(o.runnerId),
    LOOKOUT_RUNNER_SHUTDOWN_GRACE_MS: '1000',
    // Every check type, loopback targets only (LOOKOUT_RUNNER_ALLOWED_CHECKS in runnerEnv narrows it).
    LOOKOUT_RUNNER_POLICY_FILE: writePolicyFile(loopbackPolicyInput(CHECK_TYPES)),
    ...o.runnerEnv,
  };
  const runners = Array.from(
    { length: o.runners },
    (_, i) =>
      new ManagedProcess(
        `${o.label}-runner-${i + 1}`,
        node,
        [path.join(dist, 'workers', 'runner.js')],
        runnerEnv,
        logged('runner polling'),
      ),
  );
  await Promise.all([...(o.runnersOnly ? [] : [api.start(), worker.start()]), ...runners.map((r) => r.start())]);
  return {
    apiUrl,
    api,
    worker,
    runners,
    crashes: () => [api, worker, ...runners].flatMap((p) => p.crashes),
    async stop() {
      const all = [api, worker, ...runners];
      await Promise.all(all.map((p) => p.stop()));
      all.forEach((p) => p.close());
    },
  };
}

/** A Temporal dev server of a test's own (SQLite file in `dir`), restartable on the same port and file. */
export async function ownTemporal(cli: string, dir: string): Promise<{ address: string; server: ManagedProcess }> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const args = temporalDevServerArgs({
    port,
    httpPort: await freePort(),
    metricsPort: await freePort(),
    dbFile: path.join(dir, 'temporal.db'),
  });
  const server = new ManagedProcess('temporal', cli, args, baseEnv(), async () => {
    const c = await Connection.connect({ address, connectTimeout: 1_000 });
    try {
      await c.workflowService.getSystemInfo({});
      return true;
    } finally {
      await c.close();
    }
  });
  await server.start();
  return { address, server };
}

// ---------------------------------------------------------------------------------------------
// Load

export interface LoadOptions {
  apiUrl: string;
  token: string;
  workspaceId: string;
  /** Tasks to run, used in turn. */
  taskIds: readonly string[];
  runs: number;
  ratePerSecond: number;
  /** How long one run may keep being offered while the API is down (default 3 minutes). */
  giveUpAfterMs?: number;
  /** Stops offering again once true (e.g. a process crashed: waiting for it is pointless). */
  stopWhen?: () => boolean;
}

export interface LoadReport {
  /** Run ids the API accepted (202), in order. */
  accepted: string[];
  /** Every answer and transport error by kind ("202", "503", "ECONNREFUSED", ...). */
  answers: Record<string, number>;
  /** Offers that got no 202 in time. */
  abandoned: number;
  durationMs: number;
}

/**
 * Offers `runs` runs at a steady rate, each as `POST /v1/workspaces/{ws}/runs` with the API token.
 * An offer that is refused (connection refused, 503, a transport error) is offered again every
 * 250 ms: a client that gets no 202 does not know of a run. Any run the API recorded without
 * answering 202 shows up in the books as not accepted.
 */
export class LoadDriver {
  readonly accepted: string[] = [];
  readonly answers: Record<string, number> = {};
  private abandoned = 0;
  private waiters: { n: number; resolve: () => void }[] = [];

  constructor(private readonly o: LoadOptions) {}

  /** Resolves once `n` runs were accepted. */
  whenAccepted(n: number): Promise<void> {
    if (this.accepted.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  async run(): Promise<LoadReport> {
    const started = Date.now();
    const offers: Promise<void>[] = [];
    for (let i = 0; i < this.o.runs; i++) {
      const due = started + (i * 1000) / this.o.ratePerSecond;
      if (due > Date.now()) await sleep(due - Date.now());
      offers.push(this.offer(this.o.taskIds[i % this.o.taskIds.length]!));
    }
    await Promise.all(offers);
    return { accepted: [...this.accepted], answers: { ...this.answers }, abandoned: this.abandoned, durationMs: Date.now() - started };
  }

  private count(kind: string): void {
    this.answers[kind] = (this.answers[kind] ?? 0) + 1;
  }

  private async offer(taskId: string): Promise<void> {
    const deadline = Date.now() + (this.o.giveUpAfterMs ?? 180_000);
    while (Date.now() < deadline && !this.o.stopWhen?.()) {
      try {
        const res = await fetch(`${this.o.apiUrl}/v1/workspaces/${this.o.workspaceId}/runs`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.o.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ taskId }),
          signal: AbortSignal.timeout(30_000),
        });
        const body = (await res.json().catch(() => ({}))) as { id?: string };
        this.count(String(res.status));
        if (res.status === 202 && body.id) {
          this.accepted.push(body.id);
          this.waiters = this.waiters.filter((w) => (this.accepted.length >= w.n ? (w.resolve(), false) : true));
          return;
        }
      } catch (err) {
        // fetch wraps transport errors: name them by their cause's code (ECONNREFUSED, UND_ERR_SOCKET, ...).
        const cause = (err as { cause?: { code?: string; name?: string } }).cause;
        this.count(cause?.code ?? cause?.name ?? (err instanceof Error ? err.name : 'error'));
      }
      await sleep(250);
    }
    this.abandoned += 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Probe targets and a Kubernetes API proxy

/** A probe target answering 200 after a random delay in [minMs, maxMs]; counts requests and those cut off mid-answer. */
export async function startDelayTarget(
  minMs: number,
  maxMs: number,
): Promise<{ url: string; hits: () => number; inFlight: () => number; cutOff: () => number; stop(): Promise<void> }> {
  let hits = 0;
  let inFlight = 0;
  let cutOff = 0;
  const server = http.createServer((_req, res) => {
    hits += 1;
    inFlight += 1;
    const timer = setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'), minMs + Math.random() * (maxMs - minMs));
    res.once('close', () => {
      inFlight -= 1;
      if (res.writableFinished) return;
      // The client went away before the answer: the Runner running this check died.
      clearTimeout(timer);
      cutOff += 1;
    });
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    inFlight: () => inFlight,
    cutOff: () => cutOff,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type ProxyMode = { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'blackhole' } | { kind: 'stall' };

/**
 * A TCP proxy on loopback in front of `target`: passes bytes through, delays every chunk in both
 * directions, black-holes (accepts, reads, never forwards or answers), or stalls (passes the TLS
 * handshake, then none of the server's bytes: a server that never answers). A stalled connection
 * drops what the server sends once the client sent its second flight (TLS 1.3: its Finished). TLS passes through
 * untouched, so the client still verifies the real server's certificate.
 */
export async function startTcpProxy(target: {
  host: string;
  port: number;
}): Promise<{ port: number; setMode(mode: ProxyMode): void; open(): number; accepted(): number; stop(): Promise<void> }> {
  let mode: ProxyMode = { kind: 'pass' };
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  };
  const server = net.createServer((client) => {
    accepted += 1;
    track(client);
    const m = mode;
    if (m.kind === 'blackhole') {
      client.resume();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    let clientFlights = 0;
    const pipe = (from: net.Socket, to: net.Socket) => {
      let chain = Promise.resolve();
      from.on('data', (chunk: Buffer) => {
        if (from === client) clientFlights += 1;
        else if (m.kind === 'stall' && clientFlights >= 2) return;
        if (m.kind === 'pass' || m.kind === 'stall') {
          to.write(chunk);
          return;
        }
        // Keep order: each chunk waits for the one before it.
        chain = chain
          .then(() => sleep(m.ms))
          .then(() => {
            if (!to.destroyed) to.write(chunk);
          });
      });
      from.once('close', () => void chain.then(() => to.destroy()));
    };
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    setMode(next) {
      mode = next;
    },
    open: () => [...sockets].filter((s) => s.remotePort !== target.port).length,
    accepted: () => accepted,
    async stop() {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function runnerKubeconfig(): { clusters: { cluster: { server: string } }[] } {
  const file = process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'];
  if (!file) throw new Error("LOOKOUT_TEST_KUBECONFIG_RUNNER is not set: run the tests through jest's global setup");
  return JSON.parse(readFileSync(file, 'utf8')) as { clusters: { cluster: { server: string } }[] };
}

/** Where the test kube-apiserver listens. */
export function kubeApiServer(): { host: string; port: number } {
  const server = new URL(runnerKubeconfig().clusters[0]!.cluster.server);
  return { host: server.hostname, port: Number(server.port) };
}

/**
 * Writes a copy of the test Runner's kubeconfig (its restricted ServiceAccount) that reaches the API
 * server through `port` on loopback. The server's certificate names 127.0.0.1, so TLS still verifies.
 */
export function writeKubeconfigVia(port: number, file: string): string {
  const config = runnerKubeconfig();
  config.clusters[0]!.cluster.server = `https://127.0.0.1:${port}`;
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

// ---------------------------------------------------------------------------------------------
// A rogue Runner

export type BadResultKind = 'oversized' | 'malformed' | 'unattested' | 'tampered';

/** The Platform's reason for refusing each kind (`run.result_rejected` audit details). */
export const BAD_RESULT_REASON: Record<BadResultKind, RegExp> = {
  oversized: /^result is \d+ bytes, over the 262144-byte cap$/,
  malformed: /^result does not match the contract at /,
  unattested: /^attestation is malformed$/,
  tampered: /^attestation does not verify under the Runner's key$/,
};

function badResult(kind: BadResultKind, request: TaskRequest, runnerId: string, key: SigningKey): Record<string, unknown> {
  const now = new Date().toISOString();
  const body: TaskResultBody = {
    runId: request.runId,
    workspaceId: request.workspaceId,
    checkType: request.checkType,
    status: 'ok',
    summary: 'all good',
    issues: [],
    metrics: {},
    startedAt: now,
    finishedAt: now,
    durationMs: 0,
    exitCode: 0,
  };
  // Signed with the Runner's own key: this Runner holds everything a Runner has, only not its boundary.
  const attested = (b: unknown) => attestAsRunner(key, runnerId, request.workspaceId, request.runId, b);
  switch (kind) {
    case 'oversized': {
      // Every field within its own cap, properly attested: only the total size is too much.
      const issue = {
        severity: 3 as const,
        title: 't'.repeat(200),
        resource: { kind: 'Pod', namespace: 'n', name: 'x'.repeat(512) },
        expected: 'e'.repeat(500),
        actual: 'a'.repeat(500),
        nextSteps: Array.from({ length: 10 }, () => 's'.repeat(500)),
        details: 'd'.repeat(2000),
      };
      const big = { ...body, status: 'issues' as const, issues: Array.from({ length: 120 }, () => issue) };
      return { ...big, attestation: attested(big) };
    }
    case 'malformed': {
      // Attested, but outside the contract: an unknown status and a field the schema does not know.
      const bad = { ...body, status: 'fine', rawLog: 'password=hunter2' };
      return { ...bad, attestation: attested(bad) };
    }
    case 'unattested':
      return { ...body, attestation: '' };
    case 'tampered':
      // Attested as healthy-with-issues, then edited to look clean.
      return { ...body, attestation: attested({ ...body, status: 'issues', summary: 'the real result' }) };
  }
}

/**
 * A Runner that holds its workspace's keys but not its boundary: it polls the workspace's task
 * queue over raw gRPC, decrypts the task, and answers with a bad result of each kind in turn,
 * properly encrypted so that the Platform sees exactly what it sent.
 */
export async function startRogueRunner(o: {
  temporalAddress: string;
  /** The workspace's namespace. */
  namespace: string;
  runnerId: string;
  keyring: StaticKeyring;
  kinds: readonly BadResultKind[];
  pollers?: number;
}): Promise<{ answered: Map<string, BadResultKind>; stop(): Promise<void> }> {
  const connection = await Connection.connect({ address: o.temporalAddress });
  const codec = new WorkspaceCodec(o.keyring);
  const answered = new Map<string, BadResultKind>();
  const attestationKey = runnerAttestationKeyOf(o.runnerId);
  let stopped = false;
  let turn = 0;
  const identity = `runner:${o.runnerId}:rogue`;
  const poll = async () => {
    while (!stopped) {
      const task = await connection
        .withDeadline(Date.now() + 5_000, () =>
          connection.workflowService.pollActivityTaskQueue({
            namespace: o.namespace,
            taskQueue: { name: runnerTaskQueue(o.runnerId) },
            identity,
          }),
        )
        .catch(() => undefined);
      if (!task?.taskToken?.length) continue;
      const [input] = await codec.decode(task.input?.payloads ?? []);
      const request = defaultPayloadConverter.fromPayload<TaskRequest>(input!);
      const kind = o.kinds[turn++ % o.kinds.length]!;
      answered.set(request.runId, kind);
      const payloads = await codec.encode([defaultPayloadConverter.toPayload(badResult(kind, request, o.runnerId, attestationKey))]);
      await connection.workflowService.respondActivityTaskCompleted({
        namespace: o.namespace,
        taskToken: task.taskToken,
        result: { payloads },
        identity,
      });
    }
  };
  const pollers = Array.from({ length: o.pollers ?? 2 }, () => poll());
  return {
    answered,
    async stop() {
      stopped = true;
      await Promise.all(pollers);
      await connection.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The books

export interface BooksOptions {
  /** The Temporal frontend the runs' workflows live on. */
  temporalAddress: string;
  /** Bound on the wait for every accepted run to reach a terminal status (default 3 minutes). */
  settleMs?: number;
}

export interface Books {
  accepted: number;
  /** Accepted runs by terminal status. */
  byStatus: Record<string, number>;
  /** Result rows of the workspace. */
  results: number;
  /** Runs the API recorded without a 202 to the driver, by status. */
  notAccepted: Record<string, number>;
  /**
   * Runs recorded `queued` by an API process killed before it started their workflow: no 202 was
   * sent, but the run stays queued for good (a known defect of requestRun, which records the run
   * and starts the workflow in two steps with nothing that finishes an orphan). Kept apart from
   * `problems` so that tests can bound them by the requests the API kills cut off.
   */
  neverStarted: string[];
  auditRows: number;
  /** Every broken invariant, one line each; empty when the books balance. */
  problems: string[];
  /** How long the runs took to settle after the check began. */
  settleMs: number;
  /** Activity retries seen in the accepted runs' histories, by activity type. */
  retries: Record<string, number>;
  /** The longest time from queued to finished of an accepted run. */
  slowestRunS: number;
}

const TERMINAL = TERMINAL_RUN_STATUSES as readonly string[];
/** How each terminal status closes the workflow (runTask fails on purpose for technical faults). */
const WORKFLOW_CLOSE: Record<string, string> = {
  succeeded: 'COMPLETED',
  failed: 'FAILED',
  rejected: 'FAILED',
  runner_unavailable: 'FAILED',
  cancelled: 'CANCELLED',
};

/**
 * Checks the books of a workspace after a fault. The invariants, from runTask and the platform
 * activities (each idempotent per run id):
 * - every accepted run reaches exactly one terminal status within `settleMs` (none left queued or
 *   running), and so does every run the API recorded without accepting it;
 * - a run has a row in `results` (primary key run_id, so never two) exactly when it succeeded:
 *   runTask stores the result before it records `succeeded`, and only a cancellation between those
 *   two steps could leave a result on another status (these tests cancel nothing); no result row
 *   belongs to a run outside the workspace;
 * - the audit log holds, per accepted run, one `run.requested`, one `run.started`, one
 *   `run.finished`, one `run.result_stored` exactly when it succeeded and one
 *   `run.result_rejected` exactly when it was rejected; the workspace's hash chain verifies;
 * - every accepted run's workflow exists in Temporal and is closed, COMPLETED exactly when it
 *   succeeded.
 */
export async function checkBooks(
  pool: Pool,
  workspaceId: string,
  acceptedRunIds: readonly string[],
  options: BooksOptions,
): Promise<Books> {
  const problems: string[] = [];
  const started = Date.now();
  const accepted = new Set(acceptedRunIds);
  if (accepted.size !== acceptedRunIds.length)
    problems.push(`the API answered the same run id twice (${acceptedRunIds.length - accepted.size} duplicates)`);

  // 1. Every run settles within the bound.
  type Row = { id: string; workspace_id: string; status: string };
  let runs: Row[] = [];
  for (const deadline = Date.now() + (options.settleMs ?? 180_000); ;) {
    runs = (
      await pool.query<Row>('select id, workspace_id, status from runs where workspace_id = $1 or id = any($2::uuid[])', [
        workspaceId,
        [...accepted],
      ])
    ).rows;
    if (runs.every((r) => TERMINAL.includes(r.status)) && runs.length >= accepted.size) break;
    if (Date.now() > deadline) break;
    await sleep(500);
  }
  const settleMs = Date.now() - started;
  const byId = new Map(runs.map((r) => [r.id, r]));
  const byStatus: Record<string, number> = {};
  const notAccepted: Record<string, number> = {};
  for (const id of accepted) {
    const run = byId.get(id);
    if (!run) problems.push(`accepted run ${id} is not recorded`);
    else if (run.workspace_id !== workspaceId) problems.push(`accepted run ${id} is recorded in another workspace`);
    else if (!TERMINAL.includes(run.status)) problems.push(`accepted run ${id} is stuck ${run.status}`);
    if (run) byStatus[run.status] = (byStatus[run.status] ?? 0) + 1;
  }
  const neverStarted: string[] = [];
  const namespace = await namespaceOfWorkspace(pool, workspaceId);
  const connection = await Connection.connect({ address: options.temporalAddress });
  try {
    for (const run of runs.filter((r) => !accepted.has(r.id))) {
      notAccepted[run.status] = (notAccepted[run.status] ?? 0) + 1;
      if (TERMINAL.includes(run.status)) continue;
      const workflow = await connection.workflowService
        .describeWorkflowExecution({ namespace, execution: { workflowId: runWorkflowId(workspaceId, run.id) } })
        .catch(() => undefined);
      // The API died between recording the run and starting its workflow (see Books.neverStarted).
      if (run.status === 'queued' && !workflow) neverStarted.push(run.id);
      else problems.push(`run ${run.id}, recorded but never accepted, is stuck ${run.status}`);
    }
  } finally {
    await connection.close();
  }

  // 2. Results: exactly one per succeeded run, none for any other run.
  const results = (
    await pool.query<{ run_id: string; workspace_id: string }>(
      'select run_id, workspace_id from results where workspace_id = $1 or run_id = any($2::uuid[])',
      [workspaceId, runs.map((r) => r.id)],
    )
  ).rows;
  const withResult = new Set(results.map((r) => r.run_id));
  for (const r of results) {
    const run = byId.get(r.run_id);
    if (!run || r.workspace_id !== workspaceId) problems.push(`result of run ${r.run_id} belongs to no run of the workspace`);
    else if (run.status !== 'succeeded') problems.push(`run ${r.run_id} is ${run.status} but has a stored result`);
  }
  for (const run of runs)
    if (run.status === 'succeeded' && !withResult.has(run.id)) problems.push(`run ${run.id} succeeded without a stored result`);

  // 3. The audit log: one row of each step per run, and an intact chain.
  const audit = (
    await pool.query<{ target: string; action: string; n: number }>(
      "select target, action, count(*)::int as n from audit_events where workspace_id = $1 and target like 'run:%' group by target, action",
      [workspaceId],
    )
  ).rows;
  const count = new Map(audit.map((a) => [`${a.target} ${a.action}`, a.n]));
  const n = (id: string, action: string) => count.get(`run:${id} ${action}`) ?? 0;
  for (const id of accepted) {
    const status = byId.get(id)?.status;
    const expected: Record<string, number> = {
      'run.requested': 1,
      'run.started': 1,
      'run.finished': 1,
      'run.result_stored': status === 'succeeded' ? 1 : 0,
      'run.result_rejected': status === 'rejected' ? 1 : 0,
    };
    for (const [action, want] of Object.entries(expected)) {
      const got = n(id, action);
      if (got !== want) problems.push(`run ${id} (${status}) has ${got} ${action} audit rows, expected ${want}`);
    }
  }
  const chain = await verifyAuditChain(pool, workspaceId);
  if (!chain.ok) problems.push(`the audit chain does not verify (broken at ${chain.brokenAt})`);

  // 4. Temporal: every accepted run's workflow exists and closed the way its status says.
  const retries: Record<string, number> = {};
  const workspaceNamespace = await namespaceOfWorkspace(pool, workspaceId);
  const temporal = await Connection.connect({ address: options.temporalAddress });
  try {
    const ids = [...accepted];
    for (let i = 0; i < ids.length; i += 20) {
      await Promise.all(
        ids.slice(i, i + 20).map(async (id) => {
          const want = WORKFLOW_CLOSE[byId.get(id)?.status ?? ''];
          let got = 'MISSING';
          // The finish is recorded just before the workflow closes: allow it a moment (a stuck run: none).
          const attempts = TERMINAL.includes(byId.get(id)?.status ?? '') ? 40 : 1;
          for (let attempt = 0; attempt < attempts; attempt++) {
            const res = await temporal.workflowService
              .describeWorkflowExecution({ namespace: workspaceNamespace, execution: { workflowId: runWorkflowId(workspaceId, id) } })
              .catch(() => undefined);
            const status = res?.workflowExecutionInfo?.status;
            got = status === undefined || status === null ? 'MISSING' : String(WorkflowStatusName[status] ?? status);
            if (got === want || (got !== 'RUNNING' && got !== 'MISSING')) break;
            await sleep(250);
          }
          if (got !== want) problems.push(`workflow of run ${id} (${byId.get(id)?.status}) is ${got}, expected ${want}`);
          if (got === 'MISSING') return;
          // Retries, from the history: only an activity's last attempt is recorded, with its number.
          const history = await temporal.workflowService.getWorkflowExecutionHistory({
            namespace: workspaceNamespace,
            execution: { workflowId: runWorkflowId(workspaceId, id) },
            maximumPageSize: 1000,
          });
          const typeOf = new Map<string, string>();
          for (const e of history.history?.events ?? []) {
            const scheduled = e.activityTaskScheduledEventAttributes;
            if (scheduled) typeOf.set(String(e.eventId), scheduled.activityType?.name ?? '?');
            const startedAttrs = e.activityTaskStartedEventAttributes;
            if (startedAttrs && (startedAttrs.attempt ?? 1) > 1) {
              const type = typeOf.get(String(startedAttrs.scheduledEventId)) ?? '?';
              retries[type] = (retries[type] ?? 0) + (startedAttrs.attempt ?? 1) - 1;
            }
          }
        }),
      );
    }
  } finally {
    await temporal.close();
  }

  const slowest =
    (
      await pool.query<{ s: number | null }>(
        'select max(extract(epoch from finished_at - queued_at))::float as s from runs where id = any($1::uuid[])',
        [[...accepted]],
      )
    ).rows[0]?.s ?? 0;
  return {
    accepted: accepted.size,
    byStatus,
    results: results.length,
    notAccepted,
    neverStarted,
    auditRows: chain.rows,
    problems,
    settleMs,
    retries,
    slowestRunS: Math.round(slowest * 10) / 10,
  };
}

/** temporal.api.enums.v1.WorkflowExecutionStatus by number. */
const WorkflowStatusName: Record<number, string> = {
  0: 'UNSPECIFIED',
  1: 'RUNNING',
  2: 'COMPLETED',
  3: 'FAILED',
  4: 'CANCELLED',
  5: 'TERMINATED',
  6: 'CONTINUED_AS_NEW',
  7: 'TIMED_OUT',
};

/** One line for the test output: what was offered, what happened, what the books say. */
export function summary(
  fault: string,
  profile: FaultsProfile,
  load: LoadReport,
  books: Books,
  extra: Record<string, unknown> = {},
): string {
  const fields = {
    profile: profile.name,
    offered: profile.runs,
    accepted: books.accepted,
    byStatus: books.byStatus,
    results: books.results,
    notAccepted: books.notAccepted,
    neverStarted: books.neverStarted.length,
    answers: load.answers,
    loadS: Math.round(load.durationMs / 100) / 10,
    settleS: Math.round(books.settleMs / 100) / 10,
    auditRows: books.auditRows,
    retries: books.retries,
    slowestRunS: books.slowestRunS,
    ...extra,
  };
  return `faults[${fault}] ${JSON.stringify(fields)}`;
}
