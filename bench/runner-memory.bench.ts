/**
 * The Runner's memory, idle and busy, beside a bare Temporal worker process with one trivial
 * activity on the same dev server in the same run.
 *
 * The system runs as separate processes (bench/system.ts). Idle: the RSS of the Runner and of the
 * bare worker (bare-worker.ts) 20 s after they started, before any work. Busy: runs of an
 * `http.probe` of a local endpoint go through the API at a steady rate for 60 s, so that the Runner
 * executes one check per run; then bare workflows (run by a worker in this process) call the bare
 * worker's `ping` activity with the same GET at the same rate for as long. RSS is sampled every
 * second; busy RSS is the mean and the maximum after the first 10 s. The CPU time of each activity
 * process over its busy window is given per check.
 *
 * Kubernetes checks are not part of the busy load: their cost is in k8s.bench.ts.
 */
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { cpuMs, driveAtRate, rssMiB, runThroughApi, sampleRss, startSystem, type RssSample } from './system';
import type { BenchResult } from './types';

const IDLE_S = 20;
const BUSY_S = 60;
const RATE = 5;
const SETTLE_S = 10;
const BARE_ACTIVITY_QUEUE = 'bench-bare-activities';
const BARE_WORKFLOW_QUEUE = 'bench-bare-workflows';
const BASELINE = `bare Temporal worker process with one activity doing the same GET (no codec, no boundary), same dev server, same rate (${RATE}/s for ${BUSY_S} s) and concurrency (8)`;

interface Busy {
  meanMiB: number;
  maxMiB: number;
  afterMiB: number;
  checksPerSec: number;
  errors: number;
  cpuMsPerCheck: number;
}

async function busy(pid: number, one: () => Promise<{ ok: boolean }>): Promise<Busy> {
  const sampler = sampleRss({ p: pid }, 1_000);
  const cpuBefore = cpuMs(pid);
  const started = performance.now();
  const driven = await driveAtRate(RATE, BUSY_S * 1000, one);
  const wallS = (performance.now() - started) / 1000;
  const cpu = cpuMs(pid) - cpuBefore;
  const settled = sampler
    .stop()
    .filter((s: RssSample) => s.t >= SETTLE_S)
    .map((s) => s.mib['p'] ?? NaN);
  const ok = driven.outcomes.filter((o) => o.ok);
  return {
    meanMiB: Math.round(settled.reduce((a, b) => a + b, 0) / Math.max(1, settled.length)),
    maxMiB: Math.round(Math.max(...settled)),
    afterMiB: Math.round(rssMiB(pid)),
    checksPerSec: Math.round((ok.length / wallS) * 10) / 10,
    errors: driven.started - ok.length,
    cpuMsPerCheck: Math.round((cpu / Math.max(1, ok.length)) * 10) / 10,
  };
}

export async function run(): Promise<BenchResult[]> {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // installed
  }
  const system = await startSystem();
  let failed = true;
  try {
    const bare = system.spawnNode('bare-worker', 'bench/bare-worker.js', {
      PATH: process.env['PATH'],
      LOOKOUT_TEMPORAL_ADDRESS: system.temporalAddress,
      LOOKOUT_BENCH_TASK_QUEUE: BARE_ACTIVITY_QUEUE,
    });
    const runnerPid = system.pids.runner;
    // The Runner started a few seconds earlier, while the system came up: both are idle by now.
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const idle = { runner: Math.round(rssMiB(runnerPid)), bare: Math.round(rssMiB(bare.pid!)) };

    const runner = await busy(runnerPid, async () => {
      const o = await runThroughApi(system);
      return { ok: o.outcome === 'succeeded' };
    });

    const native = await NativeConnection.connect({ address: system.temporalAddress });
    const connection = await Connection.connect({ address: system.temporalAddress });
    const workflows = await Worker.create({
      connection: native,
      taskQueue: BARE_WORKFLOW_QUEUE,
      workflowsPath: require.resolve('./bare-workflows'),
    });
    const running = workflows.run();
    const client = new Client({ connection });
    let n = 0;
    const baseline = await busy(bare.pid!, async () => {
      const status = await client.workflow.execute('bareProbeVia', {
        taskQueue: BARE_WORKFLOW_QUEUE,
        workflowId: `bare-${process.pid}-${n++}`,
        args: [system.probeUrl, BARE_ACTIVITY_QUEUE],
      });
      return { ok: status === 200 };
    });
    workflows.shutdown();
    await running;
    await connection.close();
    await native.close();
    if (system.exited.length) throw new Error(system.exited.join('; '));
    failed = false;

    const row = (label: string, idleMiB: number, b: Busy): BenchResult => ({
      bench: 'runner',
      case: label,
      metrics: {
        idle_rss_mib: idleMiB,
        busy_mean_rss_mib: b.meanMiB,
        busy_max_rss_mib: b.maxMiB,
        after_rss_mib: b.afterMiB,
        checks_per_sec: b.checksPerSec,
        errors: b.errors,
        cpu_ms_per_check: b.cpuMsPerCheck,
      },
      baseline: BASELINE,
    });
    return [
      row(`Lookout Runner, http.probe runs through the API at ${RATE}/s`, idle.runner, runner),
      row(`bare Temporal worker, one activity at ${RATE}/s`, idle.bare, baseline),
    ];
  } finally {
    await system.stop({ keepDir: failed });
  }
}
