/**
 * runTask through the API with a trivial check (an http.probe of a local endpoint), beside a bare
 * Temporal workflow with one activity doing the same GET, on the same dev server in the same run:
 * runs per second and trigger-to-result latency (p50/p99), and the overhead ratio. A second series
 * probes the same endpoint expecting another status, so every run finds an issue: what recording it
 * costs on the run path (the issue's upsert under its fingerprint, its sealed detail, the run's
 * link to it) is the difference between the two Lookout series.
 */
import { RunnerPolicyEnforcer } from '../activities/runner/policy';
import { RunnerPolicy } from '../common/runner-policy';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { lookoutDataConverter } from '../common/data-converter';
import { runWorkflowId } from '../common/ids';
import { StaticKeyring } from '../common/keyring';
import { createLogger } from '../common/logger';
import { createSecretProviders } from '../activities/runner/secrets';
import { createApp } from '../platform-api/app';
import { createPlatformCrypto } from '../platform/crypto';
import { MasterKey } from '../platform/crypto/master-key';
import { exportRunnerKeyFile } from '../platform/crypto/platform-keyring';
import { freePort, startEmbeddedPostgres } from '../platform/db/embedded';
import { migrate } from '../platform/db/migrate';
import { createPool } from '../platform/db/pool';
import { bootstrap } from '../platform-api/services/bootstrap.service';
import { ensureTemporalCli, temporalDevServerArgs } from '../scripts/tools';
import { createPlatformWorker } from '../workers/platform-worker';
import { devWorkspaceTemporal } from '../platform/workspace-temporal';
import { createRunnerWorker } from '../workers/runner';
import { signingKeyFromSeed } from '../common/ed25519';
import type { BenchResult } from './types';

const RUNS = 200;
const CONCURRENCY = 8;

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

async function drive(n: number, concurrency: number, one: () => Promise<void>): Promise<{ latencies: number[]; wallMs: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) {
        const t = performance.now();
        await one();
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { latencies, wallMs: performance.now() - started };
}

