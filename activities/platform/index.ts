/**
 * Platform activities: the PostgreSQL side of a run. Each is idempotent (keyed by run id) because
 * Temporal may run an activity more than once (retries, worker loss, workflow reset); each state
 * change and its audit row commit in one transaction.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { WorkspaceTemporal } from '../../platform/workspace-temporal';
import type { Pool } from 'pg';
import { temporalScheduleId, workspaceOfWorkflowId } from '../../common/ids';
import { attestationFormat, verifyAttestation, verifyRunnerAttestation } from '../../common/attestation';
import {
  ExecutionPolicy,
  MAX_RESULT_BYTES,
  resultBodyBytes,
  TaskResult,
  type RunStatus,
  type RunTaskInput,
  type TaskRequest,
} from '../../common/contracts';
import { FailureType } from '../../common/errors';
import type { Keyring } from '../../common/keyring';
import type { Logger } from '../../common/logger';
import type { Sealer } from '../../platform/crypto/sealer';
import type { SigningKey } from '../../platform/crypto/signing-key';
import { paramsDigest, signTaskEnvelope } from '../../common/task-envelope';
import { appendAudit, appendAuditEventsInTransaction, appendAuditInTransaction, type AuditEvent } from '../../platform/repos/audit.repo';
import { inTransaction, type Queryable } from '../../platform/repos/db';
import { insertResult } from '../../platform/repos/results.repo';
import { recordFindings, type FindingChanges } from '../../platform/repos/issues.repo';
import { getRun, insertScheduledRun, markRunFinished, markRunStarted, runErrorBinding, type Run } from '../../platform/repos/runs.repo';
import type { Task } from '../../platform/repos/tasks.repo';
import { getTask, taskOrigin } from '../../platform/repos/tasks.repo';
import { applyPlan, DiscoveryError, planForRunner } from '../../platform/discovery/apply';
import { getRunnerAttestation, recordRunnerInfo, runnerPolicyBinding, runnerPolicySealed } from '../../platform/repos/runners.repo';
import { isPackCheckType, splitPackCheckType } from '../../common/packs';
import { PolicySummary } from '../../common/runner-policy';
import { countScheduleOutcome, setSchedulePaused } from '../../platform/repos/schedules.repo';
import { createSweepActivities } from './sweeps';
import { createNotifyActivities } from './notify';
import { DEFAULT_NOTIFY_SETTINGS, wakeSink, type NotifySettings } from '../../platform/notify/wake';
import { enqueueNotifications, sinksOwingForRun } from '../../platform/repos/sinks.repo';

export interface PlatformActivityDeps {
  pool: Pool;
  logger: Logger;
  /** For pausing a schedule after repeated failures (in the namespace the schedule's run is in). */
  temporal?: Pick<WorkspaceTemporal, 'forNamespace' | 'sharedNamespace'> | undefined;
  /** Workspace payload keys: results must be attested under a key of the run's own workspace. */
  keyring: Keyring;
  sealer: Sealer;
  /** Signs the task envelopes Runners verify. */
  signing: SigningKey;
  /** Operator metrics (the platform worker's /metrics); called after the change they count committed. */
  metrics?: PlatformActivityMetrics | undefined;
  /** How notifications are delivered (default: public https destinations only, 8 attempts). */
  notify?: NotifySettings | undefined;
}

/** What the platform activities count: bounded values only (statuses, check types), never an id. */
export interface PlatformActivityMetrics {
  /** A run reached a terminal status (once per change, not per retried call). */
  runFinished(status: RunStatus, checkType: string): void;
  /** A result was stored; `bytes` is its body without the attestation. */
  resultStored(checkType: string, bytes: number): void;
  /** A result was rejected (contract, size cap, attestation, another run or workspace). */
  resultRejected(): void;
  /** A notification delivery ended (delivered, dead) or one of its attempts failed, by sink kind. */
  delivery?(kind: string, outcome: 'delivered' | 'failed' | 'dead'): void;
}

/** What `beginRun` answers: what the run is to do, from PostgreSQL, and the check request signed for it. */
export interface BegunRun {
  input: RunTaskInput;
  request: TaskRequest;
}

