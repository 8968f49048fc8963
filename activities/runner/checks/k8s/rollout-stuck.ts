/**
 * `k8s.rollout-stuck`: rollouts that stopped. Deployments say so themselves (Progressing=False,
 * ProgressDeadlineExceeded, after `progressDeadlineSeconds`). StatefulSets and DaemonSets keep no
 * such verdict, and in the middle of any healthy update their status looks the same as a stopped
 * one (a pod on the new revision not ready yet): an update counts as stopped when the object has
 * not changed for `progressMinutes`. Its last change is the newest time in `metadata.managedFields`,
 * which the API server moves whenever a writer changes a value, so every step of a moving rollout
 * (the controller rewriting status as each pod comes up) restarts the clock. Paused Deployments and
 * OnDelete updates wait for a person by design: informational only.
 */
import type { V1DaemonSet, V1Deployment, V1ObjectMeta, V1StatefulSet } from '@kubernetes/client-node';
import { RolloutStuckParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check } from '../check';
import { foldWorkloads, guarded, kubeRun, nsFlag, outcome, rawMessage, reasonOf, ref } from './common';

/** Whole minutes since anyone last changed the object (spec, status or metadata); +∞ without any record. */
export function minutesUnchanged(meta: V1ObjectMeta | undefined, now: number): number {
  const times = (meta?.managedFields ?? []).map((f) => (f.time ? new Date(f.time).getTime() : Number.NaN)).filter(Number.isFinite);
  if (!times.length && meta?.creationTimestamp) times.push(new Date(meta.creationTimestamp).getTime());
  return times.length ? Math.max(0, Math.floor((now - Math.max(...times)) / 60_000)) : Number.POSITIVE_INFINITY;
}

function unchangedFor(minutes: number): string {
  return Number.isFinite(minutes) ? `no change for ${minutes} minutes` : 'no record of its last change';
}

/** `a=b,c=d` from a selector's matchLabels, or a placeholder (label keys and values have a strict syntax). */
function selectorOf(obj: V1Deployment | V1StatefulSet | V1DaemonSet): string {
  const labels = Object.entries(obj.spec?.selector?.matchLabels ?? {});
  return labels.length ? labels.map(([k, v]) => `${k}=${v}`).join(',') : '<its selector>';
}

/** What an operator runs for a rollout that stopped, the undo last but one: it is a decision, not a fix. */
function rolloutSteps(kind: string, obj: V1Deployment | V1StatefulSet | V1DaemonSet, resource: Issue['resource']): string[] {
  const lower = kind.toLowerCase();
  const ns = nsFlag(resource);
  return [
    `kubectl rollout status ${lower}/${resource.name}${ns}`,
    `kubectl rollout history ${lower}/${resource.name}${ns}`,
    `kubectl get pods${ns} -l ${selectorOf(obj)} and look at the pods of the new revision that are not ready`,
    `kubectl rollout undo ${lower}/${resource.name}${ns} if the new revision is at fault`,
    `kubectl describe ${lower} ${resource.name}${ns}`,
  ];
}

/** The controller has not acted on the latest spec for `idle` minutes (it is down, or cannot write status). */
function notObserved(kind: string, resource: Issue['resource'], generation: number, observed: number, idle: number): Issue {
  return {
    severity: 2,
    title: `${kind} controller has not acted on its latest spec`,
    resource,
    expected: `status.observedGeneration ${generation}`,
    actual: `observedGeneration ${observed} of generation ${generation}; ${unchangedFor(idle)}`,
    nextSteps: [
      `kubectl describe ${kind.toLowerCase()} ${resource.name}${nsFlag(resource)}`,
      `kubectl get events${nsFlag(resource)} --field-selector involvedObject.name=${resource.name}`,
      'kubectl get pods -n kube-system -l component=kube-controller-manager and read its log',
    ],
  };
}

export function deploymentIssue(d: V1Deployment, progressMinutes: number, now: number): Issue | undefined {
  const resource = ref('Deployment', d);
  const desired = d.spec?.replicas ?? 1;
  const updated = d.status?.updatedReplicas ?? 0;
  const available = d.status?.availableReplicas ?? 0;
  const generation = d.metadata?.generation ?? 0;
  const observed = d.status?.observedGeneration ?? 0;
  const progressing = d.status?.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') {
    return {
      severity: available === 0 && desired > 0 ? 1 : 2,
      title: 'Deployment rollout exceeded its progress deadline',
      resource,
      expected: `${desired} updated and available replicas within ${d.spec?.progressDeadlineSeconds ?? 600} seconds`,
      actual: `${reasonOf(progressing.reason, 'ProgressDeadlineExceeded')}: ${updated} of ${desired} replicas updated, ${available} available`,
      ...rawMessage(progressing.message ?? undefined),
      nextSteps: rolloutSteps('Deployment', d, resource),
    };
  }
  if (d.spec?.paused) {
    if (updated >= desired && observed >= generation) return undefined;
    return {
      severity: 4,
      title: 'Deployment rollout is paused',
      resource,
      expected: `${desired} replicas on the latest revision`,
      actual: `paused with ${updated} of ${desired} replicas updated`,
      nextSteps: [
        `kubectl rollout resume deployment/${resource.name}${nsFlag(resource)} if the pause is over`,
        `kubectl rollout history deployment/${resource.name}${nsFlag(resource)}`,
      ],
    };
  }
  const idle = minutesUnchanged(d.metadata, now);
  if (observed < generation && idle >= progressMinutes) return notObserved('Deployment', resource, generation, observed, idle);
  return undefined;
}

