/**
 * A real Prometheus Alertmanager (Debian's, or built: scripts/tools.ts) for the alert hook tests:
 * grouping by alert name, repeating every 2 s, posting to a Lookout hook with its bearer secret.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../platform/db/embedded';
import { ensureAlertmanager } from '../../scripts/tools';

export interface RunningAlertmanager {
  url: string;
  child: ChildProcess;
  dir: string;
  output: () => string;
  /** Stops it and removes its folder. */
  stop(): void;
}

/** Alertmanager on a free port, grouping by alert name, repeating every 2 s (or `repeatInterval`), posting to the hook with its secret. */
export async function startAlertmanager(
  hookUrl: string,
  secret: string,
  options: { repeatInterval?: string } = {},
): Promise<RunningAlertmanager> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-alertmanager-'));
  const port = await freePort();
  writeFileSync(
    path.join(dir, 'alertmanager.yml'),
    [
      'route:',
      '  receiver: lookout',
      "  group_by: ['alertname']",
      '  group_wait: 1s',
      '  group_interval: 1s',
      `  repeat_interval: ${options.repeatInterval ?? '2s'}`,
      'receivers:',
      '  - name: lookout',
      '    webhook_configs:',
      `      - url: ${JSON.stringify(hookUrl)}`,
      '        send_resolved: true',
      '        http_config:',
      '          authorization:',
      `            credentials: ${JSON.stringify(secret)}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  let output = '';
  const child = spawn(
    ensureAlertmanager(),
    [
      `--config.file=${path.join(dir, 'alertmanager.yml')}`,
      `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).catch(() => undefined);
    if (ready?.ok) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`Alertmanager did not start:\n${output.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    child,
    dir,
    output: () => output,
    stop() {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function postAlert(alertmanager: RunningAlertmanager, labels: Record<string, string>, endsAt?: Date): Promise<void> {
  const res = await fetch(`${alertmanager.url}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([{ labels, annotations: { summary: 'payments is down' }, ...(endsAt ? { endsAt: endsAt.toISOString() } : {}) }]),
  });
  if (res.status !== 200) throw new Error(`Alertmanager answered ${res.status} to an alert`);
}
