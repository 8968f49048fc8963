/** Addresses of the services global setup started, and helpers every test file uses. */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { Express } from 'express';
import type { AddressInfo } from 'node:net';
import { Connection, type Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { TERMINAL_RUN_STATUSES } from '../../common/contracts';
export { TERMINAL_RUN_STATUSES };
import { lookoutDataConverter } from '../../common/data-converter';
import { StaticKeyring, type Keyring } from '../../common/keyring';
import { createLogger, type Logger } from '../../common/logger';
import { createPlatformCrypto, type PlatformCrypto } from '../../platform/crypto';
import { exportRunnerKeyFile } from '../../platform/crypto/platform-keyring';
import { createTask, getTask, updateTaskParams } from '../../platform/repos/tasks.repo';
import { CHECK_PARAMS, type CheckType } from '../../common/checks';
import { ExecutionPolicy, type TaskResultBody } from '../../common/contracts';
import { signingKeyFromSeed, type SigningKey } from '../../common/ed25519';
import { DevMailbox } from '../../platform/dev-mailbox';
import { createSmtpMailer } from '../../platform/mail';
import { ChangeFeed } from '../../platform/repos/change-feed';
import { closeApp, createApp, type AppDeps } from '../../platform-api/app';
import { LOGIN_DELAYS } from '../../platform-api/services/identity.service';
import { createApiServer } from '../../platform-api/server';
import { createPool } from '../../platform/db/pool';
import { bootstrap, type BootstrapInput, type BootstrapOutput } from '../../platform-api/services/bootstrap.service';
import { createSecretProviders } from '../../activities/runner/secrets';
import { loadKubeClients } from '../../activities/runner/kube';
import type { VaultProviderOptions } from '../../activities/runner/secrets/vault.provider';
import { createVaultClient } from '../../platform/vault/vault-client';
import { createPlatformWorkers } from '../../workers/platform-worker';
import type { NotifySettings } from '../../platform/notify/wake';
import type { NamespaceWorkers } from '../../workers/namespace-workers';
import { devWorkspaceTemporal, type WorkspaceTemporal } from '../../platform/workspace-temporal';
import { createTemporalTokenIssuer, generateTemporalTokenKey } from '../../platform/crypto/temporal-tokens';
import type { LoadedPacks } from '../../activities/runner/packs/loader';
import { createRunnerWorker } from '../../workers/runner';
import { loopbackPolicy } from './policy';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through jest's global setup (npm test)`);
  return value;
}

export const env = {
  get temporalAddress() {
    return required('LOOKOUT_TEST_TEMPORAL_ADDRESS');
  },
  get databaseUrl() {
    return required('LOOKOUT_TEST_DATABASE_URL');
  },
  get adminUrl() {
    return required('LOOKOUT_TEST_PG_ADMIN_URL');
  },
  get bundlePath() {
    return required('LOOKOUT_TEST_WORKFLOW_BUNDLE');
  },
  get masterKey() {
    return required('LOOKOUT_TEST_MASTER_KEY');
  },
  get dir() {
    return required('LOOKOUT_TEST_DIR');
  },
};

export const silentLogger = createLogger('test', 'silent');

// The SDK logs every worker state change at INFO; tests want its errors only.
try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // already installed in this process by an earlier test file
}

/** A running Platform for one test file: API on a free port, platform worker on its own queue. */
export interface TestPlatform {
  baseUrl: string;
  /** The Express app (its route table: routesOf(app)). */
  app: Express;
  pool: Pool;
  crypto: PlatformCrypto;
  /** A client of the shared namespace ('default'), where workspaces without their own live. */
  client: Client;
  /** Temporal per workspace namespace, as the API and the platform worker have it. */
  temporal: WorkspaceTemporal;
  /** A client of the workspace's own namespace. */
  clientFor(workspaceId: string): Promise<Client>;
  connection: NativeConnection;
  /** The namespaces the platform worker polls now. */
  workers: NamespaceWorkers;
  taskQueue: string;
  /** The real SMTP server the API mails invitations to (in-process, smtp-server). */
  mailbox: DevMailbox;
  /** The API's change feed (LISTEN/NOTIFY), which empties its caches. */
  changes: ChangeFeed;
  stop(): Promise<void>;
}

