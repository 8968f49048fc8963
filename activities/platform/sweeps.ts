/**
 * Health sweep activities: create the sweep and its child runs (idempotent, with ids derived from
 * the sweep and task), then aggregate the stored results into per-namespace and cluster scores and
 * compare the findings with the Runner's previous sweep.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import { ExecutionPolicy, type Issue, type RunTaskInput } from '../../common/contracts';
import { FailureType } from '../../common/errors';
import { runWorkflowId, workspaceOfWorkflowId } from '../../common/ids';
import { scoreOf } from '../../common/score';
import type { Sealer } from '../../platform/crypto/sealer';
import { appendAuditInTransaction } from '../../platform/repos/audit.repo';
import { inTransaction } from '../../platform/repos/db';
import { getResult } from '../../platform/repos/results.repo';
import { findingFingerprint } from '../../platform/repos/issues.repo';
import { getRunner, runnerPolicyBinding, runnerPolicySealed } from '../../platform/repos/runners.repo';
import { canonicalJson } from '../../common/canonical-json';
import { CHECK_PARAMS, isCheckType, type CheckType } from '../../common/checks';
import { policyRefusal, PolicySummary } from '../../common/runner-policy';
import { generatedTaskName } from '../../platform/discovery/rules';
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
import { createTask, getTask, taskIdByKey, taskIdsOfRunner, type Task } from '../../platform/repos/tasks.repo';
import type { Queryable } from '../../platform/repos/db';

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

/**
 * A sweep acts only for the workspace its calling workflow's id names (`ws-<id>.…`): a tenant that
 * may start workflows in its own namespace could otherwise start a sweep there, under its own
 * workflow id, naming another workspace's Runner, and read that workspace's tasks from its history.
 */
function callerMustBe(workspaceId: string): void {
  if (workspaceOfWorkflowId(Context.current().info.workflowExecution?.workflowId ?? '') === workspaceId) return;
  throw ApplicationFailure.create({
    type: FailureType.NamespaceMismatch,
    message: 'this workflow does not sweep for that workspace',
    nonRetryable: true,
  });
}

