/**
 * Temporal credentials scoped per workspace, proved on a Temporal server with Temporal's own JWT
 * claim mapper and authorizer turned on (scripts/temporal-authz, built from the Go module proxy):
 * every operation × every credential × both workspaces' namespaces, with exact outcomes, then the
 * whole Lookout path (API, platform worker, a Runner holding only its worker token) on that server.
 *
 * Credentials: the Platform's (`temporal-system:admin`), each Runner's (`<its namespace>:worker`,
 * the worker role of the `lookout` authorizer: Temporal's default authorizer plus that one role,
 * which the default cannot express), a namespace writer (`<namespace>:write`, what a worker needs
 * under the default authorizer alone), and none.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { msToTs } from '@temporalio/common/lib/time';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ensureTemporalAuthz } from '../scripts/tools';
import { freePort } from '../platform/db/embedded';
import {
  api,
  newWorkspace,
  runTaskViaApi,
  startHttpServer,
  startPlatform,
  startRunner,
  testTemporalTokens,
  type TestPlatform,
} from './harness/env';

const NS_A = 'lookout-authz-a';
const NS_B = 'lookout-authz-b';
const NS_DOOMED = 'lookout-authz-doomed';

let server: ChildProcess | undefined;
let jwks: Awaited<ReturnType<typeof startHttpServer>> | undefined;
let address = '';
const tokens: Record<string, string> = {};
const fixtures: Record<string, string> = {};

/** Tokens from the Platform's own issuer (platform/crypto/temporal-tokens.ts), as the API issues them. */
async function token(permissions: string[], sub: string): Promise<string> {
  return testTemporalTokens.issue(sub, permissions, 1).token;
}

async function connect(credential: string): Promise<Connection> {
  return Connection.connect(credential === 'none' ? { address } : { address, apiKey: tokens[credential]!, tls: false });
}

