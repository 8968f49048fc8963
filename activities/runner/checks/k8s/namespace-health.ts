/** `k8s.namespace-health`: every namespaced check for one namespace, and one 0..1 score. */
import { NamespaceHealthParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check, CheckOutcome } from '../check';
import { guarded, outcome } from './common';
import { imagePull } from './image-pull';
import { jobsCheck } from './jobs';
import { podRestarts } from './pod-restarts';
import { podStatus } from './pod-status';
import { pvcBinding } from './pvc-binding';
import { quotaUsage } from './quota-usage';
import { serviceEndpoints } from './service-endpoints';
import { tlsExpiry } from './tls-expiry';
import { warningEvents } from './warning-events';
import { workloadAvailability } from './workload-availability';
import { hpaLimits } from './hpa-limits';

export const namespaceHealth: Check<NamespaceHealthParams> = {
  type: 'k8s.namespace-health',
  params: NamespaceHealthParams,
  run: (params, ctx) =>
    guarded(async () => {
      const scope = { namespaces: [params.namespace] };
      const parts: [string, Promise<CheckOutcome>][] = [];
      const add = <P>(check: Check<P>, extra: Record<string, unknown> = {}) =>
        parts.push([check.type, check.run(check.params.parse({ ...scope, ...extra }), ctx)]);
      add(podRestarts, { restartThreshold: params.restartThreshold });
      add(podStatus);
      add(imagePull);
      add(workloadAvailability);
      add(warningEvents);
      add(pvcBinding);
      add(jobsCheck);
      add(serviceEndpoints);
      // TLS Secrets are read only where the Runner policy opts in; elsewhere this part is left out.
      if (ctx.tlsSecretNamespaces.includes(params.namespace)) add(tlsExpiry);
      add(hpaLimits);
      add(quotaUsage);
      const issues: Issue[] = [];
      const errors: string[] = [];
      const metrics: Record<string, number> = {};
      for (const [type, pending] of parts) {
        const result = await pending;
        if (result.status === 'error') errors.push(`${type}: ${result.summary}`);
        issues.push(...result.issues);
        metrics[`${type.replace(/^k8s\./, '').replace(/-/g, '_')}.issues`] = result.issues.length;
      }
      if (errors.length === parts.length)
        return { status: 'error', summary: errors[0] ?? 'every check failed', issues: [], metrics, exitCode: 2 };
      const result = outcome(
        issues,
        `namespace ${params.namespace} is healthy`,
        { ...metrics, 'checks.errors': errors.length },
        (n) => `namespace ${params.namespace}: ${n} issues`,
      );
      return errors.length ? { ...result, summary: `${result.summary}; ${errors.length} checks could not run (${errors[0]})` } : result;
    }),
};
