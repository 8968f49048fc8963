/**
 * Retrying a failed run (a workflow reset to the failed step, as the Temporal UI does it) and
 * cancelling a running one, through the API, on the real services.
 */
import { loopbackBinding } from './harness/policy';
import type { IncomingMessage } from 'node:http';
import { runWorkflowId } from '../common/ids';
import { createToken } from '../platform-api/services/tokens.service';
import {
  addTask,
  api,
  newWorkspace,
  runTaskViaApi,
  startHttpServer,
  startPlatform,
  startRunner,
  waitForRun,
  type TestPlatform,
} from './harness/env';

let platform: TestPlatform;
let target: Awaited<ReturnType<typeof startHttpServer>>;
const hanging: IncomingMessage[] = [];
let closedHanging = 0;
beforeAll(async () => {
  platform = await startPlatform();
  target = await startHttpServer((req, res) => {
    if (req.url === '/hang') {
      hanging.push(req);
      req.socket.on('close', () => closedHanging++);
      return;
    }
    res.writeHead(200).end('ok');
  });
});
afterAll(async () => {
  await target?.stop();
  await platform?.stop();
});

describe('POST /v1/runs/{id}/retry', () => {
  it('resets a failed run to its check; after the fault is fixed it succeeds with exactly one stored result', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/` });
    const taskId = await addTask(platform, ws, 'http.probe', {
      url: `${target.url}/ok`,
      auth: { header: 'Authorization', scheme: 'Bearer ', secretRef: 'env:FIXED_LATER' },
    });
    // The fault: the Runner lacks the secret.
    let runner = await startRunner(platform, ws, { env: {}, policy: { secretBindings: [loopbackBinding('token', 'env:FIXED_LATER')] } });
    const failed = await runTaskViaApi(platform, ws, taskId);
    await runner.stop();
    expect(failed).toMatchObject({ status: 'failed', attempt: 1, error: { type: 'SecretUnavailable' } });
    const runId = String(failed['id']);
    const before = await (await platform.clientFor(ws.workspaceId)).workflow.getHandle(runWorkflowId(ws.workspaceId, runId)).describe();

    // The fix, then the retry.
    runner = await startRunner(platform, ws, {
      env: { FIXED_LATER: 'now-present' },
      policy: { secretBindings: [loopbackBinding('token', 'env:FIXED_LATER')] },
    });
    try {
      const retried = await api(platform.baseUrl, 'POST', `/v1/runs/${runId}/retry`, { token: ws.token });
      expect(retried.status).toBe(202);
      expect(retried.body).toMatchObject({ id: runId, status: 'running', attempt: 2, error: null });
      const done = await waitForRun(platform.baseUrl, ws.token, runId);
      expect(done).toMatchObject({ status: 'succeeded', attempt: 2, error: null, result: { status: 'ok' } });
    } finally {
      await runner.stop();
    }
    const { rows } = await platform.pool.query<{ n: number }>('select count(*)::int as n from results where run_id = $1', [runId]);
    expect(rows[0]!.n).toBe(1);
    // The finish is recorded just before the workflow closes.
    await (await platform.clientFor(ws.workspaceId)).workflow.getHandle(runWorkflowId(ws.workspaceId, runId)).result();
    const after = await (await platform.clientFor(ws.workspaceId)).workflow.getHandle(runWorkflowId(ws.workspaceId, runId)).describe();
    expect(after.runId).not.toBe(before.runId);
    expect(after.status.name).toBe('COMPLETED');
    const audit = await platform.pool.query("select details from audit_events where workspace_id = $1 and action = 'run.retry_requested'", [
      ws.workspaceId,
    ]);
    expect(audit.rows).toEqual([{ details: { fromTemporalRun: before.runId, toTemporalRun: after.runId, attempt: 2 } }]);
  });

  it('refuses to retry a succeeded run, and refuses a viewer', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/ok` });
    const runner = await startRunner(platform, ws);
    try {
      const run = await runTaskViaApi(platform, ws, ws.taskId);
      expect((await api(platform.baseUrl, 'POST', `/v1/runs/${String(run['id'])}/retry`, { token: ws.token })).status).toBe(409);
      const viewer = await createToken(platform.pool, {
        workspaceId: ws.workspaceId,
        createdBy: ws.ownerId,
        name: 'v',
        role: 'viewer',
        expiresAt: null,
      });
      expect((await api(platform.baseUrl, 'POST', `/v1/runs/${String(run['id'])}/retry`, { token: viewer.token })).status).toBe(403);
    } finally {
      await runner.stop();
    }
  });
});

