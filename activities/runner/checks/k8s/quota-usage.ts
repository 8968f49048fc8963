/** `k8s.quota-usage`: resource quotas near or at their limit. */
import type { V1ResourceQuota } from '@kubernetes/client-node';
import { QuotaUsageParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import { parseQuantity } from '../../kube-api';
import type { Check } from '../check';
import { guarded, kubeRun, foldScoped, nsFlag, outcome, ref } from './common';

export function quotaIssues(quotas: V1ResourceQuota[], thresholdPercent: number): Issue[] {
  const issues: Issue[] = [];
  for (const quota of quotas) {
    const resource = ref('ResourceQuota', quota);
    const hard = quota.status?.hard ?? {};
    const used = quota.status?.used ?? {};
    for (const [name, limit] of Object.entries(hard)) {
      const h = parseQuantity(limit);
      const u = parseQuantity(used[name] ?? '0');
      if (!Number.isFinite(h) || !Number.isFinite(u) || h <= 0) continue;
      const percent = (u / h) * 100;
      if (percent < thresholdPercent) continue;
      issues.push({
        severity: percent >= 100 ? 2 : 3,
        title: percent >= 100 ? `Quota for ${name} is exhausted` : `Quota for ${name} is nearly used up`,
        resource,
        expected: `${name} below ${thresholdPercent}% of ${limit}`,
        actual: `${used[name] ?? '0'} of ${limit} used (${Math.round(percent)}%)`,
        nextSteps: [
          `kubectl describe resourcequota ${resource.name}${nsFlag(resource)}`,
          'Raise the quota, or remove what uses it; new pods or objects are refused once it is exhausted',
        ],
      });
    }
  }
  return issues;
}

export const quotaUsage: Check<QuotaUsageParams> = {
  type: 'k8s.quota-usage',
  params: QuotaUsageParams,
  run: (params, ctx) =>
    guarded(async () => {
      const run = kubeRun(ctx);
      const issues: Issue[] = [];
      const count = await foldScoped(
        run,
        'resourcequotas',
        params,
        (q) => run.kube.core.listResourceQuotaForAllNamespaces(q),
        (namespace, q) => run.kube.core.listNamespacedResourceQuota({ namespace, ...q }),
        (quotas) => issues.push(...quotaIssues(quotas, params.thresholdPercent)),
      );
      return outcome(
        issues,
        `${count} quotas below ${params.thresholdPercent}%`,
        { 'quotas.checked': count },
        (n) => `${n} quotas near or at their limit`,
      );
    }),
};
