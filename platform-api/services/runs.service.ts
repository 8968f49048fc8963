/**
 * Runs: request one (start `runTask`), read one. The API never loads workflow code; it starts
 * workflows by name with the workflow's type.
 */
import { randomUUID } from 'node:crypto';
import type { WorkspaceTemporal } from '../../platform/workspace-temporal';
import type { Pool } from 'pg';
import { ExecutionPolicy, TERMINAL_RUN_STATUSES, type RunTrigger } from '../../common/contracts';
import { PLATFORM_TASK_QUEUE, runWorkflowId } from '../../common/ids';
import type { Logger } from '../../common/logger';
import type { runTask } from '../../workflows';
import type { WorkspaceAccess } from '../auth/auth-context';
import type { Sealer } from '../../platform/crypto/sealer';
import { ConflictError, NotFoundError, UnavailableError } from '../../common/problem';
import { isWorkflowNotFound } from '../../common/temporal-errors';
import { appendAudit, appendAuditInTransaction } from '../../platform/repos/audit.repo';
import { inTransaction } from '../../platform/repos/db';
import { openResult, type ResultRow, type StoredResult } from '../../platform/repos/results.repo';
import type { FeedCache } from '../cache';
import type { ChangeSource } from '../../platform/repos/change-feed';
import type { Located } from '../routes/route';
import {
  getRun,
  getRunWithResult,
  insertRun,
  listRuns,
  markRunFinished,
  markRunRetrying,
  RETRYABLE_RUN_STATUSES,
  runErrorBinding,
  type Run,
} from '../../platform/repos/runs.repo';
import { getTask } from '../../platform/repos/tasks.repo';

export interface RunView {
  id: string;
  workspaceId: string;
  taskId: string;
  runnerId: string;
  checkType: string;
  status: Run['status'];
  trigger: Run['trigger'];
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  error: { type: string; message: string | null } | null;
  /** 1 for the first attempt; a retry through the API starts the next. */
  attempt: number;
  result: StoredResult | null;
}

export async function toRunView(sealer: Sealer, run: Run, result: StoredResult | undefined): Promise<RunView> {
  const errorMessage = run.errorSealed ? await sealer.open<string>(run.workspaceId, runErrorBinding(run.id), run.errorSealed) : null;
  return {
    id: run.id,
    workspaceId: run.workspaceId,
    taskId: run.taskId,
    runnerId: run.runnerId,
    checkType: run.checkType,
    status: run.status,
    trigger: run.trigger,
    queuedAt: run.queuedAt.toISOString(),
    startedAt: run.startedAt?.toISOString() ?? null,
    finishedAt: run.finishedAt?.toISOString() ?? null,
    durationMs: run.startedAt && run.finishedAt ? run.finishedAt.getTime() - run.startedAt.getTime() : null,
    error: run.errorType ? { type: run.errorType, message: errorMessage } : null,
    attempt: run.attempt,
    result: result ?? null,
  };
}

export interface RunsServiceDeps {
  pool: Pool;
  temporal: WorkspaceTemporal;
  logger: Logger;
  sealer: Sealer;
  platformTaskQueue?: string | undefined;
  /** Views of finished runs, emptied by the change feed when a run is retried or erased, or a key changes. */
  runViews?: FeedCache<RunView> | undefined;
  /** Told of a retry, so that this process's cached view of the run goes at once. */
  changes?: ChangeSource | undefined;
}

/** What `locate` read: a cached view, or the run and its sealed result with the cache generation before the read. */
type LocatedRun = { view: RunView } | { run: Run; result: ResultRow | undefined; generation: number };

