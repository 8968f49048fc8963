/**
 * `npm run bench`: runs every benchmark in bench/, writes bench/results/<date>.json and a Markdown
 * table beside it. Numbers are measurements, never assertions.
 *
 * `npm run bench -- k8s runner` runs a subset and merges it into the day's file: the rows of the
 * benches that ran replace their earlier rows, every other bench keeps its rows.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as api from './api.bench';
import * as backup from './backup.bench';
import * as codec from './codec.bench';
import * as k8s from './k8s.bench';
import * as namespaces from './namespaces.bench';
import * as packs from './packs.bench';
import * as runnerMemory from './runner-memory.bench';
import * as runs from './runs.bench';
import type { BenchResult } from './types';

const BENCHES: Record<string, { run(): Promise<BenchResult[]> }> = {
  codec,
  runs,
  k8s,
  api,
  backup,
  runner: runnerMemory,
  namespaces,
  packs,
};

interface Machine {
  node: string;
  cpus: number;
  cpu: string;
  memGiB: number;
}

/** When and where one bench ran: the machine is shared, so its load average is part of the result. */
interface BenchRun {
  startedAt: string;
  durationS: number;
  /** 1-minute load average at start and end (os.loadavg()[0]). */
  loadStart: number;
  loadEnd: number;
  machine: Machine;
}

interface ResultsFile {
  date: string;
  machine: Machine;
  /** Per bench name; absent in files written before it existed. */
  runs?: Record<string, BenchRun>;
  results: BenchResult[];
}

const load1 = () => Math.round((os.loadavg()[0] ?? 0) * 100) / 100;

function markdown(file: ResultsFile): string {
  const { machine, results } = file;
  const lines = [`# Benchmarks ${file.date}`, '', `Node ${machine.node}, ${machine.cpus} × ${machine.cpu}, ${machine.memGiB} GiB`, ''];
  lines.push(
    'The machine is shared (another workload may run beside the benches): the 1-minute load average at the start and end of each bench is given with it.',
    '',
  );
  const order = Object.keys(BENCHES);
  const benches = [...new Set(results.map((r) => r.bench))].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  for (const bench of benches) {
    const rows = results.filter((r) => r.bench === bench);
    const columns = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))];
    const ran = file.runs?.[bench];
    lines.push(`## ${bench}`, '', `Baseline: ${rows[0]?.baseline ?? ''}`, '');
    if (ran) lines.push(`Ran ${ran.startedAt} for ${ran.durationS} s; load average ${ran.loadStart} → ${ran.loadEnd}`, '');
    lines.push(`| case | ${columns.join(' | ')} |`, `| --- | ${columns.map(() => '---:').join(' | ')} |`);
    for (const r of rows) lines.push(`| ${r.case} | ${columns.map((c) => (c in r.metrics ? String(r.metrics[c]) : '')).join(' | ')} |`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const unknown = only.filter((name) => !(name in BENCHES));
  if (unknown.length) throw new Error(`unknown bench ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
  const machine: Machine = {
    node: process.version,
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
  };
  const results: BenchResult[] = [];
  const runs: Record<string, BenchRun> = {};
  const ranNames = new Set<string>();
  for (const [name, bench] of Object.entries(BENCHES)) {
    if (only.length && !only.includes(name)) continue;
    const startedAt = new Date();
    const loadStart = load1();
    process.stdout.write(`running ${name}… (load average ${loadStart})\n`);
    const rows = await bench.run();
    results.push(...rows);
    // A bench is replaced under its key and under every name its rows carry.
    ranNames.add(name);
    const ran: BenchRun = {
      startedAt: startedAt.toISOString(),
      durationS: Math.round((Date.now() - startedAt.getTime()) / 1000),
      loadStart,
      loadEnd: load1(),
      machine,
    };
    for (const r of rows) {
      ranNames.add(r.bench);
      runs[r.bench] = ran;
    }
  }
  const date = new Date().toISOString().slice(0, 10);
  const dir = path.resolve(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const jsonFile = path.join(dir, `${date}.json`);
  const earlier = existsSync(jsonFile) ? (JSON.parse(readFileSync(jsonFile, 'utf8')) as ResultsFile) : undefined;
  const kept = (earlier?.results ?? []).filter((r) => !ranNames.has(r.bench));
  const keptRuns = Object.fromEntries(Object.entries(earlier?.runs ?? {}).filter(([bench]) => !ranNames.has(bench)));
  const file: ResultsFile = { date, machine, runs: { ...keptRuns, ...runs }, results: [...kept, ...results] };
  writeFileSync(jsonFile, `${JSON.stringify(file, null, 2)}\n`);
  const md = markdown(file);
  writeFileSync(path.join(dir, `${date}.md`), md);
  process.stdout.write(md);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
