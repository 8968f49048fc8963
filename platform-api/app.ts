/**
 * The Express application, built from declared dependencies so that tests run the same app with the
 * real middleware against real services.
 */
import type { Client } from '@temporalio/client';
import express, { type Express } from 'express';
import helmet from 'helmet';
import type { Pool } from 'pg';
import type { Logger } from '../common/logger';
import { authenticate } from './auth/auth-context';
import type { PlatformCrypto } from './crypto';
import { createRunnersRouter } from './routes/runners.router';
import { createSecretsRouter } from './routes/secrets.router';
import { createSchedulesRouter } from './routes/schedules.router';
import { createSweepsRouter } from './routes/sweeps.router';
import { createSweepsService } from './services/sweeps.service';
import { createSchedulesService } from './services/schedules.service';
import { createSecretsService } from './services/secrets.service';
import type { VaultClient } from './vault/vault-client';
import { createRunnersService } from './services/runners.service';
import { notFoundHandler, problemHandler } from './errors';
import { createHealthRouter } from './routes/health.router';
import { createRunsRouter } from './routes/runs.router';
import { createRunsService } from './services/runs.service';
import { createTasksRouter } from './routes/tasks.router';
import { createTasksService } from './services/tasks.service';

export interface AppDeps {
  pool: Pool;
  temporal: Client;
  logger: Logger;
  crypto: PlatformCrypto;
  /** The Temporal endpoint Runners dial, given to them at registration. */
  runnerTemporal: { address: string; namespace: string };
  /** Where workspace secrets are written (the Platform's token cannot read them). */
  vault?: { client: VaultClient; mount: string } | undefined;
  /** The queue runs are started on; tests give each platform worker its own. */
  platformTaskQueue?: string;
}

export function createApp({ pool, temporal, logger, crypto, runnerTemporal, vault, platformTaskQueue }: AppDeps): Express {
  const { sealer } = crypto;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(helmet());
  app.use(express.json({ limit: '64kb', strict: true, type: ['application/json', 'application/*+json'] }));

  app.use(createHealthRouter({ pool }));
  const runs = createRunsService({ pool, temporal, logger, sealer, platformTaskQueue });
  app.use('/v1', authenticate(pool));
  app.use(createRunsRouter({ pool, runs }));
  app.use(createTasksRouter({ pool, tasks: createTasksService({ pool, sealer }) }));
  app.use(createSweepsRouter({ pool, sweeps: createSweepsService({ pool, temporal, sealer, platformTaskQueue }) }));
  app.use(createSchedulesRouter({ pool, schedules: createSchedulesService({ pool, temporal, sealer, platformTaskQueue }) }));
  app.use(createSecretsRouter({ pool, secrets: createSecretsService({ pool, vault: vault?.client, mount: vault?.mount ?? 'lookout' }) }));
  app.use(createRunnersRouter({ pool, runners: createRunnersService({ pool, crypto, temporal, runnerTemporal, platformTaskQueue }) }));

  app.use(notFoundHandler);
  app.use(problemHandler(logger));
  return app;
}
