/**
 * A Temporal namespace per workspace, on the real dev server: the platform worker learns of a new
 * workspace's namespace from PostgreSQL's notification (no polling interval in play) and lets go of
 * an erased one; and a workspace of the shared namespace (a deployment from before) keeps working
 * there and moves into a namespace of its own with its schedules, its old runs staying readable.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { bootstrap } from '../platform-api/services/bootstrap.service';
import { moveToOwnNamespace } from '../platform-api/services/namespace-move.service';
import { workspaceNamespace } from '../platform/repos/workspaces.repo';
import { createPlatformWorkers } from '../workers/platform-worker';
import { api, env, runTaskViaApi, silentLogger, startHttpServer, startPlatform, startRunner, type TestPlatform } from './harness/env';

let platform: TestPlatform;
let target: Awaited<ReturnType<typeof startHttpServer>>;
beforeAll(async () => {
  platform = await startPlatform();
  target = await startHttpServer((_req, res) => res.writeHead(200).end('ok'));
});
afterAll(async () => {
  await target?.stop();
  await platform?.stop();
});

async function until<T>(what: string, probe: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the platform worker and workspace namespaces', () => {
  it('polls a new workspace namespace on its notification and stops polling it when the workspace is erased', async () => {
    // A second set of workers, as a platform worker process has them: every namespace of the
    // workspaces made from now on, reconciled only by notification (the interval is an hour).
    const since = new Date();
    const workers = createPlatformWorkers({
      connection: platform.connection,
      pool: platform.pool,
      logger: silentLogger,
      crypto: platform.crypto,
      temporal: platform.temporal,
      taskQueue: `namespaces-test-${randomUUID()}`,
      workflowBundle: { code: readFileSync(env.bundlePath, 'utf8') },
      listNamespaces: async () =>
        (
          await platform.pool.query<{ ns: string }>(
            'select temporal_namespace as ns from workspaces where temporal_namespace is not null and created_at >= $1',
            [since],
          )
        ).rows.map((r) => r.ns),
      reconcileEveryMs: 3_600_000,
    });
    const running = workers.run();
    try {
      await until(
        'the first reconciliation',
        () => workers.namespaces(),
        (n) => n.length === 0,
      );
      const ws = await bootstrap(platform.pool, platform.crypto, platform.temporal, {
        workspaceName: 'notified',
        ownerEmail: `owner-${randomUUID()}@example.test`,
        probeUrl: `${target.url}/ok`,
      });
      await until(
        'the new namespace polled',
        () => workers.namespaces(),
        (n) => n.includes(ws.temporalNamespace!),
      );
      const erased = await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${ws.workspaceId}`, { token: ws.token });
      expect(erased.status).toBe(200);
      await until(
        'the erased namespace let go',
        () => workers.namespaces(),
        (n) => !n.includes(ws.temporalNamespace!),
      );
    } finally {
      await workers.shutdown();
      await running;
    }
  });
});

describe('a workspace of the shared namespace', () => {
  it('runs there, then moves into a namespace of its own with its schedules; its older runs stay readable', async () => {
    // Made as before namespaces per workspace: no namespace of its own.
    const ws = await bootstrap(
      platform.pool,
      platform.crypto,
      { provision: async () => undefined },
      {
        workspaceName: 'legacy',
        ownerEmail: `owner-${randomUUID()}@example.test`,
        probeUrl: `${target.url}/ok`,
        policy: { scheduleToStartMs: 30_000 },
      },
    );
    expect(ws.temporalNamespace).toBeUndefined();
    expect(await workspaceNamespace(platform.pool, ws.workspaceId)).toBeNull();
    const before = await (async () => {
      const runner = await startRunner(platform, ws);
      try {
        return await runTaskViaApi(platform, ws, ws.taskId);
      } finally {
        await runner.stop();
      }
    })();
    expect(before['status']).toBe('succeeded');
    // The run is recorded finished just before its workflow closes: wait for the close, in the shared namespace.
    const beforeHandle = platform.client.workflow.getHandle(`ws-${ws.workspaceId}.run-${String(before['id'])}`);
    await beforeHandle.result();
    expect((await beforeHandle.describe()).status.name).toBe('COMPLETED');
    const schedule = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules`, {
      token: ws.token,
      body: { taskId: ws.taskId, spec: { cron: ['0 3 * * *'] }, paused: true },
    });
    expect(schedule.status).toBe(201);
    const scheduleId = `ws-${ws.workspaceId}.schedule-${String(schedule.body['id'])}`;
    await platform.client.schedule.getHandle(scheduleId).describe();

    const moved = await moveToOwnNamespace(
      { pool: platform.pool, temporal: platform.temporal, platformTaskQueue: platform.taskQueue },
      ws.workspaceId,
      'test',
    );
    expect(moved).toEqual({
      workspaceId: ws.workspaceId,
      from: 'default',
      to: `lookout-${ws.workspaceId}`,
      schedules: 1,
      alreadyMoved: false,
    });
    expect(await moveToOwnNamespace({ pool: platform.pool, temporal: platform.temporal }, ws.workspaceId, 'test')).toMatchObject({
      alreadyMoved: true,
    });
    const own = platform.temporal.forNamespace(moved.to);
    // The schedule lives in the new namespace, paused as PostgreSQL says, and no longer in the old one.
    expect((await own.schedule.getHandle(scheduleId).describe()).state.paused).toBe(true);
    await expect(platform.client.schedule.getHandle(scheduleId).describe()).rejects.toThrow();
    const audit = await platform.pool.query<{ details: Record<string, unknown> }>(
      "select details from audit_events where workspace_id = $1 and action = 'workspace.namespace_moved'",
      [ws.workspaceId],
    );
    expect(audit.rows.map((r) => r.details)).toEqual([{ from: 'default', to: moved.to }]);

    // New runs start in the new namespace, where its (repointed) Runner polls; the old run stays readable.
    await platform.workers.reconcile();
    const runner = await startRunner(platform, ws);
    try {
      const after = await runTaskViaApi(platform, ws, ws.taskId);
      expect(after['status']).toBe('succeeded');
      const afterHandle = own.workflow.getHandle(`ws-${ws.workspaceId}.run-${String(after['id'])}`);
      await afterHandle.result();
      expect((await afterHandle.describe()).status.name).toBe('COMPLETED');
    } finally {
      await runner.stop();
    }
    const old = await api(platform.baseUrl, 'GET', `/v1/runs/${String(before['id'])}`, { token: ws.token });
    expect(old.body).toMatchObject({ status: 'succeeded', result: expect.objectContaining({ status: 'ok' }) });
  });
});
