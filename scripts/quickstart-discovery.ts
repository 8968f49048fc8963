/**
 * The quick start's third act: discovery. Given a kubeconfig (`LOOKOUT_KUBECONFIG`) the Runner
 * discovers that cluster; without one, the quick start starts a demo control plane (etcd and
 * kube-apiserver, as the tests do) holding a few namespaces with broken workloads, and the Runner
 * reads it with the chart's restricted ClusterRole. Through the API: discover, apply the plan (the
 * generated tasks, a rediscovery schedule and a sweep schedule), sweep once and print the scores.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describeDiscovery } from '../platform-api/cli-api';
import { startKubeCluster, stopKubeCluster } from './kube-cluster';

export interface DemoCluster {
  /** The Runner's kubeconfig: the chart's ServiceAccount and ClusterRole, nothing more. */
  runnerKubeconfig: string;
  stop(): Promise<void>;
}

/**
 * A demo control plane with three namespaces: `shop` (a deployment with one of three replicas
 * available and a crash-looping pod), `payments` (healthy, but its service has no ready endpoint)
 * and `batch` (a failed job and a claim that never binds). No controllers run: the objects' status
 * is written as theirs would be.
 */
export async function startDemoCluster(home: string, say: (line: string) => void): Promise<DemoCluster> {
  const dir = path.join(home, 'kube');
  mkdirSync(dir, { recursive: true });
  say('Kubernetes    starting a demo control plane (etcd, kube-apiserver); set LOOKOUT_KUBECONFIG to discover your own cluster');
  const cluster = await startKubeCluster(path.join(dir, `run-${Date.now()}`));
  const stop = () => stopKubeCluster(cluster.pids);
  try {
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.adminKubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const batch = kc.makeApiClient(k8s.BatchV1Api);
    const spec = { containers: [{ name: 'app', image: 'registry.example/app:1.4.2' }] };
    for (const name of ['shop', 'payments', 'batch']) await core.createNamespace({ body: { metadata: { name } } });

    const deployment = async (namespace: string, name: string, replicas: number, available: number) => {
      const made = await apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name },
          spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec } },
        },
      });
      await apps.replaceNamespacedDeploymentStatus({
        name,
        namespace,
        body: {
          ...made,
          status: { replicas, availableReplicas: available, readyReplicas: available, updatedReplicas: replicas, observedGeneration: 1 },
        },
      });
    };
    await deployment('shop', 'storefront', 3, 1);
    await deployment('payments', 'api', 2, 2);
    const pod = await core.createNamespacedPod({
      namespace: 'shop',
      body: { metadata: { name: 'storefront-7d9f4-x2x8q', labels: { app: 'storefront' } }, spec },
    });
    await core.replaceNamespacedPodStatus({
      name: 'storefront-7d9f4-x2x8q',
      namespace: 'shop',
      body: {
        ...pod,
        status: {
          phase: 'Running',
          containerStatuses: [
            {
              name: 'app',
              image: 'registry.example/app:1.4.2',
              imageID: '',
              ready: false,
              restartCount: 14,
              state: { waiting: { reason: 'CrashLoopBackOff' } },
              lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: new Date(), finishedAt: new Date() } },
            },
          ],
        },
      },
    });
    await core.createNamespacedService({
      namespace: 'payments',
      body: { metadata: { name: 'api' }, spec: { selector: { app: 'api' }, ports: [{ port: 80 }] } },
    });
    const job = await batch.createNamespacedJob({
      namespace: 'batch',
      body: { metadata: { name: 'nightly-report' }, spec: { template: { spec: { ...spec, restartPolicy: 'Never' } }, backoffLimit: 2 } },
    });
    await batch.replaceNamespacedJobStatus({
      name: 'nightly-report',
      namespace: 'batch',
      body: {
        ...job,
        status: {
          failed: 3,
          startTime: new Date(Date.now() - 60_000),
          conditions: ['FailureTarget', 'Failed'].map((type) => ({
            type,
            status: 'True',
            reason: 'BackoffLimitExceeded',
            lastTransitionTime: new Date(),
            lastProbeTime: new Date(),
          })),
        },
      },
    });
    const claim = await core.createNamespacedPersistentVolumeClaim({
      namespace: 'batch',
      body: {
        metadata: { name: 'reports' },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } }, storageClassName: 'standard' },
      },
    });
    await core.replaceNamespacedPersistentVolumeClaimStatus({
      name: 'reports',
      namespace: 'batch',
      body: { ...claim, status: { phase: 'Pending' } },
    });
  } catch (err) {
    await stop();
    throw err;
  }
  say(`Kubernetes    ${cluster.server} (demo: namespaces shop, payments and batch, each with something broken)`);
  return { runnerKubeconfig: cluster.runnerKubeconfig, stop };
}

