/**
 * `k8s.namespace-health` swept over 50 namespaces holding 1,000 and 10,000 pods (with warning events)
 * on a real kube-apiserver: wall time, peak RSS and API requests, beside a plain paged `list` of the
 * same objects with @kubernetes/client-node as the floor, in the same run.
 */
import { RunnerPolicyEnforcer } from '../activities/runner/policy';
import { RunnerPolicy } from '../common/runner-policy';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { namespaceHealth } from '../activities/runner/checks/k8s/namespace-health';
import { listAll, loadKubeClients } from '../activities/runner/kube';
import { NamespaceHealthParams } from '../common/checks';
import { startKubeCluster } from '../scripts/kube-cluster';
import type { BenchResult } from './types';

const NAMESPACES = 50;

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function rssSampler() {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  return { stop: () => (clearInterval(timer), Math.max(peak, process.memoryUsage().rss)) };
}

async function populate(core: CoreV1Api, namespaces: string[], pods: number, offset: number): Promise<void> {
  const jobs = Array.from({ length: pods }, (_, i) => i + offset);
  await pool(jobs, 16, async (i) => {
    const namespace = namespaces[i % namespaces.length]!;
    const name = `pod-${i}`;
    const created = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name, labels: { app: `app-${i % 7}` } },
        spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] },
      },
    });
    const crashing = i % 20 === 0;
    await core.replaceNamespacedPodStatus({
      name,
      namespace,
      body: {
        ...created,
        status: {
          phase: 'Running',
          containerStatuses: [
            {
              name: 'app',
              image: 'registry.example/app:1',
              imageID: '',
              ready: !crashing,
              restartCount: crashing ? 12 : 0,
              state: crashing ? { waiting: { reason: 'CrashLoopBackOff' } } : { running: { startedAt: new Date() } },
            },
          ],
        },
      },
    });
    if (i % 10 === 0) {
      const now = new Date();
      await core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${name}.ev` },
          involvedObject: { kind: 'Pod', name, namespace },
          reason: 'BackOff',
          message: 'Back-off restarting failed container',
          type: 'Warning',
          count: 3,
          firstTimestamp: now,
          lastTimestamp: now,
        },
      });
    }
  });
}

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-bench-kube-'));
  const cluster = await startKubeCluster(dir);
  const results: BenchResult[] = [];
  try {
    const adminKc = new KubeConfig();
    adminKc.loadFromFile(cluster.adminKubeconfig);
    const admin = adminKc.makeApiClient(CoreV1Api);
    const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `bench-${i}`);
    for (const name of namespaces) await admin.createNamespace({ body: { metadata: { name } } });
    let populated = 0;
    for (const pods of [1_000, 10_000]) {
      await populate(admin, namespaces, pods - populated, populated);
      populated = pods;
      const kube = loadKubeClients({ kubeconfig: cluster.runnerKubeconfig, timeoutMs: 60_000 })!;

      // Floor: list every pod and event with the plain client, paged the same way.
      const signal = new AbortController().signal;
      let floorRequests = 0;
      let rss = rssSampler();
      let started = performance.now();
      const listedPods = await listAll(
        'list pods',
        (cont) => kube.core.listPodForAllNamespaces({ limit: 500, ...(cont ? { _continue: cont } : {}) }),
        { signal, timeoutMs: 60_000, onPage: () => floorRequests++ },
      );
      const listedEvents = await listAll(
        'list events',
        (cont) => kube.core.listEventForAllNamespaces({ limit: 500, ...(cont ? { _continue: cont } : {}) }),
        { signal, timeoutMs: 60_000, onPage: () => floorRequests++ },
      );
      const floorMs = performance.now() - started;
      const floorRss = rss.stop();

      // Lookout: namespace-health for each namespace, as a sweep would run it.
      const noDestinations = new RunnerPolicyEnforcer(RunnerPolicy.parse({ checks: ['k8s.namespace-health'] }));
      let requests = 0;
      let issues = 0;
      rss = rssSampler();
      started = performance.now();
      for (const namespace of namespaces) {
        const outcome = await namespaceHealth.run(NamespaceHealthParams.parse({ namespace }), {
          signal,
          policy: noDestinations.gate({ resolve: () => Promise.reject(new Error('none')) }),
          tlsSecretNamespaces: [],
          heartbeat: () => requests++,
          kube,
        });
        issues += outcome.issues.length;
      }
      const sweepMs = performance.now() - started;
      const sweepRss = rss.stop();
      results.push({
        bench: 'k8s',
        case: `namespace-health × ${NAMESPACES} namespaces, ${pods} pods`,
        metrics: {
          lookout_wall_ms: Math.round(sweepMs),
          lookout_api_requests: requests,
          lookout_peak_rss_mib: Math.round(sweepRss / 2 ** 20),
          lookout_issues: issues,
          baseline_wall_ms: Math.round(floorMs),
          baseline_api_requests: floorRequests,
          baseline_peak_rss_mib: Math.round(floorRss / 2 ** 20),
          baseline_objects: listedPods.length + listedEvents.length,
          ratio_wall_lookout_to_baseline: Math.round((sweepMs / floorMs) * 100) / 100,
        },
        baseline: 'plain paged list of all pods and events with @kubernetes/client-node (limit 500)',
      });
    }
  } finally {
    for (const pid of cluster.pids.reverse()) {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    await new Promise((r) => setTimeout(r, 1_000));
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
