/**
 * `k8s.namespace-health`: every namespaced check for one namespace, and one 0..1 score. The checks
 * run side by side; pods are listed once for the three pod checks (folded page by page), every
 * other kind once by the check that reads it.
 */
import { NamespaceHealthParams, PodRestartsParams, PodStatusParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check, CheckOutcome } from '../check';
import { guarded, kubeRun, outcome } from './common';
import { imagePull, imagePullFold } from './image-pull';
import { jobsCheck } from './jobs';
import { foldPods, podRestarts, podRestartsFold } from './pod-restarts';
import { podStatus, podStatusFold } from './pod-status';
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
      // One pod listing, three folds: each part gets its own outcome, or the listing's error.
      const restartParams = PodRestartsParams.parse({ ...scope, restartThreshold: params.restartThreshold });
      const statusParams = PodStatusParams.parse(scope);
      const pods = guardedEach(3, () =>
        foldPods(kubeRun(ctx), restartParams, [
          podRestartsFold(restartParams.restartThreshold),
          podStatusFold(statusParams.pendingMinutes),
          imagePullFold(),
        ]),
      );
      for (const [i, check] of [podRestarts, podStatus, imagePull].entries())
        parts.push([check.type, pods.then((outcomes) => outcomes[i]!)]);
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
      // Every part at once; awaited together, so that a part failing beyond an API error leaves no
      // rejection unobserved.
      const results = await Promise.all(parts.map(([, pending]) => pending));
      for (const [i, [type]] of parts.entries()) {
        const result = results[i]!;
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

/**
 * Like {@link guarded} for a listing shared by `n` checks: their outcomes, or the same `error`
 * outcome for each when the listing fails with an API error.
 */
async function guardedEach(n: number, fn: () => Promise<CheckOutcome[]>): Promise<CheckOutcome[]> {
  try {
    return await fn();
  } catch (err) {
    const failed = await guarded(async () => {
      throw err;
    });
    return Array.from({ length: n }, () => failed);
  }
}
