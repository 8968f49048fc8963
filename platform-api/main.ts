/** The API process. Composition root: config, logger, pool, Temporal client, HTTP server. */
import { Client, Connection } from '@temporalio/client';
import { ApiConfig } from '../common/config';
import { createLogger } from '../common/logger';
import { connectTemporal, temporalConnectionOptions } from '../common/temporal-connection';
import { loadConfigOrExit, runMain } from '../workers/process-utils';
import { createApp } from './app';
import { createPool } from './db/pool';
import { createPlatformCrypto } from './crypto';
import { createVaultClient } from './vault/vault-client';
import { lookoutDataConverter } from '../common/data-converter';

async function main(): Promise<void> {
  const config = loadConfigOrExit('api', ApiConfig);
  const logger = createLogger('api', config.LOOKOUT_LOG_LEVEL);
  const pool = createPool(config.DATABASE_URL, (err) => logger.warn({ err }, 'idle database connection lost'));
  const connection = await connectTemporal(temporalConnectionOptions(config), (o) => Connection.connect(o));
  const crypto = createPlatformCrypto(pool, config.LOOKOUT_MASTER_KEY);
  const temporal = new Client({
    connection,
    namespace: config.LOOKOUT_TEMPORAL_NAMESPACE,
    identity: `api:${process.pid}`,
    dataConverter: lookoutDataConverter(crypto.payloadKeys),
  });
  const app = createApp({
    pool,
    temporal,
    logger,
    crypto,
    runnerTemporal: { address: config.LOOKOUT_RUNNER_TEMPORAL_ADDRESS ?? config.LOOKOUT_TEMPORAL_ADDRESS, namespace: config.LOOKOUT_TEMPORAL_NAMESPACE },
    vault: config.LOOKOUT_VAULT_ADDR
      ? { client: createVaultClient({ endpoint: config.LOOKOUT_VAULT_ADDR, ...(config.LOOKOUT_VAULT_TOKEN ? { token: config.LOOKOUT_VAULT_TOKEN } : {}) }), mount: config.LOOKOUT_VAULT_MOUNT }
      : undefined,
  });
  const server = app.listen(config.LOOKOUT_API_PORT, config.LOOKOUT_API_HOST, () => {
    logger.info({ host: config.LOOKOUT_API_HOST, port: config.LOOKOUT_API_PORT }, 'api listening');
  });
  server.on('error', (err) => {
    logger.fatal({ err }, 'api could not listen');
    process.exit(1);
  });
  const stop = () => {
    logger.info('api stopping');
    server.close(() => {
      void Promise.allSettled([connection.close(), pool.end()]).then(() => process.exit(0));
    });
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (require.main === module) runMain('api', main);
