/**
 * Issues: findings across runs. Every stored result feeds them (`recordFindings`, in the result's own
 * transaction): a finding seen for the first time opens an issue, one seen again updates it (and
 * reopens it when it was resolved, or when its ignore has expired), and an open or acknowledged
 * issue that no task that reported it finds any more is resolved. People acknowledge and ignore them through
 * the API. What a finding says is sealed; what it is sorted by is not.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Issue } from '../../common/contracts';
import type { Sealer } from '../crypto/sealer';
import type { Queryable } from './db';
import type { IssueChange } from './sinks.repo';

export const ISSUE_STATES = ['open', 'acknowledged', 'resolved', 'ignored'] as const;
export type IssueState = (typeof ISSUE_STATES)[number];

/**
 * The fingerprint of a finding: what was found — the resource and the kind of problem (its title) —
 * not which check found it, so that one crash-looping pod reported by `k8s.pod-restarts` and by
 * `k8s.namespace-health` is one issue and one sweep finding. Opaque, stable across runs and tasks of
 * a workspace; PagerDuty's dedup key.
 */
export function findingFingerprint(workspaceId: string, issue: Pick<Issue, 'resource' | 'title'>): string {
  return createHash('sha256')
    .update(['v2', workspaceId, issue.resource.kind, issue.resource.namespace ?? '', issue.resource.name, issue.title].join('\u0000'))
    .digest('hex')
    .slice(0, 32);
}

/** The fingerprint before issue 20 (with the check type): an issue recorded under it is rekeyed when next found. */
export function legacyFingerprint(workspaceId: string, checkType: string, issue: Pick<Issue, 'resource' | 'title'>): string {
  return createHash('sha256')
    .update([workspaceId, checkType, issue.resource.kind, issue.resource.namespace ?? '', issue.resource.name, issue.title].join('\u0000'))
    .digest('hex')
    .slice(0, 32);
}

/** What an issue says: the last finding that reported it. Sealed. */
export type IssueDetail = Pick<Issue, 'title' | 'resource' | 'expected' | 'actual' | 'nextSteps' | 'nextChecks'> & { details?: string };

export interface StoredIssue {
  id: string;
  workspaceId: string;
  fingerprint: string;
  runnerId: string;
  taskId: string | null;
  checkType: string;
  severity: number;
  /** The state as it holds now: an ignore whose date has passed is `open` again. */
  state: IssueState;
  ignoredUntil: Date | null;
  firstSeenAt: Date;
  lastSeenAt: Date;
  resolvedAt: Date | null;
  seenCount: number;
  reopenedCount: number;
  lastRunId: string | null;
  stateChangedAt: Date;
  detail: IssueDetail;
  reason: string | null;
}

const detailBinding = (fingerprint: string) => `issue:${fingerprint}`;
const reasonBinding = (id: string) => `issue-reason:${id}`;

/** The state an issue has now (an ignore ends by itself at its date). */
const EFFECTIVE_STATE = `case when state = 'ignored' and ignored_until <= now() then 'open' else state end`;

interface IssueRow {
  id: string;
  workspace_id: string;
  fingerprint: string;
  runner_id: string;
  task_id: string | null;
  check_type: string;
  severity: number;
  state: IssueState;
  ignored_until: Date | null;
  first_seen_at: Date;
  last_seen_at: Date;
  resolved_at: Date | null;
  seen_count: number;
  reopened_count: number;
  last_run_id: string | null;
  state_changed_at: Date;
  detail_sealed: Buffer;
  reason_sealed: Buffer | null;
}

const COLUMNS = `id, workspace_id, fingerprint, runner_id, task_id, check_type, severity, ${EFFECTIVE_STATE} as state,
  case when state = 'ignored' and ignored_until > now() then ignored_until end as ignored_until, first_seen_at, last_seen_at,
  resolved_at, seen_count, reopened_count, last_run_id, state_changed_at, detail_sealed, reason_sealed`;

async function fromRow(sealer: Sealer, r: IssueRow): Promise<StoredIssue> {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    fingerprint: r.fingerprint,
    runnerId: r.runner_id,
    taskId: r.task_id,
    checkType: r.check_type,
    severity: r.severity,
    state: r.state,
    ignoredUntil: r.ignored_until,
    firstSeenAt: r.first_seen_at,
    lastSeenAt: r.last_seen_at,
    resolvedAt: r.resolved_at,
    seenCount: r.seen_count,
    reopenedCount: r.reopened_count,
    lastRunId: r.last_run_id,
    stateChangedAt: r.state_changed_at,
    detail: await sealer.open<IssueDetail>(r.workspace_id, detailBinding(r.fingerprint), r.detail_sealed),
    reason: r.reason_sealed ? await sealer.open<string>(r.workspace_id, reasonBinding(r.id), r.reason_sealed) : null,
  };
}

/** What one run changed: issue ids by transition, and each change as notification routing sees it. */
export interface FindingChanges {
  opened: string[];
  reopened: string[];
  resolved: string[];
  seen: string[];
  changes: IssueChange[];
}

