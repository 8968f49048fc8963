/** `k8s.warning-events`: recent warning events, grouped by reason and object. */
import type { CoreV1Event } from '@kubernetes/client-node';
import { WarningEventsParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check } from '../check';
import { guarded, kubeRun, listScoped, outcome, rawMessage, reasonOf } from './common';

export function warningEventIssues(events: CoreV1Event[], sinceMinutes: number, minCount: number, now = Date.now()): Issue[] {
  const groups = new Map<string, { count: number; event: CoreV1Event; last: number }>();
  for (const e of events) {
    if (e.type !== 'Warning') continue;
    const last = new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? 0).getTime();
    if (now - last > sinceMinutes * 60_000) continue;
    const o = e.involvedObject;
    const key = `${e.reason ?? ''}|${o.kind ?? ''}|${o.namespace ?? ''}|${o.name ?? ''}`;
    const g = groups.get(key);
    const count = e.count ?? e.series?.count ?? 1;
    if (g) {
      g.count += count;
      if (last > g.last) Object.assign(g, { event: e, last });
    } else groups.set(key, { count, event: e, last });
  }
  const issues: Issue[] = [];
  for (const { count, event } of groups.values()) {
    if (count < minCount) continue;
    const o = event.involvedObject;
    const resource = { kind: o.kind ?? 'Object', ...(o.namespace ? { namespace: o.namespace } : {}), name: o.name ?? '(unnamed)' };
    issues.push({
      severity: count >= 10 ? 2 : 3,
      title: `Warning ${reasonOf(event.reason, 'event')} on ${resource.kind}`,
      resource,
      expected: 'no warning events',
      actual: `${count}× ${reasonOf(event.reason, 'Warning')} in the last ${sinceMinutes} minutes`,
      ...rawMessage(event.message),
      nextSteps: [
        `kubectl get events${resource.namespace ? ` -n ${resource.namespace}` : ''} --field-selector involvedObject.name=${resource.name},type=Warning`,
        `kubectl describe ${resource.kind.toLowerCase()} ${resource.name}${resource.namespace ? ` -n ${resource.namespace}` : ''}`,
      ],
    });
  }
  return issues;
}

export const warningEvents: Check<WarningEventsParams> = {
  type: 'k8s.warning-events',
  params: WarningEventsParams,
  run: (params, ctx) =>
    guarded(async () => {
      const run = kubeRun(ctx);
      const core = run.kube.core;
      const events = await listScoped(
        run,
        'events',
        params,
        (q) => core.listEventForAllNamespaces({ ...q, fieldSelector: 'type=Warning' }),
        (namespace, q) => core.listNamespacedEvent({ namespace, ...q, fieldSelector: 'type=Warning' }),
      );
      return outcome(
        warningEventIssues(events, params.sinceMinutes, params.minCount),
        'no recent warning events',
        { 'events.warning': events.length },
        (n) => `${n} kinds of warning events on objects`,
      );
    }),
};
