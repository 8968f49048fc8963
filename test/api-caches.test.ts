/**
 * The API's hot path keeps PostgreSQL off authenticated reads (issue 17): verified tokens and
 * finished runs are served from memory and forgotten through the change feed (LISTEN/NOTIFY) as
 * soon as a change commits, from whichever process. These tests prove the cache is really used
 * (a change made with the triggers switched off goes unseen while the feed is live), that every
 * real change is seen within the bound the README states, that nothing is cached while the feed is
 * down, and that token uses are audited as counts per token and interval.
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { runWorkflowId } from '../common/ids';
import { insertResult } from '../platform/repos/results.repo';
import { insertRun, markRunFinished, markRunStarted } from '../platform/repos/runs.repo';
import { createToken } from '../platform-api/services/tokens.service';
import { api, env, newWorkspace, startPlatform, type TestPlatform } from './harness/env';
import type { BootstrapOutput } from '../platform-api/services/bootstrap.service';

let platform: TestPlatform;
/** Another process's connection, as `lookout` or a second API replica would write. */
let other: Client;
beforeAll(async () => {
  platform = await startPlatform();
  other = new Client({ connectionString: env.databaseUrl });
  await other.connect();
});
afterAll(async () => {
  await other?.end();
  await platform?.stop();
});

const PROBE = 'http://127.0.0.1:9/healthz';
/** The bound the README states for another process's change to reach this API process. */
const PROPAGATION_BOUND_MS = 1_000;

const runs = (ws: BootstrapOutput, token = ws.token) => api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, { token });

/** Runs `sql` with the change-feed triggers off (superuser's replica mode): a change nobody announces. */
async function silently(sql: string, params: unknown[]): Promise<void> {
  await other.query('begin');
  await other.query('set local session_replication_role = replica');
  await other.query(sql, params);
  await other.query('commit');
}

