/**
 * The platform worker: runs the workflows and the PostgreSQL-backed activities on the platform task
 * queue. Composition root: config, logger, pool, Temporal connection, worker.
 */
import { closeOrphanRuns } from '../platform/orphan-runs';
import { createHash } from 'node:crypto';
import { bundleOptions, prebuiltWorkflowBundle, WORKFLOW_TRACING_MODULE } from './workflow-bundle';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import { PlatformWorkerConfig } from '../common/config';
import { lookoutDataConverter } from '../common/data-converter';
import { PLATFORM_TASK_QUEUE, workspaceOfWorkflowId } from '../common/ids';
import type { CodecRefusal } from '../common/codec';
import { appendAudit } from '../platform/repos/audit.repo';
import { createLogger, type Logger } from '../common/logger';
import { createPlatformActivities } from '../activities/platform';
import { namespaceGuard, type NamespaceGuardDeps } from '../activities/platform/namespace-guard';
import { workspaceNamespaces } from '../platform/repos/workspaces.repo';
import { connectWorkspaceTemporal, type WorkspaceTemporal } from '../platform/workspace-temporal';
import { cachedWorkflowsPerNamespace, NAMESPACE_POLLERS, NamespaceWorkers } from './namespace-workers';
import { createPlatformCrypto, type PlatformCrypto } from '../platform/crypto';
import { resolveMasterKeys } from '../platform/crypto/kms';
import { createPool } from '../platform/db/pool';
import { connectTemporal, temporalConnectionOptions } from '../common/temporal-connection';
import { loadConfigOrExit, runMain } from '../common/process';
import { installTemporalRuntime } from './temporal-runtime';
import { createMetricsRegistry, freeLoopbackPort, startMetricsServer } from '../common/metrics';
import { startTracing, type Tracing } from '../common/tracing';
import type { PlatformActivityMetrics } from '../activities/platform';
import { wakeForgottenSinks, type NotifySettings } from '../platform/notify/wake';
import { smtpMailerFromConfig } from '../platform/mail';
import { platformActivityMetrics } from './platform-metrics';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry';

export interface PlatformWorkerDeps {
  connection: NativeConnection;
  pool: Pool;
  logger: Logger;
  crypto: PlatformCrypto;
  /** Temporal per workspace namespace: the namespace guard, and activities that act on Temporal (pausing a failing schedule). */
  temporal: WorkspaceTemporal;
  /** A prebuilt bundle (built with the same failure converter) (tests, images); without it the workflows are bundled at start. */
  workflowBundle?: WorkflowBundle;
  taskQueue?: string;
  /** Which namespaces to serve; by default every namespace a workspace lives in. */
  listNamespaces?: () => Promise<string[]>;
  /** LISTEN for workspaces made or erased (default true). */
  listen?: boolean;
  reconcileEveryMs?: number;
  /** Runs, result sizes and rejections for /metrics. */
  metrics?: PlatformActivityMetrics | undefined;
  /** Traces (LOOKOUT_OTLP_ENDPOINT): activity spans, and workflow spans through the `exporter` sink. */
  tracing?: Tracing | undefined;
  /** How notifications are delivered (default: public https destinations only). */
  notify?: NotifySettings | undefined;
}

/** Temporal's OpenTelemetry workflow interceptors, bundled with the workflows when tracing is on. */

/**
 * Logs and audits, in the workspace the workflow id names, a payload the codec refused for its
 * workflow (another workspace's key, another workflow's binding): someone wrote into that workflow
 * what its workspace did not. A refused workflow task is retried by Temporal, so each (workflow,
 * reason) is recorded once per ten minutes.
 */
interface PlatformRefusals {
  payload: (refusal: CodecRefusal) => void;
  namespace: NamespaceGuardDeps['refused'];
}

function platformRefusals(pool: Pool, logger: Logger): PlatformRefusals {
  const seen = new Map<string, number>();
  const record = (workflowId: string, key: string, action: string, details: Record<string, string>) => {
    const now = Date.now();
    if ((seen.get(key) ?? 0) > now - 600_000) return;
    seen.set(key, now);
    if (seen.size > 10_000) seen.clear();
    logger.warn(
      { workflowId, ...details },
      action === 'payload.refused' ? 'payload refused for its workflow' : 'workflow refused in a namespace its workspace does not live in',
    );
    const workspaceId = workspaceOfWorkflowId(workflowId);
    if (!workspaceId) return;
    appendAudit(pool, {
      workspaceId,
      actor: 'system:platform-worker',
      action,
      target: `workflow:${workflowId}`,
      outcome: 'denied',
      details,
    }).catch((err: unknown) => logger.warn({ err }, 'could not audit a refusal'));
  };
  return {
    payload: ({ workflowId, reason }) => record(workflowId, `${workflowId}\u0000${reason}`, 'payload.refused', { reason }),
    // The workspace the workflow id names gets the record (it is the one someone acted for).
    namespace: ({ workflowId, namespace, activity }) =>
      record(workflowId, `${workflowId}\u0000ns\u0000${namespace}`, 'workflow.namespace_refused', { namespace, activity }),
  };
}

