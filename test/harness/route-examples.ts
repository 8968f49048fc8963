/**
 * One valid request per route of the table, against real resources of a workspace: what the
 * authorization-matrix and fuzzing tests send. A route without an example here fails both tests, so
 * a new route cannot ship without being exercised. Destructive routes make a fresh resource on each
 * call, so that every call has something to act on and no call takes another's fixture away.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { insertInvitation } from '../../platform/repos/invitations.repo';
import { routesOf, createApp, type AppDeps } from '../../platform-api/app';
import type { RouteDef } from '../../platform-api/routes/route';
import { insertRun, markRunFinished } from '../../platform/repos/runs.repo';
import { recordFindings } from '../../platform/repos/issues.repo';
import { insertSweep } from '../../platform/repos/sweeps.repo';
import { createUser } from '../../platform/repos/users.repo';
import { addMembership } from '../../platform/repos/workspaces.repo';
import { createToken } from '../../platform-api/services/tokens.service';
import type { BootstrapOutput } from '../../platform-api/services/bootstrap.service';
import { runnerTaskQueue, runWorkflowId } from '../../common/ids';
import { createRunner, recordRunnerInfo, runnerPolicyBinding } from '../../platform/repos/runners.repo';
import { RunnerPolicy, summarizePolicy } from '../../common/runner-policy';
import { runnerAttestationKey } from '../../platform-api/services/runners.service';
import { addTask, invitationCodeFor, newWorkspace, silentLogger, type TestPlatform } from './env';
import { mfaCookie } from './users';
import { logInAgain, send, type LoggedInUser, type Session } from './principals';

/** `POST /v1/workspaces/:ws/runs`: how routes are named in the tables. */
export const routeKey = (route: Pick<RouteDef, 'method' | 'path'>) => `${route.method.toUpperCase()} ${route.path}`;

/**
 * The route table of an app with OIDC and SAML logins configured, built without services: handlers
 * never run, so nothing is connected. Test files generate their cases from it before the platform
 * starts (jest collects cases synchronously); each file also checks that it equals the table of the
 * app it starts, so the two cannot drift apart.
 */
export function declaredRoutes(): readonly RouteDef[] {
  const none = {} as never;
  const deps: AppDeps = {
    pool: none,
    temporal: none,
    logger: silentLogger,
    crypto: { master: none, sealer: none, payloadKeys: none, signing: none, followKeyChanges: none },
    runnerTemporal: { address: 'unused:7233' },
    sso: { oidc: { login: none, redirectUri: 'https://unused.test/cb' }, saml: none },
  };
  return routesOf(createApp(deps));
}

/** A workspace with one resource of every kind that routes address by id. */
export interface WorkspaceFixture extends BootstrapOutput {
  /** A queued run without a workflow: for reading. */
  runId: string;
  /** A run that succeeded: a retry of it is refused (409). */
  succeededRunId: string;
  sweepId: string;
  /** A paused schedule of `taskId`, made through the API. */
  scheduleId: string;
  /** An open issue, as a run's finding makes one. */
  issueId: string;
  /** A bearer alert hook, made through the API, routing `alertname=FixtureDown` to `taskId`; and its secret. */
  hookId: string;
  sinkId: string;
  hookSecret: string;
  /** A Runner that reported a policy allowing http.probe only: discovery of it is refused before anything is written. */
  probeOnlyRunnerId: string;
}