/** How long until `probe` holds, polling every 10 ms; fails after five seconds. */
async function msUntil(probe: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (!(await probe())) {
    if (Date.now() - start > 5_000) throw new Error('the change was not seen within five seconds');
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

async function finishedRun(ws: BootstrapOutput, summary: string): Promise<string> {
  const runId = randomUUID();
  await insertRun(platform.pool, {
    id: runId,
    workspaceId: ws.workspaceId,
    taskId: ws.taskId,
    runnerId: ws.runnerId,
    checkType: 'http.probe',
    trigger: 'api',
    requestedBy: `token:${ws.tokenId}`,
    workflowId: runWorkflowId(ws.workspaceId, runId),
  });
  await markRunStarted(platform.pool, runId);
  const now = new Date().toISOString();
  await insertResult(
    platform.pool,
    platform.crypto.sealer,
    {
      runId,
      workspaceId: ws.workspaceId,
      checkType: 'http.probe',
      status: 'ok',
      summary,
      issues: [],
      metrics: { 'http.status': 200 },
      startedAt: now,
      finishedAt: now,
      durationMs: 1,
      exitCode: 0,
      attestation: 'test.unattested',
    },
    'test.unattested',
  );
  await markRunFinished(platform.pool, runId, { status: 'succeeded' });
  return runId;
}

describe('verified API tokens, cached until the change feed says otherwise', () => {
  it('serves a verified token from memory: a revocation nobody announced goes unseen', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    expect((await runs(ws)).status).toBe(200);
    await silently('update api_tokens set revoked_at = now() where id = $1', [ws.tokenId]);
    // Proof that the read did not go to PostgreSQL; any real writer fires the triggers.
    expect((await runs(ws)).status).toBe(200);
  });

  it('stops a token revoked by another process within the stated bound, and audits the refusal', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    expect((await runs(ws)).status).toBe(200);
    await other.query('update api_tokens set revoked_at = now() where id = $1', [ws.tokenId]);
    const ms = await msUntil(async () => (await runs(ws)).status === 401);
    expect(ms).toBeLessThan(PROPAGATION_BOUND_MS);
    const { rows } = await platform.pool.query(
      "select details from audit_events where workspace_id = $1 and action = 'auth.token' order by id desc limit 1",
      [ws.workspaceId],
    );
    expect(rows[0].details).toEqual({ reason: 'revoked' });
  });

  it('refuses a token revoked through this API on the very next request', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const made = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/tokens`, {
      token: ws.token,
      body: { name: 'ci', role: 'viewer' },
    });
    const token = String(made.body['token']);
    expect((await runs(ws, token)).status).toBe(200);
    expect((await runs(ws, token)).status).toBe(200);
    const revoked = await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${ws.workspaceId}/tokens/${String(made.body['id'])}`, {
      token: ws.token,
    });
    expect(revoked.status).toBe(204);
    expect((await runs(ws, token)).status).toBe(401);
  });

  it("follows the creator's role: a token of a member who was removed stops at once, one of a demoted member loses the role", async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const { rows } = await platform.pool.query<{ id: string }>(
      'insert into users (id, email) values (gen_random_uuid(), $1) returning id',
      [`member-${randomUUID()}@example.test`],
    );
    const userId = rows[0]!.id;
    await platform.pool.query("insert into memberships (workspace_id, user_id, role) values ($1, $2, 'operator')", [
      ws.workspaceId,
      userId,
    ]);
    const made = await createToken(platform.pool, {
      workspaceId: ws.workspaceId,
      createdBy: userId,
      name: 'op',
      role: 'operator',
      expiresAt: null,
    });
    const create = () =>
      api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, { token: made.token, body: { taskId: randomUUID() } });
    // Allowed to create runs (404: no such task, after the permission check).
    expect((await create()).status).toBe(404);
    const demoted = await api(platform.baseUrl, 'PATCH', `/v1/workspaces/${ws.workspaceId}/members/${userId}`, {
      token: ws.token,
      body: { role: 'viewer' },
    });
    expect(demoted.status).toBe(200);
    expect((await create()).status).toBe(403);
    expect((await runs(ws, made.token)).status).toBe(200);
    // Removed by another process.
    await other.query('delete from memberships where workspace_id = $1 and user_id = $2', [ws.workspaceId, userId]);
    expect(await msUntil(async () => (await runs(ws, made.token)).status === 401)).toBeLessThan(PROPAGATION_BOUND_MS);
  });

  it('caches nothing while the change feed is down, and caches again once it is back', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const second = await createToken(platform.pool, {
      workspaceId: ws.workspaceId,
      createdBy: ws.ownerId,
      name: 'b',
      role: 'viewer',
      expiresAt: null,
    });
    expect((await runs(ws)).status).toBe(200);
    const { rows } = await other.query<{ n: number }>(
      "select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where query = 'listen lookout_changes' and datname = current_database()",
    );
    expect(rows[0]!.n).toBeGreaterThanOrEqual(1);
    await msUntil(async () => !platform.changes.live);
    // While the feed is down (it comes back after 250 ms at first), an unannounced revocation is
    // seen at once: every request reads PostgreSQL.
    await silently('update api_tokens set revoked_at = now() where id = $1', [ws.tokenId]);
    expect((await runs(ws)).status).toBe(401);
    // Back: the second token is cached again (an unannounced revocation goes unseen).
    await msUntil(async () => platform.changes.live);
    expect((await runs(ws, second.token)).status).toBe(200);
    await silently('update api_tokens set revoked_at = now() where id = $1', [second.id]);
    expect((await runs(ws, second.token)).status).toBe(200);
  });
});

