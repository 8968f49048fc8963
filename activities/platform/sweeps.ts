/**
 * Health sweep activities: create the sweep and its child runs (idempotent, with ids derived from
 * the sweep and task), then aggregate the stored results into per-namespace and cluster scores and
 * compare the findings with the Runner's previous sweep.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import { ExecutionPolicy, type Issue, type RunTaskInput } from '../../common/contracts';
import { FailureType } from '../../common/errors';
import { runWorkflowId } from '../../common/ids';
import { scoreOf } from '../../common/score';
import type { Sealer } from '../../platform/crypto/sealer';
import { appendAuditInTransaction } from '../../platform/repos/audit.repo';
import { inTransaction } from '../../platform/repos/db';
import { getResult } from '../../platform/repos/results.repo';
import { findingFingerprint } from '../../platform/repos/issues.repo';
import { getRunner } from '../../platform/repos/runners.repo';
import { insertSweepRun, runsOfSweep } from '../../platform/repos/runs.repo';
import {
  completeSweep,
  findingsOf,
  getSweep,
  insertSweep,
  insertSweepFindings,
  previousSweep,
  SWEEP_KEY_VERSION,
  sweepNamespacesBinding,
  type SweepBreakdown,
  type SweepPart,
} from '../../platform/repos/sweeps.repo';
import { getTask, taskIdsOfRunner } from '../../platform/repos/tasks.repo';

/** A UUID-shaped id derived from its parts, so that a repeated activity makes the same run. */
function derivedId(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join(':')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Where each distinct finding is, explicitly: a namespaced resource in its namespace, an `Endpoint`
 * (a URL a check reached) under that endpoint, anything else (nodes, volumes, cluster-wide objects)
 * in the cluster's own part.
 */
export function sweepBreakdown(findings: readonly Issue[]): SweepBreakdown {
  const groups = { namespaces: new Map<string, Issue[]>(), endpoints: new Map<string, Issue[]>(), cluster: [] as Issue[] };
  const add = (map: Map<string, Issue[]>, key: string, issue: Issue) => map.set(key, [...(map.get(key) ?? []), issue]);
  for (const issue of findings) {
    if (issue.resource.kind === 'Endpoint') add(groups.endpoints, issue.resource.name, issue);
    else if (issue.resource.namespace) add(groups.namespaces, issue.resource.namespace, issue);
    else groups.cluster.push(issue);
  }
  const part = (list: Issue[]): SweepPart => ({ score: scoreOf(list), issues: list.length });
  const parts = (map: Map<string, Issue[]>) =>
    Object.fromEntries([...map].sort(([a], [b]) => a.localeCompare(b)).map(([k, list]) => [k, part(list)]));
  return {
    v: 2,
    namespaces: parts(groups.namespaces),
    cluster: groups.cluster.length > 0 ? part(groups.cluster) : null,
    endpoints: parts(groups.endpoints),
  };
}

export interface SweepSummary {
  sweepId: string;
  score: number;
  runs: number;
  failedRuns: number;
  issuesNew: number;
  issuesOpen: number;
  issuesResolved: number;
}

/** `ownNamespace`: the calling workflow's namespace as run rows record it (its child runs run there too). */
export function createSweepActivities({ pool, sealer, ownNamespace }: { pool: Pool; sealer: Sealer; ownNamespace: () => string | null }) {
  return {
    async startSweep(input: { sweepId: string; workspaceId: string; runnerId: string; requestedBy: string }): Promise<RunTaskInput[]> {
      if (!(await getRunner(pool, input.workspaceId, input.runnerId))) {
        throw ApplicationFailure.create({
          type: FailureType.InvalidConfiguration,
          message: 'the Runner does not exist in this workspace',
          nonRetryable: true,
        });
      }
      const runs: RunTaskInput[] = [];
      await inTransaction(pool, async (tx) => {
        await insertSweep(tx, {
          id: input.sweepId,
          workspaceId: input.workspaceId,
          runnerId: input.runnerId,
          requestedBy: input.requestedBy,
        });
        for (const taskId of await taskIdsOfRunner(tx, input.workspaceId, input.runnerId)) {
          const task = await getTask(tx, sealer, input.workspaceId, taskId);
          if (!task) continue;
          const runId = derivedId(input.sweepId, taskId);
          await insertSweepRun(tx, {
            id: runId,
            workspaceId: input.workspaceId,
            taskId,
            runnerId: task.runnerId,
            checkType: task.checkType,
            workflowId: runWorkflowId(input.workspaceId, runId),
            sweepId: input.sweepId,
            temporalNamespace: ownNamespace(),
          });
          runs.push({
            runId,
            workspaceId: input.workspaceId,
            taskId,
            runnerId: task.runnerId,
            checkType: task.checkType,
            params: task.params,
            policy: ExecutionPolicy.parse(task.policy),
          });
        }
        await appendAuditInTransaction(tx, {
          workspaceId: input.workspaceId,
          actor: input.requestedBy,
          action: 'sweep.started',
          target: `sweep:${input.sweepId}`,
          outcome: 'success',
          details: { runs: runs.length },
        });
      });
      return runs;
    },

    async finishSweep({ sweepId }: { sweepId: string }): Promise<SweepSummary> {
      const sweep = await getSweep(pool, sweepId);
      if (!sweep) throw ApplicationFailure.create({ type: FailureType.RunNotFound, message: 'sweep not found', nonRetryable: true });
      const runs = await runsOfSweep(pool, sweepId);
      const issues: Issue[] = [];
      let failedRuns = 0;
      for (const run of runs) {
        const result = await getResult(pool, sealer, sweep.workspaceId, run.id);
        if (!result || result.status === 'error') failedRuns += 1;
        issues.push(...(result?.issues ?? []));
      }
      // Each finding once, however many tasks reported it (the most severe report counts).
      const distinct = new Map<string, Issue>();
      for (const issue of issues) {
        const key = findingFingerprint(sweep.workspaceId, issue);
        const known = distinct.get(key);
        if (!known || issue.severity < known.severity) distinct.set(key, issue);
      }
      const breakdown = sweepBreakdown([...distinct.values()]);
      const previous = await previousSweep(pool, sweep.runnerId, sweepId);
      const previousFindings = previous ? await findingsOf(pool, previous.id) : [];
      // A previous sweep keyed the old way (by check) cannot be compared: this one starts a new baseline.
      const comparable = previousFindings.every((f) => f.keyVersion === SWEEP_KEY_VERSION);
      const before = new Set(comparable ? previousFindings.filter((f) => f.state !== 'resolved').map((f) => f.fingerprint) : []);
      const rows = [
        ...[...distinct].map(([fp, issue]) => ({ fp, severity: issue.severity, state: before.has(fp) ? 'open' : 'new' })),
        ...[...before].filter((fp) => !distinct.has(fp)).map((fp) => ({ fp, severity: 0, state: 'resolved' })),
      ];
      const count = (state: string) => rows.filter((r) => r.state === state).length;
      const summary: SweepSummary = {
        sweepId,
        score: scoreOf([...distinct.values()]),
        runs: runs.length,
        failedRuns,
        issuesNew: count('new'),
        issuesOpen: count('open'),
        issuesResolved: count('resolved'),
      };
      const sealed = await sealer.seal(sweep.workspaceId, sweepNamespacesBinding(sweepId), breakdown);
      await inTransaction(pool, async (tx) => {
        if (!(await completeSweep(tx, sweepId, { ...summary, namespacesSealed: sealed }))) return;
        await insertSweepFindings(
          tx,
          sweepId,
          rows.map((r) => ({ fingerprint: r.fp, severity: r.severity, state: r.state })),
        );
        await appendAuditInTransaction(tx, {
          workspaceId: sweep.workspaceId,
          actor: 'system:platform-worker',
          action: 'sweep.finished',
          target: `sweep:${sweepId}`,
          outcome: 'success',
          details: { ...summary },
        });
      });
      return summary;
    },
  };
}

export type SweepActivities = ReturnType<typeof createSweepActivities>;
