/**
 * The operator's loop end to end, through real services: a real Alertmanager posts an alert about a
 * broken namespace of the test kube-apiserver to a hook (made with the CLI), the hook starts the
 * routed check once on a real Runner, its findings open issues, and every sink (Slack, Teams,
 * PagerDuty Events v2, a signed webhook made with the CLI, email to a real SMTP server) receives one
 * message about them, grouped, from the platform worker's `sinkDelivery` workflow; sinks routed
 * elsewhere receive nothing. The fix plus the resolved alert resolve the issues and send the
 * resolve (PagerDuty: by the same dedup key). A failing receiver is retried, dead-lettered (in the
 * API and the audit log) and sent again on request; a sink over its rate holds what waits and sends
 * it as one message.
 */
import { execFile } from 'node:child_process';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { CHECK_TYPES } from '../common/checks';
import { DevMailbox } from '../platform/dev-mailbox';
import { createSmtpMailer } from '../platform/mail';
import { verifyWebhookSignature } from '../platform/notify/deliver';
import { postAlert, startAlertmanager, type RunningAlertmanager } from './harness/alertmanager';
import { addTask, api, newWorkspace, runTaskViaApi, startHttpServer, startPlatform, startRunner, type TestPlatform } from './harness/env';
import * as fx from './harness/kube-fixtures';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
  at: number;
}

let platform: TestPlatform;
let ws: Awaited<ReturnType<typeof newWorkspace>>;
let runner: Awaited<ReturnType<typeof startRunner>>;
let receiver: Awaited<ReturnType<typeof startHttpServer>>;
let mailbox: DevMailbox;
let mailer: ReturnType<typeof createSmtpMailer>;
let alertmanager: RunningAlertmanager | undefined;
let admin: fx.Admin;
const received: Received[] = [];
/** What the failing receiver answers (the test mends it). */
let failingStatus = 503;

const PAGERDUTY_KEY = 'R0UT1NGKEY0123456789abcdefABCDEF';

beforeAll(async () => {
  mailbox = await DevMailbox.start();
  mailer = createSmtpMailer({ url: mailbox.url, from: 'Lookout <lookout@example.test>' });
  platform = await startPlatform({
    // The receivers listen on loopback; a deployment refuses that unless LOOKOUT_NOTIFY_ALLOW_PRIVATE is set.
    notify: { allowPrivateDestinations: true, maxAttempts: 3, initialRetryMs: 200, mailer, mailFrom: 'Lookout <lookout@example.test>' },
  });
  receiver = await startHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      received.push({
        path: req.url ?? '',
        headers: req.headers,
        raw,
        body: JSON.parse(raw || '{}') as Record<string, unknown>,
        at: Date.now(),
      });
      res.statusCode = req.url === '/failing' ? failingStatus : req.url === '/teams' || req.url === '/pagerduty' ? 202 : 200;
      res.end(req.url === '/slack' ? 'ok' : '{}');
    });
  });
  ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
  runner = await startRunner(platform, ws, { kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '', allowedChecks: CHECK_TYPES });
  admin = fx.adminClients();
}, 180_000);

afterAll(async () => {
  alertmanager?.stop();
  await runner?.stop();
  await platform?.stop();
  await receiver?.stop();
  mailer?.close();
  await mailbox?.stop();
});

/** The CLI, asynchronously (the API answering it runs in this process). */
const cli = (args: string[], input?: string) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      [path.resolve(__dirname, '..', 'dist', 'platform-api', 'cli.js'), ...args],
      {
        env: { PATH: process.env['PATH'] ?? '', LOOKOUT_API_URL: platform.baseUrl, LOOKOUT_TOKEN: ws.token },
        encoding: 'utf8',
        timeout: 30_000,
      },
      (err, stdout, stderr) => resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
    child.stdin?.end(input ?? '');
  });

async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; Alertmanager said:\n${alertmanager?.output().slice(-1500) ?? ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const at = (p: string) => received.filter((r) => r.path === p);

async function createSink(body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/sinks`, { token: ws.token, body });
  expect(res.status).toBe(201);
  return res.body;
}

interface IssueView {
  id: string;
  fingerprint: string;
  state: string;
  title: string;
  resource: { namespace?: string; name: string };
}
const issuesIn = async (ns: string) =>
  (await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/issues?namespace=${ns}`, { token: ws.token })).body[
    'items'
  ] as IssueView[];