export async function run(): Promise<BenchResult[]> {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // installed
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-bench-runs-'));
  chmodSync(dir, 0o755); // as root the embedded PostgreSQL runs as another user
  const port = await freePort();
  const temporal = spawn(ensureTemporalCli(), temporalDevServerArgs({ port, httpPort: await freePort(), metricsPort: await freePort() }), {
    stdio: 'ignore',
    detached: true,
  });
  const pg = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), persistent: false });
  const target = http.createServer((_req, res) => res.writeHead(200).end('ok'));
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(target.address() as AddressInfo).port}/healthz`;
  const address = `127.0.0.1:${port}`;
  const logger = createLogger('bench', 'silent');
  try {
    for (let i = 0; ; i++) {
      try {
        await (await Connection.connect({ address, connectTimeout: 1_000 })).close();
        break;
      } catch (err) {
        if (i > 120) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    const pool = createPool(pg.url, () => undefined, 20);
    await migrate(pool);
    const crypto = createPlatformCrypto(pool, MasterKey.generate());
    const native = await NativeConnection.connect({ address });
    const connection = await Connection.connect({ address });
    const temporal = devWorkspaceTemporal({
      connection,
      db: pool,
      identity: 'bench',
      dataConverter: lookoutDataConverter(crypto.payloadKeys),
    });
    const ws = await bootstrap(pool, crypto, temporal, { workspaceName: 'bench', ownerEmail: 'bench@lookout.localhost', probeUrl: url });
    const client = temporal.forNamespace(ws.temporalNamespace!);
    const platformWorker = await createPlatformWorker({
      connection: native,
      namespace: ws.temporalNamespace!,
      pool,
      logger,
      crypto,
      temporal,
    });
    const runnerWorker = await createRunnerWorker({
      connection: native,
      namespace: ws.temporalNamespace!,
      runnerId: ws.runnerId,
      workspaceId: ws.workspaceId,
      secretProviders: createSecretProviders({}),
      keyring: new StaticKeyring(await exportRunnerKeyFile(pool, crypto.master, ws.workspaceId)),
      attestationKey: signingKeyFromSeed(Buffer.from(ws.runnerAttestationKey, 'base64')),
      // The probed target is on loopback, which the policy refuses unless a destination names it.
      policy: new RunnerPolicyEnforcer(
        RunnerPolicy.parse({
          checks: ['http.probe'],
          destinations: [{ name: 'target', scheme: 'http', host: '127.0.0.1', port: '*', allowAddresses: ['127.0.0.0/8'] }],
          platformKeys: [crypto.signing.publicKey],
        }),
      ),
      maxConcurrent: 32,
    });
    const bareWorker = await Worker.create({
      connection: native,
      taskQueue: 'bench-bare',
      workflowsPath: require.resolve('./bare-workflows'),
      activities: { ping: async (u: string) => (await fetch(u)).status },
    });
    const running = [platformWorker.run(), runnerWorker.run(), bareWorker.run()];
    const app = createApp({ pool, temporal, logger, crypto, runnerTemporal: { address } });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const headers = { authorization: `Bearer ${ws.token}`, 'content-type': 'application/json' };
    const bareClient = new Client({ connection });

    // The same endpoint, expecting a status it never answers: one issue per run, the same each time.
    const issueTask = await fetch(`${api}/v1/workspaces/${ws.workspaceId}/tasks`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'bench-issue', runnerId: ws.runnerId, checkType: 'http.probe', params: { url, expectedStatus: [418] } }),
    });
    if (issueTask.status !== 201) throw new Error(`the issue task was refused: ${await issueTask.text()}`);
    const issueTaskId = ((await issueTask.json()) as { id: string }).id;

    const runOnce = (taskId: string, expect: 'ok' | 'issues') => async () => {
      const res = await fetch(`${api}/v1/workspaces/${ws.workspaceId}/runs`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ taskId }),
      });
      const body = (await res.json()) as { id: string };
      await client.workflow.getHandle(runWorkflowId(ws.workspaceId, body.id)).result();
      const view = (await (await fetch(`${api}/v1/runs/${body.id}`, { headers })).json()) as {
        status: string;
        result: { status: string } | null;
      };
      if (view.status !== 'succeeded' || view.result?.status !== expect) {
        throw new Error(`run ${body.id} ended ${view.status} with ${view.result?.status ?? 'no result'}, not ${expect}`);
      }
    };
    const lookoutOne = runOnce(ws.taskId, 'ok');
    const issueOne = runOnce(issueTaskId, 'issues');
    let bareN = 0;
    const bareOne = async () => {
      await bareClient.workflow.execute('bareProbe', {
        taskQueue: 'bench-bare',
        workflowId: `bare-${process.pid}-${bareN++}`,
        args: [url],
      });
    };
    await drive(10, 2, lookoutOne); // warm-up
    await drive(10, 2, issueOne);
    await drive(10, 2, bareOne);
    const lookout = await drive(RUNS, CONCURRENCY, lookoutOne);
    const withIssue = await drive(RUNS, CONCURRENCY, issueOne);
    const bare = await drive(RUNS, CONCURRENCY, bareOne);
    // Every one of those runs found the same issue: it is recorded once, seen at each run.
    const issues = (await (await fetch(`${api}/v1/workspaces/${ws.workspaceId}/issues?state=open`, { headers })).json()) as {
      items: { taskId: string; seenCount: number }[];
    };
    const recorded = issues.items.filter((i) => i.taskId === issueTaskId);
    if (recorded.length !== 1 || recorded[0]!.seenCount !== RUNS + 10) {
      throw new Error(`expected one issue seen ${RUNS + 10} times: ${JSON.stringify(recorded)}`);
    }

    server.close();
    platformWorker.shutdown();
    runnerWorker.shutdown();
    bareWorker.shutdown();
    await Promise.all(running);
    await pool.end();
    const rate = (r: { wallMs: number }) => Math.round((RUNS / (r.wallMs / 1000)) * 10) / 10;
    return [
      {
        bench: 'runs',
        case: `${RUNS} runs, ${CONCURRENCY} in flight, trivial http.probe (and ${RUNS} more each finding the same issue)`,
        metrics: {
          lookout_runs_per_sec: rate(lookout),
          lookout_p50_ms: Math.round(percentile(lookout.latencies, 50)),
          lookout_p99_ms: Math.round(percentile(lookout.latencies, 99)),
          lookout_issue_runs_per_sec: rate(withIssue),
          lookout_issue_p50_ms: Math.round(percentile(withIssue.latencies, 50)),
          lookout_issue_p99_ms: Math.round(percentile(withIssue.latencies, 99)),
          ratio_p50_issue_to_ok: Math.round((percentile(withIssue.latencies, 50) / percentile(lookout.latencies, 50)) * 100) / 100,
          baseline_runs_per_sec: rate(bare),
          baseline_p50_ms: Math.round(percentile(bare.latencies, 50)),
          baseline_p99_ms: Math.round(percentile(bare.latencies, 99)),
          ratio_p50_lookout_to_baseline: Math.round((percentile(lookout.latencies, 50) / percentile(bare.latencies, 50)) * 100) / 100,
        },
        baseline: 'bare Temporal workflow with one activity doing the same GET, no codec and no database, same dev server',
      },
    ];
  } finally {
    target.close();
    try {
      process.kill(-temporal.pid!, 'SIGTERM');
    } catch {
      // gone
    }
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
