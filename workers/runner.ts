/**
 * The Runner: one per cluster, hosted by the customer. It dials out to Temporal and polls only its
 * own task queue for activities; it runs no workflows and listens on nothing but its metrics port,
 * on loopback unless its owner says otherwise.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Context as ActivityContext } from '@temporalio/activity';
import { RunnerConfig } from '../common/config';
import type { VaultProviderOptions } from '../activities/runner/secrets/vault.provider';
import { lookoutDataConverter } from '../common/data-converter';
import { runnerTaskQueue } from '../common/ids';
import { FileKeyring, type Keyring } from '../common/keyring';
import { signingKeyFromSeed, type SigningKey } from '../common/ed25519';
import { readFileSync } from 'node:fs';
import { PolicyFileError, resolveRunnerPolicy, RunnerPolicyEnforcer } from '../activities/runner/policy';
import { runnerNames } from '../activities/runner/names';
import { lazyKubeClients, PAGE_SIZE, type KubeClients } from '../activities/runner/kube-api';
import { createLogger } from '../common/logger';
import { createRunnerActivities, type RunnerAudit } from '../activities/runner';
import type { LoadedPacks } from '../activities/runner/packs/loader';
import { createSecretProviders, type SecretProvider } from '../activities/runner/secrets';
import { connectTemporal, temporalConnectionOptions } from '../common/temporal-connection';
import { loadConfigOrExit, runMain } from '../common/process';
import { installTemporalRuntime } from './temporal-runtime';
import { runnerMetrics, type RunnerMetrics } from '../activities/runner/metrics';
import { createMetricsRegistry, freeLoopbackPort, startMetricsServer } from '../common/metrics';
import { startTracing, type Tracing } from '../common/tracing';
import { OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor } from '@temporalio/interceptors-opentelemetry';

export interface RunnerWorkerDeps {
  connection: NativeConnection;
  namespace: string;
  runnerId: string;
  workspaceId: string;
  /** The Runner policy: the ceiling of everything this Runner does. */
  policy: RunnerPolicyEnforcer;
  /** The Runner's own audit trail of every task it accepted or refused (stdout, structured JSON). */
  audit?: RunnerAudit | undefined;
  secretProviders: ReadonlyMap<string, SecretProvider>;
  /** This workspace's keys only. */
  keyring: Keyring;
  /** The Runner's own result-attestation key (LOOKOUT_RUNNER_ATTESTATION_KEY_FILE). */
  attestationKey?: SigningKey | undefined;
  kube?: KubeClients | undefined;
  /** The check packs the policy pins, loaded and admitted. */
  packs?: LoadedPacks | undefined;
  /** The key that hashes names when the policy says `discovery.names: hashed` (LOOKOUT_RUNNER_NAMES_KEY_FILE). */
  namesKey?: Buffer | undefined;
  maxConcurrent?: number;
  shutdownGraceMs?: number;
  /** Checks, latency, result sizes and policy denials for /metrics (loopback by default). */
  metrics?: RunnerMetrics | undefined;
  /** Activity spans (LOOKOUT_OTLP_ENDPOINT), continuing the Platform's trace from the task's headers. */
  tracing?: Tracing | undefined;
}

export async function createRunnerWorker(deps: RunnerWorkerDeps): Promise<Worker> {
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: runnerTaskQueue(deps.runnerId),
    // Temporal stores worker identities in clear text: opaque ids only, never the host name.
    identity: `runner:${deps.runnerId}:${process.pid}`,
    dataConverter: lookoutDataConverter(deps.keyring),
    activities: createRunnerActivities({
      workspaceId: deps.workspaceId,
      runnerId: deps.runnerId,
      audit: deps.audit,
      policy: deps.policy,
      secretProviders: deps.secretProviders,
      keyring: deps.keyring,
      attestationKey: deps.attestationKey,
      kube: deps.kube,
      packs: deps.packs,
      names: runnerNames(deps.policy.policy.discovery.names, deps.namesKey, deps.kube),
    }),
    maxConcurrentActivityTaskExecutions: deps.maxConcurrent ?? 8,
    shutdownGraceTime: deps.shutdownGraceMs ?? 10_000,
    interceptors: {
      activity: [
        ...(deps.tracing
          ? [
              (ctx: ActivityContext) => ({
                inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
                outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
              }),
            ]
          : []),
        ...(deps.metrics ? [deps.metrics.interceptor] : []),
      ],
    },
  });
}

