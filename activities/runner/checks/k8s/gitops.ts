/**
 * `k8s.gitops`: what GitOps controllers report about the objects they deliver. Argo CD
 * Applications (argoproj.io/v1alpha1) out of sync, not healthy, failing to sync or compare; Flux
 * Kustomizations (kustomize.toolkit.fluxcd.io/v1) and HelmReleases (helm.toolkit.fluxcd.io/v2) not
 * Ready. A kind whose CRD the cluster does not serve (404) is skipped, and the metrics say which
 * kinds were read and how many of each; a cluster with none of them is `ok`.
 *
 * Suspended Flux objects are reported at severity 4 (informational, no weight in the score): a
 * suspension is deliberate, but one forgotten freezes delivery without any other sign. Their Ready
 * condition is stale, so it is not judged. Flux marks an object Ready=Unknown while it reconciles,
 * which a health check may stretch to minutes: that, and an object no controller has reconciled
 * yet, count only after `reconcilingMinutes`.
 */
import { GitopsParams } from '../../../../common/checks';
import type { Issue, Severity } from '../../../../common/contracts';
import type { Check } from '../check';
import { guarded, kubeRun, minutesSince, nsFlag, outcome, rawMessage, reasonOf, ref } from './common';
import { conditionOf, foldCustom, type Condition, type CustomKind, type CustomObject } from './custom-resources';

export const APPLICATIONS: CustomKind = { group: 'argoproj.io', version: 'v1alpha1', plural: 'applications', kind: 'Application' };
export const KUSTOMIZATIONS: CustomKind = {
  group: 'kustomize.toolkit.fluxcd.io',
  version: 'v1',
  plural: 'kustomizations',
  kind: 'Kustomization',
};
export const HELM_RELEASES: CustomKind = { group: 'helm.toolkit.fluxcd.io', version: 'v2', plural: 'helmreleases', kind: 'HelmRelease' };

/** What the check reads of an Argo CD Application. */
export interface ApplicationObject extends CustomObject {
  status?: {
    sync?: { status?: string };
    health?: { status?: string; message?: string };
    operationState?: { phase?: string; message?: string };
    conditions?: { type?: string; message?: string }[];
  };
}

/** What the check reads of a Flux Kustomization or HelmRelease. */
export interface FluxObject extends CustomObject {
  metadata?: CustomObject['metadata'] & { creationTimestamp?: string };
  spec?: { suspend?: boolean };
  status?: { conditions?: unknown; installFailures?: number; upgradeFailures?: number };
}

interface Finding {
  severity: Severity;
  title: string;
}

export function applicationIssue(app: ApplicationObject): Issue | undefined {
  const resource = ref('Application', app);
  const sync = reasonOf(app.status?.sync?.status, 'Unknown');
  const health = reasonOf(app.status?.health?.status, 'Unknown');
  const phase = app.status?.operationState?.phase;
  const syncFailed = phase === 'Failed' || phase === 'Error';
  // Argo CD names its blocking conditions `…Error` (ComparisonError, SyncError, InvalidSpecError); the rest are warnings.
  const errors = (app.status?.conditions ?? []).filter((c) => typeof c?.type === 'string' && c.type.endsWith('Error'));
  // In order of precedence for the title; the severity is the worst of all.
  const findings: Finding[] = [];
  if (health === 'Degraded') findings.push({ severity: 2, title: 'Application is degraded' });
  if (health === 'Missing') findings.push({ severity: 2, title: 'Application resources are missing' });
  if (syncFailed) findings.push({ severity: 2, title: 'Application sync failed' });
  if (errors.length) findings.push({ severity: 2, title: 'Argo CD cannot reconcile the Application' });
  if (sync === 'OutOfSync') findings.push({ severity: 3, title: 'Application is out of sync' });
  if (sync !== 'Synced' && sync !== 'OutOfSync') findings.push({ severity: 3, title: 'Application sync status is unknown' });
  if (health !== 'Healthy' && health !== 'Progressing' && health !== 'Degraded' && health !== 'Missing' && health !== 'Suspended')
    findings.push({ severity: 3, title: 'Application health is unknown' });
  if (health === 'Suspended') findings.push({ severity: 4, title: 'Application is suspended' });
  const first = findings[0];
  if (!first) return undefined;
  const actual = [`health ${health}`, `sync ${sync}`];
  if (syncFailed) actual.push(`last sync ${reasonOf(phase, 'Failed')}`);
  if (errors.length) actual.push(errors.map((c) => reasonOf(c.type, 'Error')).join(', '));
  const messages = [
    app.status?.health?.message,
    syncFailed ? app.status?.operationState?.message : undefined,
    ...errors.map((c) => c.message),
  ].filter((m): m is string => typeof m === 'string' && m.trim() !== '');
  const id = `${resource.namespace ? `${resource.namespace}/` : ''}${resource.name}`;
  return {
    severity: Math.min(...findings.map((f) => f.severity)) as Severity,
    title: first.title,
    resource,
    expected: 'health Healthy, sync Synced',
    actual: actual.join(', '),
    ...rawMessage(messages.join('\n')),
    nextSteps: [
      `argocd app get ${id} --show-operation`,
      ...(sync === 'OutOfSync' ? [`argocd app diff ${id}`] : []),
      `kubectl describe application.argoproj.io ${resource.name}${nsFlag(resource)}`,
      ...(syncFailed ? [`argocd app history ${id}, and argocd app rollback ${id} <id> if the new revision is at fault`] : []),
    ],
  };
}