/** `ownNamespace`: the calling workflow's namespace as run rows record it (its child runs run there too). */
export function createSweepActivities({ pool, sealer, ownNamespace }: { pool: Pool; sealer: Sealer; ownNamespace: () => string | null }) {
  /** Records the sweep's child run of a task (its id derived from sweep and task) and answers what `runTask` takes. */
  const sweepRun = async (
    tx: Queryable,
    sweepId: string,
    task: Pick<Task, 'id' | 'workspaceId' | 'runnerId' | 'checkType' | 'params' | 'policy'>,
  ): Promise<RunTaskInput> => {
    const runId = derivedId(sweepId, task.id);
    await insertSweepRun(tx, {
      id: runId,
      workspaceId: task.workspaceId,
      taskId: task.id,
      runnerId: task.runnerId,
      checkType: task.checkType,
      workflowId: runWorkflowId(task.workspaceId, runId),
      sweepId,
      temporalNamespace: ownNamespace(),
    });
    return {
      runId,
      workspaceId: task.workspaceId,
      taskId: task.id,
      runnerId: task.runnerId,
      checkType: task.checkType,
      params: task.params,
      policy: ExecutionPolicy.parse(task.policy),
    };
  };

  return {
    async startSweep(input: {
      sweepId: string;
      workspaceId: string;
      runnerId: string;
      requestedBy: string;
      group?: string;
    }): Promise<RunTaskInput[]> {
      callerMustBe(input.workspaceId);
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
          group: input.group ?? null,
        });
        for (const taskId of await taskIdsOfRunner(tx, input.workspaceId, input.runnerId, input.group)) {
          const task = await getTask(tx, sealer, input.workspaceId, taskId);
          if (!task) continue;
          runs.push(await sweepRun(tx, input.sweepId, task));
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

    /**
     * The next checks the findings of `runIds` name, as child runs of the sweep (round `depth`):
     * built-in check types only, parameters valid for the type, allowed by the Runner's reported
     * policy, each distinct check once per sweep (one task of origin `followup` per distinct check,
     * reused by later sweeps), at most `limit`. Idempotent: run ids derive from sweep and task.
     */
    async sweepFollowUps(input: {
      sweepId: string;
      workspaceId: string;
      runnerId: string;
      runIds: string[];
      depth: number;
      limit: number;
    }): Promise<RunTaskInput[]> {
      callerMustBe(input.workspaceId);
      const sweep = await getSweep(pool, input.sweepId);
      if (sweep?.workspaceId !== input.workspaceId || sweep.runnerId !== input.runnerId) return [];
      const runner = await getRunner(pool, input.workspaceId, input.runnerId);
      const sealedPolicy = await runnerPolicySealed(pool, input.workspaceId, input.runnerId);
      if (!runner || !sealedPolicy) return [];
      const policy = PolicySummary.parse(await sealer.open(input.workspaceId, runnerPolicyBinding(input.runnerId), sealedPolicy));
      const wanted = new Map<string, { checkType: CheckType; params: Record<string, unknown> }>();
      for (const runId of input.runIds) {
        const result = await getResult(pool, sealer, input.workspaceId, runId);
        for (const next of (result?.issues ?? []).flatMap((i) => i.nextChecks ?? [])) {
          if (!isCheckType(next.type)) continue;
          const parsed = CHECK_PARAMS[next.type].safeParse(next.params);
          if (!parsed.success || policyRefusal(policy, next.type, parsed.data)) continue;
          const params = parsed.data as Record<string, unknown>;
          const key = `@next/${createHash('sha256')
            .update(canonicalJson({ type: next.type, params }))
            .digest('hex')
            .slice(0, 32)}`;
          wanted.set(key, { checkType: next.type, params });
        }
      }
      if (!wanted.size) return [];
      const ran = new Set((await runsOfSweep(pool, input.sweepId)).map((r) => r.taskId));
      const runs: RunTaskInput[] = [];
      await inTransaction(pool, async (tx) => {
        for (const [key, next] of wanted) {
          if (runs.length >= input.limit) break;
          let taskId = await taskIdByKey(tx, input.workspaceId, input.runnerId, key);
          if (!taskId) {
            taskId = derivedId(input.runnerId, key);
            await createTask(tx, sealer, {
              id: taskId,
              workspaceId: input.workspaceId,
              runnerId: input.runnerId,
              name: generatedTaskName(runner.name, 'next', `${next.checkType.replace(/^k8s\./, '')} ${key.slice(6, 14)}`),
              checkType: next.checkType,
              params: next.params,
              policy: ExecutionPolicy.partial().parse({}),
              origin: 'followup',
              discoveryKey: key,
            });
          }
          if (ran.has(taskId)) continue;
          ran.add(taskId);
          runs.push(
            await sweepRun(tx, input.sweepId, {
              id: taskId,
              workspaceId: input.workspaceId,
              runnerId: input.runnerId,
              checkType: next.checkType,
              params: next.params,
              policy: {},
            }),
          );
        }
        if (runs.length) {
          await appendAuditInTransaction(tx, {
            workspaceId: input.workspaceId,
            actor: 'system:platform-worker',
            action: 'sweep.next_checks',
            target: `sweep:${input.sweepId}`,
            outcome: 'success',
            details: { depth: input.depth, runs: runs.length, checkTypes: [...new Set(runs.map((r) => r.checkType))] },
          });
        }
      });
      return runs;
    },

    async finishSweep({ sweepId }: { sweepId: string }): Promise<SweepSummary> {
      const sweep = await getSweep(pool, sweepId);
      if (!sweep) throw ApplicationFailure.create({ type: FailureType.RunNotFound, message: 'sweep not found', nonRetryable: true });
      callerMustBe(sweep.workspaceId);
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
