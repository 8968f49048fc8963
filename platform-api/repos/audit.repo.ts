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

/**
 * Appends one event inside the caller's open transaction, so that a state change and its audit row
 * commit together. Appends to one chain are serialised by a transaction-scoped advisory lock.
 */
export async function appendAuditInTransaction(client: PoolClient, e: AuditEvent): Promise<void> {
  {
    await client.query('select pg_advisory_xact_lock(hashtext($1))', [`audit:${e.workspaceId ?? 'system'}`]);
    const { rows } = await client.query<{ hash: Buffer }>(
      'select hash from audit_events where workspace_id is not distinct from $1 order by id desc limit 1',
      [e.workspaceId],
    );
    const prev = rows[0]?.hash ?? GENESIS;
    const at = new Date().toISOString();
    await client.query(
      `insert into audit_events (workspace_id, at, actor, action, target, outcome, details, ip, prev_hash, hash)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [e.workspaceId, at, e.actor, e.action, e.target ?? null, e.outcome, JSON.stringify(e.details ?? {}), e.ip ?? null, prev, eventHash(prev, e, at)],
    );
  }
}

export interface AuditRow extends AuditEvent {
  id: string;
  at: string;
}

export async function listAudit(pool: Pool, workspaceId: string | null, limit = 1000, afterId = '0'): Promise<AuditRow[]> {
  const { rows } = await pool.query<{
    id: string;
    workspace_id: string | null;
    at: Date;
    actor: string;
    action: string;
    target: string | null;
    outcome: AuditOutcome;
    details: Record<string, unknown>;
    ip: string | null;
  }>(
    `select id::text, workspace_id, at, actor, action, target, outcome, details, ip from audit_events
      where workspace_id is not distinct from $1 and id > $2 order by audit_events.id limit $3`,
    [workspaceId, afterId, limit],
  );
  return rows.map((r) => ({
    id: r.id,
    workspaceId: r.workspace_id,
    at: r.at.toISOString(),
    actor: r.actor,
    action: r.action,
    ...(r.target === null ? {} : { target: r.target }),
    outcome: r.outcome,
    details: r.details,
    ...(r.ip === null ? {} : { ip: r.ip }),
  }));
}

/** Walks a chain from its start; returns the id of the first row that does not verify, if any. */
export async function verifyAuditChain(pool: Pool, workspaceId: string | null): Promise<{ ok: boolean; rows: number; brokenAt?: string }> {
  const { rows } = await pool.query<{
    id: string;
    at: Date;
    actor: string;
    action: string;
    target: string | null;
    outcome: AuditOutcome;
    details: Record<string, unknown>;
    ip: string | null;
    prev_hash: Buffer;
    hash: Buffer;
  }>(
    `select id::text, at, actor, action, target, outcome, details, ip, prev_hash, hash from audit_events
      where workspace_id is not distinct from $1 order by audit_events.id`,
    [workspaceId],
  );
  let prev: Buffer = GENESIS;
  for (const r of rows) {
    const expected = eventHash(
      prev,
      { workspaceId, actor: r.actor, action: r.action, target: r.target ?? undefined, outcome: r.outcome, details: r.details, ip: r.ip ?? undefined },
      r.at.toISOString(),
    );
    if (!r.prev_hash.equals(prev) || !r.hash.equals(expected)) return { ok: false, rows: rows.length, brokenAt: r.id };
    prev = r.hash;
  }
  return { ok: true, rows: rows.length };
}
