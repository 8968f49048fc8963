/**
 * A real Prometheus (Debian's, scripts/tools.ts) for the `prometheus.query` tests: its own folder
 * and a free loopback port, scraping the given targets every second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../platform/db/embedded';
import { ensurePrometheus } from '../../scripts/tools';

export interface RunningPrometheus {
  url: string;
  /** An instant query straight at Prometheus (not through Lookout): the series' labels and values. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Prometheus scraping `targets` (`host:port`, path /metrics) every second, up and ready. With
 * `basicAuth`, its HTTP API asks for that user (Prometheus' web config wants a bcrypt hash).
 */
export async function startPrometheus(
  targets: string[],
  options: { basicAuth?: { user: string; password: string; bcryptHash: string } } = {},
): Promise<RunningPrometheus> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-prometheus-'));
  const port = await freePort();
  const auth = options.basicAuth;
  const headers: Record<string, string> = auth
    ? { authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}` }
    : {};
  if (auth) writeFileSync(path.join(dir, 'web.yml'), `basic_auth_users:\n  ${auth.user}: ${JSON.stringify(auth.bcryptHash)}\n`);
  writeFileSync(
    path.join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      '  - job_name: lookout-test',
      '    static_configs:',
      `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
      '',
    ].join('\n'),
  );
  let output = '';
  const child: ChildProcess = spawn(
    ensurePrometheus(),
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      ...(auth ? [`--web.config.file=${path.join(dir, 'web.yml')}`] : []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`, { headers }).catch(() => undefined);
    if (ready?.ok) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`Prometheus did not start:\n${output.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`, { headers });
      const body = (await res.json()) as {
        status: string;
        data: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== 'success') throw new Error(`query ${promql} failed (HTTP ${res.status})`);
      return body.data.result;
    },
    output: () => output,
    stop,
  };
}