export function fluxIssue(kind: CustomKind, obj: FluxObject, reconcilingMinutes: number, now: number): Issue | undefined {
  const resource = ref(kind.kind, obj);
  const ns = nsFlag(resource);
  // The flux CLI's and kubectl's name of the kind: `kustomization`, `helmrelease`.
  const flux = kind.kind.toLowerCase();
  if (obj.spec?.suspend === true) {
    return {
      severity: 4,
      title: `${kind.kind} is suspended`,
      resource,
      expected: 'reconciled by Flux',
      actual: 'spec.suspend=true: Flux does not reconcile it',
      nextSteps: [`flux resume ${flux} ${resource.name}${ns} if the suspension is over`],
    };
  }
  const ready = conditionOf(obj.status?.conditions, 'Ready');
  if (ready?.status === 'True') return undefined;
  const stalled = conditionOf(obj.status?.conditions, 'Stalled');
  const since = (c: Condition | undefined) => minutesSince(c?.lastTransitionTime ?? obj.metadata?.creationTimestamp, now);
  let severity: Severity;
  let title: string;
  const actual: string[] = [];
  if (stalled?.status === 'True') {
    severity = 2;
    title = `${kind.kind} has stalled`;
    actual.push(`Stalled (${reasonOf(stalled.reason, 'NoReason')}): Flux no longer retries`);
    if (ready) actual.push(`Ready=${reasonOf(ready.status, 'Unknown')} (${reasonOf(ready.reason, 'NoReason')})`);
  } else if (ready?.status === 'False') {
    severity = 2;
    title = `${kind.kind} is not ready`;
    actual.push(`Ready=False (${reasonOf(ready.reason, 'NoReason')})`);
  } else {
    const minutes = Math.floor(since(ready));
    if (minutes < reconcilingMinutes) return undefined;
    severity = 3;
    title = ready ? `${kind.kind} has been reconciling for long` : `${kind.kind} has not been reconciled`;
    actual.push(
      ready
        ? `Ready=Unknown (${reasonOf(ready.reason, 'NoReason')}) for ${minutes} minutes`
        : `no Ready condition ${minutes} minutes after it was created: is the Flux controller running?`,
    );
  }
  const status = obj.status ?? {};
  for (const [field, what] of [
    ['installFailures', 'failed installs'],
    ['upgradeFailures', 'failed upgrades'],
  ] as const) {
    const n = status[field];
    if (typeof n === 'number' && n > 0) actual.push(`${n} ${what}`);
  }
  return {
    severity,
    title,
    resource,
    expected: 'Ready=True',
    actual: actual.join('; '),
    ...rawMessage([ready?.message, stalled?.status === 'True' ? stalled.message : undefined].filter(Boolean).join('\n')),
    nextSteps: [
      `flux get ${flux}s ${resource.name}${ns}`,
      `kubectl describe ${flux}.${kind.group} ${resource.name}${ns}`,
      `flux logs --kind=${kind.kind} --name=${resource.name}${ns}`,
      `flux reconcile ${flux} ${resource.name}${ns} --with-source once the cause is fixed`,
    ],
  };
}

/** `a, b and c` */
function list(parts: string[]): string {
  return parts.length < 2 ? (parts[0] ?? '') : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

export const gitops: Check<GitopsParams> = {
  type: 'k8s.gitops',
  params: GitopsParams,
  run: (params, ctx) =>
    guarded(async () => {
      const run = kubeRun(ctx);
      const now = Date.now();
      const issues: Issue[] = [];
      const metrics: Record<string, number> = {};
      const read: string[] = [];
      const absent: string[] = [];
      const readKind = async <T extends CustomObject>(
        kind: CustomKind,
        metric: string,
        label: string,
        issueOf: (o: T) => Issue | undefined,
      ): Promise<void> => {
        // Kept per kind: a CRD removed while paging leaves nothing half-read behind.
        const found: Issue[] = [];
        const count = await foldCustom<T>(run, kind, params, (page) => {
          for (const o of page) {
            const issue = issueOf(o);
            if (issue) found.push(issue);
          }
        });
        metrics[`${metric}.installed`] = count === undefined ? 0 : 1;
        metrics[`${metric}.checked`] = count ?? 0;
        if (count === undefined) {
          absent.push(label);
          return;
        }
        issues.push(...found);
        read.push(`${count} ${label}`);
      };
      await readKind<ApplicationObject>(APPLICATIONS, 'argocd.applications', 'Argo CD Applications', applicationIssue);
      await readKind<FluxObject>(KUSTOMIZATIONS, 'flux.kustomizations', 'Flux Kustomizations', (o) =>
        fluxIssue(KUSTOMIZATIONS, o, params.reconcilingMinutes, now),
      );
      await readKind<FluxObject>(HELM_RELEASES, 'flux.helmreleases', 'Flux HelmReleases', (o) =>
        fluxIssue(HELM_RELEASES, o, params.reconcilingMinutes, now),
      );
      const notInstalled = absent.length ? `; not installed: ${list(absent)}` : '';
      if (!read.length) {
        return outcome(
          [],
          'neither Argo CD nor Flux is installed: this cluster serves no Applications, Kustomizations or HelmReleases to check',
          metrics,
          () => '',
        );
      }
      return outcome(
        issues,
        `${list(read)}, all synced, healthy and ready${notInstalled}`,
        metrics,
        (n) => `${n} GitOps objects out of sync, not healthy, not ready or suspended${notInstalled}`,
      );
    }),
};
