/**
 * What every Kubernetes check shares: the Runner's clients, namespace scoping, paging with heartbeats,
 * lists folded page by page, API errors turned into an `error` result, the 0..1 score and issue helpers.
 */
import type { V1DaemonSet, V1Deployment, V1StatefulSet } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/activity';
import type { Issue, NextCheck } from '../../../../common/contracts';
import { scoreOf } from '../../../../common/score';
import { FailureType } from '../../../../common/errors';
import { eachPage, KubeError, type CallOptions, type KubeClients, type Page } from '../../kube-api';
import type { CheckContext, CheckOutcome } from '../check';

export interface Scope {
  namespaces?: string[] | undefined;
  excludeNamespaces?: string[] | undefined;
  labelSelector?: string | undefined;
}

export interface KubeRun {
  kube: KubeClients;
  call: CallOptions;
}

export function kubeRun(ctx: CheckContext): KubeRun {
  if (!ctx.kube) {
    throw ApplicationFailure.create({
      type: FailureType.InvalidConfiguration,
      message: 'this Runner has no Kubernetes access: run it in a pod with its service account, or set LOOKOUT_KUBECONFIG',
      nonRetryable: true,
    });
  }
  return { kube: ctx.kube, call: { signal: ctx.signal, timeoutMs: ctx.kube.timeoutMs, onPage: () => ctx.heartbeat() } };
}

interface Namespaced {
  metadata?: { namespace?: string | undefined } | undefined;
}

type ListQuery = { limit: number; _continue?: string; labelSelector?: string };

/**
 * Folds the objects in the scope page by page (per named namespace, or across all namespaces minus
 * the excluded ones): each page goes to `onPage` and is dropped, so a check holds one page of
 * objects at a time, whatever the size of the cluster. `all` and `inNamespace` receive `limit`,
 * `_continue` and `labelSelector`. Resolves with the number of objects folded.
 */
export async function foldScoped<T extends Namespaced>(
  run: KubeRun,
  what: string,
  scope: Scope,
  all: (q: ListQuery) => Promise<Page<T>>,
  inNamespace: (namespace: string, q: ListQuery) => Promise<Page<T>>,
  onPage: (items: T[]) => void,
): Promise<number> {
  const query = (cont: string | undefined) => ({
    limit: run.kube.pageSize,
    ...(cont ? { _continue: cont } : {}),
    ...(scope.labelSelector ? { labelSelector: scope.labelSelector } : {}),
  });
  const excluded = new Set(scope.excludeNamespaces ?? []);
  if (scope.namespaces) {
    let count = 0;
    for (const ns of scope.namespaces) {
      if (excluded.has(ns)) continue;
      count += await eachPage(`list ${what} in namespace ${ns}`, (cont) => inNamespace(ns, query(cont)), run.call, onPage);
    }
    return count;
  }
  let count = 0;
  await eachPage(
    `list ${what}`,
    (cont) => all(query(cont)),
    run.call,
    (items) => {
      const kept = excluded.size ? items.filter((i) => !excluded.has(i.metadata?.namespace ?? '')) : items;
      count += kept.length;
      onPage(kept);
    },
  );
  return count;
}

/** What a workload check does with each page of Deployments, StatefulSets and DaemonSets in scope. */
export interface WorkloadPages {
  deployments: (page: V1Deployment[]) => void;
  statefulSets: (page: V1StatefulSet[]) => void;
  daemonSets: (page: V1DaemonSet[]) => void;
}

/** Folds the Deployments, StatefulSets and DaemonSets in the scope (see foldScoped); answers how many of each. */
export async function foldWorkloads(
  run: KubeRun,
  scope: Scope,
  pages: WorkloadPages,
): Promise<{ deployments: number; statefulSets: number; daemonSets: number }> {
  const apps = run.kube.apps;
  const deployments = await foldScoped(
    run,
    'deployments',
    scope,
    (q) => apps.listDeploymentForAllNamespaces(q),
    (namespace, q) => apps.listNamespacedDeployment({ namespace, ...q }),
    pages.deployments,
  );
  const statefulSets = await foldScoped(
    run,
    'statefulsets',
    scope,
    (q) => apps.listStatefulSetForAllNamespaces(q),
    (namespace, q) => apps.listNamespacedStatefulSet({ namespace, ...q }),
    pages.statefulSets,
  );
  const daemonSets = await foldScoped(
    run,
    'daemonsets',
    scope,
    (q) => apps.listDaemonSetForAllNamespaces(q),
    (namespace, q) => apps.listNamespacedDaemonSet({ namespace, ...q }),
    pages.daemonSets,
  );
  return { deployments, statefulSets, daemonSets };
}

