/**
 * Alert hooks through a real Prometheus Alertmanager, the API, Temporal and a real Runner probing a
 * local endpoint whose answer the test changes: an alert starts one run of a task whose parameters
 * are rendered from the alert's labels (no second run while it is in flight, however often
 * Alertmanager repeats), its finding opens an issue, and the resolved alert starts one confirming run
 * that resolves it. Then every way a call can be wrong — no or wrong secret, unknown hook, bad,
 * replayed or stale HMAC signature, oversized or malformed body, parameters outside the check's
 * schema, too many calls — answers a problem, starts nothing and is audited without secret or body.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { postAlert as postAlertTo, startAlertmanager, type RunningAlertmanager } from './harness/alertmanager';
import { api, newWorkspace, startHttpServer, startPlatform, startRunner, waitForRun, type TestPlatform } from './harness/env';

let platform: TestPlatform;
let target: Awaited<ReturnType<typeof startHttpServer>>;
let ws: Awaited<ReturnType<typeof newWorkspace>>;
let runner: Awaited<ReturnType<typeof startRunner>>;
let alertmanager: RunningAlertmanager | undefined;
let hook: { id: string; secret: string; name: string };
let status = 500;
let delayMs = 0;

beforeAll(async () => {
  platform = await startPlatform();
  target = await startHttpServer((_req, res) => {
    setTimeout(() => {
      res.statusCode = status;
      res.end('answer');
    }, delayMs);
  });
  ws = await newWorkspace(platform, { probeUrl: `${target.url}/health` });
  runner = await startRunner(platform, ws);
  const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/hooks`, {
    token: ws.token,
    body: {
      name: 'am-prod',
      auth: 'bearer',
      format: 'alertmanager',
      routes: [
        {
          match: { alertname: 'EndpointDown', service: { regex: 'pay.*' } },
          taskId: ws.taskId,
          params: { url: `${target.url}/{{ labels.service }}` },
        },
      ],
    },
  });
  expect(created.status).toBe(201);
  hook = { id: String(created.body['id']), secret: String(created.body['secret']), name: 'am-prod' };
  alertmanager = await startAlertmanager(`${platform.baseUrl}/v1/hooks/${hook.id}`, hook.secret);
}, 180_000);

afterAll(async () => {
  alertmanager?.stop();
  await runner?.stop();
  await target?.stop();
  await platform?.stop();
});

async function postAlert(labels: Record<string, string>, endsAt?: Date): Promise<void> {
  await postAlertTo(alertmanager!, labels, endsAt);
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; Alertmanager said:\n${alertmanager?.output().slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface RunRow {
  id: string;
  task_id: string;
  status: string;
  trigger: string;
  queued_at: Date;
  finished_at: Date | null;
}
const runsOf = async (workspaceId: string) =>
  (
    await platform.pool.query<RunRow>(
      'select id, task_id, status, trigger, queued_at, finished_at from runs where workspace_id = $1 order by queued_at',
      [workspaceId],
    )
  ).rows;
const hookAudit = async (workspaceId: string | null, action: string) =>
  (
    await platform.pool.query<{ details: Record<string, number | string>; text: string }>(
      `select details, row_to_json(a)::text as text from audit_events a
        where workspace_id is not distinct from $1 and action = $2 order by id`,
      [workspaceId, action],
    )
  ).rows;

describe('an alert from Alertmanager', () => {
  const labels = { alertname: 'EndpointDown', service: 'payments', severity: 'page' };
  let taskId: string;

  it('starts one run of a task rendered from its labels, none more while it is in flight, and its finding opens an issue', async () => {
    status = 500;
    delayMs = 5_000; // the run stays in flight across Alertmanager's repeats (every 2 s)
    await postAlert(labels);
    const first = await until('the first alert run', async () => (await runsOf(ws.workspaceId)).find((r) => r.trigger === 'alert'));
    taskId = first.task_id;
    // The route's template made a task of its own: the task's parameters with the rendered URL over them.
    expect(taskId).not.toBe(ws.taskId);
    const task = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/tasks/${taskId}`, { token: ws.token });
    expect(task.body).toMatchObject({
      name: expect.stringMatching(/^hook am-prod [0-9a-f]{12}$/),
      checkType: 'http.probe',
      runnerId: ws.runnerId,
    });
    expect(task.body['params']).toMatchObject({ url: `${target.url}/payments`, method: 'GET' });

    const done = await waitForRun(platform.baseUrl, ws.token, first.id);
    expect(done).toMatchObject({ status: 'succeeded', trigger: 'alert' });
    // Alertmanager repeated the alert while the run was in flight; each repeat was answered with that run.
    const received = await hookAudit(ws.workspaceId, 'hook.received');
    expect(received.some((r) => Number(r.details['deduplicated']) > 0)).toBe(true);
    const firstFinished = (await runsOf(ws.workspaceId)).find((r) => r.id === first.id)!.finished_at!;
    const overlapping = (await runsOf(ws.workspaceId)).filter(
      (r) => r.task_id === taskId && r.id !== first.id && r.queued_at.getTime() < firstFinished.getTime(),
    );
    expect(overlapping).toEqual([]);
    delayMs = 0;

    const issues = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/issues?state=open`, { token: ws.token });
    expect(issues.body['items']).toEqual(
      expect.arrayContaining([expect.objectContaining({ title: 'Unexpected HTTP status', taskId, checkType: 'http.probe' })]),
    );
  }, 120_000);

  it('starts one confirming run when resolved, which resolves the issue once the target is fixed', async () => {
    status = 200;
    await postAlert(labels, new Date(Date.now() - 60_000));
    const confirming = await until('the confirming run', async () => {
      const { rows } = await platform.pool.query<{ last_run_id: string }>(
        `select last_run_id from hook_alerts where hook_id = $1 and task_id = $2 and last_alert_status = 'resolved'`,
        [hook.id, taskId],
      );
      return rows[0]?.last_run_id;
    });
    expect(await waitForRun(platform.baseUrl, ws.token, confirming)).toMatchObject({ status: 'succeeded', trigger: 'alert', taskId });
    const issues = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/issues`, { token: ws.token });
    const ofTask = (issues.body['items'] as { taskId: string; state: string }[]).filter((i) => i.taskId === taskId);
    expect(ofTask.length).toBeGreaterThan(0);
    expect(ofTask.every((i) => i.state === 'resolved')).toBe(true);
    // However often Alertmanager says it again, the resolution had its one confirming run.
    await new Promise((r) => setTimeout(r, 4_000));
    const { rows } = await platform.pool.query<{ last_run_id: string }>(
      'select last_run_id from hook_alerts where hook_id = $1 and task_id = $2',
      [hook.id, taskId],
    );
    expect(rows).toEqual([{ last_run_id: confirming }]);
    const resolvedCalls = (await hookAudit(ws.workspaceId, 'hook.received')).filter((r) => Number(r.details['resolved']) > 0);
    expect(resolvedCalls.reduce((n, r) => n + Number(r.details['started']), 0)).toBe(1);
  }, 120_000);
});

describe('a hook call that is wrong', () => {
  let other: Awaited<ReturnType<typeof newWorkspace>>;
  let bearerHook: { id: string; secret: string };
  let hmacHook: { id: string; secret: string };
  let templated: { id: string; secret: string };

  const createHook = async (body: Record<string, unknown>) => {
    const res = await api(platform.baseUrl, 'POST', `/v1/workspaces/${other.workspaceId}/hooks`, { token: other.token, body });
    expect(res.status).toBe(201);
    return { id: String(res.body['id']), secret: String(res.body['secret']) };
  };
  const alertBody = (id = randomUUID()) => JSON.stringify({ alerts: [{ id, status: 'firing', labels: { alertname: 'Down' } }] });
  const call = (hookId: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${platform.baseUrl}/v1/hooks/${hookId}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const sign = (secret: string, timestamp: number, body: string) =>
    `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
  const hmacHeaders = (secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)) => ({
    'x-lookout-timestamp': String(timestamp),
    'x-lookout-signature': sign(secret, timestamp, body),
  });

  /** Makes the call and checks it is refused with `status` and a problem body, having started no run. */
  async function refused(status: number, made: () => Promise<Response>): Promise<Record<string, unknown>> {
    const before = (await runsOf(other.workspaceId)).length;
    const res = await made();
    const text = await res.text();
    expect({ status: res.status, type: res.headers.get('content-type') }).toEqual({
      status,
      type: expect.stringMatching(/^application\/problem\+json/),
    });
    expect((await runsOf(other.workspaceId)).length).toBe(before);
    return JSON.parse(text) as Record<string, unknown>;
  }

  beforeAll(async () => {
    other = await newWorkspace(platform, { probeUrl: `${target.url}/other` });
    const routes = [{ match: { alertname: 'Down' }, taskId: other.taskId }];
    bearerHook = await createHook({ name: 'generic-bearer', auth: 'bearer', format: 'generic', routes, ratePerMinute: 100 });
    hmacHook = await createHook({ name: 'generic-hmac', auth: 'hmac', format: 'generic', routes });
    templated = await createHook({
      name: 'templated',
      auth: 'bearer',
      format: 'generic',
      routes: [{ match: { alertname: 'Down' }, taskId: other.taskId, params: { url: '{{ labels.instance }}' } }],
    });
  });

  it('is accepted when right, as a baseline for the refusals below', async () => {
    const ok = await call(bearerHook.id, alertBody(), { authorization: `Bearer ${bearerHook.secret}` });
    expect(ok.status).toBe(202);
    const body = alertBody();
    const signed = await call(hmacHook.id, body, hmacHeaders(hmacHook.secret, body));
    expect(signed.status).toBe(202);
    expect(await signed.json()).toEqual({ runs: [{ taskId: other.taskId, runId: expect.any(String), deduplicated: false }] });
  });

  it('answers 401 without credentials, with a wrong secret, and for an unknown hook alike', async () => {
    const none = await refused(401, () => call(bearerHook.id, alertBody()));
    const wrong = await refused(401, () => call(bearerHook.id, alertBody(), { authorization: `Bearer ${hmacHook.secret.slice(0, 43)}` }));
    const unknown = await refused(401, () => call(randomUUID(), alertBody(), { authorization: `Bearer ${bearerHook.secret}` }));
    expect(wrong['detail']).toBe(none['detail']);
    expect(unknown['detail']).toBe(wrong['detail']);
    // A bearer secret does not open an HMAC hook.
    await refused(401, () => call(hmacHook.id, alertBody(), { authorization: `Bearer ${hmacHook.secret}` }));
  });

  it('answers 401 to a bad, replayed or stale HMAC signature', async () => {
    const body = alertBody();
    await refused(401, () => call(hmacHook.id, body, hmacHeaders(bearerHook.secret, body)));
    await refused(401, () => call(hmacHook.id, body, { ...hmacHeaders(hmacHook.secret, body), 'x-lookout-signature': 'sha256=00' }));
    // The same body signed for another body.
    await refused(401, () => call(hmacHook.id, alertBody(), hmacHeaders(hmacHook.secret, body)));
    const once = hmacHeaders(hmacHook.secret, body);
    expect((await call(hmacHook.id, body, once)).status).toBe(202);
    await refused(401, () => call(hmacHook.id, body, once));
    const stale = Math.floor(Date.now() / 1000) - 6 * 60;
    await refused(401, () => call(hmacHook.id, body, hmacHeaders(hmacHook.secret, body, stale)));
    const future = Math.floor(Date.now() / 1000) + 6 * 60;
    await refused(401, () => call(hmacHook.id, body, hmacHeaders(hmacHook.secret, body, future)));
  });

  it("keeps an HMAC hook's key sealed: what the database holds in clear signs nothing, and a hook made before is moved over at its first call", async () => {
    const body = alertBody();
    const row = async () =>
      (
        await platform.pool.query<{ secret_hash: Buffer; secret_sealed: Buffer | null }>(
          'select secret_hash, secret_sealed from hooks where id = $1',
          [hmacHook.id],
        )
      ).rows[0]!;
    const stored = await row();
    expect(stored.secret_sealed).not.toBeNull();
    // A reader of the table signs with what it finds there: refused.
    await refused(401, () => call(hmacHook.id, body, hmacHeaders(stored.secret_hash.toString('hex'), body)));
    const forged = (ts: number) => `sha256=${createHmac('sha256', stored.secret_hash).update(`${ts}.${body}`).digest('hex')}`;
    const ts = Math.floor(Date.now() / 1000);
    await refused(401, () => call(hmacHook.id, body, { 'x-lookout-timestamp': String(ts), 'x-lookout-signature': forged(ts) }));
    expect(stored.secret_sealed!.toString('latin1')).not.toContain(createHash('sha256').update(hmacHook.secret).digest('hex'));

    // As a hook made before migration 0021 was stored: the key in clear, nothing sealed.
    const legacy = await createHook({
      name: `legacy-${randomUUID().slice(0, 8)}`,
      auth: 'hmac',
      format: 'generic',
      routes: [{ match: { alertname: 'Down' }, taskId: other.taskId }],
    });
    const key = createHash('sha256').update(legacy.secret).digest();
    await platform.pool.query('update hooks set secret_sealed = null, secret_hash = $2 where id = $1', [legacy.id, key]);
    const first = alertBody();
    expect((await call(legacy.id, first, hmacHeaders(legacy.secret, first))).status).toBe(202);
    const moved = (
      await platform.pool.query<{ secret_hash: Buffer; secret_sealed: Buffer | null }>(
        'select secret_hash, secret_sealed from hooks where id = $1',
        [legacy.id],
      )
    ).rows[0]!;
    expect(moved.secret_sealed).not.toBeNull();
    expect(moved.secret_hash.equals(key)).toBe(false);
    const second = alertBody();
    expect((await call(legacy.id, second, hmacHeaders(legacy.secret, second))).status).toBe(202);
  });

  it('answers 413 to a body over 256 KiB and 400 to malformed or misshapen ones', async () => {
    const auth = { authorization: `Bearer ${bearerHook.secret}` };
    const huge = JSON.stringify({ alerts: [], pad: 'x'.repeat(300 * 1024) });
    await refused(413, () => call(bearerHook.id, huge, auth));
    // A signed body over the limit is refused as too large, not as a bad signature.
    await refused(413, () => call(hmacHook.id, huge, hmacHeaders(hmacHook.secret, huge)));
    await refused(400, () => call(bearerHook.id, '{"alerts": [', auth));
    await refused(400, () => call(bearerHook.id, JSON.stringify({ alerts: [{ status: 'firing', labels: {} }] }), auth));
    await refused(400, () => call(bearerHook.id, JSON.stringify({ alerts: [{ id: 'x', status: 'burning', labels: {} }] }), auth));
    await refused(400, () => call(bearerHook.id, JSON.stringify([1, 2]), auth));
    // The global 64 kB JSON limit does not apply: a large but valid Alertmanager group is read.
    const many = JSON.stringify({
      alerts: Array.from({ length: 100 }, (_, i) => ({
        id: `a${i}`,
        status: 'firing',
        labels: { alertname: 'Other', pad: 'y'.repeat(900) },
      })),
    });
    expect(Buffer.byteLength(many)).toBeGreaterThan(64 * 1024);
    const big = await call(bearerHook.id, many, auth);
    expect({ status: big.status, body: await big.json() }).toEqual({ status: 202, body: { runs: [] } });
  });

  it('answers 400 and starts nothing when a label renders parameters outside the check schema, and refuses such a static route at creation', async () => {
    const auth = { authorization: `Bearer ${templated.secret}` };
    const body = (instance: string | undefined) =>
      JSON.stringify({
        alerts: [{ id: 'i', status: 'firing', labels: { alertname: 'Down', ...(instance === undefined ? {} : { instance }) } }],
      });
    const tasksBefore = (await platform.pool.query('select id from tasks where workspace_id = $1', [other.workspaceId])).rowCount;
    const problem = await refused(400, () => call(templated.id, body('not a url at all'), auth));
    expect(problem['errors']).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'params.url' })]));
    await refused(400, () => call(templated.id, body('ftp://127.0.0.1/x'), auth));
    await refused(400, () => call(templated.id, body(undefined), auth));
    expect((await platform.pool.query('select id from tasks where workspace_id = $1', [other.workspaceId])).rowCount).toBe(tasksBefore);

    const staticBad = await api(platform.baseUrl, 'POST', `/v1/workspaces/${other.workspaceId}/hooks`, {
      token: other.token,
      body: {
        name: 'static-bad',
        auth: 'bearer',
        format: 'generic',
        routes: [{ match: {}, taskId: other.taskId, params: { url: 'ftp://x/' } }],
      },
    });
    expect(staticBad.status).toBe(400);
    for (const template of ['{{ labels.a | upper }}', '{{ .Labels.a }}', '{{ constructor }}', 'x }} y']) {
      const res = await api(platform.baseUrl, 'POST', `/v1/workspaces/${other.workspaceId}/hooks`, {
        token: other.token,
        body: {
          name: 'bad-template',
          auth: 'bearer',
          format: 'generic',
          routes: [{ match: {}, taskId: other.taskId, params: { url: template } }],
        },
      });
      expect({ template, status: res.status }).toEqual({ template, status: 400 });
    }
  });

  it('answers 429 past its rate per minute', async () => {
    const limited = await createHook({
      name: 'limited',
      auth: 'bearer',
      format: 'generic',
      routes: [{ match: { alertname: 'Nothing' }, taskId: other.taskId }],
      ratePerMinute: 2,
    });
    const auth = { authorization: `Bearer ${limited.secret}` };
    expect((await call(limited.id, alertBody(), auth)).status).toBe(202);
    expect((await call(limited.id, alertBody(), auth)).status).toBe(202);
    await refused(429, () => call(limited.id, alertBody(), auth));
  });

  it('audits refused calls with their reason and never the secret or the body; lists hooks without secrets; a deleted hook answers 401', async () => {
    const reasons = (await hookAudit(other.workspaceId, 'hook.refused')).map((r) => r.details['reason']);
    expect(new Set(reasons)).toEqual(
      new Set([
        'missing_credentials',
        'wrong_secret',
        'bad_signature',
        'replayed',
        'stale_timestamp',
        'missing_signature',
        'too_large',
        'malformed',
        'params_refused',
        'rate_limited',
      ]),
    );
    expect((await hookAudit(null, 'hook.refused')).some((r) => r.details['reason'] === 'unknown_hook')).toBe(true);
    const all = await platform.pool.query<{ text: string }>(
      `select row_to_json(a)::text as text from audit_events a where action like 'hook.%' or action = 'task.created'`,
    );
    for (const { text } of all.rows) {
      for (const secret of [bearerHook.secret, hmacHook.secret, templated.secret, hook.secret]) expect(text).not.toContain(secret);
      expect(text).not.toContain('not a url at all');
      expect(text).not.toContain('xxxxxxxx');
    }
    const stored = await platform.pool.query<{ text: string }>('select row_to_json(h)::text as text from hooks h');
    for (const { text } of stored.rows) {
      expect(text).not.toContain(bearerHook.secret);
      expect(text).not.toContain('labels.instance');
    }

    const list = await api(platform.baseUrl, 'GET', `/v1/workspaces/${other.workspaceId}/hooks`, { token: other.token });
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body)).not.toMatch(/secret/i);
    expect(list.body['items']).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: bearerHook.id, name: 'generic-bearer', routeCount: 1 })]),
    );

    expect(
      (await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${other.workspaceId}/hooks/${bearerHook.id}`, { token: other.token })).status,
    ).toBe(204);
    await refused(401, () => call(bearerHook.id, alertBody(), { authorization: `Bearer ${bearerHook.secret}` }));
  });
});

describe('an address whose hook calls keep failing', () => {
  it('is refused with 429 before the calls are looked at or audited, and a good sender elsewhere is not', async () => {
    const limited = await startPlatform({ app: { hookFailureLimit: { limit: 3, windowMs: 60_000 } } });
    try {
      const guessed: string[] = [];
      const guess = () => {
        const id = randomUUID();
        guessed.push(`hook:${id}`);
        return fetch(`${limited.baseUrl}/v1/hooks/${id}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer guessedguessedguessedguessed' },
          body: '{"alerts":[]}',
        });
      };
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await guess()).status);
      expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
      const last = await guess();
      expect(last.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      // Only the first three were audited: the limit spares the audit log a flood.
      const { rows } = await limited.pool.query<{ target: string }>(
        "select target from audit_events where action = 'hook.refused' and target = any($1) order by id",
        [guessed],
      );
      expect(rows.map((r) => r.target)).toEqual(guessed.slice(0, 3));
    } finally {
      await limited.stop();
    }
  });
});