const mailboxes = new Map<string, DevMailbox>();

/** The invitation code in the latest invitation mail to `email` sent by the platform at `baseUrl`. */
export async function invitationCodeFor(baseUrl: string, email: string, since = 0): Promise<string> {
  const mailbox = mailboxes.get(baseUrl);
  if (!mailbox) throw new Error(`no test platform at ${baseUrl}`);
  const mail = await mailbox.waitFor(email, { since, match: (m) => /^Invitation to/.test(m.subject) });
  const code = /^ {4}([A-Za-z0-9_-]{43})$/m.exec(mail.text)?.[1];
  if (!code) throw new Error(`no invitation code in the mail to ${email}`);
  return code;
}

/** Options of the app under test beyond the defaults (external logins, bearer JWTs, rate limits, HTTPS). */
export type TestAppOptions = Partial<
  Pick<AppDeps, 'bearer' | 'authRateLimit' | 'hookFailureLimit' | 'sso' | 'trustProxy' | 'loginDelays' | 'temporalUiUrl'>
>;

/** The test Platform's Temporal token key (one per test file): Runner registrations carry tokens. */
export const testTemporalTokens = createTemporalTokenIssuer(generateTemporalTokenKey());

/** When this test file started its first platform (each test file has its own module registry). */
let fileStarted: Date | undefined;

/** `databaseUrl`: another (migrated) database on the test server than the shared one, e.g. a restored backup. */
export async function startPlatform(
  options: {
    logger?: Logger;
    app?: TestAppOptions;
    tls?: { certFile: string; keyFile: string };
    databaseUrl?: string;
    /** Another Temporal server than the shared test one, with the Platform's credentials for it. */
    temporal?: { address: string; apiKey?: string };
    /** How notifications are delivered (default: public https destinations only, as in production). */
    notify?: NotifySettings;
  } = {},
): Promise<TestPlatform> {
  const temporalConnection = options.temporal
    ? { address: options.temporal.address, ...(options.temporal.apiKey ? { apiKey: options.temporal.apiKey, tls: false as const } : {}) }
    : { address: env.temporalAddress };
  const logger = options.logger ?? silentLogger;
  const pool = createPool(options.databaseUrl ?? env.databaseUrl);
  const crypto = createPlatformCrypto(pool, env.masterKey);
  const clientConnection = await Connection.connect(temporalConnection);
  const temporal = devWorkspaceTemporal({
    connection: clientConnection,
    db: pool,
    identity: 'api:test',
    dataConverter: lookoutDataConverter(crypto.payloadKeys),
  });
  const client = temporal.forNamespace('default');
  const connection = await NativeConnection.connect(temporalConnection);
  const taskQueue = `platform-test-${randomUUID()}`;
  // This platform serves the shared namespace and the namespaces of the workspaces this test file
  // made (the test database holds every earlier test file's workspaces too).
  fileStarted ??= (await pool.query<{ now: Date }>('select now() as now')).rows[0]!.now;
  const since = fileStarted;
  const workers = createPlatformWorkers({
    connection,
    pool,
    logger,
    crypto,
    temporal,
    taskQueue,
    workflowBundle: { code: readFileSync(env.bundlePath, 'utf8') },
    listNamespaces: async () => {
      const { rows } = await pool.query<{ ns: string }>(
        'select distinct temporal_namespace as ns from workspaces where temporal_namespace is not null and created_at >= $1',
        [since],
      );
      return ['default', ...rows.map((r) => r.ns)];
    },
    reconcileEveryMs: 5_000,
    notify: options.notify,
  });
  const running = workers.run();
  await workers.reconcile();
  const vaultAddr = process.env['LOOKOUT_TEST_VAULT_ADDR'];
  const mailbox = await DevMailbox.start();
  const mailer = createSmtpMailer({ url: mailbox.url, from: 'Lookout test <lookout@example.test>' });
  const changes = await ChangeFeed.start(options.databaseUrl ?? env.databaseUrl, logger);
  crypto.followKeyChanges(changes);
  const app = createApp({
    changes,
    // Token uses are written as counts per interval; tests read them soon after the requests.
    tokenUseIntervalMs: 200,
    mailer,
    pool,
    temporal,
    logger,
    crypto,
    runnerTemporal: { address: temporalConnection.address },
    temporalTokens: testTemporalTokens,
    vault: vaultAddr
      ? {
          client: createVaultClient({ endpoint: vaultAddr, token: process.env['LOOKOUT_TEST_VAULT_PLATFORM_TOKEN'] ?? '' }),
          mount: 'lookout',
        }
      : undefined,
    platformTaskQueue: taskQueue,
    notify: options.notify,
    // Tests log in and fail on purpose many times from 127.0.0.1; the limit itself has its own test,
    // and so does the per-address delay (the per-account one stays as in production).
    authRateLimit: { limit: 10_000, windowMs: 60_000 },
    hookFailureLimit: { limit: 100_000, windowMs: 60_000 },
    loginDelays: { ...LOGIN_DELAYS, address: { ...LOGIN_DELAYS.address, free: 1_000_000 } },
    ...options.app,
  });
  const server = createApiServer(app, options.tls);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const baseUrl = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  mailboxes.set(baseUrl, mailbox);
  return {
    baseUrl,
    mailbox,
    changes,
    app,
    pool,
    crypto,
    client,
    temporal,
    clientFor: (workspaceId) => temporal.forWorkspace(workspaceId),
    connection,
    workers,
    taskQueue,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await workers.shutdown();
      await running;
      await connection.close();
      await clientConnection.close();
      await closeApp(app);
      await changes.close();
      await pool.end();
      mailer.close();
      await mailbox.stop();
      mailboxes.delete(baseUrl);
    },
  };
}

