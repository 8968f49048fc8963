/**
 * `npm run bench`: runs every benchmark in bench/, writes bench/results/<date>.json and a Markdown
 * table beside it. Numbers are measurements, never assertions.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as api from './api.bench';
import * as backup from './backup.bench';
import * as codec from './codec.bench';
import * as k8s from './k8s.bench';
import * as runs from './runs.bench';
import type { BenchResult } from './types';

const BENCHES: Record<string, { run(): Promise<BenchResult[]> }> = { codec, runs, k8s, api, backup };

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const results: BenchResult[] = [];
  for (const [name, bench] of Object.entries(BENCHES)) {
    if (only.length && !only.includes(name)) continue;
    process.stdout.write(`running ${name}…\n`);
    results.push(...(await bench.run()));
  }
  const date = new Date().toISOString().slice(0, 10);
  const dir = path.resolve(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const machine = { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', memGiB: Math.round(os.totalmem() / 2 ** 30) };
  writeFileSync(path.join(dir, `${date}.json`), `${JSON.stringify({ date, machine, results }, null, 2)}\n`);
  const lines = [`# Benchmarks ${date}`, '', `Node ${machine.node}, ${machine.cpus} × ${machine.cpu}, ${machine.memGiB} GiB`, ''];
  for (const bench of new Set(results.map((r) => r.bench))) {
    const rows = results.filter((r) => r.bench === bench);
    const columns = Object.keys(rows[0]?.metrics ?? {});
    lines.push(`## ${bench}`, '', `Baseline: ${rows[0]?.baseline ?? ''}`, '', `| case | ${columns.join(' | ')} |`, `| --- | ${columns.map(() => '---:').join(' | ')} |`);
    for (const r of rows) lines.push(`| ${r.case} | ${columns.map((c) => String(r.metrics[c])).join(' | ')} |`);
    lines.push('');
  }
  writeFileSync(path.join(dir, `${date}.md`), `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
