/**
 * The platform worker: runs the workflows and the PostgreSQL-backed activities on the platform task
 * queue. Composition root: config, logger, pool, Temporal connection, worker.
 */
import { closeOrphanRuns } from '../platform/orphan-runs';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { Pool } from 'pg';
import { PlatformWorkerConfig } from '../common/config';
import { lookoutDataConverter } from '../common/data-converter';
import { PLATFORM_TASK_QUEUE, workspaceOfWorkflowId } from '../common/ids';
import type { CodecRefusal } from '../common/codec';
import { appendAudit } from '../platform/repos/audit.repo';
import { createLogger, type Logger } from '../common/logger';
import { createPlatformActivities } from '../activities/platform';
import { createPlatformCrypto, type PlatformCrypto } from '../platform/crypto';
import { createPool } from '../platform/db/pool';
import { connectTemporal, temporalConnectionOptions } from '../common/temporal-connection';
import { loadConfigOrExit, runMain } from '../common/process';
import { installTemporalRuntime } from './temporal-runtime';

export interface PlatformWorkerDeps {
  connection: NativeConnection;
  namespace: string;
  pool: Pool;
  logger: Logger;
  crypto: PlatformCrypto;
  /** A client for activities that act on Temporal itself (pausing a failing schedule). */
  temporal?: Client | undefined;
  /** A prebuilt bundle (built with the same failure converter) (tests, images); without it the workflows are bundled at start. */
  workflowBundle?: WorkflowBundle;
  taskQueue?: string;
}

/**
 * Logs and audits, in the workspace the workflow id names, a payload the codec refused for its
 * workflow (another workspace's key, another workflow's binding): someone wrote into that workflow
 * what its workspace did not. A refused workflow task is retried by Temporal, so each (workflow,
 * reason) is recorded once per ten minutes.
 */
function payloadRefusalAuditor(pool: Pool, logger: Logger): (refusal: CodecRefusal) => void {
  const seen = new Map<string, number>();
  return ({ workflowId, reason }) => {
    const key = `${workflowId}\u0000${reason}`;
    const now = Date.now();
    if ((seen.get(key) ?? 0) > now - 600_000) return;
    seen.set(key, now);
    if (seen.size > 10_000) seen.clear();
    logger.warn({ workflowId, reason }, 'payload refused for its workflow');
    const workspaceId = workspaceOfWorkflowId(workflowId);
    if (!workspaceId) return;
    appendAudit(pool, {
      workspaceId,
      actor: 'system:platform-worker',
      action: 'payload.refused',
      target: `workflow:${workflowId}`,
      outcome: 'denied',
      details: { reason },
    }).catch((err: unknown) => logger.warn({ err }, 'could not audit a refused payload'));
  };
}

export async function createPlatformWorker(deps: PlatformWorkerDeps): Promise<Worker> {
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue ?? PLATFORM_TASK_QUEUE,
    identity: `platform-worker:${process.pid}`,
    dataConverter: lookoutDataConverter(deps.crypto.payloadKeys, payloadRefusalAuditor(deps.pool, deps.logger)),
    ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    activities: createPlatformActivities({
      pool: deps.pool,
      logger: deps.logger,
      keyring: deps.crypto.payloadKeys,
      sealer: deps.crypto.sealer,
      signing: deps.crypto.signing,
      temporal: deps.temporal,
    }),
  });
}

async function main(): Promise<void> {
  const config = loadConfigOrExit('platform-worker', PlatformWorkerConfig);
  const logger = createLogger('platform-worker', config.LOOKOUT_LOG_LEVEL);
  installTemporalRuntime(logger);
  const pool = createPool(config.DATABASE_URL, (err) => logger.warn({ err }, 'idle database connection lost'));
  const connection = await connectTemporal(temporalConnectionOptions(config), (o) => NativeConnection.connect(o));
  const crypto = createPlatformCrypto(pool, config.LOOKOUT_MASTER_KEY, config.LOOKOUT_PLATFORM_SIGNING_KEY);
  const clientConnection = await connectTemporal(temporalConnectionOptions(config), (o) => Connection.connect(o));
  const temporal = new Client({
    connection: clientConnection,
    namespace: config.LOOKOUT_TEMPORAL_NAMESPACE,
    identity: `platform-worker:${process.pid}`,
    dataConverter: lookoutDataConverter(crypto.payloadKeys),
  });
  const worker = await createPlatformWorker({ connection, namespace: config.LOOKOUT_TEMPORAL_NAMESPACE, pool, logger, crypto, temporal });
  logger.info({ taskQueue: PLATFORM_TASK_QUEUE }, 'platform worker polling');
  // Orphan runs (recorded by an API that stopped before starting their workflow): checked every minute.
  const orphans = setInterval(() => {
    closeOrphanRuns({ pool, temporal, sealer: crypto.sealer }).then(
      (closed) => closed.length && logger.warn({ runs: closed }, 'closed orphan runs that never started'),
      (err: unknown) => logger.warn({ err }, 'orphan run check failed; next try in a minute'),
    );
  }, 60_000);
  orphans.unref();
  try {
    await worker.run();
  } finally {
    clearInterval(orphans);
    await connection.close();
    await clientConnection.close();
    await pool.end();
    logger.info('platform worker stopped');
  }
}

if (require.main === module) runMain('platform-worker', main);