function vaultOptions(config: RunnerConfig): VaultProviderOptions | undefined {
  if (!config.LOOKOUT_VAULT_ADDR) return undefined;
  const endpoint = config.LOOKOUT_VAULT_ADDR;
  switch (config.LOOKOUT_VAULT_AUTH) {
    case 'token':
      if (!config.LOOKOUT_VAULT_TOKEN) throw new Error('LOOKOUT_VAULT_TOKEN is required with LOOKOUT_VAULT_AUTH=token');
      return { endpoint, auth: { method: 'token', token: config.LOOKOUT_VAULT_TOKEN } };
    case 'kubernetes':
      if (!config.LOOKOUT_VAULT_K8S_ROLE) throw new Error('LOOKOUT_VAULT_K8S_ROLE is required with LOOKOUT_VAULT_AUTH=kubernetes');
      return { endpoint, auth: { method: 'kubernetes', role: config.LOOKOUT_VAULT_K8S_ROLE } };
    default:
      if (!config.LOOKOUT_VAULT_ROLE_ID || !config.LOOKOUT_VAULT_SECRET_ID)
        throw new Error('LOOKOUT_VAULT_ROLE_ID and LOOKOUT_VAULT_SECRET_ID are required with LOOKOUT_VAULT_AUTH=approle');
      return { endpoint, auth: { method: 'approle', roleId: config.LOOKOUT_VAULT_ROLE_ID, secretId: config.LOOKOUT_VAULT_SECRET_ID } };
  }
}

/**
 * The Runner's cluster identity (LOOKOUT_KUBECONFIG, else the pod's service account), or none. The
 * Kubernetes client library (some 50 MiB once loaded) is never loaded by a Runner without one. A
 * kubeconfig file is loaded at start, so that a bad file stops the Runner at once; in a pod the
 * service account's files are read per call anyway, so the library is loaded with the first call.
 */
async function loadKube(config: RunnerConfig): Promise<KubeClients | undefined> {
  const timeoutMs = config.LOOKOUT_KUBE_TIMEOUT_MS;
  const load = async () => {
    const { loadKubeClients } = await import('../activities/runner/kube.js');
    const kube = loadKubeClients({ kubeconfig: config.LOOKOUT_KUBECONFIG, timeoutMs, pageSize: PAGE_SIZE });
    if (!kube) throw new Error('no Kubernetes identity: neither LOOKOUT_KUBECONFIG nor KUBERNETES_SERVICE_HOST');
    return kube;
  };
  if (config.LOOKOUT_KUBECONFIG) return load();
  if (!process.env['KUBERNETES_SERVICE_HOST']) return undefined;
  return lazyKubeClients(load, { timeoutMs, pageSize: PAGE_SIZE });
}

