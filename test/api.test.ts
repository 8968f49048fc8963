/**
 * The API's edges through HTTP with the real middleware: token authentication, workspace isolation,
 * roles, and bad input (a problem body, nothing started).
 */
import { randomUUID } from 'node:crypto';
import { createToken } from '../platform-api/services/tokens.service';
import { revokeToken } from '../platform/repos/tokens.repo';
import { insertRun, markRunFinished } from '../platform/repos/runs.repo';
import { closeOrphanRuns } from '../platform/orphan-runs';
import { api, newWorkspace, startPlatform, type TestPlatform } from './harness/env';

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startPlatform();
});
afterAll(async () => {
  await platform?.stop();
});

const PROBE = 'http://127.0.0.1:9/healthz';

async function runCount(workspaceId: string): Promise<number> {
  const { rows } = await platform.pool.query<{ n: number }>('select count(*)::int as n from runs where workspace_id = $1', [workspaceId]);
  return rows[0]!.n;
}

async function runTaskWorkflowCount(workspaceId: string): Promise<number> {
  return (await (await platform.clientFor(workspaceId)).workflow.count('WorkflowType = "runTask"')).count;
}

function expectProblem(res: { status: number; headers: Headers; body: Record<string, unknown> }, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: 'about:blank', status, title: expect.any(String), detail: expect.any(String) });
  expect(JSON.stringify(res.body)).not.toMatch(/\bat .*\.(ts|js):\d+/);
}

