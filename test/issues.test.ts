/**
 * Issues across runs, through the API, Temporal and a real Runner probing a local endpoint whose
 * answer the test changes: a finding opens an issue, is seen again, acknowledged, resolved when a
 * later run of its task no longer finds it, reopened when found again, ignored until a date (and open
 * again after it), fed by sweeps as by single runs, sealed at rest, exported and erased with the
 * workspace; one finding reported by two tasks is one issue, resolved when neither finds it.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { addTask, api, newWorkspace, runTaskViaApi, startHttpServer, startPlatform, startRunner, type TestPlatform } from './harness/env';
import { legacyFingerprint } from '../platform/repos/issues.repo';

let platform: TestPlatform;
let target: Awaited<ReturnType<typeof startHttpServer>>;
let ws: Awaited<ReturnType<typeof newWorkspace>>;
let runner: Awaited<ReturnType<typeof startRunner>>;
let status = 500;

beforeAll(async () => {
  platform = await startPlatform();
  target = await startHttpServer((_req, res) => {
    res.statusCode = status;
    res.end('answer');
  });
  ws = await newWorkspace(platform, { probeUrl: `${target.url}/health` });
  runner = await startRunner(platform, ws);
});

afterAll(async () => {
  await runner?.stop();
  await target?.stop();
  await platform?.stop();
});

interface IssueView {
  id: string;
  state: string;
  severity: number;
  checkType: string;
  title: string;
  resource: { kind: string; namespace?: string; name: string };
  seenCount: number;
  reopenedCount: number;
  resolvedAt: string | null;
  ignoredUntil: string | null;
  reason: string | null;
  lastRunId: string;
  taskId: string;
}

const issues = async (query = '') =>
  (await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/issues${query}`, { token: ws.token })).body['items'] as IssueView[];
const change = (id: string, body: unknown) =>
  api(platform.baseUrl, 'PATCH', `/v1/workspaces/${ws.workspaceId}/issues/${id}`, { token: ws.token, body });
async function run(): Promise<string> {
  const done = await runTaskViaApi(platform, ws, ws.taskId);
  expect(done['status']).toBe('succeeded');
  return String(done['id']);
}
const auditActions = async () =>
  (
    await platform.pool.query<{ action: string; target: string }>(
      `select action, target from audit_events where workspace_id = $1 and action like 'issue%' order by id`,
      [ws.workspaceId],
    )
  ).rows;

describe('an issue across runs', () => {
  it('opens on the first finding, counts the next, and is acknowledged with a sealed reason', async () => {
    const first = await run();
    const [opened] = await issues();
    expect(opened).toMatchObject({
      state: 'open',
      severity: 1,
      checkType: 'http.probe',
      title: 'Unexpected HTTP status',
      resource: { kind: 'Endpoint' },
      seenCount: 1,
      reopenedCount: 0,
      lastRunId: first,
      taskId: ws.taskId,
    });
    const second = await run();
    expect(await issues()).toEqual([expect.objectContaining({ id: opened!.id, seenCount: 2, lastRunId: second, state: 'open' })]);

    const acked = await change(opened!.id, { state: 'acknowledged', reason: 'the payments team is on it' });
    expect(acked.status).toBe(200);
    expect(acked.body).toMatchObject({ state: 'acknowledged', reason: 'the payments team is on it' });
    // Found again while acknowledged: stays acknowledged.
    await run();
    expect(await issues()).toEqual([expect.objectContaining({ state: 'acknowledged', seenCount: 3 })]);
    // Sealed at rest: neither the finding nor the reason is readable in PostgreSQL.
    const raw = await platform.pool.query<{ row: string }>('select row_to_json(i)::text as row from issues i where id = $1', [opened!.id]);
    expect(raw.rows[0]!.row).not.toContain('Unexpected HTTP status');
    expect(raw.rows[0]!.row).not.toContain('payments team');
    expect(raw.rows[0]!.row).not.toContain(target.url);
  });

  it('is resolved when a later run of its task no longer finds it, and reopened when one does', async () => {
    status = 200;
    await run();
    const [resolved] = await issues();
    expect(resolved).toMatchObject({ state: 'resolved', seenCount: 3 });
    expect(resolved!.resolvedAt).not.toBeNull();
    expect(await issues('?state=open')).toEqual([]);
    // A resolved issue is reopened by a run, never by a person.
    expect((await change(resolved!.id, { state: 'acknowledged' })).status).toBe(409);

    status = 500;
    await run();
    expect(await issues('?state=open')).toEqual([
      expect.objectContaining({ id: resolved!.id, state: 'open', reopenedCount: 1, seenCount: 4, resolvedAt: null }),
    ]);
  });

  it('is ignored until a date: found meanwhile it stays ignored, and it is open again after the date', async () => {
    const [issue] = await issues();
    const until = new Date(Date.now() + 3_000).toISOString();
    const ignored = await change(issue!.id, { state: 'ignored', until, reason: 'maintenance window' });
    expect(ignored.body).toMatchObject({ state: 'ignored', ignoredUntil: until });
    await run();
    expect(await issues('?state=ignored')).toEqual([expect.objectContaining({ id: issue!.id, seenCount: 5 })]);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(until) - Date.now()) + 200));
    expect(await issues('?state=open')).toEqual([expect.objectContaining({ id: issue!.id, ignoredUntil: null })]);
    await run();
    expect(await issues()).toEqual([expect.objectContaining({ state: 'open', seenCount: 6 })]);
  });

  it('refuses bad changes with a problem, and audits every change', async () => {
    const [issue] = await issues();
    for (const body of [
      { state: 'ignored' },
      { state: 'ignored', until: new Date(Date.now() - 1_000).toISOString() },
      { state: 'ignored', until: new Date(Date.now() + 400 * 24 * 3600_000).toISOString() },
      { state: 'acknowledged', until: new Date(Date.now() + 60_000).toISOString() },
      { state: 'resolved' },
      { state: 'acknowledged', reason: 'x'.repeat(501) },
      { state: 'acknowledged', extra: true },
    ]) {
      const refused = await change(issue!.id, body);
      expect({ body, status: refused.status, type: refused.body['type'] }).toEqual({ body, status: 400, type: expect.any(String) });
    }
    expect((await change('00000000-0000-4000-8000-000000000000', { state: 'acknowledged' })).status).toBe(404);
    const actions = await auditActions();
    expect(actions.map((a) => a.action)).toEqual([
      'issues.opened',
      'issue.acknowledged',
      'issues.resolved',
      'issues.reopened',
      'issue.ignored',
    ]);
    expect(actions.filter((a) => a.action.startsWith('issue.')).every((a) => a.target === `issue:${issue!.id}`)).toBe(true);
    // The same id in upper case is the same issue, and its sealed reason reads back.
    const upper = await change(issue!.id.toUpperCase(), { state: 'acknowledged', reason: 'paged the owner' });
    expect(upper.body).toMatchObject({ id: issue!.id, state: 'acknowledged', reason: 'paged the owner' });
    expect((await change(issue!.id, { state: 'open' })).body).toMatchObject({ state: 'open', reason: null });
  });

  it('is fed by sweeps as by single runs, filtered by severity and check type', async () => {
    status = 200;
    const sweep = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/sweeps`, {
      token: ws.token,
      body: { runnerId: ws.runnerId },
    });
    expect(sweep.status).toBe(202);
    const deadline = Date.now() + 60_000;
    let got: Record<string, unknown> = {};
    while (Date.now() < deadline && got['status'] !== 'completed') {
      await new Promise((r) => setTimeout(r, 300));
      got = (await api(platform.baseUrl, 'GET', `/v1/sweeps/${String(sweep.body['id'])}`, { token: ws.token })).body;
    }
    expect(got['status']).toBe('completed');
    expect(await issues()).toEqual([expect.objectContaining({ state: 'resolved' })]);
    expect(await issues('?state=resolved&severity=1&checkType=http.probe')).toHaveLength(1);
    expect(await issues('?checkType=k8s.pod-status')).toEqual([]);
    const bad = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/issues?state=closed`, { token: ws.token });
    expect(bad.status).toBe(400);
  });

  it('is listed and changed from the CLI through the API, with one-line errors', async () => {
    const [issue] = await issues();
    // Asynchronously: the API answering the CLI runs in this process.
    const cli = (args: string[], env: Record<string, string> = { LOOKOUT_API_URL: platform.baseUrl, LOOKOUT_TOKEN: ws.token }) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [path.resolve(__dirname, '..', 'dist', 'platform-api', 'cli.js'), 'issues', ...args],
          { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8', timeout: 30_000 },
          (err, stdout, stderr) => resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
        );
      });
    const listed = await cli(['list', '--workspace', ws.workspaceId, '--state', 'resolved']);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toContain(`${issue!.id}  resolved      sev1  http.probe`);
    expect(listed.stdout).toContain('"Unexpected HTTP status"');
    const json = JSON.parse((await cli(['list', '--workspace', ws.workspaceId, '--json'])).stdout) as IssueView[];
    expect(json.map((i) => i.id)).toEqual([issue!.id]);
    const refused = await cli(['ack', issue!.id, '--workspace', ws.workspaceId]);
    expect(refused.status).toBe(1);
    expect(refused.stderr.trim()).toBe(
      `lookout: PATCH /v1/workspaces/${ws.workspaceId}/issues/${issue!.id}: 409 the issue is resolved: a run that finds it again reopens it`,
    );
    const badUntil = await cli(['ignore', issue!.id, '--workspace', ws.workspaceId, '--until', 'soon', '--reason', 'x']);
    expect(badUntil.status).not.toBe(0);
    expect(badUntil.stderr).toContain('--until must be an ISO date-time or a duration such as 12h or 7d');
    const noToken = await cli(['list', '--workspace', ws.workspaceId], {});
    expect(noToken.status).toBe(78);
    expect(noToken.stderr).toContain('LOOKOUT_TOKEN');
  });

  it('is in the workspace export, and erased with the workspace', async () => {
    const exported = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/export`, { token: ws.token });
    expect(exported.status).toBe(200);
    expect(exported.body['issues']).toEqual([expect.objectContaining({ title: 'Unexpected HTTP status', reopenedCount: 1 })]);
    const other = await newWorkspace(platform, { probeUrl: `${target.url}/health` });
    const otherRunner = await startRunner(platform, other);
    try {
      status = 500;
      const done = await runTaskViaApi(platform, other, other.taskId);
      expect(done['status']).toBe('succeeded');
      const count = async () =>
        Number(
          (await platform.pool.query<{ n: string }>('select count(*) as n from issues where workspace_id = $1', [other.workspaceId]))
            .rows[0]!.n,
        );
      expect(await count()).toBe(1);
      // Another workspace's issues are not this one's.
      expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/issues`, { token: other.token })).status).toBe(404);
      const deleted = await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${other.workspaceId}`, { token: other.token });
      expect(deleted.status).toBeLessThan(300);
      expect(await count()).toBe(0);
    } finally {
      await otherRunner.stop();
    }
  });
});

describe('one finding reported by several tasks', () => {
  let other: Awaited<ReturnType<typeof newWorkspace>>;
  let otherRunner: Awaited<ReturnType<typeof startRunner>>;
  let answer = 500;
  let endpoint: Awaited<ReturnType<typeof startHttpServer>>;

  beforeAll(async () => {
    endpoint = await startHttpServer((_req, res) => {
      res.statusCode = answer;
      res.end('answer');
    });
    other = await newWorkspace(platform, { probeUrl: `${endpoint.url}/health` });
    otherRunner = await startRunner(platform, other);
  });
  afterAll(async () => {
    await otherRunner?.stop();
    await endpoint?.stop();
  });

  const listed = async () =>
    (await api(platform.baseUrl, 'GET', `/v1/workspaces/${other.workspaceId}/issues`, { token: other.token })).body['items'] as IssueView[];
  const runOf = async (taskId: string) => expect((await runTaskViaApi(platform, other, taskId))['status']).toBe('succeeded');

  it('is one issue, open while any task that reported it still finds it, resolved when none does', async () => {
    // Two tasks probe the same URL: the base one (any 2xx or 3xx is healthy) and one that wants 200.
    const strict = await addTask(platform, other, 'http.probe', { url: `${endpoint.url}/health`, expectedStatus: [200] });
    answer = 500;
    await runOf(other.taskId);
    await runOf(strict);
    const [issue, ...more] = await listed();
    expect(more).toEqual([]);
    expect(issue).toMatchObject({ state: 'open', title: 'Unexpected HTTP status', seenCount: 2, taskId: strict });
    // 204: the base task no longer finds it, the strict one still does.
    answer = 204;
    await runOf(other.taskId);
    expect(await listed()).toEqual([expect.objectContaining({ id: issue!.id, state: 'open' })]);
    await runOf(strict);
    expect(await listed()).toEqual([expect.objectContaining({ id: issue!.id, state: 'open', seenCount: 3 })]);
    // 200: neither finds it.
    answer = 200;
    await runOf(strict);
    expect(await listed()).toEqual([expect.objectContaining({ id: issue!.id, state: 'resolved' })]);
  });

  it('keeps an issue recorded under the fingerprint with the check type: the next run that finds it rekeys it', async () => {
    answer = 503;
    await runOf(other.taskId);
    const [issue] = (await listed()).filter((i) => i.state === 'open');
    // As the issue was stored before issue 20: the fingerprint with the check type, its detail sealed under it.
    const { rows } = await platform.pool.query<{ fingerprint: string; detail_sealed: Buffer }>(
      'select fingerprint, detail_sealed from issues where id = $1',
      [issue!.id],
    );
    const detail = await platform.crypto.sealer.open<Record<string, unknown>>(
      other.workspaceId,
      `issue:${rows[0]!.fingerprint}`,
      rows[0]!.detail_sealed,
    );
    const legacy = legacyFingerprint(other.workspaceId, 'http.probe', { resource: issue!.resource, title: issue!.title });
    expect(legacy).not.toBe(rows[0]!.fingerprint);
    await platform.pool.query('update issues set fingerprint = $2, detail_sealed = $3 where id = $1', [
      issue!.id,
      legacy,
      await platform.crypto.sealer.seal(other.workspaceId, `issue:${legacy}`, detail),
    ]);
    await runOf(other.taskId);
    const after = await listed();
    expect(after.filter((i) => i.state === 'open')).toEqual([expect.objectContaining({ id: issue!.id, seenCount: issue!.seenCount + 1 })]);
    expect(
      (await platform.pool.query('select 1 from issues where workspace_id = $1 and fingerprint = $2', [other.workspaceId, legacy])).rows,
    ).toEqual([]);
  });
});