export async function workspaceFixture(platform: TestPlatform): Promise<WorkspaceFixture> {
  const ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
  const run = async () => {
    const id = randomUUID();
    await insertRun(platform.pool, {
      id,
      workspaceId: ws.workspaceId,
      taskId: ws.taskId,
      runnerId: ws.runnerId,
      checkType: 'http.probe',
      trigger: 'api',
      requestedBy: 'test:fixture',
      workflowId: runWorkflowId(ws.workspaceId, id),
    });
    return id;
  };
  const runId = await run();
  const succeededRunId = await run();
  await markRunFinished(platform.pool, succeededRunId, { status: 'succeeded' });
  const sweepId = randomUUID();
  await insertSweep(platform.pool, { id: sweepId, workspaceId: ws.workspaceId, runnerId: ws.runnerId, requestedBy: 'test:fixture' });
  const scheduleId = await createSchedule(platform, ws);
  const findings = await recordFindings(
    platform.pool,
    platform.crypto.sealer,
    { id: succeededRunId, workspaceId: ws.workspaceId, runnerId: ws.runnerId, taskId: ws.taskId, checkType: 'http.probe' },
    [
      {
        severity: 2,
        title: 'fixture endpoint is slow',
        resource: { kind: 'Endpoint', name: 'http://127.0.0.1:9/' },
        expected: 'under 1000 ms',
        actual: '4000 ms',
        nextSteps: ['look at it'],
      },
    ],
    { resolve: false },
  );
  const hook = await createHook(platform, ws);
  const sinkId = await createSink(platform, ws);
  const probeOnlyRunnerId = randomUUID();
  await createRunner(platform.pool, {
    id: probeOnlyRunnerId,
    workspaceId: ws.workspaceId,
    name: `probe-only-${short()}`,
    taskQueue: runnerTaskQueue(probeOnlyRunnerId),
  });
  const summary = summarizePolicy(RunnerPolicy.parse({ checks: ['http.probe'] }));
  await recordRunnerInfo(platform.pool, ws.workspaceId, probeOnlyRunnerId, {
    version: 'fixture',
    enabledChecks: summary.checks,
    policyDigest: summary.digest,
    policySealed: await platform.crypto.sealer.seal(ws.workspaceId, runnerPolicyBinding(probeOnlyRunnerId), summary),
  });
  return {
    ...ws,
    runId,
    succeededRunId,
    sweepId,
    scheduleId,
    issueId: findings.opened[0]!,
    hookId: hook.id,
    hookSecret: hook.secret,
    sinkId,
    probeOnlyRunnerId,
  };
}

const short = () => randomUUID().slice(0, 8);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function created(
  what: string,
  res: Promise<{ status: number; text: string; json: Record<string, unknown> | undefined }>,
  status: number,
): Promise<Record<string, unknown>> {
  const r = await res;
  if (r.status !== status) throw new Error(`fixture ${what}: expected ${status}, got ${r.status} ${r.text.slice(0, 300)}`);
  return r.json ?? {};
}

/** A schedule body the API accepts: a daily interval, paused, so it never fires during a test. */
const scheduleBody = (taskId: string) => ({ taskId, spec: { intervalSeconds: 86_400 }, paused: true, note: 'fixture' });

async function createSchedule(platform: TestPlatform, ws: BootstrapOutput): Promise<string> {
  const body = await created(
    'schedule',
    send(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules`, {
      headers: bearer(ws.token),
      body: scheduleBody(ws.taskId),
    }),
    201,
  );
  return String(body['id']);
}

/** A hook body the API accepts: alerts named FixtureDown start runs of `taskId` (the first stays queued: no Runner polls). */
const hookBody = (taskId: string) => ({
  name: `hook-${short()}`,
  auth: 'bearer',
  format: 'alertmanager',
  routes: [{ match: { alertname: 'FixtureDown' }, taskId }],
  ratePerMinute: 6000,
});

async function createHook(platform: TestPlatform, ws: BootstrapOutput): Promise<{ id: string; secret: string }> {
  const body = await created(
    'hook',
    send(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/hooks`, { headers: bearer(ws.token), body: hookBody(ws.taskId) }),
    201,
  );
  return { id: String(body['id']), secret: String(body['secret']) };
}

/** A webhook sink the API accepts: to a host that does not resolve (its test message is not delivered). */
const sinkBody = () => ({ name: `sink-${short()}`, target: { kind: 'webhook', url: 'https://sink.lookout.invalid/hook' }, maxSeverity: 2 });

