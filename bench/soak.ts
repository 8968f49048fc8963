/**
 * `npm run soak [-- --minutes N --rate R]`: a bounded soak of the whole system as separate
 * processes (bench/system.ts). Runs the workspace's `http.probe` task through the API at a steady
 * rate (open loop) for N minutes, waits for each run's terminal status, samples the RSS of the API,
 * the platform worker and the Runner (and, for information, the Temporal dev server) every 5 s, and
 * checks the result against {@link BOUNDS}: exit status 1 when any bound is exceeded.
 *
 * Writes bench/results/soak-<date>.json (with every sample) and soak-<date>.md, and prints the
 * Markdown. The machine may be shared, so the load average at the start and end is recorded.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  driveAtRate,
  percentile,
  runThroughApi,
  sampleRss,
  slope,
  startSystem,
  type LookoutProcess,
  type RssSample,
  type System,
} from './system';

/**
 * What the soak must stay within, per bounded process, after warm-up (the first minute, or a third
 * of a shorter soak): RSS may rise at most `growthMiB` above its value at the end of warm-up (its
 * maximum is compared, so a transient peak counts), the least-squares slope of RSS over time stays
 * under `slopeMiBPerMin`, and no run may end other than `succeeded`.
 */
export const BOUNDS = { growthMiB: 64, slopeMiBPerMin: 5, errors: 0 } as const;

const BOUNDED: readonly LookoutProcess[] = ['api', 'platform-worker', 'runner'];
const SAMPLE_MS = 5_000;
// Measured on the shared 2-core machine: about 6 runs/s at saturation (1 min at 10/s), 5/s held with
// at most 7 in flight; a soak runs below saturation, so that growth means a leak, not a backlog.
const DEFAULTS = { minutes: 10, rate: 4 };

