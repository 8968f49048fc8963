/** `k8s.pvc-binding`: persistent volume claims that are not bound. */
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { PvcBindingParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check } from '../check';
import { guarded, kubeRun, foldScoped, minutesSince, nsFlag, outcome, ref } from './common';

export function pvcIssues(claims: V1PersistentVolumeClaim[], pendingMinutes: number, now = Date.now()): Issue[] {
  return claims
    .filter((c) => c.status?.phase !== 'Bound' && minutesSince(c.metadata?.creationTimestamp, now) >= pendingMinutes)
    .map((c) => {
      const resource = ref('PersistentVolumeClaim', c);
      const lost = c.status?.phase === 'Lost';
      return {
        severity: lost ? 1 : 2,
        title: lost ? 'Claim lost its volume' : 'Claim is not bound',
        resource,
        expected: 'phase Bound',
        actual: `phase ${c.status?.phase ?? 'Pending'}${c.spec?.storageClassName ? `, storage class ${c.spec.storageClassName}` : ', no storage class'}`,
        nextSteps: [
          `kubectl describe pvc ${resource.name}${nsFlag(resource)}`,
          `kubectl get storageclass${c.spec?.storageClassName ? ` ${c.spec.storageClassName}` : ''}`,
          'Check the provisioner can create a volume of the requested size and access mode',
        ],
      } satisfies Issue;
    });
}

export const pvcBinding: Check<PvcBindingParams> = {
  type: 'k8s.pvc-binding',
  params: PvcBindingParams,
  run: (params, ctx) =>
    guarded(async () => {
      const run = kubeRun(ctx);
      const core = run.kube.core;
      const issues: Issue[] = [];
      const now = Date.now();
      const count = await foldScoped(
        run,
        'persistentvolumeclaims',
        params,
        (q) => core.listPersistentVolumeClaimForAllNamespaces(q),
        (namespace, q) => core.listNamespacedPersistentVolumeClaim({ namespace, ...q }),
        (claims) => issues.push(...pvcIssues(claims, params.pendingMinutes, now)),
      );
      return outcome(issues, `${count} claims, all bound`, { 'pvcs.checked': count }, (n) => `${n} claims not bound`);
    }),
};
