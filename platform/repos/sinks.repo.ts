/**
 * Notification sinks and the notifications owed to them. Where a sink sends (its target: URLs that
 * hold tokens, a routing key, a signing secret, mail addresses) is sealed under the workspace's key,
 * opened only by the delivery activity and never answered by the API; what a sink is routed by is
 * plain. A notification row holds ids and states: what it says is read from the issue when it is sent.
 */
import { randomUUID } from 'node:crypto';
import type { SinkKind, SinkTarget, Transition } from '../notify/formats';
import type { Sealer } from '../crypto/sealer';
import type { Queryable } from './db';

export interface SinkRouting {
  /** Issues of at most this severity (1 = the most severe only). */
  maxSeverity: number;
  /** Only these Runners' issues (empty: any). */
  runnerIds: string[];
  /** Only issues in these namespaces (empty: any). */
  namespaces: string[];
  events: Transition[];
}

export interface Sink {
  id: string;
  workspaceId: string;
  name: string;
  kind: SinkKind;
  routing: SinkRouting;
  groupSeconds: number;
  maxPerMinute: number;
  createdBy: string;
  createdAt: Date;
}

interface SinkRow {
  id: string;
  workspace_id: string;
  name: string;
  kind: SinkKind;
  target_sealed: Buffer;
  max_severity: number;
  runner_ids: string[];
  namespaces: string[];
  events: Transition[];
  group_seconds: number;
  max_per_minute: number;
  created_by: string;
  created_at: Date;
}

const targetBinding = (id: string) => `sink:${id}:target`;
const COLUMNS =
  'id, workspace_id, name, kind, target_sealed, max_severity, runner_ids, namespaces, events, group_seconds, max_per_minute, created_by, created_at';

const fromRow = (r: SinkRow): Sink => ({
  id: r.id,
  workspaceId: r.workspace_id,
  name: r.name,
  kind: r.kind,
  routing: { maxSeverity: r.max_severity, runnerIds: r.runner_ids, namespaces: r.namespaces, events: r.events },
  groupSeconds: r.group_seconds,
  maxPerMinute: r.max_per_minute,
  createdBy: r.created_by,
  createdAt: r.created_at,
});