describe('finished runs, read once and served from memory', () => {
  it('serves a finished run with its result, to its own workspace only', async () => {
    const a = await newWorkspace(platform, { probeUrl: PROBE });
    const b = await newWorkspace(platform, { probeUrl: PROBE });
    const runId = await finishedRun(a, 'all good');
    const first = await api(platform.baseUrl, 'GET', `/v1/runs/${runId}`, { token: a.token });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ id: runId, status: 'succeeded', result: { summary: 'all good', status: 'ok' } });
    const second = await api(platform.baseUrl, 'GET', `/v1/runs/${runId}`, { token: a.token });
    expect(second.body).toEqual(first.body);
    // The cached view is not another workspace's to see.
    expect((await api(platform.baseUrl, 'GET', `/v1/runs/${runId}`, { token: b.token })).status).toBe(404);
    // Cached: a change nobody announced goes unseen.
    await silently("update runs set error_type = 'Unseen' where id = $1", [runId]);
    expect((await api(platform.baseUrl, 'GET', `/v1/runs/${runId}`, { token: a.token })).body['error']).toBeNull();
  });

  it('forgets a finished run when it is retried, erased or its key changes, within the stated bound', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const get = async (id: string) => api(platform.baseUrl, 'GET', `/v1/runs/${id}`, { token: ws.token });

    const retried = await finishedRun(ws, 'retried');
    expect((await get(retried)).body['status']).toBe('succeeded');
    await other.query("update runs set status = 'running', finished_at = null where id = $1", [retried]);
    expect(await msUntil(async () => (await get(retried)).body['status'] === 'running')).toBeLessThan(PROPAGATION_BOUND_MS);

    const erased = await finishedRun(ws, 'erased');
    expect((await get(erased)).status).toBe(200);
    await other.query('delete from runs where id = $1', [erased]);
    expect(await msUntil(async () => (await get(erased)).status === 404)).toBeLessThan(PROPAGATION_BOUND_MS);

    const keyed = await finishedRun(ws, 'keyed');
    expect((await get(keyed)).status).toBe(200);
    // A key state change empties every cached view (what was opened with a revoked key must go).
    await silently("update runs set error_type = 'AfterKeyChange' where id = $1", [keyed]);
    await other.query('update workspace_keys set state = state where workspace_id = $1', [ws.workspaceId]);
    expect(await msUntil(async () => (await get(keyed)).body['error'] !== null)).toBeLessThan(PROPAGATION_BOUND_MS);
  });
});

describe('token uses, counted per token and interval', () => {
  it('writes one hash-chained row per token and interval with the count and route templates', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const runId = await finishedRun(ws, 'counted');
    const started = Date.now();
    for (let i = 0; i < 5; i++) expect((await runs(ws)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await api(platform.baseUrl, 'GET', `/v1/runs/${runId}`, { token: ws.token })).status).toBe(200);
    const elapsed = Date.now() - started;
    type Row = { details: { count: number; routes: Record<string, number>; addresses: string[]; from: string; to: string }; ip: string };
    let used: Row[] = [];
    await msUntil(async () => {
      const { rows } = await platform.pool.query<Row>(
        "select details, ip from audit_events where workspace_id = $1 and actor = $2 and action = 'token.used' order by id",
        [ws.workspaceId, `token:${ws.tokenId}`],
      );
      used = rows;
      return rows.reduce((n, r) => n + r.details.count, 0) >= 8;
    });
    // One row per interval (200 ms here) in which the token was used, not one per use: a slow machine spreads the calls over more intervals.
    expect(used.length).toBeLessThanOrEqual(Math.min(8, Math.floor(elapsed / 200) + 2));
    const routes: Record<string, number> = {};
    for (const r of used) for (const [k, n] of Object.entries(r.details.routes)) routes[k] = (routes[k] ?? 0) + n;
    expect(routes).toEqual({ 'GET /v1/workspaces/:ws/runs': 5, 'GET /v1/runs/:id': 3 });
    // Route templates only: no run id (or any other path value) in the row.
    expect(JSON.stringify(used)).not.toContain(runId);
    expect(used[0]!.details.addresses).toEqual(['127.0.0.1']);
    expect(used[0]!.ip).toBe('127.0.0.1');
    const chain = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/audit?limit=1000`, { token: ws.token });
    expect(chain.body['chain']).toMatchObject({ ok: true });
  });
});