describe('API token authentication', () => {
  it('accepts a valid owner token and records its use', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const res = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, { token: ws.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ items: [] });
    // Uses are written once per interval (200 ms in tests), not on the request's path.
    let lastUsed: Date | null = null;
    for (const deadline = Date.now() + 10_000; !lastUsed && Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      const { rows } = await platform.pool.query<{ last_used_at: Date | null }>('select last_used_at from api_tokens where id = $1', [
        ws.tokenId,
      ]);
      lastUsed = rows[0]!.last_used_at;
    }
    expect(lastUsed).toBeInstanceOf(Date);
  });

  it('answers 401 with a problem body when the header is missing', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const res = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`);
    expectProblem(res, 401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
  });

  it.each([
    ['an unknown token', `lk_${'A'.repeat(43)}`],
    ['a malformed token', 'not-a-token'],
    ['a token with a wrong last character', 'WRONG'],
  ])('answers 401 for %s and audits the failure', async (_label, credential) => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const token = credential === 'WRONG' ? `${ws.token.slice(0, -1)}${ws.token.endsWith('A') ? 'B' : 'A'}` : credential;
    const before = await platform.pool.query<{ n: number }>(
      "select count(*)::int as n from audit_events where action = 'auth.token' and outcome = 'failure'",
    );
    const res = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, { token });
    expectProblem(res, 401);
    const after = await platform.pool.query<{ n: number }>(
      "select count(*)::int as n from audit_events where action = 'auth.token' and outcome = 'failure'",
    );
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n + 1);
  });

  it('answers 401 for a revoked token', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    expect(await revokeToken(platform.pool, ws.workspaceId, ws.tokenId)).toBe(true);
    const res = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, { token: ws.token });
    expectProblem(res, 401);
    const { rows } = await platform.pool.query(
      "select details from audit_events where workspace_id = $1 and action = 'auth.token' order by id desc limit 1",
      [ws.workspaceId],
    );
    expect(rows[0].details).toEqual({ reason: 'revoked' });
  });

  it('answers 401 for an expired token', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const expired = await createToken(platform.pool, {
      workspaceId: ws.workspaceId,
      createdBy: ws.ownerId,
      name: 'old',
      role: 'owner',
      expiresAt: new Date(Date.now() - 1_000),
    });
    expectProblem(await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, { token: expired.token }), 401);
  });

  it('stores only the SHA-256 of a token, never the token', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const { rows } = await platform.pool.query('select row_to_json(t)::text as j from api_tokens t where id = $1', [ws.tokenId]);
    expect(rows[0].j).not.toContain(ws.token.slice(3));
  });
});

describe('workspace isolation and roles', () => {
  it('answers 404 for another workspace and for a run of another workspace', async () => {
    const a = await newWorkspace(platform, { probeUrl: PROBE });
    const b = await newWorkspace(platform, { probeUrl: PROBE });
    const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${b.workspaceId}/runs`, {
      token: b.token,
      body: { taskId: b.taskId },
    });
    expect(created.status).toBe(202);
    expectProblem(await api(platform.baseUrl, 'GET', `/v1/runs/${String(created.body['id'])}`, { token: a.token }), 404);
    expectProblem(
      await api(platform.baseUrl, 'POST', `/v1/workspaces/${b.workspaceId}/runs`, { token: a.token, body: { taskId: b.taskId } }),
      404,
    );
    // A's token naming its own workspace but B's task: not found either.
    expectProblem(
      await api(platform.baseUrl, 'POST', `/v1/workspaces/${a.workspaceId}/runs`, { token: a.token, body: { taskId: b.taskId } }),
      404,
    );
    expect(await runCount(a.workspaceId)).toBe(0);
    await (
      await platform.clientFor(b.workspaceId)
    ).workflow
      .getHandle(`ws-${b.workspaceId}.run-${String(created.body['id'])}`)
      .terminate('test cleanup');
  });

  it('lets a viewer read runs but not start one, and audits the refusal', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const viewer = await createToken(platform.pool, {
      workspaceId: ws.workspaceId,
      createdBy: ws.ownerId,
      name: 'viewer',
      role: 'viewer',
      expiresAt: null,
    });
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, { token: viewer.token })).status).toBe(200);
    expectProblem(
      await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, { token: viewer.token, body: { taskId: ws.taskId } }),
      403,
    );
    expect(await runCount(ws.workspaceId)).toBe(0);
    const { rows } = await platform.pool.query(
      "select actor, target, outcome from audit_events where workspace_id = $1 and action = 'authz.denied'",
      [ws.workspaceId],
    );
    expect(rows).toEqual([{ actor: `token:${viewer.id}`, target: 'runs.create', outcome: 'denied' }]);
  });

  it('lets an operator start a run', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const operator = await createToken(platform.pool, {
      workspaceId: ws.workspaceId,
      createdBy: ws.ownerId,
      name: 'op',
      role: 'operator',
      expiresAt: null,
    });
    const res = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, {
      token: operator.token,
      body: { taskId: ws.taskId },
    });
    expect(res.status).toBe(202);
    await (
      await platform.clientFor(ws.workspaceId)
    ).workflow
      .getHandle(`ws-${ws.workspaceId}.run-${String(res.body['id'])}`)
      .terminate('test cleanup');
  });
});

describe('POST /v1/workspaces/{ws}/runs with bad input', () => {
  const cases: [string, { body?: unknown; rawBody?: string; contentType?: string }, number, RegExp][] = [
    ['no body', {}, 400, /taskId/],
    ['invalid JSON', { rawBody: '{"taskId": ' }, 400, /not valid JSON/],
    ['an array', { body: [] }, 400, /invalid request body/],
    ['a taskId that is not a UUID', { body: { taskId: 'abc' } }, 400, /invalid request body/],
    ['an unknown field', { body: { taskId: randomUUID(), priority: 'high' } }, 400, /invalid request body/],
    ['an oversized body', { body: { taskId: randomUUID(), pad: 'x'.repeat(70_000) } }, 413, /too large/],
    ['a task that does not exist', { body: { taskId: randomUUID() } }, 404, /task not found/],
  ];

  it.each(cases)('answers a problem for %s and starts nothing', async (_label, request, status, detail) => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const before = await runTaskWorkflowCount(ws.workspaceId);
    const res = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, { token: ws.token, ...request });
    expectProblem(res, status);
    expect(JSON.stringify(res.body)).toMatch(detail);
    expect(await runCount(ws.workspaceId)).toBe(0);
    expect(await runTaskWorkflowCount(ws.workspaceId)).toBe(before);
  });

  it('names the offending field in the problem body', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const res = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, { token: ws.token, body: { taskId: 'abc' } });
    expect(res.body['errors']).toEqual([{ path: 'taskId', message: expect.any(String) }]);
  });

  it('answers 400 for a path id that is not a UUID', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    expectProblem(await api(platform.baseUrl, 'GET', '/v1/runs/not-a-uuid', { token: ws.token }), 400);
  });

  it('answers 404 with a problem body for an unknown route', async () => {
    expectProblem(await api(platform.baseUrl, 'GET', '/nope'), 404);
  });
});

