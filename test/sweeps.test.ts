/**
 * Health sweeps on the real services: every task of a Runner as child runs, a score per namespace
 * and for the cluster, and findings compared with the previous sweep (new, open, resolved).
 */
import { CHECK_TYPES } from '../common/checks';
import { addTask, api, newWorkspace, startHttpServer, startPlatform, startRunner, type TestPlatform } from './harness/env';
import * as fx from './harness/kube-fixtures';

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

async function sweep(ws: { workspaceId: string; token: string; runnerId: string }): Promise<Record<string, any>> {
  const started = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/sweeps`, {
    token: ws.token,
    body: { runnerId: ws.runnerId },
  });
  expect(started.status).toBe(202);
  for (let i = 0; i < 300; i++) {
    const res = await api(platform.baseUrl, 'GET', `/v1/sweeps/${String(started.body['id'])}`, { token: ws.token });
    if (res.body['status'] === 'completed') return res.body;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('sweep did not complete');
}

describe('healthSweep', () => {
  it('scores namespaces and the cluster, and tracks new, open and resolved findings across sweeps', async () => {
    const admin = fx.adminClients();
    const broken = await fx.namespace(admin, 'sweep-broken');
    const healthy = await fx.namespace(admin, 'sweep-healthy');
    await fx.deployment(admin, broken, 'api', 2, 0);
    await fx.deployment(admin, healthy, 'api', 2, 2);
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/ok` });
    await addTask(platform, ws, 'k8s.workload-availability', { namespaces: [broken, healthy] });
    await addTask(platform, ws, 'k8s.pod-restarts', { namespaces: [broken, healthy] });
    const runner = await startRunner(platform, ws, {
      kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '',
      allowedChecks: CHECK_TYPES,
    });
    try {
      const first = await sweep(ws);
      expect(first['runs']).toHaveLength(3);
      expect((first['runs'] as { status: string }[]).every((r) => r.status === 'succeeded')).toBe(true);
      expect(first['namespaces']).toEqual({ [broken]: { score: 0.6, issues: 1 } });
      expect(first['score']).toBe(0.6);
      expect(first['issues']).toEqual({ new: 1, open: 0, resolved: 0 });

      // The deployment recovers; a pod starts crash-looping.
      const dep = await admin.apps.readNamespacedDeployment({ name: 'api', namespace: broken });
      await admin.apps.replaceNamespacedDeploymentStatus({
        name: 'api',
        namespace: broken,
        body: { ...dep, status: { ...dep.status, availableReplicas: 2, readyReplicas: 2 } },
      });
      await fx.pod(admin, broken, 'api-1', {
        phase: 'Running',
        containerStatuses: [fx.containerStatus({ restartCount: 9, state: { waiting: { reason: 'CrashLoopBackOff' } } })],
      });

      const second = await sweep(ws);
      expect(second['issues']).toEqual({ new: 1, open: 0, resolved: 1 });
      expect(second['namespaces']).toEqual({ [broken]: { score: 0.8, issues: 1 } });

      const third = await sweep(ws);
      expect(third['issues']).toEqual({ new: 0, open: 1, resolved: 0 });
    } finally {
      await runner.stop();
    }
  });

  it("refuses a Runner of another workspace, and hides another workspace's sweep", async () => {
    const a = await newWorkspace(platform, { probeUrl: `${target.url}/ok` });
    const b = await newWorkspace(platform, { probeUrl: `${target.url}/ok` });
    expect(
      (await api(platform.baseUrl, 'POST', `/v1/workspaces/${a.workspaceId}/sweeps`, { token: a.token, body: { runnerId: b.runnerId } }))
        .status,
    ).toBe(404);
    const started = await api(platform.baseUrl, 'POST', `/v1/workspaces/${b.workspaceId}/sweeps`, {
      token: b.token,
      body: { runnerId: b.runnerId },
    });
    expect((await api(platform.baseUrl, 'GET', `/v1/sweeps/${String(started.body['id'])}`, { token: a.token })).status).toBe(404);
    await (
      await platform.clientFor(b.workspaceId)
    ).workflow
      .getHandle(`ws-${b.workspaceId}.sweep-${String(started.body['id'])}`)
      .terminate('test cleanup')
      .catch(() => undefined);
  });
});