/** The attestation key seeds of the Runners this test file's workspaces were made with (newWorkspace). */
const attestationSeeds = new Map<string, string>();

/**
 * The environment that gives a Runner process its own attestation key (a file written now), as the
 * chart mounts `runner-key`. For a Runner made by newWorkspace in this test file.
 */
export function runnerAttestationEnv(runnerId: string): { LOOKOUT_RUNNER_ATTESTATION_KEY_FILE: string } {
  const seed = attestationSeeds.get(runnerId);
  if (!seed) throw new Error(`no attestation key known for Runner ${runnerId}: make it with newWorkspace`);
  const file = path.join(env.dir, `runner-attestation-${runnerId}.key`);
  writeFileSync(file, `${seed}\n`, { mode: 0o600 });
  return { LOOKOUT_RUNNER_ATTESTATION_KEY_FILE: file };
}

/** The attestation key of a Runner made by newWorkspace in this test file. */
export function runnerAttestationKeyOf(runnerId: string): SigningKey {
  const seed = attestationSeeds.get(runnerId);
  if (!seed) throw new Error(`no attestation key known for Runner ${runnerId}: make it with newWorkspace`);
  return signingKeyFromSeed(Buffer.from(seed, 'base64'));
}

/** An in-process Runner worker (the real activities) for one workspace, signing its results with its own key. */
export async function startRunner(
  platform: TestPlatform,
  ws: Pick<BootstrapOutput, 'runnerId' | 'workspaceId'> & Partial<Pick<BootstrapOutput, 'runnerAttestationKey'>>,
  options: {
    allowedChecks?: string[];
    env?: NodeJS.ProcessEnv;
    rawLogs?: 'deny' | 'allow';
    /** The Runner policy beyond `allowedChecks` (and loopback destinations): bindings, destinations, … */
    policy?: Record<string, unknown>;
    keyring?: Keyring;
    kubeconfig?: string;
    vault?: VaultProviderOptions;
    /** The Runner's own Temporal connection (its own credentials); by default the platform's. */
    connection?: NativeConnection;
    /** Its attestation key seed; by default `ws.runnerAttestationKey` or the one newWorkspace made, `null` for none (v1 attestation). */
    attestationKey?: string | null;
    /** Check packs, loaded by the caller from the same policy's `packs` (`loadPacks`). */
    packs?: LoadedPacks;
    /** The names key, for a policy that hashes names (`discovery.names: hashed`). */
    namesKey?: Buffer;
  } = {},
): Promise<{ worker: Worker; stop(): Promise<void> }> {
  const kube = loadKubeClients({ kubeconfig: options.kubeconfig });
  const keyring = options.keyring ?? new StaticKeyring(await exportRunnerKeyFile(platform.pool, platform.crypto.master, ws.workspaceId));
  const worker = await createRunnerWorker({
    connection: options.connection ?? platform.connection,
    namespace: await platform.temporal.namespaceOf(ws.workspaceId),
    runnerId: ws.runnerId,
    workspaceId: ws.workspaceId,
    secretProviders: createSecretProviders(options.env ?? {}, { kube, vault: options.vault }),
    keyring,
    attestationKey: (() => {
      const seed =
        options.attestationKey === undefined ? (ws.runnerAttestationKey ?? attestationSeeds.get(ws.runnerId)) : options.attestationKey;
      return seed ? signingKeyFromSeed(Buffer.from(seed, 'base64')) : undefined;
    })(),
    policy: loopbackPolicy(options.allowedChecks ?? ['http.probe'], {
      ...(options.rawLogs === 'allow' ? { rawData: { allow: options.allowedChecks ?? ['http.probe'] } } : {}),
      ...options.policy,
    }),
    kube,
    packs: options.packs,
    namesKey: options.namesKey,
    shutdownGraceMs: 1_000,
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      worker.shutdown();
      await running;
    },
  };
}

