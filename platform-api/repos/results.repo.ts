import type { TaskResult } from '../../common/contracts';
import type { Queryable } from './db';

export type StoredResult = Omit<TaskResult, 'runId' | 'workspaceId'> & { storedAt: string };

/**
 * Stores a run's result once. Idempotent: a second write for the same run (activity retry, workflow
 * reset) keeps the first and returns false.
 */
export async function insertResult(db: Queryable, r: TaskResult): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into results (run_id, workspace_id, check_type, status, summary, score, issues, metrics,
                          started_at, finished_at, duration_ms, exit_code)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     on conflict (run_id) do nothing`,
    [
      r.runId,
      r.workspaceId,
      r.checkType,
      r.status,
      r.summary,
      r.score ?? null,
      JSON.stringify(r.issues),
      JSON.stringify(r.metrics),
      r.startedAt,
      r.finishedAt,
      r.durationMs,
      r.exitCode,
    ],
  );
  return rowCount === 1;
}

export async function getResult(db: Queryable, runId: string): Promise<StoredResult | undefined> {
  const { rows } = await db.query<{
    check_type: string;
    status: TaskResult['status'];
    summary: string;
    score: number | null;
    issues: TaskResult['issues'];
    metrics: TaskResult['metrics'];
    started_at: Date;
    finished_at: Date;
    duration_ms: number;
    exit_code: number;
    stored_at: Date;
  }>(
    `select check_type, status, summary, score, issues, metrics, started_at, finished_at, duration_ms, exit_code, stored_at
       from results where run_id = $1`,
    [runId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    checkType: r.check_type,
    status: r.status,
    summary: r.summary,
    ...(r.score === null ? {} : { score: r.score }),
    issues: r.issues,
    metrics: r.metrics,
    startedAt: r.started_at.toISOString(),
    finishedAt: r.finished_at.toISOString(),
    durationMs: r.duration_ms,
    exitCode: r.exit_code,
    storedAt: r.stored_at.toISOString(),
  };
}
