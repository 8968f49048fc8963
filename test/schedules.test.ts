/**
 * Schedules on the real dev server: they fire on their interval and produce runs with
 * `trigger: schedule`, pause and resume, skip a trigger while a run is in flight, and cannot point
 * at another workspace's task.
 */
import type { IncomingMessage } from 'node:http';
import { createToken } from '../platform-api/services/tokens.service';
import { addTask, api, newWorkspace, startHttpServer, startPlatform, startRunner, type TestPlatform } from './harness/env';

let platform: TestPlatform;
let target: Awaited<ReturnType<typeof startHttpServer>>;
const hanging: IncomingMessage[] = [];
beforeAll(async () => {
  platform = await startPlatform();
  target = await startHttpServer((req, res) => {
    if (req.url === '/hang') return void hanging.push(req);
    res.writeHead(200).end('ok');
  });
});
afterAll(async () => {
  await target?.stop();
  await platform?.stop();
});

async function scheduleRuns(scheduleId: string): Promise<{ status: string; trigger: string }[]> {
  const { rows } = await platform.pool.query<{ status: string; trigger: string }>(
    'select status, trigger from runs where schedule_id = $1 order by queued_at',
    [scheduleId],
  );
  return rows;
}

async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('schedules', () => {
  it('fire on their interval, pause and resume', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/ok` });
    const runner = await startRunner(platform, ws);
    try {
      const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules`, {
        token: ws.token,
        body: { taskId: ws.taskId, spec: { intervalSeconds: 1 } },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ taskId: ws.taskId, overlap: 'skip', catchupWindowSeconds: 60, paused: false });
      const id = String(created.body['id']);
      const runs = await until(
        'two scheduled runs',
        () => scheduleRuns(id),
        (r) => r.filter((x) => x.status === 'succeeded').length >= 2,
      );
      expect(runs.every((r) => r.trigger === 'schedule')).toBe(true);

      const paused = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules/${id}/pause`, { token: ws.token });
      expect(paused.body).toMatchObject({ paused: true });
      await new Promise((r) => setTimeout(r, 1_500));
      const whilePaused = (await scheduleRuns(id)).length;
      await new Promise((r) => setTimeout(r, 2_500));
      expect((await scheduleRuns(id)).length).toBe(whilePaused);

      expect(
        (await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules/${id}/resume`, { token: ws.token })).body,
      ).toMatchObject({ paused: false });
      await until(
        'a run after resuming',
        () => scheduleRuns(id),
        (r) => r.length > whilePaused,
      );

      const got = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/schedules/${id}`, { token: ws.token });
      expect((got.body['recentRuns'] as unknown[]).length).toBeGreaterThan(0);
      expect((got.body['nextRuns'] as unknown[]).length).toBeGreaterThan(0);
      expect((await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${ws.workspaceId}/schedules/${id}`, { token: ws.token })).status).toBe(
        204,
      );
      expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/schedules/${id}`, { token: ws.token })).status).toBe(
        404,
      );
    } finally {
      await runner.stop();
    }
  });

  it('skips a trigger by hand while the previous run is still in flight', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/ok` });
    const taskId = await addTask(platform, ws, 'http.probe', { url: `${target.url}/hang`, timeoutMs: 120_000 }, { heartbeatMs: 2_000 });
    const runner = await startRunner(platform, ws);
    try {
      const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules`, {
        token: ws.token,
        body: { taskId, spec: { cron: ['0 3 * * *'], timezone: 'Europe/Berlin' }, paused: false },
      });
      const id = String(created.body['id']);
      const seen = hanging.length;
      expect(
        (await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules/${id}/trigger`, { token: ws.token })).status,
      ).toBe(202);
      await until(
        'the first triggered run to reach the endpoint',
        async () => hanging.length,
        (n) => n > seen,
      );
      expect(
        (await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules/${id}/trigger`, { token: ws.token })).status,
      ).toBe(202);
      await new Promise((r) => setTimeout(r, 2_000));
      const runs = await scheduleRuns(id);
      expect(runs).toHaveLength(1);
      expect(runs[0]!.status).toBe('running');
      const running = await platform.pool.query<{ id: string }>('select id from runs where schedule_id = $1', [id]);
      expect((await api(platform.baseUrl, 'POST', `/v1/runs/${running.rows[0]!.id}/cancel`, { token: ws.token })).status).toBe(202);
      await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${ws.workspaceId}/schedules/${id}`, { token: ws.token });
    } finally {
      await runner.stop();
    }
  });

  it('pauses itself after the configured number of consecutive failed runs', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/ok` });
    const taskId = await addTask(platform, ws, 'http.probe', {
      url: `${target.url}/ok`,
      auth: { header: 'Authorization', scheme: 'Bearer ', secretRef: 'env:NEVER_SET' },
    });
    const runner = await startRunner(platform, ws, { env: {} });
    try {
      const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules`, {
        token: ws.token,
        body: { taskId, spec: { intervalSeconds: 1 }, pauseAfterFailures: 2 },
      });
      expect(created.body).toMatchObject({ pauseAfterFailures: 2, paused: false });
      const id = String(created.body['id']);
      await until(
        'the schedule to pause itself',
        async () =>
          (await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/schedules/${id}`, { token: ws.token })).body['paused'],
        (p) => p === true,
      );
      const failedRuns = (await scheduleRuns(id)).filter((r) => r.status === 'failed').length;
      expect(failedRuns).toBeGreaterThanOrEqual(2);
      await new Promise((r) => setTimeout(r, 2_500));
      expect((await scheduleRuns(id)).length).toBeLessThanOrEqual(failedRuns + 1);
      const { rows } = await platform.pool.query(
        "select details from audit_events where workspace_id = $1 and action = 'schedule.paused'",
        [ws.workspaceId],
      );
      expect(rows[0]?.details).toMatchObject({ reason: 'consecutive failures', count: 2 });
      await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${ws.workspaceId}/schedules/${id}`, { token: ws.token });
    } finally {
      await runner.stop();
    }
  });

  it('can start health sweeps of a Runner instead of runs of one task', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/ok` });
    const runner = await startRunner(platform, ws);
    try {
      const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules`, {
        token: ws.token,
        body: { runnerId: ws.runnerId, spec: { intervalSeconds: 1 } },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ runnerId: ws.runnerId, taskId: null });
      const id = String(created.body['id']);
      const sweeps = await until(
        'a completed scheduled sweep',
        async () =>
          (await platform.pool.query<{ status: string }>('select status from sweeps where requested_by = $1', [`schedule:${id}`])).rows,
        (rows) => rows.some((r) => r.status === 'completed'),
      );
      expect(sweeps.length).toBeGreaterThan(0);
      expect((await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${ws.workspaceId}/schedules/${id}`, { token: ws.token })).status).toBe(
        204,
      );
      const both = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules`, {
        token: ws.token,
        body: { runnerId: ws.runnerId, taskId: ws.taskId, spec: { intervalSeconds: 60 } },
      });
      expect(both.status).toBe(400);
    } finally {
      await runner.stop();
    }
  });

  it('updates its spec and policies in Temporal and in the mirror', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/ok` });
    const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules`, {
      token: ws.token,
      body: { taskId: ws.taskId, spec: { intervalSeconds: 600 }, paused: true },
    });
    const id = String(created.body['id']);
    const patched = await api(platform.baseUrl, 'PATCH', `/v1/workspaces/${ws.workspaceId}/schedules/${id}`, {
      token: ws.token,
      body: { spec: { cron: ['30 2 * * *'], timezone: 'UTC' }, overlap: 'buffer_one', catchupWindowSeconds: 120 },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      spec: { cron: ['30 2 * * *'], timezone: 'UTC' },
      overlap: 'buffer_one',
      catchupWindowSeconds: 120,
      paused: true,
    });
    const description = await (
      await platform.clientFor(ws.workspaceId)
    ).schedule
      .getHandle(`ws-${ws.workspaceId}.schedule-${id}`)
      .describe();
    expect(description.policies).toMatchObject({ overlap: 'BUFFER_ONE', catchupWindow: 120_000 });
    expect(description.spec.calendars?.length ?? 0).toBeGreaterThan(0);
    expect(
      (await api(platform.baseUrl, 'PATCH', `/v1/workspaces/${ws.workspaceId}/schedules/${id}`, { token: ws.token, body: {} })).status,
    ).toBe(400);
    await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${ws.workspaceId}/schedules/${id}`, { token: ws.token });
  });

  it("refuses another workspace's task, a bad spec, and a viewer", async () => {
    const a = await newWorkspace(platform, { probeUrl: `${target.url}/ok` });
    const b = await newWorkspace(platform, { probeUrl: `${target.url}/ok` });
    const post = (token: string, body: unknown) =>
      api(platform.baseUrl, 'POST', `/v1/workspaces/${a.workspaceId}/schedules`, { token, body });
    expect((await post(a.token, { taskId: b.taskId, spec: { intervalSeconds: 60 } })).status).toBe(404);
    expect((await post(a.token, { taskId: a.taskId, spec: { intervalSeconds: 60, cron: ['* * * * *'] } })).status).toBe(400);
    expect((await post(a.token, { taskId: a.taskId, spec: { intervalSeconds: 60, timezone: 'Mars/Olympus' } })).status).toBe(400);
    expect((await post(a.token, { taskId: a.taskId, spec: { intervalSeconds: 60 }, overlap: 'sometimes' })).status).toBe(400);
    const viewer = await createToken(platform.pool, {
      workspaceId: a.workspaceId,
      createdBy: a.ownerId,
      name: 'v',
      role: 'viewer',
      expiresAt: null,
    });
    expect((await post(viewer.token, { taskId: a.taskId, spec: { intervalSeconds: 60 } })).status).toBe(403);
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${a.workspaceId}/schedules`, { token: viewer.token })).body).toEqual({
      items: [],
    });
    const { rows } = await platform.pool.query('select count(*)::int as n from schedules where workspace_id = $1', [a.workspaceId]);
    expect(rows[0].n).toBe(0);
  });
});