describe('tasks', () => {
  it('creates, lists, reads and deletes a task whose parameters match its check type', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const body = {
      name: 'payments health',
      runnerId: ws.runnerId,
      checkType: 'k8s.namespace-health',
      params: { namespace: 'payments' },
      policy: { maxAttempts: 2 },
    };
    const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/tasks`, { token: ws.token, body });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'payments health',
      checkType: 'k8s.namespace-health',
      params: { namespace: 'payments', restartThreshold: 3 },
      policy: { maxAttempts: 2, scheduleToStartMs: 60_000 },
    });
    const id = String(created.body['id']);
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/tasks/${id}`, { token: ws.token })).body).toMatchObject({
      id,
      params: { namespace: 'payments' },
    });
    const list = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/tasks`, { token: ws.token });
    expect((list.body['items'] as { name: string }[]).map((t) => t.name).sort()).toEqual(['api-health', 'payments health']);
    expectProblem(await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/tasks`, { token: ws.token, body }), 409);
    expect((await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${ws.workspaceId}/tasks/${id}`, { token: ws.token })).status).toBe(204);
    expectProblem(await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/tasks/${id}`, { token: ws.token }), 404);
    const { rows } = await platform.pool.query('select action from audit_events where workspace_id = $1 and target = $2 order by id', [
      ws.workspaceId,
      `task:${id}`,
    ]);
    expect(rows.map((r: { action: string }) => r.action)).toEqual(['task.created', 'task.deleted']);
  });

  it.each([
    ['an unknown check type', { checkType: 'shell.exec', params: {} }, /checkType/],
    [
      'parameters of the wrong shape',
      { checkType: 'k8s.pod-restarts', params: { namespaces: ['Not_A_Namespace'] } },
      /params\.namespaces\.0/,
    ],
    ['an unknown parameter', { checkType: 'k8s.pod-restarts', params: { command: 'rm -rf /' } }, /params/],
    ['an http.probe without a URL', { checkType: 'http.probe', params: {} }, /params\.url/],
    ['a policy beyond the Platform bounds', { checkType: 'k8s.jobs', params: {}, policy: { maxAttempts: 1000 } }, /policy\.maxAttempts/],
  ])('refuses %s with a problem naming the field, and saves nothing', async (_label, extra, field) => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const res = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/tasks`, {
      token: ws.token,
      body: { name: 'bad', runnerId: ws.runnerId, ...extra },
    });
    expectProblem(res, 400);
    expect(JSON.stringify(res.body['errors'])).toMatch(field);
    const { rows } = await platform.pool.query('select count(*)::int as n from tasks where workspace_id = $1', [ws.workspaceId]);
    expect(rows[0].n).toBe(1);
  });

  it("refuses a Runner of another workspace, and a viewer's attempt", async () => {
    const a = await newWorkspace(platform, { probeUrl: PROBE });
    const b = await newWorkspace(platform, { probeUrl: PROBE });
    const body = { name: 'x', runnerId: b.runnerId, checkType: 'k8s.jobs', params: {} };
    expectProblem(await api(platform.baseUrl, 'POST', `/v1/workspaces/${a.workspaceId}/tasks`, { token: a.token, body }), 404);
    const viewer = await createToken(platform.pool, {
      workspaceId: a.workspaceId,
      createdBy: a.ownerId,
      name: 'v',
      role: 'viewer',
      expiresAt: null,
    });
    expectProblem(
      await api(platform.baseUrl, 'POST', `/v1/workspaces/${a.workspaceId}/tasks`, {
        token: viewer.token,
        body: { ...body, runnerId: a.runnerId },
      }),
      403,
    );
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${a.workspaceId}/tasks`, { token: viewer.token })).status).toBe(200);
  });
});