/** The worker of one namespace. */
export async function createPlatformWorker(
  deps: PlatformWorkerDeps & { namespace: string; workerClass?: typeof Worker; refusals?: PlatformRefusals; maxCachedWorkflows?: number },
): Promise<Worker> {
  const refusals = deps.refusals ?? platformRefusals(deps.pool, deps.logger);
  const WorkerClass = deps.workerClass ?? Worker;
  return WorkerClass.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue ?? PLATFORM_TASK_QUEUE,
    identity: `platform-worker:${process.pid}`,
    ...NAMESPACE_POLLERS,
    ...(deps.maxCachedWorkflows ? { maxCachedWorkflows: deps.maxCachedWorkflows } : {}),
    dataConverter: lookoutDataConverter(deps.crypto.payloadKeys, refusals.payload),
    ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    interceptors: {
      activity: [
        namespaceGuard({
          sharedNamespace: deps.temporal.sharedNamespace,
          namespaceOf: (ws) => deps.temporal.namespaceOf(ws),
          refused: refusals.namespace,
        }),
        ...(deps.tracing
          ? [
              (ctx: Context) => ({
                inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
                outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
              }),
            ]
          : []),
      ],
      ...(deps.tracing && !deps.workflowBundle ? { workflowModules: [WORKFLOW_TRACING_MODULE] } : {}),
    },
    ...(deps.tracing ? { sinks: { exporter: makeWorkflowExporter(deps.tracing.spanProcessor, deps.tracing.resource) } } : {}),
    activities: createPlatformActivities({
      pool: deps.pool,
      logger: deps.logger,
      keyring: deps.crypto.payloadKeys,
      sealer: deps.crypto.sealer,
      signing: deps.crypto.signing,
      temporal: deps.temporal,
      metrics: deps.metrics,
      notify: deps.notify,
    }),
  });
}

/**
 * Every namespace workspaces live in (or those `listNamespaces` names), one worker each, kept in
 * step with the workspaces as they are made and erased.
 */
export function createPlatformWorkers(deps: PlatformWorkerDeps): NamespaceWorkers {
  const refusals = platformRefusals(deps.pool, deps.logger);
  // One bundle for every namespace's worker: given only a workflows path, the SDK would bundle the
  // workflow code anew (webpack, seconds of CPU) for each namespace it starts a worker for.
  // Built with the code (workers/workflow-bundle.ts) when it matches the code on disk; else bundled
  // here, once.
  let bundling: Promise<WorkflowBundle> | undefined;
  const workflowBundle = (): Promise<WorkflowBundle> =>
    deps.workflowBundle
      ? Promise.resolve(deps.workflowBundle)
      : (bundling ??= Promise.resolve(prebuiltWorkflowBundle(Boolean(deps.tracing)))
          .then((prebuilt) => {
            if (prebuilt) return prebuilt;
            deps.logger.info('no prebuilt workflow bundle for this code; bundling the workflows now');
            return bundleWorkflowCode(bundleOptions(Boolean(deps.tracing), bundlerLogger(deps.logger)));
          })
          .catch((err: unknown) => {
            bundling = undefined;
            throw err;
          }));
  return new NamespaceWorkers({
    listNamespaces: deps.listNamespaces ?? (() => workspaceNamespaces(deps.pool, deps.temporal.sharedNamespace)),
    createWorker: async (namespace, workerClass, namespaces) =>
      createPlatformWorker({
        ...deps,
        workflowBundle: await workflowBundle(),
        namespace,
        workerClass,
        refusals,
        maxCachedWorkflows: cachedWorkflowsPerNamespace(namespaces),
      }),
    logger: deps.logger,
    pool: deps.listen === false ? undefined : deps.pool,
    ...(deps.reconcileEveryMs ? { reconcileEveryMs: deps.reconcileEveryMs } : {}),
  });
}