describe('a PagerDuty V3 webhook', () => {
  // PagerDuty generates a subscription's secret; the test plays PagerDuty with one of its own.
  const secret = `pd-${randomUUID()}`;
  let pd: { id: string };
  const incidentId = `Q${randomUUID().slice(0, 13).toUpperCase()}`;
  const pdBody = (eventType: string, data: Record<string, unknown> = {}) =>
    JSON.stringify({
      event: {
        id: randomUUID(),
        event_type: eventType,
        resource_type: 'incident',
        occurred_at: new Date().toISOString(),
        agent: null,
        data: {
          id: incidentId,
          type: 'incident',
          title: 'Payments API is down',
          status: eventType === 'incident.resolved' ? 'resolved' : 'triggered',
          urgency: 'high',
          service: { id: 'PSVC001', summary: 'payments-api' },
          priority: { summary: 'P1' },
          ...data,
        },
      },
    });
  const pdSign = (key: string, body: string) => `v1=${createHmac('sha256', key).update(body).digest('hex')}`;
  const pdCall = (body: string, signature: string) =>
    fetch(`${platform.baseUrl}/v1/hooks/${pd.id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-pagerduty-signature': signature },
      body,
    });
  const runsOfTask = async (taskId: string) => (await runsOf(ws.workspaceId)).filter((r) => r.task_id === taskId && r.trigger === 'alert');

  beforeAll(async () => {
    const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/hooks`, {
      token: ws.token,
      body: {
        name: 'pagerduty-prod',
        auth: 'hmac',
        format: 'pagerduty',
        secret,
        routes: [
          {
            match: { service: { regex: 'payments-.*' }, urgency: 'high', priority: 'P1' },
            taskId: ws.taskId,
            params: { url: `${target.url}/pd/{{ labels.service }}/{{ labels.incident_id }}` },
          },
        ],
      },
    });
    expect(created.status).toBe(201);
    // PagerDuty's secret is not shown back.
    expect(created.body['secret']).toBeUndefined();
    pd = { id: String(created.body['id']) };
  });

  it('is refused at creation without hmac auth or without the secret PagerDuty generated', async () => {
    const create = (body: Record<string, unknown>) =>
      api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/hooks`, {
        token: ws.token,
        body: { name: 'pd-bad', format: 'pagerduty', routes: [{ match: {}, taskId: ws.taskId }], ...body },
      });
    expect((await create({ auth: 'bearer', secret })).status).toBe(400);
    expect((await create({ auth: 'hmac' })).status).toBe(400);
    const generic = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/hooks`, {
      token: ws.token,
      body: { name: 'generic-with-secret', auth: 'hmac', format: 'generic', secret, routes: [{ match: {}, taskId: ws.taskId }] },
    });
    expect(generic.status).toBe(400);
  });

  let taskId: string;
  let firstRun: string;

  it('starts a run of the routed task, its parameters rendered from the incident, when an incident triggers', async () => {
    status = 200;
    const body = pdBody('incident.triggered');
    // During a secret rotation PagerDuty sends one signature per secret; one matching suffices.
    const res = await pdCall(body, `${pdSign('an-older-secret-000', body)}, ${pdSign(secret, body)}`);
    expect(res.status).toBe(202);
    const answer = (await res.json()) as { runs: { taskId: string; runId: string; deduplicated: boolean }[] };
    expect(answer.runs).toEqual([{ taskId: expect.any(String), runId: expect.any(String), deduplicated: false }]);
    taskId = answer.runs[0]!.taskId;
    firstRun = answer.runs[0]!.runId;
    expect(taskId).not.toBe(ws.taskId);
    const task = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/tasks/${taskId}`, { token: ws.token });
    expect(task.body['params']).toMatchObject({ url: `${target.url}/pd/payments-api/${incidentId}` });
    expect(await waitForRun(platform.baseUrl, ws.token, firstRun)).toMatchObject({ status: 'succeeded', trigger: 'alert', taskId });
  }, 60_000);

  it('refuses a re-sent event (same event id, same signed body) as a replay, starting nothing', async () => {
    const body = pdBody('incident.triggered');
    const signature = pdSign(secret, body);
    const first = await pdCall(body, signature);
    expect(first.status).toBe(202);
    const before = (await runsOfTask(taskId)).length;
    const again = await pdCall(body, signature);
    expect(again.status).toBe(401);
    expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await runsOfTask(taskId)).length).toBe(before);
    const reasons = (await hookAudit(ws.workspaceId, 'hook.refused')).map((r) => r.details['reason']);
    expect(reasons).toContain('replayed');
  });

  it('starts the confirming run when the incident resolves', async () => {
    const body = pdBody('incident.resolved');
    const res = await pdCall(body, pdSign(secret, body));
    expect(res.status).toBe(202);
    const answer = (await res.json()) as { runs: { taskId: string; runId: string; deduplicated: boolean }[] };
    expect(answer.runs).toEqual([{ taskId, runId: expect.any(String), deduplicated: false }]);
    expect(answer.runs[0]!.runId).not.toBe(firstRun);
    const { rows } = await platform.pool.query<{ last_run_id: string; last_alert_status: string }>(
      'select last_run_id, last_alert_status from hook_alerts where hook_id = $1 and task_id = $2',
      [pd.id, taskId],
    );
    expect(rows).toEqual([{ last_run_id: answer.runs[0]!.runId, last_alert_status: 'resolved' }]);
    expect(await waitForRun(platform.baseUrl, ws.token, answer.runs[0]!.runId)).toMatchObject({ status: 'succeeded', trigger: 'alert' });
  }, 60_000);

  it('answers 401 to a bad, missing or other-secret signature, starting nothing', async () => {
    const body = pdBody('incident.triggered', { id: 'QOTHER' });
    const before = (await runsOf(ws.workspaceId)).length;
    for (const signature of [pdSign('not-the-secret-0000', body), 'v1=00', '', pdSign(secret, `${body} `)]) {
      const res = await pdCall(body, signature);
      expect({ signature, status: res.status }).toEqual({ signature, status: 401 });
    }
    // A Lookout-style HMAC signature does not open a PagerDuty hook.
    const ts = Math.floor(Date.now() / 1000);
    const lookoutStyle = await fetch(`${platform.baseUrl}/v1/hooks/${pd.id}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-lookout-timestamp': String(ts),
        'x-lookout-signature': `sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`,
      },
      body,
    });
    expect(lookoutStyle.status).toBe(401);
    // An event that occurred longer ago than event ids are remembered is refused as stale.
    const old = JSON.stringify({
      ...(JSON.parse(body) as { event: object }),
      event: { ...(JSON.parse(body) as { event: object }).event, occurred_at: new Date(Date.now() - 25 * 3600_000).toISOString() },
    });
    expect((await pdCall(old, pdSign(secret, old))).status).toBe(401);
    expect((await runsOf(ws.workspaceId)).length).toBe(before);
  });

  it('accepts an event type it does not act on with 202 and no runs', async () => {
    const before = (await runsOf(ws.workspaceId)).length;
    for (const body of [
      pdBody('incident.acknowledged'),
      JSON.stringify({
        event: { id: randomUUID(), event_type: 'pagey.ping', occurred_at: new Date().toISOString(), data: { type: 'ping' } },
      }),
    ]) {
      const res = await pdCall(body, pdSign(secret, body));
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 202, body: { runs: [] } });
    }
    expect((await runsOf(ws.workspaceId)).length).toBe(before);
  });

  it('keeps the PagerDuty secret sealed: not in the hook row, the audit log or the listing', async () => {
    const rows = await platform.pool.query<{ text: string }>(
      `select row_to_json(h)::text as text from hooks h where id = $1
       union all select row_to_json(a)::text from audit_events a where action like 'hook.%'`,
      [pd.id],
    );
    expect(rows.rows.length).toBeGreaterThan(1);
    for (const { text } of rows.rows) expect(text).not.toContain(secret);
    const list = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/hooks`, { token: ws.token });
    expect(JSON.stringify(list.body)).not.toContain(secret);
  });
});
