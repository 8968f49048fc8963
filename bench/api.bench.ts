/**
 * `GET /v1/runs/{id}` of the Lookout API with API-token authentication, beside a bare Express 5
 * handler answering the same JSON with no authentication and no database, both in this process and
 * loaded in the same run, with the same settings, by a second process on loopback (load-client.ts):
 * requests per second, p50/p99/max latency, errors, this process's CPU per request and RSS.
 *
 * The Lookout side is the real app (createApp) on embedded PostgreSQL with the pool size and the
 * change feed main.ts uses: the token is verified by hash (then cached until the feed says it
 * changed), its use is counted (one audit row per token and minute), the route's permission is
 * checked, and the finished run is read with its sealed result in one query and then served from
 * the feed-invalidated cache. A second Lookout case runs without the change feed, so every request
 * reads PostgreSQL (token, then run and result): the cost of a cold path.
 */
import { fork, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Connection } from '@temporalio/client';
import { lookoutDataConverter } from '../common/data-converter';
import { devWorkspaceTemporal } from '../platform/workspace-temporal';
import express from 'express';
import { runWorkflowId } from '../common/ids';
import { createLogger } from '../common/logger';
import { closeApp, createApp } from '../platform-api/app';
import { ChangeFeed } from '../platform/repos/change-feed';
import { ApiConfig } from '../common/config';
import { createMetricsRegistry } from '../common/metrics';
import { createPlatformCrypto } from '../platform/crypto';
import { MasterKey } from '../platform/crypto/master-key';
import { freePort, startEmbeddedPostgres } from '../platform/db/embedded';
import { migrate } from '../platform/db/migrate';
import { createPool } from '../platform/db/pool';
import { insertResult } from '../platform/repos/results.repo';
import { insertRun, markRunFinished, markRunStarted } from '../platform/repos/runs.repo';
import { bootstrap } from '../platform-api/services/bootstrap.service';
import { ensureTemporalCli, temporalDevServerArgs } from '../scripts/tools';
import type { LoadMessage, LoadReport, LoadRequest } from './load-client';
import type { BenchResult } from './types';

const CONNECTIONS = 16;
const WARMUP_MS = 2_000;
const DURATION_MS = 10_000;
const BASELINE = 'bare Express 5 handler answering the same JSON body, no auth, no database, same process, same load client and settings';

const MiB = (bytes: number) => Math.round(bytes / 2 ** 20);

function listen(app: express.Express): Promise<{ server: Server; url: string }> {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', (err?: Error) => {
      if (err) reject(err);
      else resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    });
  });
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

interface Measured extends LoadReport {
  /** This process's CPU time (user + system) in the measured window, per request. */
  serverCpuMsPerReq: number;
  rssBeforeMiB: number;
  rssPeakMiB: number;
  rssAfterMiB: number;
}

/**
 * Loads `url` from a forked load client; meanwhile samples this process's RSS (it serves the
 * requests) and takes its CPU time over the load client's measured window.
 */