export function statefulSetIssue(s: V1StatefulSet, progressMinutes: number, now: number): Issue | undefined {
  const resource = ref('StatefulSet', s);
  const replicas = s.spec?.replicas ?? 1;
  const status = s.status;
  const generation = s.metadata?.generation ?? 0;
  const observed = status?.observedGeneration ?? 0;
  const onDelete = s.spec?.updateStrategy?.type === 'OnDelete';
  // Pods below the partition stay on the old revision by design (a staged rollout).
  const partition = onDelete ? 0 : (s.spec?.updateStrategy?.rollingUpdate?.partition ?? 0);
  const target = Math.max(0, replicas - partition);
  const updated = status?.updatedReplicas ?? 0;
  const ready = status?.availableReplicas ?? status?.readyReplicas ?? 0;
  const revisions = status?.updateRevision && status.currentRevision ? status.updateRevision !== status.currentRevision : false;
  const updating = revisions && updated < target;
  if (!updating && observed >= generation) return undefined;
  const idle = minutesUnchanged(s.metadata, now);
  if (idle < progressMinutes) return undefined;
  if (!updating) return notObserved('StatefulSet', resource, generation, observed, idle);
  if (onDelete) {
    return {
      severity: 4,
      title: 'StatefulSet update waits for its pods to be deleted',
      resource,
      expected: `${replicas} replicas on the update revision`,
      actual: `OnDelete: ${updated} of ${replicas} replicas updated; ${unchangedFor(idle)}`,
      nextSteps: [
        `kubectl get pods${nsFlag(resource)} -l ${selectorOf(s)} -L controller-revision-hash`,
        'delete the pods still on the old revision one at a time, when each replacement is ready',
      ],
    };
  }
  const steps = rolloutSteps('StatefulSet', s, resource);
  // With OrderedReady (the default), the controller neither goes on nor replaces a broken pod once the template is fixed or undone.
  if (s.spec?.podManagementPolicy !== 'Parallel')
    steps.splice(4, 0, 'after a fix or an undo, delete the pod that is not ready: the controller does not replace it by itself');
  return {
    severity: ready === 0 && replicas > 0 ? 1 : 2,
    title: 'StatefulSet update has stopped',
    resource,
    expected: partition
      ? `${target} of ${replicas} replicas on the update revision (partition ${partition})`
      : `${replicas} replicas on the update revision`,
    actual: `${updated} of ${replicas} replicas updated, ${ready} ready${ready < replicas ? ' (the update waits for a pod that is not ready)' : ''}; ${unchangedFor(idle)}`,
    nextSteps: steps,
  };
}

export function daemonSetIssue(d: V1DaemonSet, progressMinutes: number, now: number): Issue | undefined {
  const resource = ref('DaemonSet', d);
  const status = d.status;
  const generation = d.metadata?.generation ?? 0;
  const observed = status?.observedGeneration ?? 0;
  const desired = status?.desiredNumberScheduled ?? 0;
  // Zero counts are omitted from status: absent means none.
  const updated = status?.updatedNumberScheduled ?? 0;
  const available = status?.numberAvailable ?? 0;
  const unavailable = status?.numberUnavailable ?? 0;
  const updating = updated < desired;
  if (!updating && observed >= generation) return undefined;
  const idle = minutesUnchanged(d.metadata, now);
  if (idle < progressMinutes) return undefined;
  if (!updating) return notObserved('DaemonSet', resource, generation, observed, idle);
  if (d.spec?.updateStrategy?.type === 'OnDelete') {
    return {
      severity: 4,
      title: 'DaemonSet update waits for its pods to be deleted',
      resource,
      expected: `${desired} pods on the latest revision`,
      actual: `OnDelete: ${updated} of ${desired} pods updated; ${unchangedFor(idle)}`,
      nextSteps: [
        `kubectl get pods${nsFlag(resource)} -l ${selectorOf(d)} -L controller-revision-hash -o wide`,
        'delete the pods still on the old revision node by node',
      ],
    };
  }
  return {
    severity: available === 0 && desired > 0 ? 1 : 2,
    title: 'DaemonSet update has stopped',
    resource,
    expected: `${desired} pods on the latest revision`,
    actual: `${updated} of ${desired} pods updated, ${unavailable} unavailable; ${unchangedFor(idle)}`,
    nextSteps: rolloutSteps('DaemonSet', d, resource),
  };
}

export const rolloutStuck: Check<RolloutStuckParams> = {
  type: 'k8s.rollout-stuck',
  params: RolloutStuckParams,
  run: (params, ctx) =>
    guarded(async () => {
      const now = Date.now();
      const issues: Issue[] = [];
      const keep = (found: (Issue | undefined)[]) => issues.push(...found.filter((i): i is Issue => i !== undefined));
      const { deployments, statefulSets, daemonSets } = await foldWorkloads(kubeRun(ctx), params, {
        deployments: (page) => keep(page.map((d) => deploymentIssue(d, params.progressMinutes, now))),
        statefulSets: (page) => keep(page.map((s) => statefulSetIssue(s, params.progressMinutes, now))),
        daemonSets: (page) => keep(page.map((d) => daemonSetIssue(d, params.progressMinutes, now))),
      });
      const total = deployments + statefulSets + daemonSets;
      return outcome(
        issues,
        `${total} workloads, no rollout stopped`,
        { 'deployments.checked': deployments, 'statefulsets.checked': statefulSets, 'daemonsets.checked': daemonSets },
        (n) => `${n} rollouts stopped or waiting`,
      );
    }),
};
