import type { Queryable } from './db';

export interface ScheduleRow {
  id: string;
  workspaceId: string;
  taskId: string | null;
  runnerId: string | null;
  /** A sweep schedule's namespace group (null: all the Runner's tasks). */
  sweepGroup: string | null;
  spec: ScheduleSpecInput;
  overlap: string;
  catchupSeconds: number;
  pauseOnFailure: boolean;
  pauseAfterFailures: number | null;
  paused: boolean;
  note: string | null;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface ScheduleSpecInput {
  cron?: string[] | undefined;
  intervalSeconds?: number | undefined;
  timezone?: string | undefined;
  jitterSeconds?: number | undefined;
}

interface Row {
  id: string;
  workspace_id: string;
  task_id: string | null;
  runner_id: string | null;
  sweep_group: string | null;
  spec: ScheduleSpecInput;
  overlap: string;
  catchup_seconds: number;
  pause_on_failure: boolean;
  pause_after_failures: number | null;
  paused: boolean;
  note: string | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS =
  'id, workspace_id, task_id, runner_id, sweep_group, spec, overlap, catchup_seconds, pause_on_failure, pause_after_failures, paused, note, created_by, created_at, updated_at';
const toRow = (r: Row): ScheduleRow => ({
  id: r.id,
  workspaceId: r.workspace_id,
  taskId: r.task_id,
  runnerId: r.runner_id,
  sweepGroup: r.sweep_group,
  spec: r.spec,
  overlap: r.overlap,
  catchupSeconds: r.catchup_seconds,
  pauseOnFailure: r.pause_on_failure,
  pauseAfterFailures: r.pause_after_failures,
  paused: r.paused,
  note: r.note,
  createdBy: r.created_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export async function insertSchedule(db: Queryable, s: Omit<ScheduleRow, 'createdAt' | 'updatedAt'>): Promise<void> {
  await db.query(
    `insert into schedules (id, workspace_id, task_id, runner_id, spec, overlap, catchup_seconds, pause_on_failure, paused, note, created_by, pause_after_failures, sweep_group)
     values ($1, $2, $3, $11, $4, $5, $6, $7, $8, $9, $10, $12, $13)`,
    [
      s.id,
      s.workspaceId,
      s.taskId,
      JSON.stringify(s.spec),
      s.overlap,
      s.catchupSeconds,
      s.pauseOnFailure,
      s.paused,
      s.note,
      s.createdBy,
      s.runnerId,
      s.pauseAfterFailures,
      s.sweepGroup,
    ],
  );
}

export async function getSchedule(db: Queryable, workspaceId: string, id: string): Promise<ScheduleRow | undefined> {
  const { rows } = await db.query<Row>(`select ${COLUMNS} from schedules where id = $1 and workspace_id = $2`, [id, workspaceId]);
  return rows[0] && toRow(rows[0]);
}

export async function listSchedules(db: Queryable, workspaceId: string): Promise<ScheduleRow[]> {
  const { rows } = await db.query<Row>(`select ${COLUMNS} from schedules where workspace_id = $1 order by created_at`, [workspaceId]);
  return rows.map(toRow);
}

export async function setSchedulePaused(db: Queryable, workspaceId: string, id: string, paused: boolean): Promise<void> {
  await db.query('update schedules set paused = $3, updated_at = now() where id = $1 and workspace_id = $2', [id, workspaceId, paused]);
}

/** The settings `PATCH …/schedules/{id}` may change. */
export type ScheduleSettings = Pick<ScheduleRow, 'spec' | 'overlap' | 'catchupSeconds' | 'pauseOnFailure' | 'pauseAfterFailures'>;

export async function updateScheduleSettings(db: Queryable, workspaceId: string, id: string, s: ScheduleSettings): Promise<void> {
  await db.query(
    'update schedules set spec = $3, overlap = $4, catchup_seconds = $5, pause_on_failure = $6, pause_after_failures = $7, updated_at = now() where id = $1 and workspace_id = $2',
    [id, workspaceId, JSON.stringify(s.spec), s.overlap, s.catchupSeconds, s.pauseOnFailure, s.pauseAfterFailures],
  );
}

/**
 * Counts one run's outcome towards its schedule's consecutive failures (a success resets the count),
 * once per run: a run whose `schedule.outcome` is already audited is not counted again. Undefined
 * when the schedule is gone or the run was counted.
 */
export async function countScheduleOutcome(
  db: Queryable,
  o: { scheduleId: string; workspaceId: string; runId: string; failed: boolean },
): Promise<{ consecutiveFailures: number; pauseAfterFailures: number | null; paused: boolean } | undefined> {
  const { rows } = await db.query<{ consecutive_failures: number; pause_after_failures: number | null; paused: boolean }>(
    `update schedules set consecutive_failures = case when $3 then consecutive_failures + 1 else 0 end, updated_at = now()
      where id = $1 and workspace_id = $2
        and not exists (select 1 from audit_events where workspace_id = $2 and action = 'schedule.outcome' and target = $4)
      returning consecutive_failures, pause_after_failures, paused`,
    [o.scheduleId, o.workspaceId, o.failed, `run:${o.runId}`],
  );
  const row = rows[0];
  return row && { consecutiveFailures: row.consecutive_failures, pauseAfterFailures: row.pause_after_failures, paused: row.paused };
}

export async function deleteSchedule(db: Queryable, workspaceId: string, id: string): Promise<void> {
  await db.query('delete from schedules where id = $1 and workspace_id = $2', [id, workspaceId]);
}