async function createSink(platform: TestPlatform, ws: BootstrapOutput): Promise<string> {
  const body = await created(
    'sink',
    send(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/sinks`, { headers: bearer(ws.token), body: sinkBody() }),
    201,
  );
  return String(body['id']);
}

/** A dead-lettered notification of the fixture issue to the fixture sink, made in the database (of no run: any number of them). */
async function deadNotification(platform: TestPlatform, ws: WorkspaceFixture): Promise<string> {
  const id = randomUUID();
  await platform.pool.query(
    `insert into notifications (id, workspace_id, sink_id, issue_id, transition, run_id, state, attempts, last_error)
     values ($1, $2, $3, $4, 'new', null, 'dead', 8, 'the receiver answered 503')`,
    [id, ws.workspaceId, ws.sinkId, ws.issueId],
  );
  return id;
}

/** A member with no login of their own, to change or remove. */
/** An open invitation of `email` to the workspace, made in the database (its code is of no use here). */
async function openInvitation(platform: TestPlatform, workspaceId: string, email: string): Promise<string> {
  const id = randomUUID();
  await insertInvitation(platform.pool, {
    id,
    tokenHash: randomBytes(32),
    workspaceId,
    email,
    role: 'viewer',
    createdBy: 'test:fixture',
    expiresAt: new Date(Date.now() + 3_600_000),
  });
  return id;
}

/** A Runner of the workspace with an attestation key, made in the database. */
async function freshRunner(platform: TestPlatform, ws: BootstrapOutput): Promise<string> {
  const id = randomUUID();
  const key = runnerAttestationKey(undefined);
  await createRunner(platform.pool, {
    id,
    workspaceId: ws.workspaceId,
    name: `fixture-${id.slice(0, 8)}`,
    taskQueue: runnerTaskQueue(id),
    attestationPublicKey: key.publicKey,
  });
  return id;
}

async function freshMember(platform: TestPlatform, ws: BootstrapOutput): Promise<string> {
  const id = randomUUID();
  await createUser(platform.pool, { id, email: `member-${id}@example.test` });
  await addMembership(platform.pool, { workspaceId: ws.workspaceId, userId: id, role: 'viewer' });
  return id;
}

/** Who makes the call, for the routes whose example depends on it. */
export interface Caller {
  kind: 'api_token' | 'session' | 'oidc_bearer' | 'anonymous';
  /** The user behind a session or bearer caller, when it can log in. */
  user?: LoggedInUser | undefined;
}

export interface CallContext {
  platform: TestPlatform;
  /** The workspace the call addresses. */
  ws: WorkspaceFixture;
  caller: Caller;
  /** A user with a password and recovery codes, for the public login routes. */
  account: LoggedInUser;
}

export interface RouteCall {
  /** Path and query, e.g. `/v1/workspaces/…/runs?limit=5`. */
  path: string;
  body?: unknown;
  /** Make the call with this session instead of the caller's usual one (a logout ends it). */
  session?: Session;
  /** Headers the call needs besides the caller's (a login's pre-auth cookie); cookies are joined with the caller's. */
  headers?: Record<string, string>;
}

/** The caller's headers with the call's own; a `cookie` in both is joined, as a browser would send both. */
export function withCallHeaders(caller: Record<string, string>, call: RouteCall): Record<string, string> {
  const out = { ...caller, ...call.headers };
  if (caller['cookie'] && call.headers?.['cookie']) out['cookie'] = `${caller['cookie']}; ${call.headers['cookie']}`;
  return out;
}

export interface RouteExample {
  call(ctx: CallContext): Promise<RouteCall>;
  /** The call erases the workspace it addresses: give it a fresh one each time. */
  consumesWorkspace?: true;
}

const wsPath = (ctx: CallContext, rest = '') => `/v1/workspaces/${ctx.ws.workspaceId}${rest}`;

/** The examples, by route key. */
export const ROUTE_EXAMPLES: Readonly<Record<string, RouteExample>> = {
  'GET /healthz': { call: async () => ({ path: '/healthz' }) },
  'GET /v1/auth/methods': { call: async () => ({ path: '/v1/auth/methods' }) },
  'GET /readyz': { call: async () => ({ path: '/readyz' }) },
  'GET /openapi.json': { call: async () => ({ path: '/openapi.json' }) },

  'POST /v1/auth/password': {
    call: async ({ account }) => ({ path: '/v1/auth/password', body: { email: account.email, password: account.password } }),
  },
  'POST /v1/auth/mfa': {
    async call({ platform, account }) {
      const login = send(platform.baseUrl, 'POST', '/v1/auth/password', { body: { email: account.email, password: account.password } });
      const first = await created('password login', login, 200);
      const recoveryCode = account.recoveryCodes.shift();
      if (!recoveryCode) throw new Error('no recovery code left');
      return { path: '/v1/auth/mfa', body: { challenge: first['challenge'], recoveryCode }, headers: mfaCookie((await login).headers) };
    },
  },
  'POST /v1/auth/invitations/accept': {
    async call({ platform, ws }) {
      const email = `invited-${randomUUID()}@example.test`;
      const since = Date.now();
      await created(
        'invitation',
        send(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/members`, {
          headers: bearer(ws.token),
          body: { email, role: 'viewer' },
        }),
        202,
      );
      return {
        path: '/v1/auth/invitations/accept',
        body: { invitation: await invitationCodeFor(platform.baseUrl, email, since), password: `a long passphrase ${short()}` },
      };
    },
  },
  'POST /v1/auth/logout': {
    // A fresh session of the caller's user: the logout ends it, not the caller's usual one.
    async call({ platform, caller }) {
      return caller.kind === 'session' && caller.user
        ? { path: '/v1/auth/logout', session: await logInAgain(platform.baseUrl, caller.user) }
        : { path: '/v1/auth/logout' };
    },
  },
  'GET /v1/auth/sessions': { call: async () => ({ path: '/v1/auth/sessions' }) },
  'DELETE /v1/auth/sessions/:id': {
    // Another session of the caller's user; API tokens (no user session to name) get a random id.
    async call({ platform, caller }) {
      const id = caller.user && caller.kind !== 'api_token' ? (await logInAgain(platform.baseUrl, caller.user)).id : randomUUID();
      return { path: `/v1/auth/sessions/${id}` };
    },
  },

  'GET /v1/auth/oidc/login': { call: async () => ({ path: '/v1/auth/oidc/login' }) },
  'GET /v1/auth/oidc/callback': { call: async () => ({ path: `/v1/auth/oidc/callback?state=${randomUUID()}&code=${short()}` }) },
  'GET /v1/auth/saml/login': { call: async () => ({ path: '/v1/auth/saml/login' }) },
  'POST /v1/auth/saml/acs': {
    call: async () => ({
      path: '/v1/auth/saml/acs',
      body: { SAMLResponse: Buffer.from('<samlp:Response/>').toString('base64'), RelayState: short() },
    }),
  },
  'GET /v1/auth/saml/metadata': { call: async () => ({ path: '/v1/auth/saml/metadata' }) },

  'GET /v1/me': { call: async () => ({ path: '/v1/me' }) },
  'GET /v1/workspaces': { call: async () => ({ path: '/v1/workspaces' }) },
  'POST /v1/workspaces': { call: async () => ({ path: '/v1/workspaces', body: { name: `ws-${short()}` } }) },
  'GET /v1/workspaces/:ws': { call: async (ctx) => ({ path: wsPath(ctx) }) },
  'DELETE /v1/workspaces/:ws': { consumesWorkspace: true, call: async (ctx) => ({ path: wsPath(ctx) }) },
  'GET /v1/workspaces/:ws/export': { call: async (ctx) => ({ path: wsPath(ctx, '/export') }) },

  'GET /v1/workspaces/:ws/members': { call: async (ctx) => ({ path: wsPath(ctx, '/members') }) },
  'POST /v1/workspaces/:ws/members': {
    call: async (ctx) => ({ path: wsPath(ctx, '/members'), body: { email: `new-${randomUUID()}@example.test`, role: 'viewer' } }),
  },
  'GET /v1/workspaces/:ws/invitations': { call: async (ctx) => ({ path: wsPath(ctx, '/invitations') }) },
  'DELETE /v1/workspaces/:ws/invitations/:invitationId': {
    call: async (ctx) => ({
      path: wsPath(ctx, `/invitations/${await openInvitation(ctx.platform, ctx.ws.workspaceId, `new-${short()}@example.test`)}`),
    }),
  },
  'GET /v1/me/invitations': { call: async () => ({ path: '/v1/me/invitations' }) },
  'POST /v1/me/invitations/:invitationId/accept': {
    // An invitation to the caller's own (verified) address; callers without a user get an unknown id.
    async call({ platform, ws, caller }) {
      const id = caller.user ? await openInvitation(platform, ws.workspaceId, caller.user.email) : randomUUID();
      return { path: `/v1/me/invitations/${id}/accept` };
    },
  },
  'PATCH /v1/workspaces/:ws/members/:userId': {
    call: async (ctx) => ({ path: wsPath(ctx, `/members/${await freshMember(ctx.platform, ctx.ws)}`), body: { role: 'operator' } }),
  },
  'DELETE /v1/workspaces/:ws/members/:userId': {
    call: async (ctx) => ({ path: wsPath(ctx, `/members/${await freshMember(ctx.platform, ctx.ws)}`) }),
  },

  'GET /v1/workspaces/:ws/tokens': { call: async (ctx) => ({ path: wsPath(ctx, '/tokens') }) },
  'POST /v1/workspaces/:ws/tokens': {
    call: async (ctx) => ({ path: wsPath(ctx, '/tokens'), body: { name: `t-${short()}`, role: 'viewer', expiresInDays: 1 } }),
  },
  'DELETE /v1/workspaces/:ws/tokens/:tokenId': {
    async call(ctx) {
      const token = await createToken(ctx.platform.pool, {
        workspaceId: ctx.ws.workspaceId,
        createdBy: ctx.ws.ownerId,
        name: `t-${short()}`,
        role: 'viewer',
        expiresAt: null,
      });
      return { path: wsPath(ctx, `/tokens/${token.id}`) };
    },
  },
  'GET /v1/workspaces/:ws/audit': { call: async (ctx) => ({ path: wsPath(ctx, '/audit?limit=5') }) },

  'POST /v1/workspaces/:ws/runs': { call: async (ctx) => ({ path: wsPath(ctx, '/runs'), body: { taskId: ctx.ws.taskId } }) },
  'GET /v1/workspaces/:ws/runs': { call: async (ctx) => ({ path: wsPath(ctx, '/runs?limit=5') }) },
  'GET /v1/workspaces/:ws/temporal-ui': { call: async (ctx) => ({ path: wsPath(ctx, '/temporal-ui') }) },
  'GET /v1/runs/:id': { call: async (ctx) => ({ path: `/v1/runs/${ctx.ws.runId}` }) },
  'POST /v1/runs/:id/cancel': {
    // A run in flight (its workflow waits for a Runner that is not there), made through the API.
    async call(ctx) {
      const run = await created(
        'run',
        send(ctx.platform.baseUrl, 'POST', wsPath(ctx, '/runs'), { headers: bearer(ctx.ws.token), body: { taskId: ctx.ws.taskId } }),
        202,
      );
      return { path: `/v1/runs/${String(run['id'])}/cancel` };
    },
  },
  'POST /v1/runs/:id/retry': { call: async (ctx) => ({ path: `/v1/runs/${ctx.ws.succeededRunId}/retry` }) },

  'POST /v1/workspaces/:ws/tasks': {
    call: async (ctx) => ({
      path: wsPath(ctx, '/tasks'),
      body: { name: `task-${short()}`, runnerId: ctx.ws.runnerId, checkType: 'http.probe', params: { url: 'http://127.0.0.1:9/' } },
    }),
  },
  'GET /v1/workspaces/:ws/tasks': { call: async (ctx) => ({ path: wsPath(ctx, '/tasks?limit=5') }) },
  'GET /v1/workspaces/:ws/tasks/:id': { call: async (ctx) => ({ path: wsPath(ctx, `/tasks/${ctx.ws.taskId}`) }) },
  'GET /v1/workspaces/:ws/issues': { call: async (ctx) => ({ path: wsPath(ctx, '/issues?state=open&severity=3') }) },
  'GET /v1/workspaces/:ws/issues/:id': { call: async (ctx) => ({ path: wsPath(ctx, `/issues/${ctx.ws.issueId}`) }) },
  'PATCH /v1/workspaces/:ws/issues/:id': {
    call: async (ctx) => ({ path: wsPath(ctx, `/issues/${ctx.ws.issueId}`), body: { state: 'acknowledged', reason: 'on it' } }),
  },
  'POST /v1/workspaces/:ws/hooks': { call: async (ctx) => ({ path: wsPath(ctx, '/hooks'), body: hookBody(ctx.ws.taskId) }) },
  'GET /v1/workspaces/:ws/hooks': { call: async (ctx) => ({ path: wsPath(ctx, '/hooks') }) },
  'DELETE /v1/workspaces/:ws/hooks/:id': {
    call: async (ctx) => ({ path: wsPath(ctx, `/hooks/${(await createHook(ctx.platform, ctx.ws)).id}`) }),
  },
  'POST /v1/workspaces/:ws/sinks': { call: async (ctx) => ({ path: wsPath(ctx, '/sinks'), body: sinkBody() }) },
  'GET /v1/workspaces/:ws/sinks': { call: async (ctx) => ({ path: wsPath(ctx, '/sinks') }) },
  'DELETE /v1/workspaces/:ws/sinks/:id': {
    call: async (ctx) => ({ path: wsPath(ctx, `/sinks/${await createSink(ctx.platform, ctx.ws)}`) }),
  },
  'POST /v1/workspaces/:ws/sinks/:id/test': { call: async (ctx) => ({ path: wsPath(ctx, `/sinks/${ctx.ws.sinkId}/test`) }) },
  'POST /v1/workspaces/:ws/runners/:id/discover': {
    call: async (ctx) => ({ path: wsPath(ctx, `/runners/${ctx.ws.probeOnlyRunnerId}/discover?apply`), body: { waitSeconds: 0 } }),
  },
  'GET /v1/workspaces/:ws/discovery/rules': { call: async (ctx) => ({ path: wsPath(ctx, '/discovery/rules') }) },
  'PUT /v1/workspaces/:ws/discovery/rules': {
    call: async (ctx) => ({
      path: wsPath(ctx, '/discovery/rules'),
      body: { rules: [{ id: 'namespace-health', checkType: 'k8s.namespace-health', scope: 'namespace', excludeNamespaces: ['kube-*'] }] },
    }),
  },
  'DELETE /v1/workspaces/:ws/discovery/rules': { call: async (ctx) => ({ path: wsPath(ctx, '/discovery/rules') }) },
  'GET /v1/workspaces/:ws/notifications': { call: async (ctx) => ({ path: wsPath(ctx, '/notifications?state=dead&limit=10') }) },
  'POST /v1/workspaces/:ws/notifications/:id/retry': {
    call: async (ctx) => ({ path: wsPath(ctx, `/notifications/${await deadNotification(ctx.platform, ctx.ws)}/retry`) }),
  },
  // Authenticated by the fixture hook's secret, whoever the caller is; repeats of the alert find its run in flight.
  'POST /v1/hooks/:hookId': {
    call: async (ctx) => ({
      path: `/v1/hooks/${ctx.ws.hookId}`,
      headers: bearer(ctx.ws.hookSecret),
      body: {
        version: '4',
        status: 'firing',
        receiver: 'lookout',
        groupKey: '{}:{alertname="FixtureDown"}',
        alerts: [
          {
            status: 'firing',
            labels: { alertname: 'FixtureDown', namespace: 'payments' },
            annotations: { summary: 'fixture' },
            startsAt: '2026-01-01T00:00:00Z',
            endsAt: '0001-01-01T00:00:00Z',
            fingerprint: 'f1xture',
          },
        ],
      },
    }),
  },
  'DELETE /v1/workspaces/:ws/tasks/:id': {
    call: async (ctx) => ({
      path: wsPath(ctx, `/tasks/${await addTask(ctx.platform, ctx.ws, 'http.probe', { url: 'http://127.0.0.1:9/' })}`),
    }),
  },

  'POST /v1/workspaces/:ws/sweeps': {
    call: async (ctx) => ({ path: wsPath(ctx, '/sweeps'), body: { runnerId: ctx.ws.runnerId, concurrency: 1 } }),
  },
  'GET /v1/sweeps/:id': { call: async (ctx) => ({ path: `/v1/sweeps/${ctx.ws.sweepId}` }) },
  'GET /v1/workspaces/:ws/sweeps': { call: async (ctx) => ({ path: wsPath(ctx, `/sweeps?runner=${ctx.ws.runnerId}&limit=5`) }) },

  'POST /v1/workspaces/:ws/schedules': { call: async (ctx) => ({ path: wsPath(ctx, '/schedules'), body: scheduleBody(ctx.ws.taskId) }) },
  'GET /v1/workspaces/:ws/schedules': { call: async (ctx) => ({ path: wsPath(ctx, '/schedules') }) },
  'GET /v1/workspaces/:ws/schedules/:id': { call: async (ctx) => ({ path: wsPath(ctx, `/schedules/${ctx.ws.scheduleId}`) }) },
  'PATCH /v1/workspaces/:ws/schedules/:id': {
    call: async (ctx) => ({ path: wsPath(ctx, `/schedules/${ctx.ws.scheduleId}`), body: { catchupWindowSeconds: 120 } }),
  },
  'POST /v1/workspaces/:ws/schedules/:id/pause': { call: async (ctx) => ({ path: wsPath(ctx, `/schedules/${ctx.ws.scheduleId}/pause`) }) },
  // Resumed, the shared schedule still fires only once a day.
  'POST /v1/workspaces/:ws/schedules/:id/resume': {
    call: async (ctx) => ({ path: wsPath(ctx, `/schedules/${ctx.ws.scheduleId}/resume`) }),
  },
  'POST /v1/workspaces/:ws/schedules/:id/trigger': {
    call: async (ctx) => ({ path: wsPath(ctx, `/schedules/${ctx.ws.scheduleId}/trigger`) }),
  },
  'DELETE /v1/workspaces/:ws/schedules/:id': {
    call: async (ctx) => ({ path: wsPath(ctx, `/schedules/${await createSchedule(ctx.platform, ctx.ws)}`) }),
  },

  'PUT /v1/workspaces/:ws/secrets/:name': {
    call: async (ctx) => ({ path: wsPath(ctx, `/secrets/s-${short()}`), body: { value: 'fixture-value' } }),
  },
  'GET /v1/workspaces/:ws/secrets': { call: async (ctx) => ({ path: wsPath(ctx, '/secrets') }) },
  'DELETE /v1/workspaces/:ws/secrets/:name': {
    async call(ctx) {
      const name = `s-${short()}`;
      await created(
        'secret',
        send(ctx.platform.baseUrl, 'PUT', wsPath(ctx, `/secrets/${name}`), { headers: bearer(ctx.ws.token), body: { value: 'to delete' } }),
        200,
      );
      return { path: wsPath(ctx, `/secrets/${name}`) };
    },
  },

  'POST /v1/workspaces/:ws/runners': { call: async (ctx) => ({ path: wsPath(ctx, '/runners'), body: { name: `r-${short()}` } }) },
  'GET /v1/workspaces/:ws/runners': { call: async (ctx) => ({ path: wsPath(ctx, '/runners') }) },
  'GET /v1/workspaces/:ws/runners/:runnerId/checks': { call: async (ctx) => ({ path: wsPath(ctx, `/runners/${ctx.ws.runnerId}/checks`) }) },
  // A Runner of its own each time: the workspace's own Runner keeps its key for the runs other calls start.
  'POST /v1/workspaces/:ws/runners/:runnerId/attestation-key': {
    call: async (ctx) => ({ path: wsPath(ctx, `/runners/${await freshRunner(ctx.platform, ctx.ws)}/attestation-key`), body: {} }),
  },
  'DELETE /v1/workspaces/:ws/runners/:runnerId/attestation-key': {
    call: async (ctx) => ({ path: wsPath(ctx, `/runners/${await freshRunner(ctx.platform, ctx.ws)}/attestation-key`) }),
  },
  'POST /v1/workspaces/:ws/runners/:runnerId/temporal-token': {
    call: async (ctx) => ({ path: wsPath(ctx, `/runners/${ctx.ws.runnerId}/temporal-token`) }),
  },
  'GET /.well-known/lookout/temporal-jwks.json': { call: async () => ({ path: '/.well-known/lookout/temporal-jwks.json' }) },
};

/** The example of `route`; throws (failing the case) when the route has none. */
export function exampleOf(route: Pick<RouteDef, 'method' | 'path'>): RouteExample {
  const example = ROUTE_EXAMPLES[routeKey(route)];
  if (!example) throw new Error(`no example request for ${routeKey(route)}: add one to test/harness/route-examples.ts`);
  return example;
}
