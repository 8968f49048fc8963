/**
 * `k8s.namespace-health` swept over 50 namespaces holding 1,000 and 10,000 pods (with warning events)
 * on a real kube-apiserver: wall time, peak RSS and API requests, beside a plain paged `list` of the
 * same objects with @kubernetes/client-node as the floor, in the same run.
 *
 * This process populates the cluster (and grows to several hundred MiB doing so); each side then
 * runs in a fresh child process (k8s-side.ts), so that the peak RSS reported is that side's own.
 * Every process the bench starts (the two sides, etcd, kube-apiserver) is stopped before it returns:
 * SIGTERM, then SIGKILL for whatever has not exited within a few seconds.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { startKubeCluster, type KubeCluster } from '../scripts/kube-cluster';
import type { SideResult } from './k8s-side';
import type { BenchResult } from './types';

export const NAMESPACES = 50;

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Runs one side (k8s-side.ts) in its own Node process and returns what it printed. */
function runSide(side: 'lookout' | 'baseline', kubeconfig: string, namespaces: string[]): Promise<SideResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'k8s-side.js'), side, kubeconfig, ...namespaces], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code !== 0) return reject(new Error(`the ${side} side exited (${signal ?? code}): ${err.trim().slice(0, 500)}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as SideResult);
      } catch {
        reject(new Error(`the ${side} side printed no result: ${out.slice(0, 200)}`));
      }
    });
  });
}

/** Whether any process of the group `pgid` is still there. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops process groups (each started detached, so its pid is its group id): SIGTERM to each, a wait
 * of up to `graceMs` for them to exit, then SIGKILL to the groups still there and a last wait.
 */
export async function stopGroups(pgids: readonly number[], graceMs = 10_000): Promise<void> {
  const signalAll = (signal: NodeJS.Signals) => {
    for (const pgid of pgids) {
      try {
        process.kill(-pgid, signal);
      } catch {
        // already gone
      }
    }
  };
  const waitGone = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (pgids.some(groupAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  };
  signalAll('SIGTERM');
  await waitGone(graceMs);
  if (!pgids.some(groupAlive)) return;
  signalAll('SIGKILL');
  await waitGone(5_000);
  const left = pgids.filter(groupAlive);
  if (left.length) throw new Error(`process groups ${left.join(', ')} survived SIGKILL`);
}

export async function populate(core: CoreV1Api, namespaces: string[], pods: number, offset: number): Promise<void> {
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

/**
 * Runs `fn` with a kube-apiserver (and etcd) of its own, then stops both — kube-apiserver first,
 * the reverse of their start, each group waited for — and removes their files.
 */
export async function withKubeCluster<T>(fn: (cluster: KubeCluster) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-bench-kube-'));
  const cluster = await startKubeCluster(dir);
  try {
    return await fn(cluster);
  } finally {
    try {
      for (const pid of [...cluster.pids].reverse()) await stopGroups([pid]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

export async function run(): Promise<BenchResult[]> {
  return withKubeCluster(async (cluster) => {
    const results: BenchResult[] = [];
    const adminKc = new KubeConfig();
    adminKc.loadFromFile(cluster.adminKubeconfig);
    const admin = adminKc.makeApiClient(CoreV1Api);
    const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `bench-${i}`);
    for (const name of namespaces) await admin.createNamespace({ body: { metadata: { name } } });
    let populated = 0;
    for (const pods of [1_000, 10_000]) {
      await populate(admin, namespaces, pods - populated, populated);
      populated = pods;
      // Baseline first, then Lookout: each in a fresh process, on the same cluster state.
      const floor = await runSide('baseline', cluster.runnerKubeconfig, namespaces);
      const sweep = await runSide('lookout', cluster.runnerKubeconfig, namespaces);
      results.push({
        bench: 'k8s',
        case: `namespace-health × ${NAMESPACES} namespaces, ${pods} pods`,
        metrics: {
          lookout_wall_ms: sweep.wallMs,
          lookout_api_requests: sweep.requests,
          lookout_peak_rss_mib: sweep.peakRssMiB,
          lookout_issues: sweep.count,
          baseline_wall_ms: floor.wallMs,
          baseline_api_requests: floor.requests,
          baseline_peak_rss_mib: floor.peakRssMiB,
          baseline_objects: floor.count,
          ratio_wall_lookout_to_baseline: Math.round((sweep.wallMs / floor.wallMs) * 100) / 100,
        },
        baseline:
          'plain paged list of all pods and events with @kubernetes/client-node (makeApiClient, limit 500); each side in its own process, peak RSS of that process',
      });
    }
    return results;
  });
}
