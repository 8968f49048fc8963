/** `k8s.pod-restarts`: restarting and crash-looping containers, telling OOM kills from probe failures and crashes. */
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { PodRestartsParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check } from '../check';
import { guarded, kubeRun, listScoped, nsFlag, outcome, ref, type KubeRun, type Scope } from './common';

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
      });
    }
  }
  return issues;
}

export async function listPods(run: KubeRun, scope: Scope): Promise<V1Pod[]> {
  return listScoped(
    run,
    'pods',
    scope,
    (q) => run.kube.core.listPodForAllNamespaces(q),
    (namespace, q) => run.kube.core.listNamespacedPod({ namespace, ...q }),
  );
}

export const podRestarts: Check<PodRestartsParams> = {
  type: 'k8s.pod-restarts',
  params: PodRestartsParams,
  run: (params, ctx) =>
    guarded(async () => {
      const pods = await listPods(kubeRun(ctx), params);
      return outcome(
        restartIssues(pods, params.restartThreshold),
        `${pods.length} pods, no container restarting`,
        { 'pods.checked': pods.length },
        (n) => `${n} containers restart or crash-loop`,
      );
    }),
};
