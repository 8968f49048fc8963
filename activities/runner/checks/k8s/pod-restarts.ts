/** `k8s.pod-restarts`: restarting and crash-looping containers, telling OOM kills from probe failures and crashes. */
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { PodRestartsParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check, CheckOutcome } from '../check';
import { foldScoped, guarded, kubeRun, nsFlag, outcome, podNextChecks, ref, type KubeRun, type PageFold, type Scope } from './common';

export function restartIssues(pods: V1Pod[], threshold: number): Issue[] {
  const issues: Issue[] = [];
  for (const pod of pods) {
    const resource = ref('Pod', pod);
    const statuses: V1ContainerStatus[] = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    for (const cs of statuses) {
      const crashLooping = cs.state?.waiting?.reason === 'CrashLoopBackOff';
      if (!crashLooping && cs.restartCount < threshold) continue;
      const last = cs.lastState?.terminated;
      const spec = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((c) => c.name === cs.name);
      const logs = `kubectl logs ${resource.name}${nsFlag(resource)} -c ${cs.name} --previous`;
      let cause: string;
      let nextSteps: string[];
      if (last?.reason === 'OOMKilled') {
        const limit = spec?.resources?.limits?.['memory'];
        cause = `killed for using more memory than its limit${limit ? ` (${limit})` : ''} (OOMKilled)`;
        nextSteps = [
          `kubectl top pod ${resource.name}${nsFlag(resource)} --containers`,
          'Raise the memory limit of the container or find what grows its memory',
          logs,
        ];
      } else if (spec?.livenessProbe && (last?.exitCode === 137 || last?.exitCode === 143) && last.reason !== 'Completed') {
        cause = `killed after failing its liveness probe (exit code ${last.exitCode})`;
        nextSteps = [
          `kubectl describe pod ${resource.name}${nsFlag(resource)}`,
          'Check the liveness probe (path, port, timeouts, initialDelaySeconds) against how long the app takes to answer',
          logs,
        ];
      } else if (last) {
        cause = `exited with code ${last.exitCode}${last.reason ? ` (${last.reason})` : ''}`;
        nextSteps = [logs, `kubectl describe pod ${resource.name}${nsFlag(resource)}`];
      } else {
        cause = 'restarting';
        nextSteps = [logs, `kubectl describe pod ${resource.name}${nsFlag(resource)}`];
      }
      issues.push({
        severity: crashLooping ? 2 : 3,
        title: crashLooping ? `Container ${cs.name} is in CrashLoopBackOff` : `Container ${cs.name} restarts repeatedly`,
        resource,
        expected: `fewer than ${threshold} restarts and a running container`,
        actual: `${cs.restartCount} restarts, last ${cause}`,
        nextSteps,
        nextChecks: podNextChecks(pod),
      });
    }
  }
  return issues;
}

/**
 * Lists the pods in the scope once, page by page, and hands every page to each fold: the three pod
 * checks share one listing in `k8s.namespace-health`. Outcomes in the order of `folds`.
 */
export async function foldPods(run: KubeRun, scope: Scope, folds: readonly PageFold<V1Pod>[]): Promise<CheckOutcome[]> {
  const count = await foldScoped(
    run,
    'pods',
    scope,
    (q) => run.kube.core.listPodForAllNamespaces(q),
    (namespace, q) => run.kube.core.listNamespacedPod({ namespace, ...q }),
    (pods) => folds.forEach((f) => f.page(pods)),
  );
  return folds.map((f) => f.done(count));
}

/** `k8s.pod-restarts` as a fold over pages of pods. */
export function podRestartsFold(restartThreshold: number): PageFold<V1Pod> {
  const issues: Issue[] = [];
  return {
    page: (pods) => issues.push(...restartIssues(pods, restartThreshold)),
    done: (count) =>
      outcome(issues, `${count} pods, no container restarting`, { 'pods.checked': count }, (n) => `${n} containers restart or crash-loop`),
  };
}

export const podRestarts: Check<PodRestartsParams> = {
  type: 'k8s.pod-restarts',
  params: PodRestartsParams,
  run: (params, ctx) =>
    guarded(async () => {
      const [result] = await foldPods(kubeRun(ctx), params, [podRestartsFold(params.restartThreshold)]);
      return result!;
    }),
};
