/**
 * Health sweeps on the real services: every task of a Runner as child runs, a score per namespace,
 * for the cluster's own resources and per endpoint, each finding counted once however many tasks
 * report it, and findings compared with the previous sweep (new, open, resolved).
 */
import { CHECK_TYPES } from '../common/checks';
import { addTask, api, newWorkspace, startHttpServer, startPlatform, startRunner, type TestPlatform } from './harness/env';
import * as fx from './harness/kube-fixtures';
import { sweepNamespacesBinding } from '../platform/repos/sweeps.repo';

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

  it('counts each finding once across overlapping tasks, and puts it in its namespace, the cluster or its endpoint', async () => {
    // The case found on main: a namespace's pod seen by k8s.pod-restarts and by k8s.namespace-health,
    // its deployment by k8s.workload-availability and k8s.namespace-health.
    const admin = fx.adminClients();
    const ns = await fx.namespace(admin, 'sweep-overlap');
    await fx.deployment(admin, ns, 'web', 2, 1);
    await fx.pod(admin, ns, 'web-1', {
      phase: 'Running',
      containerStatuses: [fx.containerStatus({ restartCount: 9, state: { waiting: { reason: 'CrashLoopBackOff' } } })],
    });
    const label = `overlap-${ns}`;
    await fx.node(admin, `${ns}-node`, label, [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady' }]);
    const down = await startHttpServer((_req, res) => res.writeHead(503).end('down'));
    try {
      const ws = await newWorkspace(platform, { probeUrl: `${down.url}/health` });
      await addTask(platform, ws, 'k8s.pod-restarts', { namespaces: [ns] });
      await addTask(platform, ws, 'k8s.workload-availability', { namespaces: [ns] });
      const own = await addTask(platform, ws, 'k8s.namespace-health', { namespace: ns });
      await addTask(platform, ws, 'k8s.node-conditions', { labelSelector: `lookout-test=${label}` });
      // The same endpoint probed by two tasks: one finding.
      await addTask(platform, ws, 'http.probe', { url: `${down.url}/health`, maxLatencyMs: 5_000 });
      const runner = await startRunner(platform, ws, {
        kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '',
        allowedChecks: CHECK_TYPES,
      });
      try {
        const result = await sweep(ws);
        expect((result['runs'] as { status: string }[]).every((r) => r.status === 'succeeded')).toBe(true);
        // The namespace scores as its own namespace-health run scores it (not once per task that saw it).
        const ownRun = (result['runs'] as { id: string; taskId: string }[]).find((r) => r.taskId === own)!;
        const nsRun = await api(platform.baseUrl, 'GET', `/v1/runs/${ownRun.id}`, { token: ws.token });
        const nsResult = nsRun.body['result'] as { score: number; issues: unknown[] };
        expect(result['namespaces']).toEqual({ [ns]: { score: nsResult.score, issues: nsResult.issues.length } });
        expect(nsResult.issues).toHaveLength(2);
        expect(result['cluster']).toEqual({ score: 0.6, issues: 1 });
        expect(Object.keys(result['endpoints'] as object)).toEqual([`${down.url}/health`]);
        expect((result['endpoints'] as Record<string, { issues: number }>)[`${down.url}/health`]!.issues).toBe(1);
        // 2 in the namespace, 1 node, 1 endpoint: 4 distinct findings, each new once.
        expect(result['issues']).toEqual({ new: 4, open: 0, resolved: 0 });
        const again = await sweep(ws);
        expect(again['issues']).toEqual({ new: 0, open: 4, resolved: 0 });

        // A previous sweep keyed the old way (by check): a new baseline, not 4 resolved and 4 new.
        await platform.pool.query('update sweep_findings set key_version = 1 where sweep_id = $1', [again['id']]);
        const rebased = await sweep(ws);
        expect(rebased['issues']).toEqual({ new: 4, open: 0, resolved: 0 });
        // A sweep sealed the old way (one flat map with a "(cluster)" entry) reads as the parts.
        await platform.pool.query('update sweeps set namespaces_sealed = $2 where id = $1', [
          again['id'],
          await platform.crypto.sealer.seal(ws.workspaceId, sweepNamespacesBinding(String(again['id'])), {
            [ns]: { score: 0.5, issues: 3 },
            '(cluster)': { score: 0.6, issues: 1 },
          }),
        ]);
        const legacy = await api(platform.baseUrl, 'GET', `/v1/sweeps/${String(again['id'])}`, { token: ws.token });
        expect(legacy.body).toMatchObject({
          namespaces: { [ns]: { score: 0.5, issues: 3 } },
          cluster: { score: 0.6, issues: 1 },
          endpoints: {},
        });
      } finally {
        await runner.stop();
      }
    } finally {
      await down.stop();
      await admin.core.deleteNode({ name: `${ns}-node` });
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