export function createRunsService({
  pool,
  temporal,
  logger,
  sealer,
  platformTaskQueue = PLATFORM_TASK_QUEUE,
  runViews,
  changes,
}: RunsServiceDeps) {
  /** The run and its result in one read (or the cached view of a finished run). */
  async function locateRun(runId: string): Promise<LocatedRun | undefined> {
    const view = runViews?.get(runId);
    if (view) return { view };
    const generation = runViews?.generation() ?? 0;
    const found = await getRunWithResult(pool, runId);
    return found && { ...found, generation };
  }

  return {
    /** The workspace a run belongs to, or undefined when there is no such run (routes by run id answer 404). */
    async workspaceOf(runId: string): Promise<string | undefined> {
      return (await getRun(pool, runId))?.workspaceId;
    },

    /** `workspaceOf` for the read route: hands what it read on to `getRunView`. */
    async locate(runId: string): Promise<Located | undefined> {
      const located = await locateRun(runId);
      if (!located) return undefined;
      return { workspaceId: 'view' in located ? located.view.workspaceId : located.run.workspaceId, resource: located };
    },

    /**
     * Records a queued run and audits the request (one transaction), then starts `runTask` with id
     * `ws-<ws>/run-<run>`. If Temporal refuses the start, the run is closed as failed and the caller
     * gets 503. A process that dies between the commit and the start leaves the run queued (known).
     */
    async requestRun(
      auth: Pick<WorkspaceAccess, 'actor'>,
      workspaceId: string,
      taskId: string,
      trigger: RunTrigger,
      ip?: string,
    ): Promise<RunView> {
      const task = await getTask(pool, sealer, workspaceId, taskId);
      if (!task) throw new NotFoundError('task');
      const policy = ExecutionPolicy.parse(task.policy);
      const runId = randomUUID();
      const workflowId = runWorkflowId(workspaceId, runId);
      const namespace = await temporal.namespaceOf(workspaceId);
      // The run and its audit row commit together: a database failure between them would leave a
      // queued run that no workflow will ever finish.
      const run = await inTransaction(pool, async (tx) => {
        const inserted = await insertRun(tx, {
          id: runId,
          workspaceId,
          taskId: task.id,
          runnerId: task.runnerId,
          checkType: task.checkType,
          trigger,
          requestedBy: auth.actor,
          workflowId,
          temporalNamespace: namespace === temporal.sharedNamespace ? null : namespace,
        });
        await appendAuditInTransaction(tx, {
          workspaceId,
          actor: auth.actor,
          action: 'run.requested',
          target: `run:${runId}`,
          outcome: 'success',
          details: { taskId: task.id },
          ip,
        });
        return inserted;
      });
      try {
        const client = temporal.forNamespace(namespace);
        await client.workflow.start<typeof runTask>('runTask', {
          taskQueue: platformTaskQueue,
          workflowId,
          args: [{ runId, workspaceId, taskId: task.id, runnerId: task.runnerId, checkType: task.checkType, params: task.params, policy }],
        });
      } catch (err) {
        logger.error({ err, runId }, 'could not start runTask');
        const errorSealed = await sealer.seal(workspaceId, runErrorBinding(runId), 'the workflow engine did not accept the run');
        await markRunFinished(pool, runId, { status: 'failed', errorType: 'StartFailed', errorSealed });
        throw new UnavailableError('the workflow engine is unavailable; the run was not started');
      }
      return toRunView(sealer, run, undefined);
    },

    /**
     * A run of the caller's workspace with its result; any other run is not found. `located`: what
     * `locate` read for this request. A finished run's view is cached (a succeeded one once its
     * result is in).
     */
    async getRunView(auth: WorkspaceAccess, runId: string, located?: unknown): Promise<RunView> {
      const found = (located as LocatedRun | undefined) ?? (await locateRun(runId));
      if (!found) throw new NotFoundError('run');
      if ('view' in found) {
        if (found.view.id !== runId || found.view.workspaceId !== auth.workspaceId) throw new NotFoundError('run');
        return found.view;
      }
      const { run, result, generation } = found;
      if (run.id !== runId || run.workspaceId !== auth.workspaceId) throw new NotFoundError('run');
      const view = await toRunView(sealer, run, result && (await openResult(sealer, run.workspaceId, run.id, result)));
      if (TERMINAL_RUN_STATUSES.includes(run.status) && (run.status !== 'succeeded' || view.result))
        runViews?.set(run.id, view, generation);
      return view;
    },

    /** Requests cancellation of a run in flight; the check sees it through its heartbeat. */
    async cancelRun(auth: WorkspaceAccess, runId: string, ip?: string): Promise<RunView> {
      const run = await getRun(pool, runId);
      if (!run || run.workspaceId !== auth.workspaceId) throw new NotFoundError('run');
      if ((TERMINAL_RUN_STATUSES as readonly string[]).includes(run.status))
        throw new ConflictError(`the run already ended (${run.status})`);
      const client = temporal.forNamespace(run.temporalNamespace ?? temporal.sharedNamespace);
      await client.workflow
        .getHandle(run.workflowId)
        .cancel()
        .catch((err: unknown) => {
          throw isWorkflowNotFound(err)
            ? new ConflictError('the run has no workflow to cancel any more (it ended or passed Temporal retention)')
            : err;
        });
      await appendAudit(pool, {
        workspaceId: run.workspaceId,
        actor: auth.actor,
        action: 'run.cancel_requested',
        target: `run:${runId}`,
        outcome: 'success',
        ip,
      });
      return toRunView(sealer, run, undefined);
    },

    /**
     * Retries a failed run by resetting its workflow to the workflow task that scheduled the check
     * (the same ResetWorkflowExecution call the Temporal UI makes). Steps before it are kept; the check,
     * storing the result and the finish run again, and activities are idempotent, so at most one
     * result is stored. The reset links the new Temporal run to the old one; the audit row records both.
     */
    async retryRun(auth: WorkspaceAccess, runId: string, ip?: string): Promise<RunView> {
      const run = await getRun(pool, runId);
      if (!run || run.workspaceId !== auth.workspaceId) throw new NotFoundError('run');
      if (!(RETRYABLE_RUN_STATUSES as readonly string[]).includes(run.status))
        throw new ConflictError(`only a failed, rejected or runner_unavailable run can be retried; this one is ${run.status}`);
      const client = temporal.forNamespace(run.temporalNamespace ?? temporal.sharedNamespace);
      const handle = client.workflow.getHandle(run.workflowId);
      // The run is recorded failed just before its workflow closes: let it close first.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([handle.result().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
      clearTimeout(timer);
      const description = await handle.describe().catch((err: unknown) => {
        throw isWorkflowNotFound(err)
          ? new ConflictError('the run can no longer be retried: its workflow history is gone (Temporal retention); start a new run')
          : err;
      });
      const history = await client.workflow.getHandle(run.workflowId, description.runId).fetchHistory();
      // The step that signs the check when there is one (a fresh envelope for the new attempt), else
      // the one that scheduled it: runs recorded before signed envelopes, and runs since issue 17,
      // whose signing local activity (`beginRun`) ran in the workflow task that scheduled the check
      // and so runs again from this reset point.
      const events = [...(history.events ?? [])].reverse();
      const scheduledOf = (name: string) => events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === name);
      const scheduled = scheduledOf('signTask') ?? scheduledOf('executeCheck');
      const resetPoint = scheduled?.activityTaskScheduledEventAttributes?.workflowTaskCompletedEventId;
      if (!resetPoint) throw new ConflictError('the run never reached its check; start a new run instead');
      if (!(await markRunRetrying(pool, runId))) throw new ConflictError('the run is being retried already');
      changes?.announce(`run:${runId}`);
      try {
        const reset = await client.workflowService.resetWorkflowExecution({
          namespace: client.options.namespace,
          workflowExecution: { workflowId: run.workflowId, runId: description.runId },
          reason: `retry requested through the API by ${auth.actor}`,
          workflowTaskFinishEventId: resetPoint,
          requestId: randomUUID(),
          identity: `api:${process.pid}`,
        });
        await appendAudit(pool, {
          workspaceId: run.workspaceId,
          actor: auth.actor,
          action: 'run.retry_requested',
          target: `run:${runId}`,
          outcome: 'success',
          details: { fromTemporalRun: description.runId, toTemporalRun: reset.runId ?? null, attempt: run.attempt + 1 },
          ip,
        });
      } catch (err) {
        logger.error({ err, runId }, 'reset failed');
        await markRunFinished(pool, runId, {
          status: run.status,
          errorType: run.errorType ?? undefined,
          errorSealed: run.errorSealed ?? undefined,
        });
        throw new UnavailableError('the workflow engine refused the retry');
      }
      const updated = await getRun(pool, runId);
      return toRunView(sealer, updated ?? run, undefined);
    },

    async listRunViews(workspaceId: string, limit: number): Promise<RunView[]> {
      const runs = await listRuns(pool, workspaceId, limit);
      return Promise.all(runs.map((r) => toRunView(sealer, r, undefined)));
    },
  };
}

export type RunsService = ReturnType<typeof createRunsService>;
