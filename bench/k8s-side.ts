/**
 * One side of the k8s bench, in a process of its own so that its peak RSS is the side's alone:
 * `node dist/bench/k8s-side.js lookout|baseline <kubeconfig> <namespace>...`.
 *
 * - `lookout`: `k8s.namespace-health` for each namespace in turn, as a sweep runs it, with the
 *   Runner's clients (kube.ts).
 * - `baseline`: a plain paged list (limit 500) of every pod and event with @kubernetes/client-node's
 *   own client (`makeApiClient`), the floor.
 *
 * Prints one JSON line: wall time, API requests (pages), issues or objects, and the process's peak
 * RSS: the kernel's high-water mark of this process's memory (VmHWM), start-up included. Not
 * `process.resourceUsage().maxRSS`: Linux carries that over from the parent across fork and exec,
 * so a child of a large bench process would report the parent's peak.
 */
import { readFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { namespaceHealth } from '../activities/runner/checks/k8s/namespace-health';
import { eachPage, loadKubeClients } from '../activities/runner/kube';
import { RunnerPolicyEnforcer } from '../activities/runner/policy';
import { NamespaceHealthParams } from '../common/checks';
import { RunnerPolicy } from '../common/runner-policy';

export interface SideResult {
  wallMs: number;
  requests: number;
  /** Issues found (lookout) or objects listed (baseline). */
  count: number;
  peakRssMiB: number;
}

async function lookout(kubeconfig: string, namespaces: string[]): Promise<Omit<SideResult, 'peakRssMiB'>> {
  const kube = loadKubeClients({ kubeconfig, timeoutMs: 60_000 })!;
  const signal = new AbortController().signal;
  const noDestinations = new RunnerPolicyEnforcer(RunnerPolicy.parse({ checks: ['k8s.namespace-health'] }));
  let requests = 0;
  let issues = 0;
  const started = performance.now();
  for (const namespace of namespaces) {
    const outcome = await namespaceHealth.run(NamespaceHealthParams.parse({ namespace }), {
      signal,
      policy: noDestinations.gate({ resolve: () => Promise.reject(new Error('none')) }),
      tlsSecretNamespaces: [],
      // Checks heartbeat once per page they receive: one API request each.
      heartbeat: () => requests++,
      kube,
    });
    if (outcome.status === 'error') throw new Error(`namespace-health failed: ${outcome.summary}`);
    issues += outcome.issues.length;
  }
  const wallMs = performance.now() - started;
  await kube.close();
  return { wallMs, requests, count: issues };
}

async function baseline(kubeconfig: string): Promise<Omit<SideResult, 'peakRssMiB'>> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const options = { signal: new AbortController().signal, timeoutMs: 60_000 };
  let requests = 0;
  let objects = 0;
  const count = (items: unknown[]) => {
    requests++;
    objects += items.length;
  };
  const started = performance.now();
  await eachPage('list pods', (cont) => core.listPodForAllNamespaces({ limit: 500, ...(cont ? { _continue: cont } : {}) }), options, count);
  await eachPage(
    'list events',
    (cont) => core.listEventForAllNamespaces({ limit: 500, ...(cont ? { _continue: cont } : {}) }),
    options,
    count,
  );
  return { wallMs: performance.now() - started, requests, count: objects };
}

/** VmHWM of this process in MiB (Linux). */
function peakRssMiB(): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error('no VmHWM in /proc/self/status');
  return Math.round(Number(match[1]) / 1024);
}

async function main(): Promise<void> {
  const [side, kubeconfig, ...namespaces] = process.argv.slice(2);
  if ((side !== 'lookout' && side !== 'baseline') || !kubeconfig)
    throw new Error('usage: k8s-side lookout|baseline <kubeconfig> <namespace>...');
  const result = side === 'lookout' ? await lookout(kubeconfig, namespaces) : await baseline(kubeconfig);
  const out: SideResult = { ...result, wallMs: Math.round(result.wallMs), peakRssMiB: peakRssMiB() };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`k8s-side: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