export interface RecordRunFinishedInput {
  runId: string;
  status: RunStatus;
  errorType?: string;
  errorMessage?: string;
}

const SYSTEM_ACTOR = 'system:platform-worker';

/** A result's size as the cap counts it: the body, without the attestation. */
const bodyBytes = ({ attestation: _attestation, ...body }: TaskResult): number => resultBodyBytes(body);

function runNotFound(): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.RunNotFound, message: 'run not found', nonRetryable: true });
}

export function createPlatformActivities({ pool, logger, keyring, sealer, temporal, signing, metrics, notify }: PlatformActivityDeps) {
  /** The namespace the calling workflow runs in, as a run row records it (null: the shared one). */
  const ownNamespace = (): string | null => {
    const namespace = Context.current().info.activityNamespace;
    return namespace === (temporal?.sharedNamespace ?? namespace) ? null : namespace;
  };

  /**
   * The reason a result's attestation is refused, or undefined: a Runner with an attestation key
   * must have signed it with that key (v2), one registered before keys existed attests under the
   * workspace key (v1), and a Runner whose key is revoked has every result refused.
   */
  const checkAttestation = async (
    workspaceId: string,
    runnerId: string,
    runId: string,
    attestation: string,
    body: unknown,
  ): Promise<string | undefined> => {
    const runner = await getRunnerAttestation(pool, workspaceId, runnerId);
    if (!runner) return 'the run names no Runner of its workspace';
    if (runner.revokedAt) return "the Runner's attestation key is revoked";
    const format = attestationFormat(attestation);
    if (!format) return 'attestation is malformed';
    if (runner.publicKey) {
      if (format !== 'v2') return 'the Runner must sign its results with its own key';
      return verifyRunnerAttestation({ id: runnerId, publicKey: runner.publicKey }, attestation, workspaceId, runId, body);
    }
    if (format === 'v2') return 'the Runner has no attestation key registered';
    return verifyAttestation(keyring, attestation, workspaceId, runId, body);
  };

  /**
   * The run and its task, for the workflow that calls: refused non-retryably if the run does not
   * exist, if the calling workflow is not the one the run was recorded for (audited as
   * `run.start_refused` when `auditRefusal`), or if its task is gone.
   */
  const ownRunAndTask = async (runId: string, caller: string, auditRefusal: boolean): Promise<{ run: Run; task: Task }> => {
    const run = await getRun(pool, runId);
    if (!run) throw runNotFound();
    if (run.workflowId !== caller) {
      if (auditRefusal) {
        await appendAudit(pool, {
          workspaceId: run.workspaceId,
          actor: SYSTEM_ACTOR,
          action: 'run.start_refused',
          target: `run:${runId}`,
          outcome: 'denied',
          details: { reason: 'workflow_mismatch', sameWorkspace: workspaceOfWorkflowId(caller) === run.workspaceId },
        });
      }
      throw ApplicationFailure.create({
        type: FailureType.RunMismatch,
        message: 'this workflow is not the one the run was recorded for',
        nonRetryable: true,
      });
    }
    const task = run.taskId ? await getTask(pool, sealer, run.workspaceId, run.taskId) : undefined;
    if (!task)
      throw ApplicationFailure.create({
        type: FailureType.InvalidConfiguration,
        message: 'the task of this run no longer exists',
        nonRetryable: true,
      });
    return { run, task };
  };

  /** queued → running with its `run.started` audit row, in one transaction; nothing when started already. */
  const markStarted = (runId: string) =>
    inTransaction(pool, async (tx) => {
      const { changed, run } = await markRunStarted(tx, runId);
      if (!run) throw runNotFound();
      if (changed) {
        await appendAuditInTransaction(tx, {
          workspaceId: run.workspaceId,
          actor: SYSTEM_ACTOR,
          action: 'run.started',
          target: `run:${runId}`,
          outcome: 'success',
        });
      }
    });

  /**
   * The digest of the pack a pack check belongs to, as the run's Runner last reported it: the
   * Platform names a pack check by type and digest, and the Runner runs no other code under them.
   */
  const reportedPackDigest = async (run: Run): Promise<string> => {
    const pack = splitPackCheckType(run.checkType)?.pack;
    const sealed = await runnerPolicySealed(pool, run.workspaceId, run.runnerId);
    const summary = sealed
      ? PolicySummary.safeParse(await sealer.open(run.workspaceId, runnerPolicyBinding(run.runnerId), sealed))
      : undefined;
    const digest = summary?.success ? summary.data.packs.find((p) => p.name === pack)?.digest : undefined;
    if (!digest) {
      throw ApplicationFailure.create({
        type: FailureType.InvalidConfiguration,
        message: `the Runner has not reported pack ${pack ?? '?'}: ${run.checkType} cannot be signed`,
        nonRetryable: true,
      });
    }
    return digest;
  };

  const runInput = (run: Run, task: Task): RunTaskInput => ({
    runId: run.id,
    workspaceId: run.workspaceId,
    taskId: task.id,
    runnerId: run.runnerId,
    checkType: run.checkType,
    params: task.params,
    policy: ExecutionPolicy.parse(task.policy),
  });

  /**
   * The check request and its envelope over workspace, Runner, run, workflow, task, check type and a
   * digest of the parameters, valid for as long as the task's execution policy lets the check run.
   */
  const signedRequest = async (run: Run, task: Task, workflowId: string): Promise<TaskRequest> => {
    const packDigest = isPackCheckType(run.checkType) ? await reportedPackDigest(run) : undefined;
    const policy = ExecutionPolicy.parse(task.policy);
    const issued = Date.now();
    // Long enough for every attempt with its backoff, plus a margin for the Runner's clock.
    const backoffMs = Array.from({ length: policy.maxAttempts - 1 }, (_, i) =>
      Math.min(policy.initialRetryIntervalMs * 2 ** i, 100 * policy.initialRetryIntervalMs),
    ).reduce((a, b) => a + b, 0);
    const lifetimeMs = policy.scheduleToStartMs + policy.maxAttempts * policy.startToCloseMs + backoffMs + 5 * 60_000;
    const envelope = signTaskEnvelope(signing.privateKey, {
      v: 1,
      workspaceId: run.workspaceId,
      runnerId: run.runnerId,
      runId: run.id,
      workflowId,
      taskId: task.id,
      checkType: run.checkType,
      paramsDigest: paramsDigest(task.params),
      ...(packDigest ? { packDigest } : {}),
      issuedAt: new Date(issued).toISOString(),
      expiresAt: new Date(issued + lifetimeMs).toISOString(),
    });
    return { runId: run.id, workspaceId: run.workspaceId, taskId: task.id, checkType: run.checkType, params: task.params, envelope };
  };

  /**
   * A Runner's result as the Platform accepts it: matching the contract and the run it claims to
   * answer, within the size cap (MAX_RESULT_BYTES), attested under a key of the workspace that owns
   * the run. Anything else is audited (`run.result_rejected`) and refused non-retryably.
   */
  const acceptedResult = async (
    runId: string,
    workspaceId: string,
    result: unknown,
  ): Promise<{ run: Run; result: TaskResult; attestationKeyId: string }> => {
    const run = await getRun(pool, runId);
    if (!run) throw runNotFound();
    const parsed = TaskResult.safeParse(result);
    let problem: string | undefined;
    if (run.workspaceId !== workspaceId) problem = 'run belongs to another workspace';
    else if (!parsed.success)
      problem = `result does not match the contract at ${parsed.error.issues
        .slice(0, 5)
        .map((i) => i.path.join('.') || '(root)')
        .join(', ')}`;
    else if (parsed.data.runId !== runId || parsed.data.workspaceId !== run.workspaceId) problem = 'result is for another run';
    else if (parsed.data.checkType !== run.checkType) problem = 'result is for another check type';
    else {
      const { attestation, ...body } = parsed.data;
      // The Runner's boundary caps the size; a Runner that skips it is refused here too.
      const bytes = resultBodyBytes(body);
      problem =
        bytes > MAX_RESULT_BYTES
          ? `result is ${bytes} bytes, over the ${MAX_RESULT_BYTES}-byte cap`
          : await checkAttestation(run.workspaceId, run.runnerId, runId, attestation, body);
    }
    if (problem || !parsed.success) {
      logger.warn({ runId, problem }, 'result rejected');
      await appendAudit(pool, {
        workspaceId: run.workspaceId,
        actor: SYSTEM_ACTOR,
        action: 'run.result_rejected',
        target: `run:${runId}`,
        outcome: 'failure',
        details: { reason: problem },
      });
      metrics?.resultRejected();
      throw ApplicationFailure.create({
        type: FailureType.ResultRejected,
        message: `result rejected: ${problem ?? 'invalid'}`,
        nonRetryable: true,
      });
    }
    const parts = parsed.data.attestation.split('.');
    // v2 names the Runner and its key; v1 the workspace key.
    const attestationKeyId = attestationFormat(parsed.data.attestation) === 'v2' ? `runner:${parts[1]}:${parts[2]}` : (parts[1] ?? '');
    return { run, result: parsed.data, attestationKeyId };
  };

  const resultStoredEvent = (run: Run, result: TaskResult, attestationKeyId: string): AuditEvent => ({
    workspaceId: run.workspaceId,
    actor: SYSTEM_ACTOR,
    action: 'run.result_stored',
    target: `run:${run.id}`,
    outcome: 'success',
    details: { status: result.status, issues: result.issues.length, keyId: attestationKeyId },
  });

  /**
   * A stored result's findings, into the workspace's issues (an error result resolves nothing: it
   * did not look), and the notifications their changes owe the workspace's sinks, in the result's
   * transaction.
   */
  const recordResultFindings = async (tx: Queryable, run: Run, result: TaskResult): Promise<FindingChanges & { owed: string[] }> => {
    const changes = await recordFindings(
      tx,
      sealer,
      { id: run.id, workspaceId: run.workspaceId, runnerId: run.runnerId, taskId: run.taskId, checkType: run.checkType },
      result.issues,
      { resolve: result.status !== 'error' },
    );
    return { ...changes, owed: await enqueueNotifications(tx, run.workspaceId, run.id, changes.changes) };
  };

  /**
   * After the result committed: wakes the delivery of every sink the run owes something. `owed`: the
   * sinks this call's transaction owed; undefined when it stored nothing (a retry after a commit):
   * then they are read back from PostgreSQL, so that a retried call wakes them again. A failure
   * fails the call, which Temporal retries; nothing is stored twice.
   */
  /**
   * A scheduled rediscovery keeps the generated tasks current: when the stored result is the
   * inventory of a Runner's discovery task run by its schedule, the plan is applied (a run asked for
   * through the API only shows its plan, unless it said apply). A plan that cannot be made is logged:
   * the run itself succeeded.
   */
  const rediscovered = async (
    run: Pick<Run, 'id' | 'workspaceId' | 'runnerId' | 'taskId' | 'trigger'>,
    result: TaskResult,
  ): Promise<void> => {
    if (result.checkType !== 'k8s.discover' || !result.inventory || run.trigger !== 'schedule') return;
    if ((await taskOrigin(pool, run.workspaceId, run.taskId)) !== 'discovery') return;
    try {
      const plan = await planForRunner(pool, sealer, { workspaceId: run.workspaceId, runnerId: run.runnerId, inventory: result.inventory });
      const applied = await applyPlan(pool, sealer, { workspaceId: run.workspaceId, runnerId: run.runnerId, plan, actor: `run:${run.id}` });
      logger.info({ runId: run.id, ...applied, conflicts: applied.conflicts.length }, 'rediscovery applied');
    } catch (err) {
      if (!(err instanceof DiscoveryError)) throw err;
      logger.warn({ runId: run.id, reason: err.kind }, 'rediscovery not applied');
    }
  };

  const wakeOwedSinks = async (run: Pick<Run, 'id' | 'workspaceId'>, owedNow: string[] | undefined): Promise<void> => {
    if (!temporal || owedNow?.length === 0) return;
    const owed = owedNow ? owedNow.map((sinkId) => ({ workspaceId: run.workspaceId, sinkId })) : await sinksOwingForRun(pool, run.id);
    if (owed.length === 0) return;
    // The run's own namespace and task queue: where this worker polls.
    const { activityNamespace, taskQueue } = Context.current().info;
    const client = temporal.forNamespace(activityNamespace);
    await Promise.all(owed.map((ref) => wakeSink(client, ref, taskQueue)));
  };

  /** One audit row per kind of issue change a run made, with the issues' ids (opaque) and counts. */
  const findingEvents = (run: Run, changes: FindingChanges): AuditEvent[] =>
    (['opened', 'reopened', 'resolved'] as const)
      .filter((kind) => changes[kind].length > 0)
      .map((kind) => ({
        workspaceId: run.workspaceId,
        actor: SYSTEM_ACTOR,
        action: `issues.${kind}`,
        target: `run:${run.id}`,
        outcome: 'success' as const,
        details: { count: changes[kind].length, issues: changes[kind].slice(0, 200) },
      }));

  const runFinishedEvent = (run: Run, input: RecordRunFinishedInput): AuditEvent => ({
    workspaceId: run.workspaceId,
    actor: SYSTEM_ACTOR,
    action: 'run.finished',
    target: `run:${input.runId}`,
    outcome: input.status === 'succeeded' ? 'success' : 'failure',
    details: { status: input.status, ...(input.errorType ? { errorType: input.errorType } : {}) },
  });

  return {
    ...createSweepActivities({ pool, sealer, ownNamespace }),
    ...createNotifyActivities({ pool, sealer, logger, settings: notify ?? DEFAULT_NOTIFY_SETTINGS, metrics }),
    /**
     * queued → running, audited once, and answers what the run is to do, from PostgreSQL: its
     * workspace, Runner, check type, parameters and execution policy, so that `runTask` never trusts
     * its own input for them. Fails non-retryably if the run does not exist, if the calling workflow
     * is not the one the run was recorded for (someone started a workflow for another's run: audited
     * as `run.start_refused`), or if its task is gone. Since issue 17 `runTask` calls `beginRun`;
     * this stays for workflows recorded before.
     */
    async recordRunStarted({ runId }: { runId: string }): Promise<RunTaskInput> {
      const { run, task } = await ownRunAndTask(runId, Context.current().info.workflowExecution?.workflowId ?? '', true);
      await markStarted(runId);
      return runInput(run, task);
    },

    /**
     * Signs what a run is to do, as PostgreSQL says it (never what the workflow passes in: a hostile
     * Temporal could forge a workflow's state, not the Platform's key). Refused, like
     * recordRunStarted, for a workflow the run was not recorded for. Kept for workflows recorded
     * before issue 17 (`beginRun` does both).
     */
    async signTask({ runId }: { runId: string }): Promise<TaskRequest> {
      const caller = Context.current().info.workflowExecution?.workflowId ?? '';
      const { run, task } = await ownRunAndTask(runId, caller, false);
      return await signedRequest(run, task, caller);
    },

    /**
     * recordRunStarted and signTask in one step (a local activity of `runTask` since issue 17): the
     * run and its task are read once, queued → running and its audit row commit in one transaction,
     * and the answer is what the run is to do with the check request signed for the calling
     * workflow. The same refusals as recordRunStarted. Idempotent: a retry or a reset re-signs, and
     * starts and audits nothing twice.
     */
    async beginRun({ runId }: { runId: string }): Promise<BegunRun> {
      const caller = Context.current().info.workflowExecution?.workflowId ?? '';
      const { run, task } = await ownRunAndTask(runId, caller, true);
      await markStarted(runId);
      return { input: runInput(run, task), request: await signedRequest(run, task, caller) };
    },

    /**
     * Accepts a Runner's result only if it matches the contract and the run it claims to answer, is
     * within the size cap (MAX_RESULT_BYTES) and its attestation verifies under a key of the
     * workspace that owns the run; then stores it once (first write wins), sealed. Anything else is
     * rejected non-retryably and audited, and nothing is stored.
     */
    async storeResult({ runId, workspaceId, result }: { runId: string; workspaceId: string; result: unknown }): Promise<void> {
      const accepted = await acceptedResult(runId, workspaceId, result);
      const { stored, owed } = await inTransaction(pool, async (tx) => {
        const stored = await insertResult(tx, sealer, accepted.result, accepted.attestationKeyId);
        if (!stored) return { stored, owed: undefined };
        const findings = await recordResultFindings(tx, accepted.run, accepted.result);
        await appendAuditEventsInTransaction(tx, [
          resultStoredEvent(accepted.run, accepted.result, accepted.attestationKeyId),
          ...findingEvents(accepted.run, findings),
        ]);
        return { stored, owed: findings.owed };
      });
      if (stored) metrics?.resultStored(accepted.result.checkType, bodyBytes(accepted.result));
      await wakeOwedSinks(accepted.run, owed);
      if (stored) await rediscovered(accepted.run, accepted.result);
    },

    /**
     * storeResult and recordRunFinished(`succeeded`) in one step (a local activity of `runTask` since
     * issue 17): the result is accepted as storeResult accepts it (a refused one is audited and fails
     * non-retryably with nothing stored, and the workflow then records the run `rejected`); then the
     * result, the run's terminal status and both audit rows (`run.result_stored`, `run.finished`)
     * commit in one transaction. Idempotent: the first result and the first terminal status stay
     * (but for the next attempt after a reset, as recordRunFinished).
     */
    async completeRun({ runId, workspaceId, result }: { runId: string; workspaceId: string; result: unknown }): Promise<void> {
      const accepted = await acceptedResult(runId, workspaceId, result);
      const temporalRunId = Context.current().info.workflowExecution?.runId;
      const { stored, finished, owed } = await inTransaction(pool, async (tx) => {
        const stored = await insertResult(tx, sealer, accepted.result, accepted.attestationKeyId);
        const { changed, run } = await markRunFinished(tx, runId, { status: 'succeeded', temporalRunId });
        if (!run) throw runNotFound();
        const events: AuditEvent[] = [];
        let owed: string[] | undefined;
        if (stored) {
          const findings = await recordResultFindings(tx, accepted.run, accepted.result);
          owed = findings.owed;
          events.push(
            resultStoredEvent(accepted.run, accepted.result, accepted.attestationKeyId),
            ...findingEvents(accepted.run, findings),
          );
        }
        if (changed) events.push(runFinishedEvent(run, { runId, status: 'succeeded' }));
        await appendAuditEventsInTransaction(tx, events);
        return { stored, finished: changed ? run : undefined, owed };
      });
      // Counted once the change committed, as storeResult and recordRunFinished count it.
      if (stored) metrics?.resultStored(accepted.result.checkType, bodyBytes(accepted.result));
      if (finished) metrics?.runFinished('succeeded', finished.checkType);
      await wakeOwedSinks(accepted.run, owed);
      if (stored) await rediscovered(accepted.run, accepted.result);
    },

    /**
     * Creates the run of a schedule firing (idempotent on the run id the workflow made) and returns
     * what runTask needs. A task or schedule deleted meanwhile fails non-retryably.
     */
    async createScheduledRun(input: {
      runId: string;
      workspaceId: string;
      taskId: string;
      scheduleId: string;
      workflowId: string;
    }): Promise<RunTaskInput> {
      const task = await getTask(pool, sealer, input.workspaceId, input.taskId);
      if (!task)
        throw ApplicationFailure.create({
          type: FailureType.InvalidConfiguration,
          message: 'the scheduled task no longer exists',
          nonRetryable: true,
        });
      await inTransaction(pool, async (tx) => {
        const created = await insertScheduledRun(tx, {
          id: input.runId,
          workspaceId: input.workspaceId,
          taskId: task.id,
          runnerId: task.runnerId,
          checkType: task.checkType,
          workflowId: input.workflowId,
          scheduleId: input.scheduleId,
          temporalNamespace: ownNamespace(),
        });
        if (created) {
          await appendAuditInTransaction(tx, {
            workspaceId: input.workspaceId,
            actor: `schedule:${input.scheduleId}`,
            action: 'run.requested',
            target: `run:${input.runId}`,
            outcome: 'success',
            details: { taskId: task.id },
          });
        }
      });
      return {
        runId: input.runId,
        workspaceId: input.workspaceId,
        taskId: task.id,
        runnerId: task.runnerId,
        checkType: task.checkType,
        params: task.params,
        policy: ExecutionPolicy.parse(task.policy),
      };
    },

    /**
     * Counts consecutive failed runs of a schedule and pauses it when they reach its
     * `pause_after_failures`. Idempotent per run: a repeated call for the same run counts once.
     */
    async recordScheduleOutcome(input: {
      scheduleId: string;
      workspaceId: string;
      runId: string;
      failed: boolean;
    }): Promise<{ paused: boolean }> {
      const row = await countScheduleOutcome(pool, input);
      if (!row) return { paused: false };
      await inTransaction(pool, (tx) =>
        appendAuditInTransaction(tx, {
          workspaceId: input.workspaceId,
          actor: SYSTEM_ACTOR,
          action: 'schedule.outcome',
          target: `run:${input.runId}`,
          outcome: input.failed ? 'failure' : 'success',
          details: { scheduleId: input.scheduleId, consecutiveFailures: row.consecutiveFailures },
        }),
      );
      if (!row.pauseAfterFailures || row.paused || row.consecutiveFailures < row.pauseAfterFailures || !temporal) return { paused: false };
      await temporal
        .forNamespace(Context.current().info.activityNamespace)
        .schedule.getHandle(temporalScheduleId(input.workspaceId, input.scheduleId))
        .pause(`paused after ${row.consecutiveFailures} consecutive failed runs`);
      await inTransaction(pool, async (tx) => {
        await setSchedulePaused(tx, input.workspaceId, input.scheduleId, true);
        await appendAuditInTransaction(tx, {
          workspaceId: input.workspaceId,
          actor: SYSTEM_ACTOR,
          action: 'schedule.paused',
          target: `schedule:${input.scheduleId}`,
          outcome: 'success',
          details: { reason: 'consecutive failures', count: row.consecutiveFailures },
        });
      });
      return { paused: true };
    },

    /** Stores what a Runner reported about itself. */
    async recordRunnerInfo(input: {
      workspaceId: string;
      runnerId: string;
      version: string;
      allowedChecks: string[];
      policy?: unknown;
    }): Promise<void> {
      // What a Runner says of itself is input like any other: a summary that breaks the schema is not kept.
      const summary = PolicySummary.safeParse(input.policy);
      await recordRunnerInfo(pool, input.workspaceId, input.runnerId, {
        version: input.version.slice(0, 64),
        enabledChecks: input.allowedChecks.slice(0, 100).map((c) => c.slice(0, 64)),
        policyDigest: summary.success ? summary.data.digest : null,
        policySealed: summary.success ? await sealer.seal(input.workspaceId, runnerPolicyBinding(input.runnerId), summary.data) : null,
      });
    },

    /** Moves the run to its terminal status once; later calls keep the first terminal status. */
    async recordRunFinished(input: RecordRunFinishedInput): Promise<void> {
      // The run is read first only when there is an error message to seal under its workspace's key.
      let errorSealed: Buffer | undefined;
      if (input.errorMessage) {
        const current = await getRun(pool, input.runId);
        if (!current) throw runNotFound();
        errorSealed = await sealer.seal(current.workspaceId, runErrorBinding(input.runId), input.errorMessage.slice(0, 2000));
      }
      const finished = await inTransaction(pool, async (tx) => {
        // The Temporal run tells a reset's finish (a new attempt) from a retried activity's (a duplicate).
        const temporalRunId = Context.current().info.workflowExecution?.runId;
        const { changed, run } = await markRunFinished(tx, input.runId, {
          status: input.status,
          errorType: input.errorType,
          errorSealed,
          temporalRunId,
        });
        if (!run) throw runNotFound();
        if (changed) await appendAuditInTransaction(tx, runFinishedEvent(run, input));
        return changed ? run : undefined;
      });
      if (finished) metrics?.runFinished(input.status, finished.checkType);
    },
  };
}

export type PlatformActivities = ReturnType<typeof createPlatformActivities>;
