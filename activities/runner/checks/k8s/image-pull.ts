/** `k8s.image-pull`: containers that cannot pull their image. */
import type { V1Pod } from '@kubernetes/client-node';
import { ImagePullParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check } from '../check';
import { clip, guarded, kubeRun, nsFlag, outcome, ref, rawMessage, type PageFold } from './common';
import { foldPods } from './pod-restarts';

const PULL_ERRORS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'RegistryUnavailable']);

export function imagePullIssues(pods: V1Pod[]): Issue[] {
  const issues: Issue[] = [];
  for (const pod of pods) {
    const resource = ref('Pod', pod);
    for (const cs of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      const waiting = cs.state?.waiting;
      if (!waiting?.reason || !PULL_ERRORS.has(waiting.reason)) continue;
      issues.push({
        severity: 2,
        title: `Container ${cs.name} cannot pull its image`,
        resource,
        expected: `image ${clip(cs.image, 200)} pulled`,
        actual: waiting.reason,
        ...rawMessage(waiting.message),
        nextSteps: [
          `kubectl describe pod ${resource.name}${nsFlag(resource)}`,
          'Check the image name and tag exist in the registry',
          `Check imagePullSecrets of the pod or its service account (kubectl get serviceaccount ${pod.spec?.serviceAccountName ?? 'default'}${nsFlag(resource)} -o yaml)`,
        ],
      });
    }
  }
  return issues;
}

/** `k8s.image-pull` as a fold over pages of pods. */
export function imagePullFold(): PageFold<V1Pod> {
  const issues: Issue[] = [];
  return {
    page: (pods) => issues.push(...imagePullIssues(pods)),
    done: (count) =>
      outcome(issues, `${count} pods, no image pull errors`, { 'pods.checked': count }, (n) => `${n} containers cannot pull their image`),
  };
}

export const imagePull: Check<ImagePullParams> = {
  type: 'k8s.image-pull',
  params: ImagePullParams,
  run: (params, ctx) =>
    guarded(async () => {
      const [result] = await foldPods(kubeRun(ctx), params, [imagePullFold()]);
      return result!;
    }),
};