/** A fresh workspace with an owner token, a Runner and an http.probe task. */
export async function newWorkspace(
  platform: Pick<TestPlatform, 'pool' | 'crypto'> &
    Partial<Pick<TestPlatform, 'temporal' | 'workers'>> & {
      /** Without `temporal`: the Temporal server to register the workspace's namespace on (default: the shared test server). */
      temporalAddress?: string;
    },
  input: Partial<BootstrapInput> & { probeUrl: string },
): Promise<BootstrapOutput> {
  const own = platform.temporal
    ? undefined
    : devWorkspaceTemporal({
        connection: await Connection.connect({ address: platform.temporalAddress ?? env.temporalAddress }),
        db: platform.pool,
        identity: 'test',
        dataConverter: lookoutDataConverter(platform.crypto.payloadKeys),
      });
  const ws = await bootstrap(platform.pool, platform.crypto, platform.temporal ?? own!, {
    workspaceName: `test-${randomUUID().slice(0, 8)}`,
    ownerEmail: `owner-${randomUUID()}@example.test`,
    ...input,
  }).finally(() => own?.connection.close());
  attestationSeeds.set(ws.runnerId, ws.runnerAttestationKey);
  // The notification reaches the platform worker at once; tests want its poller up before they go on.
  await platform.workers?.reconcile();
  return ws;
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export async function api(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; rawBody?: string; contentType?: string; headers?: Record<string, string> } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers['authorization'] = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  const res = await fetch(`${baseUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Polls a run until it reaches a terminal status (or the deadline passes) and returns its last view. */
export async function waitForRun(baseUrl: string, token: string, runId: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let last: Record<string, unknown> = {};
  while (Date.now() < deadline) {
    const res = await api(baseUrl, 'GET', `/v1/runs/${runId}`, { token });
    last = res.body;
    if ((TERMINAL_RUN_STATUSES as readonly string[]).includes(String(last['status']))) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`run ${runId} did not finish within ${timeoutMs} ms; last status ${String(last['status'])}`);
}

/** A local HTTP server answering with `handler`; closes all connections on stop. */
export async function startHttpServer(handler: http.RequestListener): Promise<{ url: string; server: http.Server; stop(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Merges `patch` into a task's (sealed) parameters. */
export async function patchTaskParams(
  platform: Pick<TestPlatform, 'pool' | 'crypto'>,
  ws: BootstrapOutput,
  patch: Record<string, unknown>,
): Promise<void> {
  const task = await getTask(platform.pool, platform.crypto.sealer, ws.workspaceId, ws.taskId);
  if (!task) throw new Error('task not found');
  await updateTaskParams(platform.pool, platform.crypto.sealer, ws.workspaceId, ws.taskId, { ...task.params, ...patch });
}

/** Writes the workspace's Runner key file into the test directory and returns its path. */
export async function writeRunnerKeyFile(platform: Pick<TestPlatform, 'pool' | 'crypto'>, workspaceId: string): Promise<string> {
  const file = path.join(env.dir, `runner-keys-${workspaceId}.json`);
  writeFileSync(file, JSON.stringify(await exportRunnerKeyFile(platform.pool, platform.crypto.master, workspaceId)), { mode: 0o600 });
  return file;
}

/** Adds a task to a workspace's Runner; parameters and policy are validated as the Platform does. */
export async function addTask(
  platform: Pick<TestPlatform, 'pool' | 'crypto'>,
  ws: Pick<BootstrapOutput, 'workspaceId' | 'runnerId'>,
  checkType: CheckType,
  params: Record<string, unknown>,
  policy: Record<string, unknown> = {},
): Promise<string> {
  const id = randomUUID();
  await createTask(platform.pool, platform.crypto.sealer, {
    id,
    workspaceId: ws.workspaceId,
    runnerId: ws.runnerId,
    name: `${checkType}-${id.slice(0, 8)}`,
    checkType,
    params: CHECK_PARAMS[checkType].parse(params),
    policy: ExecutionPolicy.parse(policy),
  });
  return id;
}

/**
 * The environment of a Runner process of `ws`, as its operator sets it: the test Temporal, the
 * workspace's key file, the Runner's attestation key and `policyFile`; `extra` adds to it or
 * overrides (secrets the policy binds, `LOOKOUT_LOG_LEVEL`, …).
 */
export async function runnerProcessEnv(
  platform: Pick<TestPlatform, 'pool' | 'crypto'>,
  ws: Pick<BootstrapOutput, 'workspaceId' | 'runnerId' | 'temporalNamespace'>,
  policyFile: string,
  extra: NodeJS.ProcessEnv = {},
): Promise<NodeJS.ProcessEnv> {
  return {
    PATH: process.env['PATH'] ?? '',
    LOOKOUT_LOG_LEVEL: 'info',
    LOOKOUT_TEMPORAL_ADDRESS: env.temporalAddress,
    LOOKOUT_TEMPORAL_NAMESPACE: ws.temporalNamespace,
    LOOKOUT_RUNNER_ID: ws.runnerId,
    ...runnerAttestationEnv(ws.runnerId),
    LOOKOUT_WORKSPACE_ID: ws.workspaceId,
    LOOKOUT_RUNNER_KEYS_FILE: await writeRunnerKeyFile(platform, ws.workspaceId),
    LOOKOUT_RUNNER_POLICY_FILE: policyFile,
    ...extra,
  };
}

/** A run's result as the API answers it: the Runner's result body, as the tests read it. */
export type RunResult = Pick<TaskResultBody, 'status' | 'summary' | 'score' | 'issues' | 'metrics'>;
/** One issue of a {@link RunResult}. */
export type Finding = RunResult['issues'][number];

/** The result of a run (as the API answers it) that succeeded; any other end is an error naming it. */
export function resultOf(run: Record<string, unknown>): RunResult {
  if (run['status'] !== 'succeeded' || run['error'] !== null || !run['result']) {
    throw new Error(`run ${String(run['id'])} ended ${String(run['status'])}, error ${JSON.stringify(run['error'])}`);
  }
  return run['result'] as RunResult;
}

/** Adds a task of `checkType` to `ws` and runs it through the API, Temporal and the workspace's Runner: its result. */
export async function runCheck(
  platform: Pick<TestPlatform, 'pool' | 'crypto' | 'baseUrl'>,
  ws: Pick<BootstrapOutput, 'workspaceId' | 'runnerId' | 'token'>,
  checkType: CheckType,
  params: Record<string, unknown>,
  policy: Record<string, unknown> = {},
): Promise<RunResult> {
  return resultOf(await runTaskViaApi(platform, ws, await addTask(platform, ws, checkType, params, policy)));
}

/** Starts a run of `taskId` through the API and waits for its end. */
export async function runTaskViaApi(
  platform: Pick<TestPlatform, 'baseUrl'>,
  ws: Pick<BootstrapOutput, 'workspaceId' | 'token'>,
  taskId: string,
): Promise<Record<string, unknown>> {
  const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, { token: ws.token, body: { taskId } });
  if (created.status !== 202) throw new Error(`run not accepted: ${created.status} ${JSON.stringify(created.body)}`);
  return waitForRun(platform.baseUrl, ws.token, String(created.body['id']));
}