beforeAll(async () => {
  // The JWKS the API publishes (/.well-known/lookout/temporal-jwks.json) for the same key; the
  // server reads it once at start, before any Platform is up, so it is served from here.
  jwks = await startHttpServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(testTemporalTokens.jwks())),
  );
  const port = await freePort();
  address = `127.0.0.1:${port}`;
  const args = ['--port', String(port), '--jwks-url', `${jwks.url}/jwks.json`, '--authorizer', 'lookout', '--log-level', 'error'];
  for (const ns of [NS_A, NS_B, NS_DOOMED]) args.push('--namespace', ns);
  server = spawn(ensureTemporalAuthz(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  tokens['platform'] = await token(['temporal-system:admin'], 'lookout-platform');
  tokens['runnerA'] = await token([`${NS_A}:worker`], 'runner-a');
  tokens['runnerB'] = await token([`${NS_B}:worker`], 'runner-b');
  tokens['writerA'] = await token([`${NS_A}:write`], 'writer-a');
  for (const deadline = Date.now() + 60_000; ;) {
    try {
      const c = await connect('platform');
      await c.workflowService.describeNamespace({ namespace: NS_A });
      await c.close();
      break;
    } catch (err) {
      if (Date.now() > deadline || server.exitCode !== null) throw new Error(`temporal-authz did not start: ${out} ${String(err)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  // One open workflow per namespace, started with the Platform's credentials.
  const platform = await connect('platform');
  for (const ns of [NS_A, NS_B]) {
    fixtures[ns] = `ws-fixture.run-${randomUUID()}`;
    await platform.workflowService.startWorkflowExecution({
      namespace: ns,
      workflowId: fixtures[ns],
      workflowType: { name: 'runTask' },
      taskQueue: { name: 'platform' },
      requestId: randomUUID(),
    });
  }
  await platform.close();
}, 240_000);

afterAll(async () => {
  server?.kill('SIGTERM');
  await jwks?.stop();
});

const missing = () => ({ workflowId: `ws-missing.run-${randomUUID()}` });
type Op = (c: Connection, ns: string) => Promise<unknown>;
const poll = (c: Connection, call: () => Promise<unknown>) => c.withDeadline(Date.now() + 1_500, call);
const OPS: Record<string, Op> = {
  list: (c, ns) => c.workflowService.listWorkflowExecutions({ namespace: ns, pageSize: 5 }),
  describe: (c, ns) => c.workflowService.describeWorkflowExecution({ namespace: ns, execution: { workflowId: fixtures[ns]! } }),
  history: (c, ns) => c.workflowService.getWorkflowExecutionHistory({ namespace: ns, execution: { workflowId: fixtures[ns]! } }),
  start: (c, ns) =>
    c.workflowService.startWorkflowExecution({
      namespace: ns,
      workflowId: `ws-forged.run-${randomUUID()}`,
      workflowType: { name: 'runTask' },
      taskQueue: { name: 'platform' },
      requestId: randomUUID(),
    }),
  signal: (c, ns) =>
    c.workflowService.signalWorkflowExecution({ namespace: ns, workflowExecution: missing(), signalName: 's', requestId: randomUUID() }),
  cancel: (c, ns) =>
    c.workflowService.requestCancelWorkflowExecution({ namespace: ns, workflowExecution: missing(), requestId: randomUUID() }),
  terminate: (c, ns) => c.workflowService.terminateWorkflowExecution({ namespace: ns, workflowExecution: missing() }),
  reset: (c, ns) =>
    c.workflowService.resetWorkflowExecution({
      namespace: ns,
      workflowExecution: missing(),
      workflowTaskFinishEventId: 3 as never,
      requestId: randomUUID(),
    }),
  delete: (c, ns) => c.workflowService.deleteWorkflowExecution({ namespace: ns, workflowExecution: missing() }),
  'poll workflow tasks': (c, ns) =>
    poll(c, () => c.workflowService.pollWorkflowTaskQueue({ namespace: ns, taskQueue: { name: 'platform' } })),
  'poll activity tasks': (c, ns) =>
    poll(c, () => c.workflowService.pollActivityTaskQueue({ namespace: ns, taskQueue: { name: `runner-${randomUUID()}` } })),
  'complete an activity': (c, ns) =>
    c.workflowService.respondActivityTaskCompleted({ namespace: ns, taskToken: Buffer.from('not-a-token') }),
  heartbeat: (c, ns) => c.workflowService.recordActivityTaskHeartbeat({ namespace: ns, taskToken: Buffer.from('not-a-token') }),
  'describe the namespace': (c, ns) => c.workflowService.describeNamespace({ namespace: ns }),
  'list schedules': (c, ns) => c.workflowService.listSchedules({ namespace: ns, maximumPageSize: 5 }),
  'delete a schedule': (c, ns) => c.workflowService.deleteSchedule({ namespace: ns, scheduleId: `ws-missing.schedule-${randomUUID()}` }),
  'update the namespace': (c, ns) => c.workflowService.updateNamespace({ namespace: ns, updateInfo: { description: 'changed' } }),
  'delete the namespace': (c, ns) => c.operatorService.deleteNamespace({ namespace: ns === NS_A ? NS_A : NS_B }),
};
const WORKER_OPS = new Set(['poll activity tasks', 'complete an activity', 'heartbeat', 'describe the namespace']);
const ADMIN_OPS = new Set(['update the namespace', 'delete the namespace']);

/** PERMISSION_DENIED (7) is the authorizer's answer; anything else means the call got past it. */
async function outcome(op: Op, credential: string, ns: string): Promise<'allowed' | 'denied'> {
  const c = await connect(credential);
  try {
    await op(c, ns);
    return 'allowed';
  } catch (err) {
    const code = (err as { code?: number }).code;
    return code === 7 || code === 16 ? 'denied' : 'allowed';
  } finally {
    await c.close();
  }
}

function expected(credential: string, ns: string, op: string): 'allowed' | 'denied' {
  const own = (credential.endsWith('A') && ns === NS_A) || (credential.endsWith('B') && ns === NS_B);
  switch (credential) {
    case 'platform':
      return 'allowed';
    case 'runnerA':
    case 'runnerB':
      return own && WORKER_OPS.has(op) ? 'allowed' : 'denied';
    case 'writerA':
      return own && !ADMIN_OPS.has(op) ? 'allowed' : 'denied';
    default:
      return 'denied';
  }
}

describe('Temporal authorization of Lookout credentials (JWT claim mapper + authorizer)', () => {
  const rows = ['runnerA', 'runnerB', 'writerA', 'none', 'platform'].flatMap((credential) =>
    [NS_A, NS_B].flatMap((ns) => Object.keys(OPS).map((op) => [credential, ns, op] as const)),
  );
  // The Platform's destructive admin calls go last and on their own namespaces (see below).
  it.each(rows.filter(([credential, , op]) => !(credential === 'platform' && op === 'delete the namespace')))(
    '%s in %s: %s',
    async (credential, ns, op) => {
      expect(await outcome(OPS[op]!, credential, ns)).toBe(expected(credential, ns, op));
    },
  );

  it('the Platform may register and delete namespaces; no Runner may', async () => {
    const register =
      (ns: string): Op =>
      (c) =>
        c.workflowService.registerNamespace({ namespace: ns, workflowExecutionRetentionPeriod: msToTs(86_400_000) });
    expect(await outcome(register(`lookout-authz-${randomUUID()}`), 'runnerA', NS_A)).toBe('denied');
    expect(await outcome(register(`lookout-authz-${randomUUID()}`), 'writerA', NS_A)).toBe('denied');
    expect(await outcome(register(`lookout-authz-${randomUUID()}`), 'platform', NS_A)).toBe('allowed');
    expect(await outcome((c) => c.operatorService.deleteNamespace({ namespace: NS_DOOMED }), 'runnerA', NS_A)).toBe('denied');
    expect(await outcome((c) => c.operatorService.deleteNamespace({ namespace: NS_DOOMED }), 'platform', NS_A)).toBe('allowed');
  });
});

describe('Lookout on the authorizing server', () => {
  let platform: TestPlatform | undefined;
  afterAll(async () => {
    await platform?.stop();
  });

  it('creates each workspace its namespace and runs a check through a Runner that holds only the token its registration gave', async () => {
    platform = await startPlatform({ temporal: { address, apiKey: tokens['platform']! } });
    const target = await startHttpServer((_req, res) => res.writeHead(200).end('ok'));
    try {
      const ws = await newWorkspace(platform, { probeUrl: `${target.url}/ok` });
      expect(ws.temporalNamespace).toBe(`lookout-${ws.workspaceId}`);
      const issued = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runners/${ws.runnerId}/temporal-token`, {
        token: ws.token,
      });
      expect(issued.status).toBe(201);
      const runnerToken = String(issued.body['temporalApiKey']);
      const connection = await NativeConnection.connect({ address, apiKey: runnerToken, tls: false });
      // The same token cannot touch another workspace's namespace, nor start anything in its own.
      tokens['scoped'] = runnerToken;
      expect(await outcome(OPS['poll activity tasks']!, 'scoped', NS_A)).toBe('denied');
      expect(await outcome(OPS['start']!, 'scoped', ws.temporalNamespace!)).toBe('denied');
      const runner = await startRunner(platform, ws, { connection });
      try {
        const run = await runTaskViaApi(platform, ws, ws.taskId);
        expect(run['status']).toBe('succeeded');
      } finally {
        await runner.stop();
        await connection.close();
      }
    } finally {
      await target.stop();
    }
  });
});
