/**
 * Check packs, beside what they stand next to in the same run:
 *
 * - 1,000 Deployments (one in ten short of its replicas) through a declarative pack check that finds
 *   them in CEL, beside the built-in `k8s.workload-availability` on the same namespace, on a real
 *   kube-apiserver with the Runner's identity: wall time (median of several alternating runs) and
 *   API requests. The built-in also lists StatefulSets and DaemonSets (empty here).
 * - A script check's start-up and finish (`runScript`: bubblewrap sandbox, proxies, relay, result
 *   validation) for a script that prints a fixed result, beside a bare `child_process.spawn` of the
 *   same command.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { workloadAvailability } from '../activities/runner/checks/k8s/workload-availability';
import { loadKubeClients } from '../activities/runner/kube';
import { compileDeclarative, runDeclarative } from '../activities/runner/packs/declarative';
import { runScript } from '../activities/runner/packs/sandbox';
import { RunnerPolicyEnforcer } from '../activities/runner/policy';
import { WorkloadAvailabilityParams } from '../common/checks';
import { DeclarativeSpec, ScriptSpec } from '../common/packs';
import { RunnerPolicy } from '../common/runner-policy';
import { withKubeCluster } from './k8s.bench';
import type { BenchResult } from './types';

const DEPLOYMENTS = 1_000;
const ROUNDS = 5;
const SPAWNS = 20;
const NAMESPACE = 'bench-packs';
const BASELINE =
  'script row: a bare child_process.spawn of sh with the same command, stdin and stdout piped; declarative row: the built-in k8s.workload-availability on the same namespace and cluster; each alternating with its pack side in the same process';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)]! * 10) / 10;
};

async function populate(kc: KubeConfig): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < DEPLOYMENTS) {
        const i = next++;
        const name = `web-${i}`;
        const created = await apps.createNamespacedDeployment({
          namespace: NAMESPACE,
          body: {
            metadata: { name },
            spec: {
              replicas: 2,
              selector: { matchLabels: { app: name } },
              template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'registry.example/web:1' }] } },
            },
          },
        });
        const available = i % 10 === 0 ? 1 : 2;
        await apps.replaceNamespacedDeploymentStatus({
          name,
          namespace: NAMESPACE,
          body: {
            ...created,
            status: { replicas: 2, availableReplicas: available, readyReplicas: available, updatedReplicas: 2, observedGeneration: 1 },
          },
        });
      }
    }),
  );
}

const unavailable = DeclarativeSpec.parse({
  read: { apiVersion: 'apps/v1', kind: 'Deployment', namespaces: `['${NAMESPACE}']` },
  predicate: '(has(object.status.availableReplicas) ? object.status.availableReplicas : 0) < object.spec.replicas',
  issue: {
    severity: 2,
    title: "'Deployment ' + object.metadata.name + ' has fewer available replicas than desired'",
    expected: "string(object.spec.replicas) + ' available'",
    actual: "string(has(object.status.availableReplicas) ? object.status.availableReplicas : 0) + ' available'",
  },
});

async function declarativeBeside(kubeconfig: string): Promise<BenchResult> {
  const kube = loadKubeClients({ kubeconfig, timeoutMs: 60_000 })!;
  const compiled = compileDeclarative(unavailable);
  const gate = new RunnerPolicyEnforcer(RunnerPolicy.parse({ checks: ['k8s.workload-availability'] })).gate({
    resolve: () => Promise.reject(new Error('no secrets')),
  });
  const pack: number[] = [];
  const builtIn: number[] = [];
  let packRequests = 0;
  let builtInRequests = 0;
  let packIssues = 0;
  let builtInIssues = 0;
  for (let round = 0; round <= ROUNDS; round++) {
    let requests = 0;
    let started = performance.now();
    const p = await runDeclarative(
      {
        spec: unavailable,
        params: {},
        kube,
        rules: [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['list'] }],
        signal: new AbortController().signal,
        heartbeat: () => requests++,
      },
      compiled,
    );
    const packMs = performance.now() - started;
    packRequests = p.metrics['api.requests'] ?? requests;
    packIssues = p.metrics['objects.matched'] ?? p.issues.length;
    requests = 0;
    started = performance.now();
    const b = await workloadAvailability.run(WorkloadAvailabilityParams.parse({ namespaces: [NAMESPACE] }), {
      signal: new AbortController().signal,
      policy: gate,
      tlsSecretNamespaces: [],
      heartbeat: () => requests++,
      kube,
    });
    const builtInMs = performance.now() - started;
    builtInRequests = requests;
    builtInIssues = b.issues.length;
    if (p.status === 'error' || b.status === 'error') throw new Error(`a check failed: ${p.summary} / ${b.summary}`);
    // The first round warms discovery, connections and the JIT: it is not counted.
    if (round > 0) {
      pack.push(packMs);
      builtIn.push(builtInMs);
    }
  }
  await kube.close();
  return {
    bench: 'packs',
    case: `declarative check, ${DEPLOYMENTS} Deployments (median of ${ROUNDS})`,
    metrics: {
      pack_wall_ms: median(pack),
      pack_api_requests: packRequests,
      pack_issues: packIssues,
      builtin_wall_ms: median(builtIn),
      builtin_api_requests: builtInRequests,
      builtin_issues: builtInIssues,
      ratio_wall_pack_to_builtin: Math.round((median(pack) / median(builtIn)) * 100) / 100,
    },
    baseline: BASELINE,
  };
}

function spawnOnce(command: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('sh', ['-c', command], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stdin.end('{}');
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0 || !out.includes('summary')) return reject(new Error(`spawn exited ${code}`));
      JSON.parse(out);
      resolve(performance.now() - started);
    });
  });
}

async function scriptBeside(): Promise<BenchResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-bench-pack-'));
  const command = `printf '%s' '{"summary":"fine","issues":[],"metrics":{"x":1}}'`;
  try {
    mkdirSync(path.join(dir, 'checks'));
    writeFileSync(path.join(dir, 'checks', 'fixed.sh'), `#!/bin/sh\ncat >/dev/null\n${command}\n`);
    chmodSync(path.join(dir, 'checks', 'fixed.sh'), 0o755);
    chmodSync(dir, 0o755);
    const spec = ScriptSpec.parse({ run: 'checks/fixed.sh', interpreter: 'sh', timeoutSeconds: 10 });
    const sandboxed: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i <= SPAWNS; i++) {
      const started = performance.now();
      const outcome = await runScript({
        packDir: dir,
        spec,
        params: {},
        secrets: [],
        destinations: [],
        signal: new AbortController().signal,
        heartbeat: () => undefined,
      });
      const ms = performance.now() - started;
      if (outcome.summary !== 'fine') throw new Error('the sandboxed script did not answer');
      const bareMs = await spawnOnce(`cat >/dev/null; ${command}`);
      if (i > 0) {
        sandboxed.push(ms);
        bare.push(bareMs);
      }
    }
    return {
      bench: 'packs',
      case: `script check start-up and finish (median of ${SPAWNS})`,
      metrics: {
        sandboxed_ms: median(sandboxed),
        bare_spawn_ms: median(bare),
        overhead_ms: Math.round((median(sandboxed) - median(bare)) * 10) / 10,
      },
      baseline: BASELINE,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [await scriptBeside()];
  results.push(
    await withKubeCluster(async (cluster) => {
      const admin = new KubeConfig();
      admin.loadFromFile(cluster.adminKubeconfig);
      await populate(admin);
      return declarativeBeside(cluster.runnerKubeconfig);
    }),
  );
  return results;
}