async function loadFromChild(url: string, headers: Record<string, string>): Promise<Measured> {
  const rssBefore = process.memoryUsage.rss();
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage.rss())), 200);
  const child = fork(path.join(__dirname, 'load-client.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let cpuStart: NodeJS.CpuUsage | undefined;
  let cpu: NodeJS.CpuUsage | undefined;
  try {
    const report = await new Promise<LoadReport>((resolve, reject) => {
      child.on('message', (m: LoadMessage) => {
        if (m.kind === 'window-start') cpuStart = process.cpuUsage();
        else if (m.kind === 'window-end') cpu = process.cpuUsage(cpuStart);
        else resolve(m.report);
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`load client exited with ${code} before reporting`)));
      child.send({ url, headers, connections: CONNECTIONS, warmupMs: WARMUP_MS, durationMs: DURATION_MS } satisfies LoadRequest);
    });
    const cpuMs = cpu ? (cpu.user + cpu.system) / 1000 : NaN;
    return {
      ...report,
      serverCpuMsPerReq: Math.round((cpuMs / Math.max(1, report.requests)) * 1000) / 1000,
      rssBeforeMiB: MiB(rssBefore),
      rssPeakMiB: MiB(rssPeak),
      rssAfterMiB: MiB(process.memoryUsage.rss()),
    };
  } finally {
    clearInterval(sampler);
    if (child.exitCode === null) child.kill();
  }
}

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-bench-api-'));
  chmodSync(dir, 0o755); // as root the embedded PostgreSQL runs as another user
  const port = await freePort();
  // createApp needs a Temporal client; GET /v1/runs/:id itself never calls Temporal.
  const temporal = spawn(ensureTemporalCli(), temporalDevServerArgs({ port, httpPort: await freePort(), metricsPort: await freePort() }), {
    stdio: 'ignore',
    detached: true,
  });
  const pg = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), persistent: false });
  const servers: Server[] = [];
  try {
    const address = `127.0.0.1:${port}`;
    let connection: Connection;
    for (let i = 0; ; i++) {
      try {
        connection = await Connection.connect({ address, connectTimeout: 1_000 });
        break;
      } catch (err) {
        if (i > 120) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    // The pool size main.ts uses by default (LOOKOUT_DB_POOL_MAX) and its change feed.
    const pool = createPool(pg.url, undefined, ApiConfig.shape.LOOKOUT_DB_POOL_MAX.parse(undefined));
    await migrate(pool);
    const crypto = createPlatformCrypto(pool, MasterKey.generate());
    const temporal = devWorkspaceTemporal({
      connection,
      db: pool,
      identity: 'bench',
      dataConverter: lookoutDataConverter(crypto.payloadKeys),
    });
    const ws = await bootstrap(pool, crypto, temporal, {
      workspaceName: 'bench',
      ownerEmail: 'bench@lookout.localhost',
      probeUrl: 'http://127.0.0.1:9/healthz',
    });

    // One finished run with a stored result, as a Runner's check would leave it.
    const runId = randomUUID();
    await insertRun(pool, {
      id: runId,
      workspaceId: ws.workspaceId,
      taskId: ws.taskId,
      runnerId: ws.runnerId,
      checkType: 'http.probe',
      trigger: 'api',
      requestedBy: `token:${ws.tokenId}`,
      workflowId: runWorkflowId(ws.workspaceId, runId),
    });
    await markRunStarted(pool, runId);
    const startedAt = new Date(Date.now() - 120).toISOString();
    const finishedAt = new Date().toISOString();
    // Not attested: insertResult stores what it is given; the attestation is checked upstream, in the activity.
    await insertResult(
      pool,
      crypto.sealer,
      {
        runId,
        workspaceId: ws.workspaceId,
        checkType: 'http.probe',
        status: 'ok',
        summary: 'GET http://127.0.0.1:9/healthz answered 200 in 12 ms',
        issues: [],
        metrics: { 'http.status': 200, 'http.latency_ms': 12, 'tls.days_left': 0 },
        startedAt,
        finishedAt,
        durationMs: 120,
        exitCode: 0,
        attestation: 'bench.unattested',
      },
      'bench.unattested',
    );
    await markRunFinished(pool, runId, { status: 'succeeded' });

    const logger = createLogger('bench', 'silent');
    const changes = await ChangeFeed.start(pg.url, logger);
    // With the request metrics, as main.ts builds it.
    const app = createApp({ pool, temporal, logger, crypto, runnerTemporal: { address }, changes, metrics: createMetricsRegistry() });
    const lookout = await listen(app);
    servers.push(lookout.server);
    const headers = { authorization: `Bearer ${ws.token}` };
    const probe = await fetch(`${lookout.url}/v1/runs/${runId}`, { headers });
    if (probe.status !== 200) throw new Error(`GET /v1/runs/{id} answered ${probe.status}`);
    const body: unknown = await probe.json();

    const bareApp = express();
    bareApp.get('/v1/runs/:id', (_req, res) => {
      res.json(body);
    });
    const bare = await listen(bareApp);
    servers.push(bare.server);

    // Bare first, then Lookout: the same load client and settings, one after the other.
    const bareReport = await loadFromChild(`${bare.url}/v1/runs/${runId}`, {});
    const lookoutReport = await loadFromChild(`${lookout.url}/v1/runs/${runId}`, headers);
    const uncachedApp = createApp({ pool, temporal, logger, crypto, runnerTemporal: { address } });
    const uncached = await listen(uncachedApp);
    servers.push(uncached.server);
    const uncachedReport = await loadFromChild(`${uncached.url}/v1/runs/${runId}`, headers);
    for (const [name, r] of [
      ['bare Express', bareReport],
      ['Lookout', lookoutReport],
      ['Lookout without the change feed', uncachedReport],
    ] as const) {
      if (r.errors)
        process.stderr.write(`api bench: ${name}: ${r.errors} of ${r.requests} requests failed (${r.errorSamples.join(', ')})\n`);
    }
    await connection.close();
    await Promise.all(servers.splice(0).map(close));
    await closeApp(app);
    await closeApp(uncachedApp);
    await changes.close();
    await pool.end();

    const row = (label: string, r: Measured): BenchResult => ({
      bench: 'api',
      case: label,
      metrics: {
        rps: r.rps,
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
        maxMs: r.maxMs,
        requests: r.requests,
        errors: r.errors,
        responseBytes: r.responseBytes,
        serverCpuMsPerReq: r.serverCpuMsPerReq,
        rssBeforeMiB: r.rssBeforeMiB,
        rssPeakMiB: r.rssPeakMiB,
        rssAfterMiB: r.rssAfterMiB,
        connections: CONNECTIONS,
        durationS: DURATION_MS / 1000,
      },
      baseline: BASELINE,
    });
    return [
      row('bare Express GET /v1/runs/:id', bareReport),
      row('Lookout GET /v1/runs/{id} (API token)', lookoutReport),
      row('Lookout GET /v1/runs/{id} (API token), no change feed: PostgreSQL on every request', uncachedReport),
    ];
  } finally {
    await Promise.all(servers.map(close));
    try {
      process.kill(-temporal.pid!, 'SIGTERM');
    } catch {
      // gone
    }
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