interface ProcessMemory {
  warmMiB: number;
  maxMiB: number;
  lastMiB: number;
  growthMiB: number;
  slopeMiBPerMin: number;
  /** Undefined for processes that are reported only. */
  withinBounds?: boolean;
}

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} takes a positive number`);
  return value;
}

function memoryOf(name: string, samples: readonly RssSample[], warmupS: number, bounded: boolean): ProcessMemory {
  const series = samples.map((s) => ({ x: s.t / 60, y: s.mib[name] ?? NaN })).filter((p) => Number.isFinite(p.y));
  const after = series.filter((p) => p.x * 60 >= warmupS);
  const warm = after[0]?.y ?? NaN;
  const max = Math.max(...after.map((p) => p.y));
  const r1 = (n: number) => Math.round(n * 10) / 10;
  const memory: ProcessMemory = {
    warmMiB: r1(warm),
    maxMiB: r1(max),
    lastMiB: r1(after.at(-1)?.y ?? NaN),
    growthMiB: r1(max - warm),
    slopeMiBPerMin: Math.round(slope(after) * 100) / 100,
  };
  if (bounded) memory.withinBounds = memory.growthMiB <= BOUNDS.growthMiB && memory.slopeMiBPerMin <= BOUNDS.slopeMiBPerMin;
  return memory;
}

const load1 = () => Math.round((os.loadavg()[0] ?? 0) * 100) / 100;

async function main(): Promise<number> {
  const minutes = option('minutes', DEFAULTS.minutes);
  const rate = option('rate', DEFAULTS.rate);
  const warmupS = Math.min(60, (minutes * 60) / 3);
  const machine = {
    node: process.version,
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
  };
  const loadStart = load1();
  const startedAt = new Date();
  process.stdout.write(`soak: ${minutes} min at ${rate} runs/s; load average ${loadStart}; starting the system…\n`);

  const system: System = await startSystem();
  const interrupted = () => void system.stop({ keepDir: true }).finally(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  let passed = false;
  try {
    // The first run proves the platform worker polls too; its latency includes cold starts.
    const first = await runThroughApi(system, 250, 60_000);
    if (first.outcome !== 'succeeded') throw new Error(`the first run ended ${first.outcome}`);

    process.stdout.write(`soak: driving ${Math.floor(minutes * 60 * rate)} runs…\n`);
    const sampler = sampleRss({ ...system.pids, temporal: system.temporalPid }, SAMPLE_MS);
    const driveStarted = performance.now();
    const driven = await driveAtRate(rate, minutes * 60_000, () => runThroughApi(system));
    const wallS = (performance.now() - driveStarted) / 1000;
    const samples = sampler.stop();

    const byOutcome: Record<string, number> = {};
    for (const o of driven.outcomes) byOutcome[o.outcome] = (byOutcome[o.outcome] ?? 0) + 1;
    for (const e of driven.errors) byOutcome[`threw ${e}`] = (byOutcome[`threw ${e}`] ?? 0) + 1;
    const succeeded = byOutcome['succeeded'] ?? 0;
    const errors = driven.started - succeeded + system.exited.length;
    const latencies = driven.outcomes.filter((o) => o.outcome === 'succeeded').map((o) => o.latencyMs);
    const memory = Object.fromEntries(
      [...BOUNDED, 'temporal'].map((name) => [name, memoryOf(name, samples, warmupS, name !== 'temporal')]),
    ) as Record<LookoutProcess | 'temporal', ProcessMemory>;
    passed = errors <= BOUNDS.errors && BOUNDED.every((name) => memory[name].withinBounds);
    const loadEnd = load1();

    const report = {
      date: startedAt.toISOString().slice(0, 10),
      startedAt: startedAt.toISOString(),
      machine,
      loadAverage: { start: loadStart, end: loadEnd },
      settings: {
        minutes,
        ratePerSec: rate,
        warmupS,
        sampleEveryS: SAMPLE_MS / 1000,
        pollMs: 250,
        check: 'http.probe of a local endpoint, through POST /v1/workspaces/{ws}/runs and GET /v1/runs/{id} with an owner API token',
      },
      bounds: BOUNDS,
      runs: {
        started: driven.started,
        succeeded,
        errors,
        errorRate: Math.round((errors / Math.max(1, driven.started)) * 10_000) / 10_000,
        byOutcome,
        processExits: system.exited,
        achievedRunsPerSec: Math.round((driven.outcomes.length / wallS) * 100) / 100,
        maxInFlight: driven.maxInFlight,
        latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(0, ...latencies) },
      },
      memory,
      passed,
      samples,
    };
    const md = [
      `# Soak ${report.date}`,
      '',
      `Node ${machine.node}, ${machine.cpus} × ${machine.cpu}, ${machine.memGiB} GiB; load average ${loadStart} → ${loadEnd} (the machine is shared: another workload may have run beside the soak).`,
      '',
      `${minutes} min at ${rate} runs/s (open loop) of an \`http.probe\` through the API, each polled to its terminal status; API, platform worker and Runner as separate processes on one Temporal dev server and an embedded PostgreSQL; RSS sampled every ${SAMPLE_MS / 1000} s, warm-up ${warmupS} s.`,
      '',
      `Runs: ${driven.started} started, ${succeeded} succeeded, ${errors} errors (${Object.entries(byOutcome)
        .map(([k, v]) => `${k} ${v}`)
        .join(
          ', ',
        )}${system.exited.length ? `; ${system.exited.join(', ')}` : ''}); ${report.runs.achievedRunsPerSec} runs/s completed; latency p50 ${report.runs.latencyMs.p50} ms, p99 ${report.runs.latencyMs.p99} ms, max ${report.runs.latencyMs.max} ms; at most ${driven.maxInFlight} in flight.`,
      '',
      '| process | RSS at warm-up end MiB | max MiB | last MiB | growth MiB | slope MiB/min | within bounds |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
      ...Object.entries(memory).map(
        ([name, m]) =>
          `| ${name} | ${m.warmMiB} | ${m.maxMiB} | ${m.lastMiB} | ${m.growthMiB} | ${m.slopeMiBPerMin} | ${m.withinBounds === undefined ? 'not bounded' : m.withinBounds ? 'yes' : '**no**'} |`,
      ),
      '',
      `Bounds, per bounded process after warm-up: growth (max − RSS at warm-up end) ≤ ${BOUNDS.growthMiB} MiB, slope ≤ ${BOUNDS.slopeMiBPerMin} MiB/min; errors ≤ ${BOUNDS.errors}. Result: **${passed ? 'passed' : 'FAILED'}**.`,
      '',
    ].join('\n');
    const dir = path.resolve(__dirname, '..', '..', 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `soak-${report.date}.json`), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(path.join(dir, `soak-${report.date}.md`), md);
    process.stdout.write(md);
    if (!passed) process.stdout.write(`process logs kept in ${path.join(system.dir, 'logs')}\n`);
    return passed ? 0 : 1;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await system.stop({ keepDir: !passed });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
