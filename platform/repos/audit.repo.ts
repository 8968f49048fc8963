/**
 * The audit log: append-only, one hash chain per workspace (and one for system events). Each row's
 * hash covers its content and the previous row's hash, so an edited, deleted or reordered row
 * breaks verification from that row on.
 */
import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { canonicalJson } from '../../common/canonical-json';
import { inTransaction } from './db';

export type AuditOutcome = 'success' | 'failure' | 'denied';

export interface AuditEvent {
  workspaceId: string | null;
  actor: string;
  action: string;
  target?: string | undefined;
  outcome: AuditOutcome;
  details?: Record<string, unknown> | undefined;
  ip?: string | undefined;
}

const GENESIS: Buffer = Buffer.alloc(32);

function eventHash(prev: Buffer, e: AuditEvent, at: string): Buffer {
  const body = canonicalJson({
    workspaceId: e.workspaceId,
    at,
    actor: e.actor,
    action: e.action,
    target: e.target ?? null,
    outcome: e.outcome,
    details: e.details ?? {},
    ip: e.ip ?? null,
  });
  return createHash('sha256').update(prev).update(body).digest();
}

/** Appends one event to its workspace's chain in its own transaction. */
export async function appendAudit(pool: Pool, e: AuditEvent): Promise<void> {
  await inTransaction(pool, (client) => appendAuditInTransaction(client, e));
}

/** The chain an event belongs to: its workspace, or the system chain. */
function chainOf(workspaceId: string | null): string {
  return workspaceId ?? 'system';
}

/**
 * Appends one event inside the caller's open transaction, so that a state change and its audit row
 * commit together. The chain head row (`audit_heads`) is locked for the append, which serialises
 * appends to one chain, and moves with it, so that deleting the newest rows is detected too.
 */
export async function appendAuditInTransaction(client: PoolClient, e: AuditEvent): Promise<void> {
  await appendManyInTransaction(client, [e]);
}

/**
 * Appends events of one chain (one workspace), in order, inside the caller's open transaction under
 * one lock of the chain head: several state changes of one step cost one append, not one each.
 */
export async function appendAuditEventsInTransaction(client: PoolClient, events: readonly AuditEvent[]): Promise<void> {
  await appendManyInTransaction(client, events);
}

/** Appends events of one chain, in order, under one lock of its head; returns nothing until they are written. */
async function appendManyInTransaction(client: PoolClient, events: readonly AuditEvent[]): Promise<void> {
  const first = events[0];
  if (!first) return;
  const chain = chainOf(first.workspaceId);
  // One statement creates the head if needed and locks it for this transaction.
  const { rows } = await client.query<{ last_hash: Buffer }>(
    `insert into audit_heads (chain, last_id, last_hash, row_count) values ($1, 0, $2, 0)
     on conflict (chain) do update set chain = audit_heads.chain returning last_hash`,
    [chain, GENESIS],
  );
  let prev = rows[0]?.last_hash ?? GENESIS;
  const values: unknown[] = [];
  const tuples: string[] = [];
  for (const e of events) {
    if (chainOf(e.workspaceId) !== chain) throw new Error('appendManyInTransaction takes events of one chain');
    const at = new Date().toISOString();
    const hash = eventHash(prev, e, at);
    const n = values.length;
    tuples.push(`(${Array.from({ length: 10 }, (_, k) => `$${n + k + 1}`).join(', ')})`);
    values.push(
      e.workspaceId,
      at,
      e.actor,
      e.action,
      e.target ?? null,
      e.outcome,
      JSON.stringify(e.details ?? {}),
      e.ip ?? null,
      prev,
      hash,
    );
    prev = hash;
  }
  // Rows of one VALUES list take identity values in list order, which is the chain's order.
  const inserted = await client.query<{ id: string }>(
    `insert into audit_events (workspace_id, at, actor, action, target, outcome, details, ip, prev_hash, hash)
     values ${tuples.join(', ')} returning id::text`,
    values,
  );
  const lastId = inserted.rows.reduce((max, r) => (BigInt(r.id) > max ? BigInt(r.id) : max), 0n);
  await client.query('update audit_heads set last_id = $2, last_hash = $3, row_count = row_count + $4 where chain = $1', [
    chain,
    lastId.toString(),
    prev,
    events.length,
  ]);
}

/**
 * Appends events with group commit: events of one chain that arrive while a write of that chain is
 * in flight are written together in the next transaction, under one lock of the chain head. Each
 * `append` resolves only once its event is committed, so a request that awaits it is audited before
 * it is answered; throughput no longer stops at one transaction per event on a busy chain.
 */
export class AuditBatcher {
  readonly #queues = new Map<string, { e: AuditEvent; done(err?: unknown): void }[]>();

  constructor(
    private readonly pool: Pool,
    private readonly maxBatch = 256,
  ) {}