export async function insertSink(db: Queryable, sealer: Sealer, sink: Omit<Sink, 'createdAt'>, target: SinkTarget): Promise<void> {
  await db.query(
    `insert into sinks (id, workspace_id, name, kind, target_sealed, max_severity, runner_ids, namespaces, events,
                        group_seconds, max_per_minute, created_by)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      sink.id,
      sink.workspaceId,
      sink.name,
      sink.kind,
      await sealer.seal(sink.workspaceId, targetBinding(sink.id), target, db),
      sink.routing.maxSeverity,
      sink.routing.runnerIds,
      sink.routing.namespaces,
      sink.routing.events,
      sink.groupSeconds,
      sink.maxPerMinute,
      sink.createdBy,
    ],
  );
}

export async function listSinks(db: Queryable, workspaceId: string): Promise<Sink[]> {
  const { rows } = await db.query<SinkRow>(`select ${COLUMNS} from sinks where workspace_id = $1 order by name`, [workspaceId]);
  return rows.map(fromRow);
}

/** A sink of a workspace (without where it sends). */
export async function getSink(db: Queryable, workspaceId: string, id: string): Promise<Sink | undefined> {
  const { rows } = await db.query<SinkRow>(`select ${COLUMNS} from sinks where workspace_id = $1 and id = $2`, [workspaceId, id]);
  return rows[0] && fromRow(rows[0]);
}

/** A sink of a workspace with where it sends, opened (for delivery only). */
export async function getSinkWithTarget(
  db: Queryable,
  sealer: Sealer,
  workspaceId: string,
  id: string,
): Promise<{ sink: Sink; target: SinkTarget } | undefined> {
  const { rows } = await db.query<SinkRow>(`select ${COLUMNS} from sinks where workspace_id = $1 and id = $2`, [workspaceId, id]);
  const r = rows[0];
  if (!r) return undefined;
  // Sealed under the id as stored (an id may be given in upper case).
  return { sink: fromRow(r), target: await sealer.open<SinkTarget>(r.workspace_id, targetBinding(r.id), r.target_sealed) };
}

export async function deleteSink(db: Queryable, workspaceId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query('delete from sinks where workspace_id = $1 and id = $2', [workspaceId, id]);
  return rowCount === 1;
}

/** One issue change, as routing sees it. */
export interface IssueChange {
  issueId: string;
  transition: Transition;
  severity: number;
  runnerId: string;
  namespace: string | undefined;
}

export function routes(sink: Pick<Sink, 'routing'>, change: IssueChange): boolean {
  const r = sink.routing;
  return (
    r.events.includes(change.transition) &&
    change.severity <= r.maxSeverity &&
    (r.runnerIds.length === 0 || r.runnerIds.includes(change.runnerId)) &&
    (r.namespaces.length === 0 || (change.namespace !== undefined && r.namespaces.includes(change.namespace)))
  );
}

/**
 * Owes every sink of the workspace that routes a change a notification of it, in the caller's
 * transaction (the run's result's); once per (sink, issue, change, run) however often it is called.
 * Answers the sinks that are owed something new.
 */
export async function enqueueNotifications(
  db: Queryable,
  workspaceId: string,
  runId: string,
  changes: readonly IssueChange[],
): Promise<string[]> {
  if (changes.length === 0) return [];
  const sinks = await listSinks(db, workspaceId);
  const owed = new Set<string>();
  for (const sink of sinks) {
    for (const change of changes) {
      if (!routes(sink, change)) continue;
      const { rowCount } = await db.query(
        `insert into notifications (id, workspace_id, sink_id, issue_id, transition, run_id) values ($1, $2, $3, $4, $5, $6)
         on conflict (sink_id, issue_id, transition, run_id) do nothing`,
        [randomUUID(), workspaceId, sink.id, change.issueId, change.transition, runId],
      );
      if (rowCount === 1) owed.add(sink.id);
    }
  }
  return [...owed];
}

/** The sinks that still owe a run's changes (for waking their delivery again after a retry). */
export async function sinksOwingForRun(db: Queryable, runId: string): Promise<{ workspaceId: string; sinkId: string }[]> {
  const { rows } = await db.query<{ workspace_id: string; sink_id: string }>(
    "select distinct workspace_id, sink_id from notifications where run_id = $1 and state = 'pending'",
    [runId],
  );
  return rows.map((r) => ({ workspaceId: r.workspace_id, sinkId: r.sink_id }));
}

/** Sinks owed a notification for over two minutes past their grouping window (their delivery may never have been woken). */
export async function sinksOwingLong(db: Queryable): Promise<{ workspaceId: string; sinkId: string }[]> {
  const { rows } = await db.query<{ workspace_id: string; sink_id: string }>(
    `select distinct n.workspace_id, n.sink_id from notifications n join sinks s on s.id = n.sink_id
      where n.state = 'pending' and n.created_at < now() - make_interval(secs => s.group_seconds + 120)`,
  );
  return rows.map((r) => ({ workspaceId: r.workspace_id, sinkId: r.sink_id }));
}

export const NOTIFICATION_STATES = ['pending', 'sending', 'delivered', 'dead'] as const;
export type NotificationState = (typeof NOTIFICATION_STATES)[number];

export interface Notification {
  id: string;
  workspaceId: string;
  sinkId: string;
  issueId: string;
  transition: Transition;
  runId: string | null;
  state: NotificationState;
  deliveryId: string | null;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
  deliveredAt: Date | null;
}

interface NotificationRow {
  id: string;
  workspace_id: string;
  sink_id: string;
  issue_id: string;
  transition: Transition;
  run_id: string | null;
  state: NotificationState;
  delivery_id: string | null;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  delivered_at: Date | null;
}

const NOTIFICATION_COLUMNS =
  'id, workspace_id, sink_id, issue_id, transition, run_id, state, delivery_id, attempts, last_error, created_at, updated_at, delivered_at';

const notificationFromRow = (r: NotificationRow): Notification => ({
  id: r.id,
  workspaceId: r.workspace_id,
  sinkId: r.sink_id,
  issueId: r.issue_id,
  transition: r.transition,
  runId: r.run_id,
  state: r.state,
  deliveryId: r.delivery_id,
  attempts: r.attempts,
  lastError: r.last_error,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  deliveredAt: r.delivered_at,
});

export async function listNotifications(
  db: Queryable,
  workspaceId: string,
  filter: { state?: NotificationState | undefined; sinkId?: string | undefined; limit: number },
): Promise<Notification[]> {
  const args: unknown[] = [workspaceId];
  const where = ['workspace_id = $1'];
  if (filter.state) where.push(`state = $${args.push(filter.state)}`);
  if (filter.sinkId) where.push(`sink_id = $${args.push(filter.sinkId)}`);
  const { rows } = await db.query<NotificationRow>(
    `select ${NOTIFICATION_COLUMNS} from notifications where ${where.join(' and ')} order by created_at desc, id limit $${args.push(filter.limit)}`,
    args,
  );
  return rows.map(notificationFromRow);
}

/**
 * Takes what a sink owes into one delivery: what a delivery took before and did not finish (a worker
 * lost mid-send) first, else up to `max` pending notifications, oldest first. Answers the delivery id
 * and its notifications, or undefined when nothing is owed.
 */
export async function takeDelivery(
  db: Queryable,
  workspaceId: string,
  sinkId: string,
  max: number,
): Promise<{ deliveryId: string; notifications: Notification[] } | undefined> {
  const unfinished = await db.query<{ delivery_id: string }>(
    `select delivery_id from notifications where workspace_id = $1 and sink_id = $2 and state = 'sending' order by created_at, id limit 1`,
    [workspaceId, sinkId],
  );
  if (unfinished.rows[0]) {
    const deliveryId = unfinished.rows[0].delivery_id;
    return { deliveryId, notifications: await notificationsOfDelivery(db, sinkId, deliveryId) };
  }
  const deliveryId = randomUUID();
  const { rows } = await db.query<NotificationRow>(
    `update notifications set state = 'sending', delivery_id = $3, updated_at = now()
      where id in (select id from notifications where workspace_id = $1 and sink_id = $2 and state = 'pending'
                   order by created_at, id limit $4 for update skip locked)
      returning ${NOTIFICATION_COLUMNS}`,
    [workspaceId, sinkId, deliveryId, max],
  );
  if (rows.length === 0) return undefined;
  return { deliveryId, notifications: rows.map(notificationFromRow).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime()) };
}

/** The notifications a delivery took and has not finished, oldest first. */
export async function notificationsOfDelivery(db: Queryable, sinkId: string, deliveryId: string): Promise<Notification[]> {
  const { rows } = await db.query<NotificationRow>(
    `select ${NOTIFICATION_COLUMNS} from notifications where sink_id = $1 and delivery_id = $2 and state = 'sending' order by created_at, id`,
    [sinkId, deliveryId],
  );
  return rows.map(notificationFromRow);
}

/** Counts an attempt of a delivery (and what went wrong, with no URL or token in it). */
export async function recordDeliveryAttempt(db: Queryable, deliveryId: string, error: string | null): Promise<void> {
  await db.query(
    `update notifications set attempts = attempts + 1, last_error = $2, updated_at = now() where delivery_id = $1 and state = 'sending'`,
    [deliveryId, error],
  );
}

/**
 * A delivery's end: `delivered`, or `dead` when every retry failed. Answers how many notifications
 * it ended (0 when it had ended already) and its attempts and last error.
 */
export async function finishDelivery(
  db: Queryable,
  deliveryId: string,
  state: 'delivered' | 'dead',
): Promise<{ count: number; attempts: number; lastError: string | null }> {
  const { rows } = await db.query<{ attempts: number; last_error: string | null }>(
    `update notifications set state = $2, updated_at = now(), delivered_at = case when $2 = 'delivered' then now() end
      where delivery_id = $1 and state = 'sending'
      returning attempts, last_error`,
    [deliveryId, state],
  );
  return { count: rows.length, attempts: rows[0]?.attempts ?? 0, lastError: rows[0]?.last_error ?? null };
}

/**
 * Sends a dead notification again: back to pending. Answers its sink; its state when it is not
 * dead; undefined when there is no such notification.
 */
export async function requeueNotification(
  db: Queryable,
  workspaceId: string,
  id: string,
): Promise<{ sinkId: string } | { state: NotificationState } | undefined> {
  const { rows } = await db.query<{ sink_id: string; state: NotificationState }>(
    'select sink_id, state from notifications where workspace_id = $1 and id = $2 for update',
    [workspaceId, id],
  );
  const row = rows[0];
  if (!row) return undefined;
  if (row.state !== 'dead') return { state: row.state };
  await db.query(
    `update notifications set state = 'pending', delivery_id = null, attempts = 0, last_error = null, updated_at = now()
      where workspace_id = $1 and id = $2`,
    [workspaceId, id],
  );
  return { sinkId: row.sink_id };
}

/** Does the sink still owe anything (pending or mid-delivery)? */
export async function sinkOwes(db: Queryable, workspaceId: string, sinkId: string): Promise<boolean> {
  const { rows } = await db.query<{ owes: boolean }>(
    "select exists (select 1 from notifications where workspace_id = $1 and sink_id = $2 and state in ('pending', 'sending')) as owes",
    [workspaceId, sinkId],
  );
  return rows[0]?.owes ?? false;
}