/** The SDK bundler's messages at debug level (its info lines would repeat for nothing). */
function bundlerLogger(logger: Logger) {
  const at = (level: 'debug' | 'warn' | 'error') => (message: string) => logger[level]({ component: 'workflow-bundler' }, message);
  return { log: at('debug'), trace: at('debug'), debug: at('debug'), info: at('debug'), warn: at('warn'), error: at('error') };
}

/** Whether a namespace falls in shard `i` of `n` (a stable hash of its name). */
export function inShard(namespace: string, [i, n]: [number, number]): boolean {
  return createHash('sha256').update(namespace).digest().readUInt32BE(0) % n === i;
}

async function main(): Promise<void> {
  const config = loadConfigOrExit('platform-worker', PlatformWorkerConfig);
  const logger = createLogger('platform-worker', config.LOOKOUT_LOG_LEVEL);
  const tracing = startTracing('lookout-platform-worker', config.LOOKOUT_OTLP_ENDPOINT);
  const metrics = createMetricsRegistry();
  // The SDK's own endpoint stays on an ephemeral loopback port; /metrics serves it with ours.
  const temporalMetricsAddress = installTemporalRuntime(logger, {
    prometheusAddress: config.LOOKOUT_METRICS_LISTEN ? `127.0.0.1:${await freeLoopbackPort()}` : undefined,
  });
  const metricsServer = startMetricsServer({ settings: config, registry: metrics, logger, temporalMetricsAddress });
  const pool = createPool(config.DATABASE_URL, (err) => logger.warn({ err }, 'idle database connection lost'));
  const connection = await connectTemporal(temporalConnectionOptions(config), (o) => NativeConnection.connect(o));
  const masterKeys = await resolveMasterKeys(config);
  const crypto = createPlatformCrypto(pool, masterKeys.current, config.LOOKOUT_PLATFORM_SIGNING_KEY, masterKeys.previous);
  const temporal = await connectWorkspaceTemporal(config, {
    db: pool,
    identity: `platform-worker:${process.pid}`,
    dataConverter: lookoutDataConverter(crypto.payloadKeys),
  });
  const shard = config.LOOKOUT_WORKER_SHARD;
  const only = config.LOOKOUT_WORKER_NAMESPACES && new Set(config.LOOKOUT_WORKER_NAMESPACES);
  const workers = createPlatformWorkers({
    connection,
    pool,
    logger,
    crypto,
    temporal,
    metrics: platformActivityMetrics(metrics),
    tracing,
    notify: {
      allowPrivateDestinations: config.LOOKOUT_NOTIFY_ALLOW_PRIVATE,
      maxAttempts: config.LOOKOUT_NOTIFY_MAX_ATTEMPTS,
      initialRetryMs: config.LOOKOUT_NOTIFY_RETRY_MS,
      linkBase: config.LOOKOUT_PUBLIC_URL,
      mailFrom: config.LOOKOUT_SMTP_FROM,
      mailer: smtpMailerFromConfig(config),
    },
    listNamespaces: async () =>
      (await workspaceNamespaces(pool, temporal.sharedNamespace)).filter((ns) => (!shard || inShard(ns, shard)) && (!only || only.has(ns))),
  });
  // Orphan runs (recorded by an API that stopped before starting their workflow) and notifications
  // owed to a sink whose delivery was never woken (a wake lost with a process): checked every minute.
  const orphans = setInterval(() => {
    wakeForgottenSinks(pool, temporal).then(
      (woken) => woken > 0 && logger.warn({ sinks: woken }, 'woke the delivery of sinks that owed notifications for over two minutes'),
      (err: unknown) => logger.warn({ err }, 'forgotten sink check failed; next try in a minute'),
    );
    closeOrphanRuns({ pool, temporal, sealer: crypto.sealer }).then(
      (closed) => closed.length && logger.warn({ runs: closed }, 'closed orphan runs that never started'),
      (err: unknown) => logger.warn({ err }, 'orphan run check failed; next try in a minute'),
    );
  }, 60_000);
  orphans.unref();
  const stop = () => {
    logger.info('platform worker stopping');
    void workers.shutdown();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    const running = workers.run();
    await workers.reconcile();
    logger.info(
      { taskQueue: PLATFORM_TASK_QUEUE, namespaces: workers.namespaces().length, shard: shard?.join('/') },
      'platform worker polling',
    );
    await running;
  } finally {
    clearInterval(orphans);
    metricsServer?.close();
    await tracing?.shutdown();
    await connection.close();
    await temporal.connection.close();
    await pool.end();
    logger.info('platform worker stopped');
  }
}

if (require.main === module) runMain('platform-worker', main);