  append(e: AuditEvent): Promise<void> {
    const chain = chainOf(e.workspaceId);
    return new Promise<void>((resolve, reject) => {
      const entry = {
        e,
        done: (err?: unknown) =>
          err === undefined ? resolve() : reject(err instanceof Error ? err : new Error('audit append failed', { cause: err })),
      };
      const queue = this.#queues.get(chain);
      if (queue) {
        queue.push(entry);
        return;
      }
      this.#queues.set(chain, [entry]);
      void this.#drain(chain);
    });
  }

  async #drain(chain: string): Promise<void> {
    const queue = this.#queues.get(chain)!;
    while (queue.length > 0) {
      const batch = queue.slice(0, this.maxBatch);
      try {
        await inTransaction(this.pool, (tx) =>
          appendManyInTransaction(
            tx,
            batch.map((b) => b.e),
          ),
        );
        for (const b of batch) b.done();
      } catch (err) {
        for (const b of batch) b.done(err ?? new Error('audit append failed'));
      }
      queue.splice(0, batch.length);
    }
    this.#queues.delete(chain);
  }
}

export interface AuditRow extends AuditEvent {
  id: string;
  at: string;
}

interface AuditDbRow {
  id: string;
  workspace_id: string | null;
  at: Date;
  actor: string;
  action: string;
  target: string | null;
  outcome: AuditOutcome;
  details: Record<string, unknown>;
  ip: string | null;
}

const AUDIT_COLUMNS = 'id::text, workspace_id, at, actor, action, target, outcome, details, ip';

const toAuditRow = (r: AuditDbRow): AuditRow => ({
  id: r.id,
  workspaceId: r.workspace_id,
  at: r.at.toISOString(),
  actor: r.actor,
  action: r.action,
  ...(r.target === null ? {} : { target: r.target }),
  outcome: r.outcome,
  details: r.details,
  ...(r.ip === null ? {} : { ip: r.ip }),
});

/** A workspace's (or, with null, the Platform's own) events after `afterId`, oldest first. */
export async function listAudit(pool: Pool, workspaceId: string | null, limit = 1000, afterId = '0'): Promise<AuditRow[]> {
  const { rows } = await pool.query<AuditDbRow>(
    `select ${AUDIT_COLUMNS} from audit_events
      where workspace_id is not distinct from $1 and id > $2 order by audit_events.id limit $3`,
    [workspaceId, afterId, limit],
  );
  return rows.map(toAuditRow);
}

/** The same, newest first: the latest events, or those before `beforeId`. */
export async function listAuditNewest(pool: Pool, workspaceId: string | null, limit: number, beforeId?: string): Promise<AuditRow[]> {
  const { rows } = await pool.query<AuditDbRow>(
    `select ${AUDIT_COLUMNS} from audit_events
      where workspace_id is not distinct from $1 and ($2::bigint is null or id < $2) order by audit_events.id desc limit $3`,
    [workspaceId, beforeId ?? null, limit],
  );
  return rows.map(toAuditRow);
}

export interface AuditVerification {
  ok: boolean;
  rows: number;
  /** The first row that does not verify; `head` when rows are missing after the last one that does. */
  brokenAt?: string;
}

/**
 * Walks a chain from its start: every row must carry the previous row's hash and hash to its own
 * content, and the last row must be the recorded chain head (so a deleted tail is found as well).
 */
export async function verifyAuditChain(pool: Pool, workspaceId: string | null): Promise<AuditVerification> {
  const { rows } = await pool.query<Omit<AuditDbRow, 'workspace_id'> & { prev_hash: Buffer; hash: Buffer }>(
    `select id::text, at, actor, action, target, outcome, details, ip, prev_hash, hash from audit_events
      where workspace_id is not distinct from $1 order by audit_events.id`,
    [workspaceId],
  );
  let prev: Buffer = GENESIS;
  for (const r of rows) {
    const expected = eventHash(
      prev,
      {
        workspaceId,
        actor: r.actor,
        action: r.action,
        target: r.target ?? undefined,
        outcome: r.outcome,
        details: r.details,
        ip: r.ip ?? undefined,
      },
      r.at.toISOString(),
    );
    if (!r.prev_hash.equals(prev) || !r.hash.equals(expected)) return { ok: false, rows: rows.length, brokenAt: r.id };
    prev = r.hash;
  }
  const head = await pool.query<{ last_hash: Buffer; row_count: string }>('select last_hash, row_count from audit_heads where chain = $1', [
    chainOf(workspaceId),
  ]);
  const recorded = head.rows[0];
  const headMatches = recorded
    ? Number(recorded.row_count) === rows.length && (rows.length === 0 || recorded.last_hash.equals(prev))
    : rows.length === 0;
  if (!headMatches) return { ok: false, rows: rows.length, brokenAt: 'head' };
  return { ok: true, rows: rows.length };
}