/** The Runner policy of this configuration; a bad policy file stops the Runner with status 78, naming every bad field. */
function loadPolicyOrExit(config: RunnerConfig): RunnerPolicyEnforcer {
  try {
    return new RunnerPolicyEnforcer(
      resolveRunnerPolicy({
        file: config.LOOKOUT_RUNNER_POLICY_FILE,
        allowedChecks: config.LOOKOUT_RUNNER_ALLOWED_CHECKS,
        allowedChecksSet: Boolean(process.env['LOOKOUT_RUNNER_ALLOWED_CHECKS']),
        rawLogs: config.LOOKOUT_RUNNER_RAW_LOGS,
        platformKeys: config.LOOKOUT_RUNNER_PLATFORM_KEYS,
      }),
      { dnsServers: config.LOOKOUT_DNS_SERVERS },
    );
  } catch (err) {
    if (err instanceof PolicyFileError) {
      process.stderr.write(`runner: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

/**
 * The check packs the policy pins, fetched and admitted before the Runner polls: a pack that cannot
 * be used as pinned (moved ref, bad signature, digest, a need the policy does not grant) stops the
 * Runner with status 78 and the reason. A Runner without packs never loads the pack code.
 */
async function loadPacksOrExit(config: RunnerConfig, policy: RunnerPolicyEnforcer): Promise<LoadedPacks | undefined> {
  if (!policy.policy.packs.length) return undefined;
  const { loadPacks, PackError } = await import('../activities/runner/packs/loader.js');
  try {
    return await loadPacks(policy.policy, { cacheDir: config.LOOKOUT_RUNNER_PACK_CACHE_DIR, signal: AbortSignal.timeout(15 * 60_000) });
  } catch (err) {
    if (err instanceof PackError) {
      process.stderr.write(`runner: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

/** The Runner's attestation key file: the base64 seed that registration answered once (`runnerKey`). */
function readAttestationKey(file: string): SigningKey {
  let seed: Buffer;
  try {
    seed = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  } catch (err) {
    throw new Error(`cannot read the attestation key file ${file}: ${err instanceof Error ? err.message.split('\n')[0] : 'unreadable'}`);
  }
  if (seed.length !== 32) throw new Error(`the attestation key file ${file} does not hold a 32-byte key in base64`);
  return signingKeyFromSeed(seed);
}

/** The names key: at least 32 random bytes, in base64 (`openssl rand -base64 32`). */
function readNamesKey(file: string): Buffer {
  let key: Buffer;
  try {
    key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  } catch (err) {
    throw new Error(`cannot read the names key file ${file}: ${err instanceof Error ? err.message.split('\n')[0] : 'unreadable'}`);
  }
  if (key.length < 32) throw new Error(`the names key file ${file} does not hold a key of at least 32 bytes in base64`);
  return key;
}

async function main(): Promise<void> {
  const config = loadConfigOrExit('runner', RunnerConfig);
  const logger = createLogger('runner', config.LOOKOUT_LOG_LEVEL);
  const tracing = startTracing('lookout-runner', config.LOOKOUT_OTLP_ENDPOINT);
  const registry = createMetricsRegistry();
  const metrics = runnerMetrics(registry);
  // The SDK's own endpoint stays on an ephemeral loopback port; /metrics serves it with ours.
  const temporalMetricsAddress = installTemporalRuntime(logger, {
    prometheusAddress: config.LOOKOUT_METRICS_LISTEN ? `127.0.0.1:${await freeLoopbackPort()}` : undefined,
  });
  const metricsServer = startMetricsServer({ settings: config, registry, logger, temporalMetricsAddress });
  const kube = await loadKube(config);
  const keyring = new FileKeyring(config.LOOKOUT_RUNNER_KEYS_FILE, 5_000, (e) =>
    e.ok ? logger.info('key file reloaded') : logger.warn({ reason: e.reason }, 'key file change ignored'),
  );
  if (keyring.soleWorkspaceId !== config.LOOKOUT_WORKSPACE_ID)
    throw new Error('the key file belongs to another workspace than LOOKOUT_WORKSPACE_ID');
  const policy = loadPolicyOrExit(config);
  const packs = await loadPacksOrExit(config, policy);
  const connection = await connectTemporal(temporalConnectionOptions(config), (o) => NativeConnection.connect(o));
  const worker = await createRunnerWorker({
    connection,
    namespace: config.LOOKOUT_TEMPORAL_NAMESPACE,
    runnerId: config.LOOKOUT_RUNNER_ID,
    workspaceId: config.LOOKOUT_WORKSPACE_ID,
    secretProviders: createSecretProviders(process.env, { kube, vault: vaultOptions(config) }),
    keyring,
    attestationKey: config.LOOKOUT_RUNNER_ATTESTATION_KEY_FILE ? readAttestationKey(config.LOOKOUT_RUNNER_ATTESTATION_KEY_FILE) : undefined,
    namesKey: config.LOOKOUT_RUNNER_NAMES_KEY_FILE ? readNamesKey(config.LOOKOUT_RUNNER_NAMES_KEY_FILE) : undefined,
    policy,
    audit: (entry) => {
      metrics.audited(entry);
      logger.info({ audit: entry }, `task ${entry.decision}`);
    },
    kube,
    packs,
    maxConcurrent: config.LOOKOUT_RUNNER_MAX_CONCURRENT,
    shutdownGraceMs: config.LOOKOUT_RUNNER_SHUTDOWN_GRACE_MS,
    metrics,
    tracing,
  });
  logger.info(
    {
      runnerId: config.LOOKOUT_RUNNER_ID,
      policy: policy.digest,
      checks: policy.summary.checks,
      packs: packs?.packs.map((p) => `${p.manifest.name}@${p.digest}`),
    },
    'runner polling',
  );
  try {
    await worker.run();
  } finally {
    await policy.close();
    metricsServer?.close();
    await tracing?.shutdown();
    await kube?.close();
    await connection.close();
    logger.info('runner stopped');
  }
}

if (require.main === module) runMain('runner', main);