describe('POST /v1/runs/{id}/cancel', () => {
  it('cancels a running check, which sees the cancellation through its heartbeat and aborts its request', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/hang`, policy: { heartbeatMs: 2_000 } });
    const taskId = await addTask(platform, ws, 'http.probe', { url: `${target.url}/hang`, timeoutMs: 120_000 }, { heartbeatMs: 2_000 });
    const runner = await startRunner(platform, ws);
    try {
      const seen = hanging.length;
      const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, { token: ws.token, body: { taskId } });
      const runId = String(created.body['id']);
      for (let i = 0; i < 100 && hanging.length === seen; i++) await new Promise((r) => setTimeout(r, 100));
      expect(hanging.length).toBe(seen + 1);
      const closedBefore = closedHanging;
      const cancelled = await api(platform.baseUrl, 'POST', `/v1/runs/${runId}/cancel`, { token: ws.token });
      expect(cancelled.status).toBe(202);
      const run = await waitForRun(platform.baseUrl, ws.token, runId);
      expect(run).toMatchObject({ status: 'cancelled', result: null });
      for (let i = 0; i < 100 && closedHanging === closedBefore; i++) await new Promise((r) => setTimeout(r, 100));
      expect(closedHanging).toBe(closedBefore + 1);
      expect((await api(platform.baseUrl, 'POST', `/v1/runs/${runId}/cancel`, { token: ws.token })).status).toBe(409);
    } finally {
      await runner.stop();
    }
  });
});

describe('a reset made in the Temporal UI', () => {
  it('runs the next attempt of a failed run and records its outcome', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/` });
    const taskId = await addTask(platform, ws, 'http.probe', {
      url: `${target.url}/ok`,
      auth: { header: 'Authorization', scheme: 'Bearer ', secretRef: 'env:UI_FIX' },
    });
    let runner = await startRunner(platform, ws, { env: {}, policy: { secretBindings: [loopbackBinding('token', 'env:UI_FIX')] } });
    const failed = await runTaskViaApi(platform, ws, taskId);
    await runner.stop();
    expect(failed['status']).toBe('failed');
    const handle = (await platform.clientFor(ws.workspaceId)).workflow.getHandle(runWorkflowId(ws.workspaceId, String(failed['id'])));
    await handle.result().catch(() => undefined);
    const history = await handle.fetchHistory();
    const scheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'executeCheck')!;
    runner = await startRunner(platform, ws, {
      env: { UI_FIX: 'present' },
      policy: { secretBindings: [loopbackBinding('token', 'env:UI_FIX')] },
    });
    try {
      // Exactly the call the Web UI's Reset makes, without the API's bookkeeping.
      await platform.client.workflowService.resetWorkflowExecution({
        namespace: ws.temporalNamespace!,
        workflowExecution: { workflowId: handle.workflowId },
        reason: 'reset from the UI',
        workflowTaskFinishEventId: scheduled.activityTaskScheduledEventAttributes!.workflowTaskCompletedEventId,
        requestId: `ui-${String(failed['id'])}`,
      });
      let run: Record<string, unknown> = {};
      for (let i = 0; i < 100; i++) {
        run = (await api(platform.baseUrl, 'GET', `/v1/runs/${String(failed['id'])}`, { token: ws.token })).body;
        if (run['status'] === 'succeeded') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(run).toMatchObject({ status: 'succeeded', attempt: 2, error: null, result: { status: 'ok' } });
    } finally {
      await runner.stop();
    }
  });
});