/**
 * A check's fold over the pages of one list: `page` takes each page as it arrives (keeping only
 * issues and counts), `done` makes the outcome once the list is complete. Several folds can share
 * one listing (`k8s.namespace-health` lists pods once for three checks).
 */
export interface PageFold<T> {
  page(items: T[]): void;
  done(count: number): CheckOutcome;
}

export { scoreOf };

/** Sorts issues by severity, caps them, and builds the outcome. */
export function outcome(issues: Issue[], okSummary: string, metrics: Record<string, number>, found: (n: number) => string): CheckOutcome {
  const sorted = [...issues].sort((a, b) => a.severity - b.severity).slice(0, 200);
  return {
    status: sorted.length ? 'issues' : 'ok',
    summary: sorted.length ? found(issues.length) : okSummary,
    score: scoreOf(issues),
    issues: sorted,
    metrics: { ...metrics, 'issues.total': issues.length },
  };
}

/** Runs a Kubernetes check, turning API failures (403, 404, 410, timeouts) into an `error` result. */
export async function guarded(fn: () => Promise<CheckOutcome>): Promise<CheckOutcome> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof KubeError) {
      return {
        status: 'error',
        summary: err.message,
        issues: [],
        metrics: { 'kube.error_status': typeof err.status === 'number' ? err.status : 0 },
        exitCode: 2,
      };
    }
    throw err;
  }
}

export function ref(
  kind: string,
  obj: { metadata?: { name?: string | undefined; namespace?: string | undefined } | undefined },
): Issue['resource'] {
  return { kind, ...(obj.metadata?.namespace ? { namespace: obj.metadata.namespace } : {}), name: obj.metadata?.name ?? '(unnamed)' };
}

/** `-n ns` for kubectl, or nothing for cluster-scoped objects. */
export function nsFlag(resource: Issue['resource']): string {
  return resource.namespace ? ` -n ${resource.namespace}` : '';
}

export function clip(text: string | undefined, max = 300): string {
  if (!text) return '';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function minutesSince(date: Date | string | undefined, now = Date.now()): number {
  if (!date) return 0;
  return (now - new Date(date).getTime()) / 60_000;
}

/**
 * Free text copied from the cluster (event, condition and waiting messages) is raw data: it can carry
 * exec-probe output and whatever anyone who may create an Event writes. It goes into `details`, which
 * leaves the Runner only where its policy allows raw data for the check (the boundary drops it
 * otherwise); `actual` keeps the reason and Lookout's own words.
 */
export function rawMessage(message: string | undefined): { details?: string } {
  return message?.trim() ? { details: clip(message, 1000) } : {};
}

/** A Kubernetes reason (`CrashLoopBackOff`, `FailedScheduling`): an identifier, or `Other` when it is not one. */
export function reasonOf(reason: string | undefined, fallback: string): string {
  if (!reason) return fallback;
  return /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(reason) ? reason : 'Other';
}

/**
 * What to look at next about a pod in trouble: its namespace's warning events and, when it was
 * scheduled, its node's conditions. A sweep may run them (README: Next checks).
 */
export function podNextChecks(pod: {
  metadata?: { namespace?: string | undefined } | undefined;
  spec?: { nodeName?: string | undefined } | undefined;
}): NextCheck[] {
  const next: NextCheck[] = [];
  if (pod.metadata?.namespace) next.push({ type: 'k8s.warning-events', params: { namespaces: [pod.metadata.namespace] } });
  if (pod.spec?.nodeName) next.push({ type: 'k8s.node-conditions', params: { nodes: [pod.spec.nodeName] } });
  return next;
}
