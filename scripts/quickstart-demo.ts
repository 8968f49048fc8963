/**
 * The quick start's second act: an issue and its notifications. A small service in this process
 * stands for something a customer runs (`/demo/health`, broken on demand) and for where people are
 * told (`/notifications`, a webhook receiver that checks Lookout's signature and prints each
 * message). Through the API: a webhook sink to that receiver and an http.probe task of that service
 * (both once, kept in .lookout/); then the service breaks, a run opens an issue (or reopens it: the
 * previous start ended with it resolved) and the receiver prints the notification; the service is
 * mended, the next run resolves the issue, and the receiver prints that too.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { TERMINAL_RUN_STATUSES } from '../common/contracts';
import { verifyWebhookSignature } from '../platform/notify/deliver';

interface Received {
  transition: string;
  title: string;
  at: string;
}

export interface DemoService {
  url: string;
  port: number;
  broken: boolean;
  /** The webhook sink's signing secret, once known (the receiver refuses what it cannot verify). */
  secret: string | undefined;
  /** Resolves with the next notification event of one of `transitions`. */
  next(transitions: string[], timeoutMs: number): Promise<Received>;
  stop(): Promise<void>;
}

/** Listens on 127.0.0.1:`port` (0: any free one). */
export async function startDemoService(port: number, print: (line: string) => void): Promise<DemoService> {
  const events: Received[] = [];
  const waiters = new Set<() => void>();
  const demo: DemoService = {
    url: '',
    port: 0,
    broken: false,
    secret: undefined,
    async next(transitions, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = events.findIndex((e) => transitions.includes(e.transition));
        if (i >= 0) return events.splice(i, 1)[0]!;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no ${transitions.join(' or ')} notification within ${Math.round(timeoutMs / 1000)} s`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(wake, left);
          waiters.add(wake);
        });
      }
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/demo/health') {
      res.statusCode = demo.broken ? 503 : 200;
      res.end(demo.broken ? 'down' : 'ok');
      return;
    }
    if (req.method !== 'POST' || req.url !== '/notifications') {
      res.statusCode = 404;
      res.end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1 << 20) chunks.push(c);
    });
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const verified =
        demo.secret !== undefined &&
        verifyWebhookSignature({
          secret: demo.secret,
          timestamp: req.headers['lookout-timestamp'] as string | undefined,
          signature: req.headers['lookout-signature'] as string | undefined,
          rawBody,
        });
      if (!verified) {
        res.statusCode = 401;
        res.end();
        print('Notification  refused: its signature did not verify');
        return;
      }
      res.statusCode = 204;
      res.end();
      const body = JSON.parse(rawBody) as {
        test?: boolean;
        events: { transition: string; title: string; severity: number; resource: { kind: string; name: string }; actual: string }[];
      };
      for (const e of body.events) {
        print(
          `Notification  ${body.test ? 'test' : e.transition} · sev${e.severity} · "${e.title}" · ${e.resource.kind} ${e.resource.name} · ${e.actual}  (signature verified)`,
        );
        events.push({ transition: e.transition, title: e.title, at: new Date().toISOString() });
      }
      for (const wake of [...waiters]) wake();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  demo.port = (server.address() as AddressInfo).port;
  demo.url = `http://127.0.0.1:${demo.port}`;
  return demo;
}

type Api = (method: string, url: string, body?: unknown) => Promise<{ status: number; body: Record<string, unknown> }>;

function apiClient(apiUrl: string, token: string): Api {
  return async (method, url, body) => {
    const res = await fetch(`${apiUrl}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  };
}

const SINK_NAME = 'quickstart-terminal';
const TASK_NAME = 'quickstart-demo-service';

/** The webhook sink to the demo receiver: made once, its signing secret kept beside the quick start's token. */
async function ensureSink(api: Api, ws: string, demo: DemoService, home: string): Promise<string> {
  const file = path.join(home, 'quickstart-sink.json');
  const saved = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { id: string; secret: string; url: string }) : undefined;
  const sinks = (await api('GET', `/v1/workspaces/${ws}/sinks`)).body['items'] as { id: string; name: string }[];
  const existing = sinks.find((s) => s.name === SINK_NAME);
  if (saved && existing?.id === saved.id && saved.url === `${demo.url}/notifications`) return saved.secret;
  if (existing) await api('DELETE', `/v1/workspaces/${ws}/sinks/${existing.id}`);
  const created = await api('POST', `/v1/workspaces/${ws}/sinks`, {
    name: SINK_NAME,
    target: { kind: 'webhook', url: `${demo.url}/notifications` },
    maxSeverity: 4,
    groupSeconds: 0,
  });
  if (created.status !== 201) throw new Error(`the API refused the sink: ${created.status} ${JSON.stringify(created.body)}`);
  const secret = String(created.body['signingSecret']);
  writeFileSync(file, JSON.stringify({ id: created.body['id'], secret, url: `${demo.url}/notifications` }), { mode: 0o600 });
  return secret;
}

/** The http.probe task of the demo service (found by name, or made). */
async function ensureTask(api: Api, ws: string, runnerId: string, demo: DemoService): Promise<string> {
  const url = `${demo.url}/demo/health`;
  const tasks = (await api('GET', `/v1/workspaces/${ws}/tasks?limit=200`)).body['items'] as { id: string; name: string }[];
  const named = tasks.find((t) => t.name === TASK_NAME);
  if (named) {
    // Made by an earlier start: kept while it probes this start's service (the port may have changed).
    const task = (await api('GET', `/v1/workspaces/${ws}/tasks/${named.id}`)).body as { params?: { url?: string } };
    if (task.params?.url === url) return named.id;
    await api('DELETE', `/v1/workspaces/${ws}/tasks/${named.id}`);
  }
  const created = await api('POST', `/v1/workspaces/${ws}/tasks`, {
    name: TASK_NAME,
    runnerId,
    checkType: 'http.probe',
    params: { url, timeoutMs: 3_000 },
  });
  if (created.status !== 201) throw new Error(`the API refused the task: ${created.status} ${JSON.stringify(created.body)}`);
  return String(created.body['id']);
}

async function runOnce(api: Api, ws: string, taskId: string): Promise<{ id: string; status: string }> {
  const created = await api('POST', `/v1/workspaces/${ws}/runs`, { taskId });
  if (created.status !== 202) throw new Error(`the API refused the run: ${created.status} ${JSON.stringify(created.body)}`);
  const id = String(created.body['id']);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const run = (await api('GET', `/v1/runs/${id}`)).body;
    if ((TERMINAL_RUN_STATUSES as readonly string[]).includes(String(run['status']))) return { id, status: String(run['status']) };
    if (Date.now() > deadline) throw new Error(`run ${id} did not finish within a minute`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Breaks the demo service, shows the issue and its notification, mends it, shows the resolve. */
export async function showIssueAndNotification(options: {
  apiUrl: string;
  token: string;
  workspaceId: string;
  runnerId: string;
  demo: DemoService;
  home: string;
  say: (line?: string) => void;
}): Promise<void> {
  const { demo, say, workspaceId: ws } = options;
  const api = apiClient(options.apiUrl, options.token);
  demo.secret = await ensureSink(api, ws, demo, options.home);
  const taskId = await ensureTask(api, ws, options.runnerId, demo);
  say(`Sink          ${SINK_NAME}: a webhook to ${demo.url}/notifications, signed (HMAC-SHA256), printed here`);

  say(`The demo service at ${demo.url}/demo/health breaks (503); a run finds it:`);
  demo.broken = true;
  const broken = await runOnce(api, ws, taskId);
  const issues = (await api('GET', `/v1/workspaces/${ws}/issues?state=open`)).body['items'] as {
    id: string;
    taskId: string;
    title: string;
    seenCount: number;
    reopenedCount: number;
  }[];
  const issue = issues.find((i) => i.taskId === taskId);
  say(`run ${broken.id}: ${broken.status}`);
  if (issue) say(`Issue         ${issue.id}: "${issue.title}" (open; seen ${issue.seenCount}×, reopened ${issue.reopenedCount}×)`);
  // A new issue, or one the previous start resolved and this run reopened.
  await demo.next(['new', 'reopened'], 30_000);

  say(`The demo service is mended (200); the next run resolves the issue:`);
  demo.broken = false;
  const mended = await runOnce(api, ws, taskId);
  say(`run ${mended.id}: ${mended.status}`);
  await demo.next(['resolved'], 30_000);
}
