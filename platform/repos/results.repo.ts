import type { TaskResult } from '../../common/contracts';
import type { Sealer } from '../crypto/sealer';
import type { Queryable } from './db';

export type StoredResult = Omit<TaskResult, 'runId' | 'workspaceId' | 'attestation'> & { storedAt: string };

type SealedBody = Pick<TaskResult, 'summary' | 'score' | 'issues' | 'metrics' | 'inventory'>;
const binding = (runId: string) => `result:${runId}`;

/**
 * Stores a run's verified result once; its content is sealed under the workspace's data key.
 * Idempotent: a second write for the same run (activity retry, workflow reset) keeps the first and
 * returns false.
 */
export async function insertResult(db: Queryable, sealer: Sealer, r: TaskResult, attestationKeyId: string): Promise<boolean> {
  const body: SealedBody = {
    summary: r.summary,
    ...(r.score === undefined ? {} : { score: r.score }),
    issues: r.issues,
    metrics: r.metrics,
    ...(r.inventory === undefined ? {} : { inventory: r.inventory }),
  };
  const { rowCount } = await db.query(
    `insert into results (run_id, workspace_id, check_type, status, sealed, started_at, finished_at, duration_ms, exit_code, attestation_key_id, attestation)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     on conflict (run_id) do nothing`,
    [
      r.runId,
      r.workspaceId,
      r.checkType,
      r.status,
      await sealer.seal(r.workspaceId, binding(r.runId), body),
      r.startedAt,
      r.finishedAt,
      r.durationMs,
      r.exitCode,
      attestationKeyId,
      r.attestation,
    ],
  );
  return rowCount === 1;
}

/** A results row as read, still sealed. */
export interface ResultRow {
  check_type: string;
  status: TaskResult['status'];
  sealed: Buffer;
  started_at: Date;
  finished_at: Date;
  duration_ms: number;
  exit_code: number;
  stored_at: Date;
}

/** The columns of a `ResultRow`, for queries that read a result beside something else. */
export const RESULT_COLUMNS = 'check_type, status, sealed, started_at, finished_at, duration_ms, exit_code, stored_at';

export async function getResult(db: Queryable, sealer: Sealer, workspaceId: string, runId: string): Promise<StoredResult | undefined> {
  const { rows } = await db.query<ResultRow>(`select ${RESULT_COLUMNS} from results where run_id = $1 and workspace_id = $2`, [
    runId,
    workspaceId,
  ]);
  const r = rows[0];
  return r && openResult(sealer, workspaceId, runId, r);
}

/** Opens a sealed result row of `runId` (its binding is checked: a row moved to another run fails). */
export async function openResult(sealer: Sealer, workspaceId: string, runId: string, r: ResultRow): Promise<StoredResult> {
  const body = await sealer.open<SealedBody>(workspaceId, binding(runId), r.sealed);
  return {
    checkType: r.check_type,
    status: r.status,
    ...body,
    startedAt: r.started_at.toISOString(),
    finishedAt: r.finished_at.toISOString(),
    durationMs: r.duration_ms,
    exitCode: r.exit_code,
    storedAt: r.stored_at.toISOString(),
  };
}
