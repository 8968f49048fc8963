/** `k8s.workload-availability`: deployments, statefulsets and daemonsets with fewer available replicas than desired. */
import type { V1DaemonSet, V1Deployment, V1StatefulSet } from '@kubernetes/client-node';
import { WorkloadAvailabilityParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check } from '../check';
import { guarded, kubeRun, foldWorkloads, nsFlag, outcome, ref } from './common';

function availability(
  kind: string,
  obj: V1Deployment | V1StatefulSet | V1DaemonSet,
  desired: number,
  available: number,
): Issue | undefined {
  if (available >= desired) return undefined;
  const resource = ref(kind, obj);
  const lower = kind.toLowerCase();
  return {
    severity: available === 0 ? 1 : 2,
    title: available === 0 ? `${kind} has no available replica` : `${kind} is degraded`,
    resource,
    expected: `${desired} available replicas`,
    actual: `${available} available`,
    nextSteps: [
      `kubectl rollout status ${lower}/${resource.name}${nsFlag(resource)}`,
      `kubectl describe ${lower} ${resource.name}${nsFlag(resource)}`,
      `kubectl get pods${nsFlag(resource)} -l <its selector> and look at the pods that are not ready`,
    ],
  };
}

export function workloadIssues(deployments: V1Deployment[], statefulSets: V1StatefulSet[], daemonSets: V1DaemonSet[]): Issue[] {
  return [
    ...deployments.map((d) => availability('Deployment', d, d.spec?.replicas ?? 1, d.status?.availableReplicas ?? 0)),
    ...statefulSets.map((s) =>
      availability('StatefulSet', s, s.spec?.replicas ?? 1, s.status?.availableReplicas ?? s.status?.readyReplicas ?? 0),
    ),
    ...daemonSets.map((d) => availability('DaemonSet', d, d.status?.desiredNumberScheduled ?? 0, d.status?.numberAvailable ?? 0)),
  ].filter((i): i is Issue => i !== undefined);
}

export const workloadAvailability: Check<WorkloadAvailabilityParams> = {
  type: 'k8s.workload-availability',
  params: WorkloadAvailabilityParams,
  run: (params, ctx) =>
    guarded(async () => {
      const issues: Issue[] = [];
      const counted = await foldWorkloads(kubeRun(ctx), params, {
        deployments: (page) => issues.push(...workloadIssues(page, [], [])),
        statefulSets: (page) => issues.push(...workloadIssues([], page, [])),
        daemonSets: (page) => issues.push(...workloadIssues([], [], page)),
      });
      const total = counted.deployments + counted.statefulSets + counted.daemonSets;
      return outcome(
        issues,
        `${total} workloads, all available`,
        { 'workloads.checked': total },
        (n) => `${n} workloads below their desired replicas`,
      );
    }),
};
