/**
 * Next checks: a finding names the checks that would tell more about it (a crash-looping pod: its
 * namespace's warning events and its node's conditions), the issue shows them, and a sweep runs them
 * as a next round (bounded depth, only what the Runner's policy allows, each distinct check once),
 * through the API, Temporal and a real Runner on the test kube-apiserver.
 */
import { randomBytes } from 'node:crypto';
import { CHECK_TYPES } from '../common/checks';
import { addTask, api, newWorkspace, startPlatform, startRunner, type TestPlatform } from './harness/env';
import * as fx from './harness/kube-fixtures';

let platform: TestPlatform;
let admin: fx.Admin;
let ns: string;
let nodeName: string;
const kubeconfig = () => process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '';

interface SweepView {
  status: string;
  runs: { id: string; taskId: string; checkType: string; status: string }[];
  namespaces: Record<string, { score: number; issues: number }> | null;
  cluster: { score: number; issues: number } | null;
}

beforeAll(async () => {
  platform = await startPlatform();
  admin = fx.adminClients();
  ns = await fx.namespace(admin, 'next');
  nodeName = `next-node-${randomBytes(4).toString('hex')}`;
  await fx.node(admin, nodeName, 'next-checks', [
    { type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'PLEG is not healthy' },
  ]);
  await fx.pod(
    admin,
    ns,
    'worker',
    { phase: 'Running', containerStatuses: [fx.containerStatus({ restartCount: 12, state: { waiting: { reason: 'CrashLoopBackOff' } } })] },
    { nodeName },
  );
  await fx.warningEvent(admin, ns, 'worker', 'BackOff', 30);
});

afterAll(async () => {
  await platform?.stop();
});

async function sweep(ws: Awaited<ReturnType<typeof newWorkspace>>, body: Record<string, unknown> = {}): Promise<SweepView> {
  const started = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/sweeps`, {
    token: ws.token,
    body: { runnerId: ws.runnerId, ...body },
  });
  expect(started.status).toBe(202);
  const id = String(started.body['id']);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const got = await api(platform.baseUrl, 'GET', `/v1/sweeps/${id}`, { token: ws.token });
    if (got.status === 200 && got.body['status'] !== 'running') return got.body as unknown as SweepView;
    if (Date.now() > deadline) throw new Error('the sweep did not finish');
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until the Platform has the Runner's policy (it asks an online Runner when it lists it). */
async function policyReported(ws: Awaited<ReturnType<typeof newWorkspace>>): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const listed = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners`, { token: ws.token });
    if ((listed.body['items'] as { id: string; policy: unknown }[]).find((r) => r.id === ws.runnerId)?.policy) return;
    if (Date.now() > deadline) throw new Error('the Runner did not report its policy');
    await new Promise((r) => setTimeout(r, 250));
  }
}

const types = (s: SweepView) => s.runs.map((r) => r.checkType).sort();

describe('next checks', () => {
  it("a crash-looping pod's issue names its events and its node; a sweep runs them once and scores what they find", async () => {
    const ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    const runner = await startRunner(platform, ws, { kubeconfig: kubeconfig(), allowedChecks: CHECK_TYPES });
    try {
      await policyReported(ws); // next checks are run only as the Runner's reported policy allows
      await platform.pool.query('delete from tasks where id = $1', [ws.taskId]); // only the pod check
      await addTask(platform, ws, 'k8s.pod-restarts', { namespaces: [ns] });
      const first = await sweep(ws);
      expect(first.status).toBe('completed');
      expect(types(first)).toEqual(['k8s.node-conditions', 'k8s.pod-restarts', 'k8s.warning-events']);
      expect(first.runs.every((r) => r.status === 'succeeded')).toBe(true);
      // The node the pod runs on is NotReady: found by the follow-up, in the cluster's part of the score.
      expect(first.cluster).toMatchObject({ issues: 1 });
      expect(first.cluster!.score).toBeLessThan(1);
      // The namespace: the crash-looping pod and its warning events.
      expect(first.namespaces?.[ns]?.issues).toBeGreaterThanOrEqual(2);

      const issues = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/issues?state=open`, { token: ws.token });
      const items = (issues.body as { items: { checkType: string; resource: { name: string }; nextChecks: unknown[] }[] }).items;
      const crash = items.find((i) => i.checkType === 'k8s.pod-restarts' && i.resource.name === 'worker');
      expect(crash?.nextChecks).toEqual([
        { type: 'k8s.warning-events', params: { namespaces: [ns] } },
        { type: 'k8s.node-conditions', params: { nodes: [nodeName] } },
      ]);
      expect(items.some((i) => i.checkType === 'k8s.node-conditions' && i.resource.name === nodeName)).toBe(true);

      // A later sweep runs the same follow-ups again, as the same tasks (no new task per sweep).
      const tasks = async () =>
        (await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/tasks?limit=100`, { token: ws.token })).body[
          'items'
        ] as unknown[];
      const before = (await tasks()).length;
      const second = await sweep(ws);
      expect(types(second)).toEqual(types(first));
      expect(new Set(second.runs.map((r) => r.taskId))).toEqual(new Set(first.runs.map((r) => r.taskId)));
      expect((await tasks()).length).toBe(before);

      // Depth 0: no follow-up.
      const bare = await sweep(ws, { nextChecks: { depth: 0 } });
      expect(types(bare)).toEqual(['k8s.pod-restarts']);
    } finally {
      await runner.stop();
    }
  }, 300_000);

  it("runs only the next checks the Runner's policy allows", async () => {
    const ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    const allowed = CHECK_TYPES.filter((t) => t !== 'k8s.node-conditions');
    const runner = await startRunner(platform, ws, { kubeconfig: kubeconfig(), allowedChecks: allowed });
    try {
      await policyReported(ws);
      await platform.pool.query('delete from tasks where id = $1', [ws.taskId]);
      await addTask(platform, ws, 'k8s.pod-restarts', { namespaces: [ns] });
      const swept = await sweep(ws);
      expect(types(swept)).toEqual(['k8s.pod-restarts', 'k8s.warning-events']);
    } finally {
      await runner.stop();
    }
  }, 300_000);
});
