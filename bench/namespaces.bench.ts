/**
 * The platform worker serving 1, 50 and 200 idle workspace namespaces (issue 15): its RSS, CPU and
 * the poll requests it sends per second, beside a baseline process holding one plain SDK worker per
 * namespace (the SDK's defaults: a workflow thread and V8 context each), on the same dev server in
 * the same run. Both run as processes of their own; each is measured 15 s after it reported
 * polling, over a 30 s window: RSS at the end, CPU time over the window, and the dev server's own
 * count of poll requests (`service_requests` of the Poll* operations) over the window.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { lookoutDataConverter } from '../common/data-converter';
import { createPlatformCrypto } from '../platform/crypto';
import { MasterKey } from '../platform/crypto/master-key';
import { freePort, startEmbeddedPostgres } from '../platform/db/embedded';
import { migrate } from '../platform/db/migrate';
import { createPool } from '../platform/db/pool';
import { createWorkspaceKeys } from '../platform/crypto/platform-keyring';
import { createWorkspace } from '../platform/repos/workspaces.repo';
import { devWorkspaceTemporal } from '../platform/workspace-temporal';
import { ensureTemporalCli, temporalDevServerArgs } from '../scripts/tools';
import { cpuMs, rssMiB } from './system';
import type { BenchResult } from './types';

const COUNTS = (process.env['LOOKOUT_BENCH_NAMESPACE_COUNTS'] ?? '1,50,200').split(',').map(Number);
const SETTLE_MS = 15_000;
const WINDOW_MS = 30_000;
const BASELINE = 'one plain SDK Worker per namespace in one process (own workflow thread each, default pollers), same dev server, same run';

async function pollRequests(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('service_requests{') || !/operation="Poll(Workflow|Activity)TaskQueue"/.test(line)) continue;
    if (!/service_name="frontend"/.test(line)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

function waitForLine(child: ChildProcess, text: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no "${text}" within ${timeoutMs} ms: ${out.slice(-2000)}`)), timeoutMs);
    const on = (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${out.slice(-2000)}`)));
  });
}

async function measure(child: ChildProcess, metricsUrl: string): Promise<Record<string, number>> {
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const polls = await pollRequests(metricsUrl);
  const cpu = cpuMs(child.pid!);
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const seconds = WINDOW_MS / 1000;
  return {
    rssMiB: Math.round(rssMiB(child.pid!)),
    cpuMsPerSec: Math.round(((cpuMs(child.pid!) - cpu) / seconds) * 10) / 10,
    pollsPerSec: Math.round((((await pollRequests(metricsUrl)) - polls) / seconds) * 10) / 10,
  };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-bench-ns-'));
  chmodSync(dir, 0o755); // as root the embedded PostgreSQL runs as another user
  const pg = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), persistent: false });
  const port = await freePort();
  const metricsPort = await freePort();
  const address = `127.0.0.1:${port}`;
  const temporalServer = spawn(ensureTemporalCli(), temporalDevServerArgs({ port, httpPort: await freePort(), metricsPort }), {
    stdio: 'ignore',
  });
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const children: ChildProcess[] = [];
  const results: BenchResult[] = [];
  try {
    let connection: Connection | undefined;
    for (let i = 0; !connection; i++) {
      connection = await Connection.connect({ address, connectTimeout: 1_000 }).catch((err: unknown) => {
        if (i > 120) throw err;
        return new Promise<undefined>((r) => setTimeout(() => r(undefined), 250));
      });
    }
    const pool = createPool(pg.url, () => undefined, 4);
    await migrate(pool);
    const masterKey = MasterKey.generate();
    const crypto = createPlatformCrypto(pool, masterKey);
    const temporal = devWorkspaceTemporal({
      connection,
      db: pool,
      identity: 'bench',
      dataConverter: lookoutDataConverter(crypto.payloadKeys),
    });
    const bundle = path.join(dir, 'bare-workflows.js');
    writeFileSync(bundle, (await bundleWorkflowCode({ workflowsPath: require.resolve('./bare-workflows') })).code);
    const namespaces: string[] = [];
    const node = process.execPath;
    const dist = path.resolve(__dirname, '..');
    for (const n of COUNTS) {
      while (namespaces.length < n) {
        const id = (await import('node:crypto')).randomUUID();
        const ns = (await temporal.provision(id))!;
        await createWorkspace(pool, { id, name: `bench-${namespaces.length}`, temporalNamespace: ns });
        await createWorkspaceKeys(pool, crypto.master, id);
        namespaces.push(ns);
      }
      const lookout = spawn(node, [path.join(dist, 'workers', 'platform-worker.js')], {
        env: {
          PATH: process.env['PATH'],
          DATABASE_URL: pg.url,
          LOOKOUT_MASTER_KEY: masterKey,
          LOOKOUT_TEMPORAL_ADDRESS: address,
          LOOKOUT_LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(lookout);
      const startedAt = Date.now();
      await waitForLine(lookout, 'platform worker polling', 300_000);
      const lookoutStartS = (Date.now() - startedAt) / 1000;
      const lookoutFigures = await measure(lookout, metricsUrl);
      await stop(lookout);
      const bare = spawn(node, [path.join(dist, 'bench', 'bare-namespaces-worker.js')], {
        env: {
          PATH: process.env['PATH'],
          LOOKOUT_TEMPORAL_ADDRESS: address,
          LOOKOUT_BENCH_NAMESPACES: namespaces.join(','),
          LOOKOUT_BENCH_BUNDLE: bundle,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(bare);
      const bareStarted = Date.now();
      // The baseline may not hold this many namespaces: Lookout's figures stand, with the reason.
      let bareFigures: Record<string, number> | undefined;
      let bareStartS = 0;
      let bareFailure = '';
      try {
        await waitForLine(bare, 'bare workers polling', 600_000);
        bareStartS = (Date.now() - bareStarted) / 1000;
        bareFigures = await measure(bare, metricsUrl);
      } catch (err) {
        bareFailure = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300);
      }
      await stop(bare);
      results.push({
        bench: 'namespaces',
        case: `${n} idle namespace${n === 1 ? '' : 's'}`,
        metrics: {
          rssMiB: lookoutFigures.rssMiB!,
          cpuMsPerSec: lookoutFigures.cpuMsPerSec!,
          pollsPerSec: lookoutFigures.pollsPerSec!,
          startS: Math.round(lookoutStartS * 10) / 10,
          ...(bareFigures
            ? {
                baselineRssMiB: bareFigures.rssMiB!,
                baselineCpuMsPerSec: bareFigures.cpuMsPerSec!,
                baselinePollsPerSec: bareFigures.pollsPerSec!,
                baselineStartS: Math.round(bareStartS * 10) / 10,
              }
            : {}),
        },
        baseline: bareFigures ? BASELINE : `${BASELINE}: did not complete (${bareFailure})`,
      });
      process.stderr.write(`namespaces ${n}: ${JSON.stringify(results.at(-1)!.metrics)}\n`);
    }
    await pool.end();
    await connection.close();
    return results;
  } finally {
    for (const c of children) await stop(c).catch(() => undefined);
    temporalServer.kill('SIGTERM');
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