/**
 * Records the findings of a run's stored result: opens, updates, reopens and resolves issues, in the
 * caller's transaction (the result's). `resolve` is false for a result that did not look (an error):
 * it cannot tell that a finding is gone.
 */
export async function recordFindings(
  db: Queryable,
  sealer: Sealer,
  run: { id: string; workspaceId: string; runnerId: string; taskId: string | null; checkType: string },
  issues: readonly Issue[],
  options: { resolve: boolean },
): Promise<FindingChanges> {
  const changes: FindingChanges = { opened: [], reopened: [], resolved: [], seen: [], changes: [] };
  const byFingerprint = new Map<string, Issue>();
  for (const issue of issues) {
    const fp = findingFingerprint(run.workspaceId, issue);
    const known = byFingerprint.get(fp);
    if (!known || issue.severity < known.severity) byFingerprint.set(fp, issue);
  }
  for (const [fingerprint, issue] of byFingerprint) {
    const detail: IssueDetail = {
      title: issue.title,
      resource: issue.resource,
      expected: issue.expected,
      actual: issue.actual,
      nextSteps: issue.nextSteps,
      ...(issue.details === undefined ? {} : { details: issue.details }),
      ...(issue.nextChecks === undefined ? {} : { nextChecks: issue.nextChecks }),
    };
    const sealed = await sealer.seal(run.workspaceId, detailBinding(fingerprint), detail, db);
    // An issue recorded under the fingerprint with the check type takes this one (and the detail
    // sealed under it), keeping its history; unless this finding has an issue of its own already.
    await db.query(
      `update issues set fingerprint = $3, detail_sealed = $4
        where workspace_id = $1 and fingerprint = $2
          and not exists (select 1 from issues where workspace_id = $1 and fingerprint = $3)`,
      [run.workspaceId, legacyFingerprint(run.workspaceId, run.checkType, issue), fingerprint, sealed],
    );
    // The previous state decides the transition; the row lock keeps two runs of one finding in order.
    const { rows } = await db.query<{ id: string; previous: IssueState | null }>(
      `with previous as (
         select id, ${EFFECTIVE_STATE} as state from issues where workspace_id = $2 and fingerprint = $3 for update
       )
       insert into issues (id, workspace_id, fingerprint, runner_id, task_id, check_type, severity, state,
                           first_seen_at, last_seen_at, last_run_id, detail_sealed, state_changed_at)
       values ($1, $2, $3, $4, $5, $6, $7, 'open', now(), now(), $8, $9, now())
       on conflict (workspace_id, fingerprint) do update set
         runner_id = excluded.runner_id, task_id = excluded.task_id, severity = excluded.severity,
         last_seen_at = now(), last_run_id = excluded.last_run_id, detail_sealed = excluded.detail_sealed,
         seen_count = issues.seen_count + 1,
         state = case when (select state from previous) in ('resolved', 'open') then 'open' else issues.state end,
         ignored_until = case when (select state from previous) = 'open' then null else issues.ignored_until end,
         reopened_count = issues.reopened_count + case when (select state from previous) = 'resolved' then 1 else 0 end,
         resolved_at = null,
         state_changed_at = case when (select state from previous) = 'resolved' or
                                      (issues.state = 'ignored' and (select state from previous) = 'open')
                                 then now() else issues.state_changed_at end
       returning id, (select state from previous) as previous`,
      [randomUUID(), run.workspaceId, fingerprint, run.runnerId, run.taskId, run.checkType, issue.severity, run.id, sealed],
    );
    const row = rows[0]!;
    if (run.taskId)
      await db.query(
        `insert into issue_reporters (issue_id, task_id) values ($1, $2)
         on conflict (issue_id, task_id) do update set last_seen_at = now()`,
        [row.id, run.taskId],
      );
    const change = { issueId: row.id, severity: issue.severity, runnerId: run.runnerId, namespace: issue.resource.namespace };
    if (row.previous === null) {
      changes.opened.push(row.id);
      changes.changes.push({ ...change, transition: 'new' });
    } else if (row.previous === 'resolved') {
      changes.reopened.push(row.id);
      changes.changes.push({ ...change, transition: 'reopened' });
    } else changes.seen.push(row.id);
  }
  if (options.resolve && run.taskId) {
    // This task no longer finds what it reported: it stops being a reporter, and an open or
    // acknowledged issue that no other task reports any more is resolved.
    const { rows } = await db.query<{ id: string; fingerprint: string; severity: number; runner_id: string; detail_sealed: Buffer }>(
      `with gone as (
         delete from issue_reporters r using issues i
          where r.issue_id = i.id and r.task_id = $2 and i.workspace_id = $1 and not (i.fingerprint = any($3))
          returning r.issue_id
       )
       update issues i set state = 'resolved', resolved_at = now(), state_changed_at = now(), ignored_until = null
        where i.id in (select issue_id from gone) and i.state in ('open', 'acknowledged')
          and not exists (select 1 from issue_reporters o where o.issue_id = i.id and o.task_id <> $2)
       returning i.id, i.fingerprint, i.severity, i.runner_id, i.detail_sealed`,
      [run.workspaceId, run.taskId, [...byFingerprint.keys()]],
    );
    for (const r of rows) {
      changes.resolved.push(r.id);
      // The namespace routes notifications; it is sealed with the rest of what the issue says.
      const detail = await sealer.open<IssueDetail>(run.workspaceId, detailBinding(r.fingerprint), r.detail_sealed);
      changes.changes.push({
        issueId: r.id,
        transition: 'resolved',
        severity: r.severity,
        runnerId: r.runner_id,
        namespace: detail.resource.namespace,
      });
    }
  }
  return changes;
}

