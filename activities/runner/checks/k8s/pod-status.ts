/** `k8s.pod-status`: pods pending too long (with the scheduler's reason) and failed pods (with theirs). */
import type { V1Pod } from '@kubernetes/client-node';
import { PodStatusParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check } from '../check';
import { guarded, kubeRun, minutesSince, nsFlag, outcome, ref, rawMessage, reasonOf, type PageFold } from './common';
import { foldPods } from './pod-restarts';

export function podStatusIssues(pods: V1Pod[], pendingMinutes: number, now = Date.now()): Issue[] {
  const issues: Issue[] = [];
  for (const pod of pods) {
    const resource = ref('Pod', pod);
    const phase = pod.status?.phase;
    if (phase === 'Pending' && minutesSince(pod.metadata?.creationTimestamp, now) >= pendingMinutes) {
      const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
      const unschedulable = scheduled?.status === 'False';
      issues.push({
        severity: 2,
        title: unschedulable ? 'Pod cannot be scheduled' : 'Pod is stuck pending',
        resource,
        expected: `running within ${pendingMinutes} minutes`,
        actual: unschedulable
          ? `${reasonOf(scheduled.reason, 'Unschedulable')} for ${Math.round(minutesSince(pod.metadata?.creationTimestamp, now))} minutes`
          : `pending for ${Math.round(minutesSince(pod.metadata?.creationTimestamp, now))} minutes`,
        ...(unschedulable ? rawMessage(scheduled.message) : {}),
        nextSteps: unschedulable
          ? [
              `kubectl describe pod ${resource.name}${nsFlag(resource)}`,
              'Compare its requests, node selector, affinity and tolerations with the free capacity of the nodes (kubectl describe nodes)',
            ]
          : [
              `kubectl describe pod ${resource.name}${nsFlag(resource)}`,
              `kubectl get events${nsFlag(resource)} --field-selector involvedObject.name=${resource.name}`,
            ],
      });
    } else if (phase === 'Failed') {
      issues.push({
        severity: 3,
        title: 'Pod failed',
        resource,
        expected: 'a running or succeeded pod',
        actual: reasonOf(pod.status?.reason, 'Failed'),
        ...rawMessage(pod.status?.message),
        nextSteps: [
          `kubectl describe pod ${resource.name}${nsFlag(resource)}`,
          `kubectl delete pod ${resource.name}${nsFlag(resource)} once understood (its controller replaces it)`,
        ],
      });
    }
  }
  return issues;
}

/** `k8s.pod-status` as a fold over pages of pods; "now" is when the fold starts, for every page. */
export function podStatusFold(pendingMinutes: number, now = Date.now()): PageFold<V1Pod> {
  const issues: Issue[] = [];
  return {
    page: (pods) => issues.push(...podStatusIssues(pods, pendingMinutes, now)),
    done: (count) =>
      outcome(issues, `${count} pods, none pending or failed`, { 'pods.checked': count }, (n) => `${n} pods pending or failed`),
  };
}

export const podStatus: Check<PodStatusParams> = {
  type: 'k8s.pod-status',
  params: PodStatusParams,
  run: (params, ctx) =>
    guarded(async () => {
      const [result] = await foldPods(kubeRun(ctx), params, [podStatusFold(params.pendingMinutes)]);
      return result!;
    }),
};