async function call(apiUrl: string, token: string, method: string, route: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${apiUrl}${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${typeof answer['detail'] === 'string' ? answer['detail'] : ''}`);
  return answer;
}

/** Discovers the Runner's cluster, applies the plan, sweeps once and prints the scores. */
export async function showDiscovery(o: {
  apiUrl: string;
  token: string;
  workspaceId: string;
  runnerId: string;
  say: (line?: string) => void;
}): Promise<void> {
  const { apiUrl, token, workspaceId, runnerId, say } = o;
  // The Platform learns the Runner's policy when it lists an online Runner: wait for that first.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const runners = (await call(apiUrl, token, 'GET', `/v1/workspaces/${workspaceId}/runners`))['items'] as {
      id: string;
      policy: unknown;
    }[];
    if (runners.find((r) => r.id === runnerId)?.policy) break;
    if (Date.now() > deadline) throw new Error('the Runner did not report its policy within 60 s');
    await new Promise((r) => setTimeout(r, 500));
  }
  say(`POST ${apiUrl}/v1/workspaces/${workspaceId}/runners/${runnerId}/discover?apply`);
  const answer = await call(apiUrl, token, 'POST', `/v1/workspaces/${workspaceId}/runners/${runnerId}/discover?apply`, {
    waitSeconds: 120,
  });
  for (const line of describeDiscovery(answer).split('\n')) say(line);
  if (!answer['plan']) throw new Error('discovery did not finish');
  const started = await call(apiUrl, token, 'POST', `/v1/workspaces/${workspaceId}/sweeps`, { runnerId, concurrency: 4 });
  const sweepId = String(started['id']);
  let sweep: Record<string, unknown> = {};
  const until = Date.now() + 180_000;
  for (;;) {
    const res = await fetch(`${apiUrl}/v1/sweeps/${sweepId}`, { headers: { authorization: `Bearer ${token}` } });
    if (res.ok) {
      sweep = (await res.json()) as Record<string, unknown>;
      if (sweep['status'] !== 'running') break;
    }
    if (Date.now() > until) throw new Error(`sweep ${sweepId} did not finish within 180 s`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const runs = (sweep['runs'] as unknown[] | undefined)?.length ?? 0;
  const score = typeof sweep['score'] === 'number' ? sweep['score'].toFixed(2) : 'n/a';
  say(`Sweep         ${sweepId}: ${String(sweep['status'])}, ${runs} runs, score ${score}`);
  const parts = (sweep['namespaces'] ?? {}) as Record<string, { score: number; issues: number }>;
  for (const [ns, part] of Object.entries(parts)) say(`  namespace ${ns.padEnd(24)} score ${part.score.toFixed(2)}  ${part.issues} issues`);
  const cluster = sweep['cluster'] as { score: number; issues: number } | null;
  if (cluster) say(`  cluster${' '.repeat(27)}score ${cluster.score.toFixed(2)}  ${cluster.issues} issues`);
  const issues = sweep['issues'] as { new: number; open: number; resolved: number } | null;
  if (issues) say(`  issues: ${issues.new} new, ${issues.open} open, ${issues.resolved} resolved`);
}
