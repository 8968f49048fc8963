import type { Queryable } from './db';

export interface SweepRow {
  id: string;
  workspaceId: string;
  runnerId: string;
  /** The namespace group it swept, or null for all the Runner's tasks. */
  group: string | null;
  status: 'running' | 'completed' | 'failed';
  requestedBy: string;
  score: number | null;
  namespacesSealed: Buffer | null;
  issuesNew: number | null;
  issuesOpen: number | null;
  issuesResolved: number | null;
  startedAt: Date;
  finishedAt: Date | null;
}

interface Row {
  id: string;
  workspace_id: string;
  runner_id: string;
  sweep_group: string | null;
  status: SweepRow['status'];
  requested_by: string;
  score: number | null;
  namespaces_sealed: Buffer | null;
  issues_new: number | null;
  issues_open: number | null;
  issues_resolved: number | null;
  started_at: Date;
  finished_at: Date | null;
}

const COLUMNS =
  'id, workspace_id, runner_id, sweep_group, status, requested_by, score, namespaces_sealed, issues_new, issues_open, issues_resolved, started_at, finished_at';
const toRow = (r: Row): SweepRow => ({
  id: r.id,
  workspaceId: r.workspace_id,
  runnerId: r.runner_id,
  group: r.sweep_group,
  status: r.status,
  requestedBy: r.requested_by,
  score: r.score,
  namespacesSealed: r.namespaces_sealed,
  issuesNew: r.issues_new,
  issuesOpen: r.issues_open,
  issuesResolved: r.issues_resolved,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

export async function insertSweep(
  db: Queryable,
  s: { id: string; workspaceId: string; runnerId: string; requestedBy: string; group?: string | null },
): Promise<void> {
  await db.query(
    "insert into sweeps (id, workspace_id, runner_id, status, requested_by, sweep_group) values ($1, $2, $3, 'running', $4, $5) on conflict (id) do nothing",
    [s.id, s.workspaceId, s.runnerId, s.requestedBy, s.group ?? null],
  );
}

export async function getSweep(db: Queryable, id: string): Promise<SweepRow | undefined> {
  const { rows } = await db.query<Row>(`select ${COLUMNS} from sweeps where id = $1`, [id]);
  return rows[0] && toRow(rows[0]);
}

/**
 * A workspace's sweeps, newest first: of one Runner (or all), of one namespace group (or, with
 * `group` null, the sweeps of whole Runners only), at most `limit`.
 */
export async function listSweeps(
  db: Queryable,
  workspaceId: string,
  q: { runnerId?: string | undefined; group: string | null; status?: SweepRow['status'] | undefined; limit: number },
): Promise<SweepRow[]> {
  const { rows } = await db.query<Row>(
    `select ${COLUMNS} from sweeps where workspace_id = $1 and ($2::uuid is null or runner_id = $2)
      and sweep_group is not distinct from $3 and ($4::text is null or status = $4) order by started_at desc, id limit $5`,
    [workspaceId, q.runnerId ?? null, q.group, q.status ?? null, q.limit],
  );
  return rows.map(toRow);
}

/** The last completed sweep of a Runner before `sweepId`. */
export async function previousSweep(db: Queryable, runnerId: string, sweepId: string): Promise<SweepRow | undefined> {
  const { rows } = await db.query<Row>(
    `select ${COLUMNS} from sweeps where runner_id = $1 and id <> $2 and status = 'completed'
      and sweep_group is not distinct from (select sweep_group from sweeps where id = $2)
      and started_at <= (select started_at from sweeps where id = $2) order by started_at desc limit 1`,
    [runnerId, sweepId],
  );
  return rows[0] && toRow(rows[0]);
}

/** The version of the keys `insertSweepFindings` writes (2: resource and problem, not the check type). */
export const SWEEP_KEY_VERSION = 2;

export async function findingsOf(
  db: Queryable,
  sweepId: string,
): Promise<{ fingerprint: string; severity: number; state: string; keyVersion: number }[]> {
  const { rows } = await db.query<{ fingerprint: string; severity: number; state: string; key_version: number }>(
    'select fingerprint, severity, state, key_version from sweep_findings where sweep_id = $1',
    [sweepId],
  );
  return rows.map((r) => ({ fingerprint: r.fingerprint, severity: r.severity, state: r.state, keyVersion: r.key_version }));
}

/** Every sweep of a workspace as stored (the summary columns, no sealed data), oldest first: for the GDPR export. */
export async function exportSweeps(db: Queryable, workspaceId: string): Promise<Record<string, unknown>[]> {
  const { rows } = await db.query<Record<string, unknown>>(
    'select id, runner_id, status, requested_by, score, issues_new, issues_open, issues_resolved, started_at, finished_at from sweeps where workspace_id = $1 order by started_at',
    [workspaceId],
  );
  return rows;
}

/** Closes a running sweep with its summary; false when it was already closed (a repeated activity). */
export async function completeSweep(
  db: Queryable,
  sweepId: string,
  s: { score: number; namespacesSealed: Buffer; issuesNew: number; issuesOpen: number; issuesResolved: number },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update sweeps set status = 'completed', score = $2, namespaces_sealed = $3, issues_new = $4, issues_open = $5, issues_resolved = $6, finished_at = now()
      where id = $1 and status = 'running'`,
    [sweepId, s.score, s.namespacesSealed, s.issuesNew, s.issuesOpen, s.issuesResolved],
  );
  return rowCount === 1;
}

/** Records a sweep's findings; a finding already recorded for the sweep is kept. */
export async function insertSweepFindings(
  db: Queryable,
  sweepId: string,
  findings: { fingerprint: string; severity: number; state: string }[],
): Promise<void> {
  for (const f of findings) {
    await db.query(
      'insert into sweep_findings (sweep_id, fingerprint, severity, state, key_version) values ($1, $2, $3, $4, $5) on conflict do nothing',
      [sweepId, f.fingerprint, f.severity, f.state, SWEEP_KEY_VERSION],
    );
  }
}

export const sweepNamespacesBinding = (sweepId: string) => `sweep:${sweepId}:namespaces`;

/** A part of a sweep's breakdown: its score from its distinct findings, and how many. */
export interface SweepPart {
  score: number;
  issues: number;
}

/**
 * Where a sweep's findings are, sealed (names are customer data): per namespace, the cluster's own
 * (cluster-scoped resources: nodes, volumes), and per endpoint (what `http.probe` and other checks
 * of URLs find). Sweeps before issue 20 sealed a flat map with a "(cluster)" entry; `breakdownOf`
 * reads both.
 */
export interface SweepBreakdown {
  v: 2;
  namespaces: Record<string, SweepPart>;
  cluster: SweepPart | null;
  endpoints: Record<string, SweepPart>;
}

export function breakdownOf(sealed: SweepBreakdown | Record<string, SweepPart>): Omit<SweepBreakdown, 'v'> {
  if ((sealed as SweepBreakdown).v === 2) {
    const { namespaces, cluster, endpoints } = sealed as SweepBreakdown;
    return { namespaces, cluster, endpoints };
  }
  const { ['(cluster)']: cluster, ...namespaces } = sealed as Record<string, SweepPart>;
  return { namespaces, cluster: cluster ?? null, endpoints: {} };
}