export interface IssueFilter {
  state?: IssueState | undefined;
  /** At most this severity (1 = the most severe only). */
  severity?: number | undefined;
  runnerId?: string | undefined;
  checkType?: string | undefined;
  /** Filtered after opening (the namespace is sealed). */
  namespace?: string | undefined;
  limit: number;
}

export async function listIssues(db: Queryable, sealer: Sealer, workspaceId: string, filter: IssueFilter): Promise<StoredIssue[]> {
  const where = ['workspace_id = $1'];
  const args: unknown[] = [workspaceId];
  const add = (sql: string, value: unknown) => {
    args.push(value);
    where.push(sql.replace('?', `$${args.length}`));
  };
  if (filter.state) add(`${EFFECTIVE_STATE} = ?`, filter.state);
  if (filter.severity) add('severity <= ?', filter.severity);
  if (filter.runnerId) add('runner_id = ?', filter.runnerId);
  if (filter.checkType) add('check_type = ?', filter.checkType);
  // The namespace is sealed: read more, filter after opening, up to a bound.
  const fetch = filter.namespace ? Math.max(filter.limit * 20, 1_000) : filter.limit;
  args.push(fetch);
  const { rows } = await db.query<IssueRow>(
    `select ${COLUMNS} from issues where ${where.join(' and ')} order by severity, last_seen_at desc, id limit $${args.length}`,
    args,
  );
  const issues = await Promise.all(rows.map((r) => fromRow(sealer, r)));
  return (filter.namespace ? issues.filter((i) => i.detail.resource.namespace === filter.namespace) : issues).slice(0, filter.limit);
}

export async function getIssue(db: Queryable, sealer: Sealer, workspaceId: string, id: string): Promise<StoredIssue | undefined> {
  const { rows } = await db.query<IssueRow>(`select ${COLUMNS} from issues where workspace_id = $1 and id = $2`, [workspaceId, id]);
  return rows[0] ? fromRow(sealer, rows[0]) : undefined;
}

/** Issues of a workspace by id (for what notifications say), in no particular order. */
export async function getIssues(db: Queryable, sealer: Sealer, workspaceId: string, ids: readonly string[]): Promise<StoredIssue[]> {
  const { rows } = await db.query<IssueRow>(`select ${COLUMNS} from issues where workspace_id = $1 and id = any($2::uuid[])`, [
    workspaceId,
    ids,
  ]);
  return Promise.all(rows.map((r) => fromRow(sealer, r)));
}

/**
 * A person's change: acknowledge, ignore until a date, or open again (undo either). Answers the
 * previous state, or undefined when there is no such issue. A resolved issue can only be reopened by
 * a run that finds it again.
 */
export async function setIssueState(
  db: Queryable,
  sealer: Sealer,
  workspaceId: string,
  id: string,
  change: { state: 'acknowledged' | 'ignored' | 'open'; until?: Date | undefined; reason?: string | undefined },
): Promise<{ previous: IssueState } | { refused: string } | undefined> {
  const { rows } = await db.query<{ id: string; state: IssueState }>(
    `select id, ${EFFECTIVE_STATE} as state from issues where workspace_id = $1 and id = $2 for update`,
    [workspaceId, id],
  );
  const previous = rows[0]?.state;
  if (!previous) return undefined;
  if (previous === 'resolved') return { refused: 'the issue is resolved: a run that finds it again reopens it' };
  // Sealed under the id as stored (a UUID may come in upper case): reads open it under that id.
  const reason = change.reason ? await sealer.seal(workspaceId, reasonBinding(rows[0]!.id), change.reason, db) : null;
  await db.query(
    `update issues set state = $3, ignored_until = $4, reason_sealed = $5, state_changed_at = now() where workspace_id = $1 and id = $2`,
    [workspaceId, id, change.state, change.state === 'ignored' ? change.until : null, change.state === 'open' ? null : reason],
  );
  return { previous };
}

/** Every issue of a workspace, for its export. */
export function exportIssues(db: Queryable, sealer: Sealer, workspaceId: string): Promise<StoredIssue[]> {
  return listIssues(db, sealer, workspaceId, { limit: 1_000_000 });
}
