/**
 * The whole run through HTTP with real workers: API → Temporal dev server → runTask → Runner
 * activity → result stored in PostgreSQL → read back through the API.
 */
import { loopbackBinding } from './harness/policy';
import {
  api,
  newWorkspace,
  patchTaskParams,
  startHttpServer,
  startPlatform,
  startRunner,
  waitForRun,
  type TestPlatform,
} from './harness/env';

let platform: TestPlatform;
let target: Awaited<ReturnType<typeof startHttpServer>>;
let received: { path: string; authorization: string | undefined }[] = [];

beforeAll(async () => {
  platform = await startPlatform();
  target = await startHttpServer((req, res) => {
    received.push({ path: req.url ?? '', authorization: req.headers.authorization });
    if (req.url?.startsWith('/broken')) {
      res.writeHead(503).end('down');
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    }
  });
});

afterAll(async () => {
  await target?.stop();
  await platform?.stop();
});

beforeEach(() => {
  received = [];
});

describe('POST /v1/workspaces/{ws}/runs', () => {
  it('runs an http.probe end to end and stores an ok result', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/healthz` });
    const runner = await startRunner(platform, ws);
    try {
      const started = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, {
        token: ws.token,
        body: { taskId: ws.taskId },
      });
      expect(started.status).toBe(202);
      expect(started.body['status']).toBe('queued');
      const runId = String(started.body['id']);
      expect(started.headers.get('location')).toBe(`/v1/runs/${runId}`);

      const run = await waitForRun(platform.baseUrl, ws.token, runId);
      expect(run['status']).toBe('succeeded');
      expect(run['error']).toBeNull();
      expect(typeof run['durationMs']).toBe('number');
      const result = run['result'] as Record<string, unknown>;
      expect(result['status']).toBe('ok');
      expect(result['checkType']).toBe('http.probe');
      expect(result['issues']).toEqual([]);
      expect((result['metrics'] as Record<string, number>)['http.status_code']).toBe(200);
      expect(result['score']).toBe(1);
      expect(received.map((r) => r.path)).toEqual(['/healthz']);

      const rows = await platform.pool.query('select count(*)::int as n from results where run_id = $1', [runId]);
      expect(rows.rows[0].n).toBe(1);
      const audit = await platform.pool.query<{ action: string }>(
        'select action from audit_events where workspace_id = $1 and target = $2 order by id',
        [ws.workspaceId, `run:${runId}`],
      );
      expect(audit.rows.map((r) => r.action)).toEqual(['run.requested', 'run.started', 'run.result_stored', 'run.finished']);
    } finally {
      await runner.stop();
    }
  });

  it('reports an unhealthy endpoint as a succeeded run whose result holds issues', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/broken` });
    const runner = await startRunner(platform, ws);
    try {
      const started = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, {
        token: ws.token,
        body: { taskId: ws.taskId },
      });
      const run = await waitForRun(platform.baseUrl, ws.token, String(started.body['id']));
      expect(run['status']).toBe('succeeded');
      const result = run['result'] as { status: string; score: number; issues: { severity: number; actual: string }[] };
      expect(result.status).toBe('issues');
      expect(result.score).toBe(0);
      expect(result.issues).toHaveLength(1);
      expect(result.issues[0]).toMatchObject({ severity: 1, actual: 'status 503' });
    } finally {
      await runner.stop();
    }
  });

  it('ends runner_unavailable when no Runner polls the task queue', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/healthz`, policy: { scheduleToStartMs: 1_500 } });
    const started = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, {
      token: ws.token,
      body: { taskId: ws.taskId },
    });
    expect(started.status).toBe(202);
    const run = await waitForRun(platform.baseUrl, ws.token, String(started.body['id']));
    expect(run['status']).toBe('runner_unavailable');
    expect(run['error']).toMatchObject({ type: 'RunnerUnavailable' });
    expect(run['result']).toBeNull();
    expect(received).toEqual([]);
  });

  it('fails a run without retrying when a secret reference cannot be resolved, naming the reference only', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/healthz` });
    await patchTaskParams(platform, ws, { auth: { header: 'Authorization', scheme: 'Bearer ', secretRef: 'env:PROBE_TOKEN' } });
    const runner = await startRunner(platform, ws, {
      env: {},
      policy: { secretBindings: [loopbackBinding('probe-token', 'env:PROBE_TOKEN')] },
    });
    try {
      const started = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, {
        token: ws.token,
        body: { taskId: ws.taskId },
      });
      const run = await waitForRun(platform.baseUrl, ws.token, String(started.body['id']));
      expect(run['status']).toBe('failed');
      expect(run['error']).toEqual({ type: 'SecretUnavailable', message: 'secret env:PROBE_TOKEN: not set in the Runner environment' });
      expect(received).toEqual([]);
    } finally {
      await runner.stop();
    }
  });

  it('sends the auth header resolved inside the Runner and redacts the value from the result', async () => {
    const secret = 'probe-secret-value-1234';
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/broken/${secret}` });
    await patchTaskParams(platform, ws, { auth: { header: 'Authorization', scheme: 'Bearer ', secretRef: 'env:PROBE_TOKEN' } });
    const runner = await startRunner(platform, ws, {
      env: { PROBE_TOKEN: secret },
      policy: { secretBindings: [loopbackBinding('probe-token', 'env:PROBE_TOKEN')] },
    });
    try {
      const started = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, {
        token: ws.token,
        body: { taskId: ws.taskId },
      });
      const runId = String(started.body['id']);
      const run = await waitForRun(platform.baseUrl, ws.token, runId);
      expect(run['status']).toBe('succeeded');
      expect(received[0]?.authorization).toBe(`Bearer ${secret}`);
      expect(JSON.stringify(run)).not.toContain(secret);
      expect(JSON.stringify(run)).toContain('[redacted]');
      const stored = await platform.pool.query('select row_to_json(r)::text as j from results r where run_id = $1', [runId]);
      expect(stored.rows[0].j).not.toContain(secret);
      expect(stored.rows[0].j).not.toContain('/broken');
    } finally {
      await runner.stop();
    }
  });

  it('fails a run whose check type is outside the Runner allowlist', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/healthz` });
    const runner = await startRunner(platform, ws, { allowedChecks: [] });
    try {
      const started = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, {
        token: ws.token,
        body: { taskId: ws.taskId },
      });
      const run = await waitForRun(platform.baseUrl, ws.token, String(started.body['id']));
      expect(run['status']).toBe('failed');
      expect(run['error']).toMatchObject({ type: 'CheckNotAllowed' });
      expect(received).toEqual([]);
    } finally {
      await runner.stop();
    }
  });
});
