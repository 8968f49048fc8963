/** `k8s.warning-events`: recent warning events, grouped by reason and object. */
import type { CoreV1Event } from '@kubernetes/client-node';
import { WarningEventsParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check } from '../check';
import { guarded, kubeRun, foldScoped, outcome, rawMessage, reasonOf } from './common';

/**
 * Recent warning events grouped by reason and object, fed page by page: only one event per group
 * (the latest) is kept, with the group's count.
 */
export function warningEventGroups(sinceMinutes: number, now = Date.now()) {
  const groups = new Map<string, { count: number; event: CoreV1Event; last: number }>();
  return {
    add(events: CoreV1Event[]): void {
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
    },
    issues(minCount: number): Issue[] {
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
    },
  };
}

export function warningEventIssues(events: CoreV1Event[], sinceMinutes: number, minCount: number, now = Date.now()): Issue[] {
  const groups = warningEventGroups(sinceMinutes, now);
  groups.add(events);
  return groups.issues(minCount);
}

export const warningEvents: Check<WarningEventsParams> = {
  type: 'k8s.warning-events',
  params: WarningEventsParams,
  run: (params, ctx) =>
    guarded(async () => {
      const run = kubeRun(ctx);
      const core = run.kube.core;
      const groups = warningEventGroups(params.sinceMinutes);
      const events = await foldScoped(
        run,
        'events',
        params,
        (q) => core.listEventForAllNamespaces({ ...q, fieldSelector: 'type=Warning' }),
        (namespace, q) => core.listNamespacedEvent({ namespace, ...q, fieldSelector: 'type=Warning' }),
        (page) => groups.add(page),
      );
      return outcome(
        groups.issues(params.minCount),
        'no recent warning events',
        { 'events.warning': events },
        (n) => `${n} kinds of warning events on objects`,
      );
    }),
};
