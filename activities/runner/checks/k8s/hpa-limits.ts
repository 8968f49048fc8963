/** `k8s.hpa-limits`: horizontal pod autoscalers pinned at their maximum. */
import type { V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import { HpaLimitsParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check } from '../check';
import { guarded, kubeRun, foldScoped, nsFlag, outcome, ref } from './common';

export function hpaIssues(hpas: V2HorizontalPodAutoscaler[]): Issue[] {
  return hpas
    .filter((h) => (h.status?.currentReplicas ?? 0) >= h.spec.maxReplicas)
    .map((h) => {
      const resource = ref('HorizontalPodAutoscaler', h);
      const wants = h.status?.desiredReplicas ?? h.status?.currentReplicas ?? 0;
      return {
        severity: 3,
        title: 'Autoscaler is at its maximum',
        resource,
        expected: `fewer than ${h.spec.maxReplicas} replicas, with room to scale`,
        actual: `${h.status?.currentReplicas ?? 0} of at most ${h.spec.maxReplicas} replicas (desired ${wants}) for ${h.spec.scaleTargetRef.kind}/${h.spec.scaleTargetRef.name}`,
        nextSteps: [
          `kubectl describe hpa ${resource.name}${nsFlag(resource)}`,
          'Raise maxReplicas if the cluster has room, or find why the load or the per-pod usage grew',
        ],
      } satisfies Issue;
    });
}

export const hpaLimits: Check<HpaLimitsParams> = {
  type: 'k8s.hpa-limits',
  params: HpaLimitsParams,
  run: (params, ctx) =>
    guarded(async () => {
      const run = kubeRun(ctx);
      const api = run.kube.autoscaling;
      const issues: Issue[] = [];
      const count = await foldScoped(
        run,
        'horizontalpodautoscalers',
        params,
        (q) => api.listHorizontalPodAutoscalerForAllNamespaces(q),
        (namespace, q) => api.listNamespacedHorizontalPodAutoscaler({ namespace, ...q }),
        (hpas) => issues.push(...hpaIssues(hpas)),
      );
      return outcome(
        issues,
        `${count} autoscalers with room to scale`,
        { 'hpas.checked': count },
        (n) => `${n} autoscalers at their maximum`,
      );
    }),
};