const notifications = async (query = '') =>
  (await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/notifications?limit=1000${query}`, { token: ws.token })).body[
    'items'
  ] as { id: string; sinkId: string; issueId: string; transition: string; state: string; attempts: number; lastError: string | null }[];

const crashLooping = (restartCount: number) => ({
  phase: 'Running',
  containerStatuses: [
    fx.containerStatus({
      restartCount,
      state: { waiting: { reason: 'CrashLoopBackOff' } },
      lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: new Date(), finishedAt: new Date() } },
    }),
  ],
});

describe('an alert about a broken namespace, through to every sink and back', () => {
  let ns: string;
  let webhookSecret: string;
  const sinkIds: Record<string, string> = {};

  it('starts the routed check once, opens its issues and notifies every sink routed to them, once, grouped', async () => {
    ns = await fx.namespace(admin, 'pay');
    await fx.pod(admin, ns, 'api', crashLooping(7));
    await fx.pod(admin, ns, 'worker', crashLooping(5));

    // Sinks: one of each kind (the webhook with the CLI, its URL from standard input), and two routed elsewhere.
    for (const [kind, target] of [
      ['slack', { kind: 'slack', url: `${receiver.url}/slack` }],
      ['teams', { kind: 'teams', url: `${receiver.url}/teams` }],
      ['pagerduty', { kind: 'pagerduty', routingKey: PAGERDUTY_KEY, url: `${receiver.url}/pagerduty` }],
      ['email', { kind: 'email', to: ['oncall@example.test'] }],
      ['failing', { kind: 'slack', url: `${receiver.url}/failing` }],
    ] as const)
      sinkIds[kind] = String((await createSink({ name: `${kind}-sink`, target, groupSeconds: 2, namespaces: [ns] }))['id']);
    await createSink({ name: 'elsewhere', target: { kind: 'slack', url: `${receiver.url}/never` }, namespaces: ['elsewhere'] });
    await createSink({ name: 'sev1-only', target: { kind: 'slack', url: `${receiver.url}/never` }, maxSeverity: 1 });
    await createSink({
      name: 'resolved-only',
      target: { kind: 'slack', url: `${receiver.url}/resolved-only` },
      events: ['resolved'],
      namespaces: [ns],
    });
    const made = await cli(
      [
        'sinks',
        'create',
        '--workspace',
        ws.workspaceId,
        '--name',
        'webhook-sink',
        '--kind',
        'webhook',
        '--namespace',
        ns,
        '--group-seconds',
        '2',
      ],
      `${receiver.url}/webhook\n`,
    );
    expect(made).toMatchObject({ status: 0 });
    sinkIds['webhook'] = /^sink ([0-9a-f-]{36}) \(webhook\)$/m.exec(made.stdout)![1]!;
    webhookSecret = /^signing secret: (\S+)$/m.exec(made.stdout)![1]!;
    // Where a sink sends is never answered again.
    const listed = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/sinks`, { token: ws.token });
    expect(JSON.stringify(listed.body)).not.toContain(receiver.url.replace('http://', ''));
    expect(JSON.stringify(listed.body)).not.toContain(PAGERDUTY_KEY);
    expect(JSON.stringify(listed.body)).not.toContain(webhookSecret);
    const { rows } = await platform.pool.query<{ t: string }>('select row_to_json(s)::text as t from sinks s where workspace_id = $1', [
      ws.workspaceId,
    ]);
    expect(rows.map((r) => r.t).join()).not.toContain('oncall@example.test');
    expect(rows.map((r) => r.t).join()).not.toContain(PAGERDUTY_KEY);

    // The hook, made with the CLI: alerts named KubePodCrashLooping check the namespace the alert names.
    const baseTask = await addTask(platform, ws, 'k8s.namespace-health', { namespace: 'default' });
    const hookMade = await cli([
      'hooks',
      'create',
      '--workspace',
      ws.workspaceId,
      '--name',
      'alertmanager',
      '--match',
      'alertname=KubePodCrashLooping',
      '--task',
      baseTask,
      '--param',
      'namespace={{ labels.namespace }}',
    ]);
    expect(hookMade).toMatchObject({ status: 0 });
    const hookUrl = /^url: +(\S+)$/m.exec(hookMade.stdout)![1]!;
    const hookSecret = /^secret: (\S+)$/m.exec(hookMade.stdout)![1]!;
    alertmanager = await startAlertmanager(hookUrl, hookSecret, { repeatInterval: '1h' });

    // Prometheus re-sends a firing alert at every evaluation; Alertmanager passes it on once.
    for (let i = 0; i < 3; i++) await postAlert(alertmanager, { alertname: 'KubePodCrashLooping', namespace: ns, severity: 'warning' });
    const issues = await until('two open issues', async () => {
      const found = await issuesIn(ns);
      return found.length === 2 && found.every((i) => i.state === 'open') && found;
    });
    expect(issues.map((i) => i.resource.name).sort()).toEqual(['api', 'worker']);

    await until('every sink delivered', async () => {
      const sent = await notifications(`&state=delivered`);
      return (
        ['slack', 'teams', 'pagerduty', 'email', 'webhook'].every((k) => sent.filter((n) => n.sinkId === sinkIds[k]).length === 2) && sent
      );
    });
    const { rows: alertRuns } = await platform.pool.query("select id from runs where workspace_id = $1 and trigger = 'alert'", [
      ws.workspaceId,
    ]);
    expect(alertRuns).toHaveLength(1);

    // Slack: one Block Kit message naming both issues (grouped), with the namespace.
    expect(at('/slack')).toHaveLength(1);
    const slack = at('/slack')[0]!.raw;
    expect(slack).toContain('"blocks"');
    for (const i of issues) expect(slack).toContain(i.title.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
    expect(slack).toContain(ns);
    // Teams: one Adaptive Card.
    expect(at('/teams')).toHaveLength(1);
    expect(at('/teams')[0]!.body).toMatchObject({
      type: 'message',
      attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive' }],
    });
    // PagerDuty: one trigger per issue, deduplicated by the issue's fingerprint.
    const triggers = at('/pagerduty').map((r) => r.body);
    expect(triggers.map((t) => t['dedup_key']).sort()).toEqual(issues.map((i) => i.fingerprint).sort());
    expect(triggers.every((t) => t['event_action'] === 'trigger' && t['routing_key'] === PAGERDUTY_KEY)).toBe(true);
    // The webhook: signed, timestamped, one delivery with both events.
    const hook = at('/webhook');
    expect(hook).toHaveLength(1);
    expect(
      verifyWebhookSignature({
        secret: webhookSecret,
        timestamp: hook[0]!.headers['lookout-timestamp'] as string,
        signature: hook[0]!.headers['lookout-signature'] as string,
        rawBody: hook[0]!.raw,
      }),
    ).toBe(true);
    expect((hook[0]!.body['events'] as { transition: string; issueId: string }[]).map((e) => [e.transition, e.issueId]).sort()).toEqual(
      issues.map((i) => ['new', i.id]).sort(),
    );
    // Email, through a real SMTP server.
    const mail = await mailbox.waitFor('oncall@example.test', { match: (m) => /new/.test(m.subject) });
    for (const i of issues) expect(mail.text).toContain(i.title);
    // Routed elsewhere, or to resolutions only: nothing.
    expect(at('/never')).toEqual([]);
    expect(at('/resolved-only')).toEqual([]);
  }, 180_000);

  it('resolves the issues when the namespace is fixed and the alert resolves, and sends the resolve', async () => {
    await admin.core.deleteNamespacedPod({ name: 'api', namespace: ns, gracePeriodSeconds: 0 });
    await admin.core.deleteNamespacedPod({ name: 'worker', namespace: ns, gracePeriodSeconds: 0 });
    await postAlert(alertmanager!, { alertname: 'KubePodCrashLooping', namespace: ns, severity: 'warning' }, new Date(Date.now() - 60_000));
    await until('both issues resolved', async () => (await issuesIn(ns)).every((i) => i.state === 'resolved'));
    const issues = await issuesIn(ns);
    await until(
      'the resolve at every sink',
      () =>
        ['/slack', '/teams', '/webhook', '/resolved-only'].every((p) => at(p).some((r) => r.raw.includes('resolved'))) &&
        at('/pagerduty').filter((r) => r.body['event_action'] === 'resolve').length === 2,
    );
    const resolves = at('/pagerduty').filter((r) => r.body['event_action'] === 'resolve');
    expect(resolves.map((r) => r.body['dedup_key']).sort()).toEqual(issues.map((i) => i.fingerprint).sort());
    expect(resolves.every((r) => r.body['payload'] === undefined)).toBe(true);
    const events = at('/webhook')[1]!.body['events'] as { transition: string }[];
    expect(events.map((e) => e.transition)).toEqual(['resolved', 'resolved']);
    await mailbox.waitFor('oncall@example.test', { match: (m) => /resolved/.test(m.subject) });
    expect(at('/never')).toEqual([]);
  }, 120_000);

  it('retries a failing receiver, dead-letters what every attempt failed, and sends it again on request', async () => {
    const dead = await until('dead-lettered notifications', async () => {
      const found = await notifications(`&state=dead&sinkId=${sinkIds['failing']}`);
      return found.length >= 2 && found;
    });
    expect(dead[0]).toMatchObject({ attempts: 3, lastError: 'the receiver answered 503' });
    expect(at('/failing').length).toBeGreaterThanOrEqual(3);
    const { rows } = await platform.pool.query<{ details: Record<string, unknown> }>(
      "select details from audit_events where workspace_id = $1 and action = 'notification.dead_lettered'",
      [ws.workspaceId],
    );
    expect(rows[0]?.details).toMatchObject({ attempts: 3, reason: 'the receiver answered 503' });

    failingStatus = 200;
    const before = at('/failing').length;
    const retried = await cli(['notifications', 'retry', dead[0]!.id, '--workspace', ws.workspaceId]);
    expect(retried).toMatchObject({ status: 0, stdout: `notification ${dead[0]!.id} queued again\n` });
    await until(
      'the retried notification delivered',
      async () => (await notifications(`&sinkId=${sinkIds['failing']}`)).find((n) => n.id === dead[0]!.id)?.state === 'delivered',
    );
    expect(at('/failing').length).toBe(before + 1);
    // Only a dead one is sent again.
    const again = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/notifications/${dead[0]!.id}/retry`, {
      token: ws.token,
    });
    expect(again.status).toBe(409);
  }, 120_000);

  it('sends a test message with `lookout sinks test`, and says why one is not delivered', async () => {
    const before = at('/teams').length;
    expect(await cli(['sinks', 'test', sinkIds['teams']!, '--workspace', ws.workspaceId])).toMatchObject({
      status: 0,
      stdout: `sink ${sinkIds['teams']!}: test message delivered\n`,
    });
    expect(at('/teams').length).toBe(before + 1);
    expect(at('/teams').at(-1)!.raw).toContain('test');
    failingStatus = 500;
    const failed = await cli(['sinks', 'test', sinkIds['failing']!, '--workspace', ws.workspaceId]);
    expect(failed.status).toBe(1);
    expect(failed.stderr.trim()).toBe(
      `lookout: sink ${sinkIds['failing']!}: the test message was not delivered: the receiver answered 500`,
    );
    expect(failed.stderr).not.toContain(receiver.url);
  }, 60_000);
});

describe('a sink over its rate', () => {
  it('holds what waits and sends it as one message when the minute is over', async () => {
    const ns = await fx.namespace(admin, 'rate');
    const sink = await createSink({
      name: 'paced',
      target: { kind: 'webhook', url: `${receiver.url}/paced` },
      namespaces: [ns],
      groupSeconds: 0,
      maxPerMinute: 1,
    });
    const task = await addTask(platform, ws, 'k8s.namespace-health', { namespace: ns });
    await fx.pod(admin, ns, 'first', crashLooping(9));
    expect(await runTaskViaApi(platform, ws, task)).toMatchObject({ status: 'succeeded' });
    await until('the first message', () => at('/paced').length === 1);
    // Two more changes within the minute: held, not sent.
    await fx.pod(admin, ns, 'second', crashLooping(9));
    expect(await runTaskViaApi(platform, ws, task)).toMatchObject({ status: 'succeeded' });
    await fx.pod(admin, ns, 'third', crashLooping(9));
    expect(await runTaskViaApi(platform, ws, task)).toMatchObject({ status: 'succeeded' });
    await new Promise((r) => setTimeout(r, 3_000));
    expect(at('/paced')).toHaveLength(1);
    expect((await notifications(`&sinkId=${String(sink['id'])}&state=pending`)).length).toBe(2);
    // Past the minute: one message with both.
    await until('the held message', () => at('/paced').length === 2, 90_000);
    const second = at('/paced')[1]!;
    expect(second.at - at('/paced')[0]!.at).toBeGreaterThanOrEqual(55_000);
    expect((second.body['events'] as { resource: { name: string } }[]).map((e) => e.resource.name).sort()).toEqual(['second', 'third']);
  }, 180_000);
});