describe('runs whose workflow is gone, and specs Temporal cannot parse', () => {
  async function orphanRun(ws: Awaited<ReturnType<typeof newWorkspace>>, status: 'queued' | 'failed') {
    const id = randomUUID();
    await insertRun(platform.pool, {
      id,
      workspaceId: ws.workspaceId,
      taskId: ws.taskId,
      runnerId: ws.runnerId,
      checkType: 'http.probe',
      trigger: 'api',
      requestedBy: 'test',
      workflowId: `ws-${ws.workspaceId}.run-${id}`,
    });
    if (status === 'failed') await markRunFinished(platform.pool, id, { status: 'failed', errorType: 'CheckFailed' });
    return id;
  }

  it('answers 409, not 500, to retrying a failed run whose history passed retention', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const id = await orphanRun(ws, 'failed');
    const res = await api(platform.baseUrl, 'POST', `/v1/runs/${id}/retry`, { token: ws.token });
    expectProblem(res, 409);
    expect(res.body['detail']).toMatch(/retention/);
  });

  it('closes a queued run whose workflow never started (an API stopped in between), and leaves real runs alone', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const orphan = await orphanRun(ws, 'queued');
    const real = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, {
      token: ws.token,
      body: { taskId: ws.taskId },
    });
    expect(real.status).toBe(202);
    const closed = await closeOrphanRuns(
      { pool: platform.pool, temporal: platform.temporal, sealer: platform.crypto.sealer },
      { olderThanMs: 0, workspaceId: ws.workspaceId },
    );
    expect(closed).toContain(orphan);
    expect(closed).not.toContain(real.body['id']);
    const view = await api(platform.baseUrl, 'GET', `/v1/runs/${orphan}`, { token: ws.token });
    expect(view.body).toMatchObject({ status: 'failed', error: expect.objectContaining({ type: 'NotStarted' }) });
    const { rows } = await platform.pool.query(
      "select count(*)::int as n from audit_events where workspace_id = $1 and action = 'run.orphan_closed' and target = $2",
      [ws.workspaceId, `run:${orphan}`],
    );
    expect(rows[0].n).toBe(1);
    // Once closed, it is not closed twice.
    expect(
      await closeOrphanRuns(
        { pool: platform.pool, temporal: platform.temporal, sealer: platform.crypto.sealer },
        { olderThanMs: 0, workspaceId: ws.workspaceId },
      ),
    ).not.toContain(orphan);
  });

  it('answers 409, not 500, to cancelling a run that has no workflow any more', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const id = await orphanRun(ws, 'queued');
    expectProblem(await api(platform.baseUrl, 'POST', `/v1/runs/${id}/cancel`, { token: ws.token }), 409);
  });

  it.each([['not a cron'], ['* * *'], ['* * * * * * * *']])('answers 400 to the cron expression %j, and creates nothing', async (cron) => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const res = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules`, {
      token: ws.token,
      body: { taskId: ws.taskId, spec: { cron: [cron] } },
    });
    expectProblem(res, 400);
    const { rows } = await platform.pool.query('select count(*)::int as n from schedules where workspace_id = $1', [ws.workspaceId]);
    expect(rows[0].n).toBe(0);
  });
});
