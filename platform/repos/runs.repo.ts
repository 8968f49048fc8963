import type { RunStatus, RunTrigger } from '../../common/contracts';
import type { Queryable } from './db';
import { RESULT_COLUMNS, type ResultRow } from './results.repo';

export interface Run {
  id: string;
  workspaceId: string;
  taskId: string;
  runnerId: string;
  checkType: string;
  status: RunStatus;
  trigger: RunTrigger;
  requestedBy: string;
  workflowId: string;
  /** The Temporal namespace its workflow was started in; null: the deployment's shared namespace. */
  temporalNamespace: string | null;
  errorType: string | null;
  /** The error message, sealed under the workspace's data key (it may name customer resources). */
  errorSealed: Buffer | null;
  attempt: number;
  queuedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

interface RunRow {
  id: string;
  workspace_id: string;
  task_id: string;
  runner_id: string;
  check_type: string;
  status: RunStatus;
  trigger: RunTrigger;
  requested_by: string;
  workflow_id: string;
  temporal_namespace: string | null;
  error_type: string | null;
  error_sealed: Buffer | null;
  attempt: number;
  queued_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const COLUMNS =
  'id, workspace_id, task_id, runner_id, check_type, status, trigger, requested_by, workflow_id, temporal_namespace, error_type, error_sealed, attempt, queued_at, started_at, finished_at';

function toRun(r: RunRow): Run {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    taskId: r.task_id,
    runnerId: r.runner_id,
    checkType: r.check_type,
    status: r.status,
    trigger: r.trigger,
    requestedBy: r.requested_by,
    workflowId: r.workflow_id,
    temporalNamespace: r.temporal_namespace,
    errorType: r.error_type,
    errorSealed: r.error_sealed,
    attempt: r.attempt,
    queuedAt: r.queued_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

export async function insertRun(
  db: Queryable,
  r: Pick<Run, 'id' | 'workspaceId' | 'taskId' | 'runnerId' | 'checkType' | 'trigger' | 'requestedBy' | 'workflowId'> & {
    temporalNamespace?: string | null | undefined;
  },
): Promise<Run> {
  const { rows } = await db.query<RunRow>(
    `insert into runs (id, workspace_id, task_id, runner_id, check_type, status, trigger, requested_by, workflow_id, temporal_namespace)
     values ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $9) returning ${COLUMNS}`,
    [r.id, r.workspaceId, r.taskId, r.runnerId, r.checkType, r.trigger, r.requestedBy, r.workflowId, r.temporalNamespace ?? null],
  );
  return toRun(rows[0]!);
}

export async function getRun(db: Queryable, id: string): Promise<Run | undefined> {
  const { rows } = await db.query<RunRow>(`select ${COLUMNS} from runs where id = $1`, [id]);
  return rows[0] && toRun(rows[0]);
}

/**
 * A run and its result row (still sealed) in one query: what `GET /v1/runs/{id}` reads. The result
 * is only taken from the run's own workspace.
 */
export async function getRunWithResult(db: Queryable, id: string): Promise<{ run: Run; result: ResultRow | undefined } | undefined> {
  const { rows } = await db.query<RunRow & { [K in keyof ResultRow as `result_${K}`]: ResultRow[K] | null }>(
    `select ${RUN_COLUMNS_OF_R}, ${RESULT_COLUMNS_OF_S}
       from runs r left join results s on s.run_id = r.id and s.workspace_id = r.workspace_id
      where r.id = $1`,
    [id],
  );
  const row = rows[0];
  if (!row) return undefined;
  const result: ResultRow | undefined =
    row.result_sealed === null
      ? undefined
      : {
          check_type: row.result_check_type!,
          status: row.result_status!,
          sealed: row.result_sealed,
          started_at: row.result_started_at!,
          finished_at: row.result_finished_at!,
          duration_ms: row.result_duration_ms!,
          exit_code: row.result_exit_code!,
          stored_at: row.result_stored_at!,
        };
  return { run: toRun(row), result };
}

const RUN_COLUMNS_OF_R = COLUMNS.split(', ')
  .map((c) => `r.${c}`)
  .join(', ');
const RESULT_COLUMNS_OF_S = RESULT_COLUMNS.split(', ')
  .map((c) => `s.${c} as result_${c}`)
  .join(', ');

/** queued → running. Idempotent: a second call (activity retry) changes nothing; `run` is undefined if it does not exist. */
export async function markRunStarted(db: Queryable, id: string): Promise<{ changed: boolean; run: Run | undefined }> {
  // The changed row comes back with the update; only a call that changed nothing reads the run again.
  const { rows } = await db.query<RunRow>(
    `update runs set status = 'running', started_at = coalesce(started_at, now())
      where id = $1 and status = 'queued' returning ${COLUMNS}`,
    [id],
  );
  return rows[0] ? { changed: true, run: toRun(rows[0]) } : { changed: false, run: await getRun(db, id) };
}

/**
 * Moves a run to a terminal status. Idempotent: once terminal, a run keeps its first terminal status,
 * so a retried activity cannot flip it — unless the finish comes from another Temporal run of the
 * workflow after a failure, which only a reset produces (the API's retry or the Temporal UI's Reset):
 * that finish is the next attempt's. Returns whether it changed the run, and the run afterwards.
 */
export async function markRunFinished(
  db: Queryable,
  id: string,
  outcome: { status: RunStatus; errorType?: string | undefined; errorSealed?: Buffer | undefined; temporalRunId?: string | undefined },
): Promise<{ changed: boolean; run: Run | undefined }> {
  const { rows } = await db.query<RunRow>(
    `update runs set status = $2, error_type = $3, error_sealed = $4, finished_at = now(), finished_by_temporal_run = $5,
            attempt = case when status in ('queued', 'running') then attempt else attempt + 1 end,
            started_at = case when $2 = 'runner_unavailable' then started_at else coalesce(started_at, now()) end
      where id = $1
        and (status in ('queued', 'running')
             or (status in ('failed', 'runner_unavailable', 'rejected') and $5::text is not null
                 and finished_by_temporal_run is distinct from $5::text))
      returning ${COLUMNS}`,
    [id, outcome.status, outcome.errorType ?? null, outcome.errorSealed ?? null, outcome.temporalRunId ?? null],
  );
  return rows[0] ? { changed: true, run: toRun(rows[0]) } : { changed: false, run: await getRun(db, id) };
}

/** The binding of a run's sealed error message. */
export const runErrorBinding = (runId: string) => `run:${runId}:error`;

/** Statuses a run can be retried from (a workflow reset to the failed step). */
export const RETRYABLE_RUN_STATUSES = ['failed', 'runner_unavailable', 'rejected'] as const;

/**
 * A failed run becomes `running` again for its next attempt; false when the run is not in a
 * retryable status (concurrent retries: only one wins).
 */
export async function markRunRetrying(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `update runs set status = 'running', error_type = null, error_sealed = null, finished_at = null, attempt = attempt + 1
      where id = $1 and status in ('failed', 'runner_unavailable', 'rejected')`,
    [id],
  );
  return rowCount === 1;
}

/** The newest runs of a workspace, newest first. */
export async function listRuns(db: Queryable, workspaceId: string, limit: number): Promise<Run[]> {
  const { rows } = await db.query<RunRow>(`select ${COLUMNS} from runs where workspace_id = $1 order by queued_at desc, id limit $2`, [
    workspaceId,
    limit,
  ]);
  return rows.map(toRun);
}

/** Inserts a run started by a schedule; idempotent on its id (the workflow makes the id, activities may repeat). */
export async function insertScheduledRun(
  db: Queryable,
  r: Pick<Run, 'id' | 'workspaceId' | 'taskId' | 'runnerId' | 'checkType' | 'workflowId' | 'temporalNamespace'> & { scheduleId: string },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into runs (id, workspace_id, task_id, runner_id, check_type, status, trigger, requested_by, workflow_id, schedule_id, temporal_namespace)
     values ($1, $2, $3, $4, $5, 'queued', 'schedule', $6, $7, $8, $9) on conflict (id) do nothing`,
    [r.id, r.workspaceId, r.taskId, r.runnerId, r.checkType, `schedule:${r.scheduleId}`, r.workflowId, r.scheduleId, r.temporalNamespace],
  );
  return rowCount === 1;
}

/** Inserts a run of a sweep; idempotent on its id. */
export async function insertSweepRun(
  db: Queryable,
  r: Pick<Run, 'id' | 'workspaceId' | 'taskId' | 'runnerId' | 'checkType' | 'workflowId' | 'temporalNamespace'> & { sweepId: string },
): Promise<void> {
  await db.query(
    `insert into runs (id, workspace_id, task_id, runner_id, check_type, status, trigger, requested_by, workflow_id, sweep_id, temporal_namespace)
     values ($1, $2, $3, $4, $5, 'queued', 'sweep', $6, $7, $8, $9) on conflict (id) do nothing`,
    [r.id, r.workspaceId, r.taskId, r.runnerId, r.checkType, `sweep:${r.sweepId}`, r.workflowId, r.sweepId, r.temporalNamespace],
  );
}

export async function runsOfSweep(db: Queryable, sweepId: string): Promise<Run[]> {
  const { rows } = await db.query<RunRow>(`select ${COLUMNS} from runs where sweep_id = $1 order by id`, [sweepId]);
  return rows.map(toRun);
}

/** Runs still `queued` and never started, recorded before `olderThanMs` ago (candidates for orphans). */
export async function staleQueuedRuns(db: Queryable, olderThanMs: number, limit: number, workspaceId?: string): Promise<Run[]> {
  const { rows } = await db.query<RunRow>(
    `select ${COLUMNS} from runs where status = 'queued' and started_at is null
        and queued_at < now() - ($1 || ' milliseconds')::interval and ($3::uuid is null or workspace_id = $3)
      order by queued_at limit $2`,
    [String(olderThanMs), limit, workspaceId ?? null],
  );
  return rows.map(toRun);
}
