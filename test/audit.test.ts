import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { createPool } from '../platform/db/pool';
import { appendAudit, AuditBatcher, verifyAuditChain } from '../platform/repos/audit.repo';
import { createWorkspace } from '../platform/repos/workspaces.repo';
import { env } from './harness/env';

let pool: Pool;
beforeAll(() => {
  pool = createPool(env.databaseUrl);
});
afterAll(async () => {
  await pool.end();
});

async function workspaceWithEvents(n: number): Promise<string> {
  const ws = randomUUID();
  await createWorkspace(pool, { id: ws, name: 'audit' });
  for (let i = 0; i < n; i++) {
    await appendAudit(pool, {
      workspaceId: ws,
      actor: 'user:test',
      action: 'thing.done',
      target: `thing:${i}`,
      outcome: 'success',
      details: { i, nested: { b: 1, a: [1, 'x'] } },
      ip: '127.0.0.1',
    });
  }
  return ws;
}

/**
 * Runs SQL as someone with direct database access would: the append-only trigger is bypassed
 * (session_replication_role = replica, which a superuser can set), so only the chain is left to notice.
 */
async function tamper(sql: string, params: unknown[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("set session_replication_role = 'replica'");
    await client.query(sql, params);
  } finally {
    await client.query("set session_replication_role = 'origin'").catch(() => undefined);
    client.release();
  }
}

async function ids(ws: string): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>('select id::text from audit_events where workspace_id = $1 order by id', [ws]);
  return rows.map((r) => r.id);
}

describe('audit hash chain', () => {
  it('verifies an untouched chain, also when events are appended concurrently', async () => {
    const ws = await workspaceWithEvents(3);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        appendAudit(pool, { workspaceId: ws, actor: 'user:test', action: 'burst', outcome: 'success', details: { i } }),
      ),
    );
    expect(await verifyAuditChain(pool, ws)).toEqual({ ok: true, rows: 23 });
  });

  it('detects an edited row', async () => {
    const ws = await workspaceWithEvents(5);
    const [, second] = await ids(ws);
    await tamper('update audit_events set details = \'{"i": 99}\' where id = $1', [second]);
    expect(await verifyAuditChain(pool, ws)).toEqual({ ok: false, rows: 5, brokenAt: second });
  });

  it('detects a deleted row', async () => {
    const ws = await workspaceWithEvents(5);
    const all = await ids(ws);
    await tamper('delete from audit_events where id = $1', [all[2]]);
    expect(await verifyAuditChain(pool, ws)).toEqual({ ok: false, rows: 4, brokenAt: all[3] });
  });

  it('detects deleted newest rows through the chain head', async () => {
    const ws = await workspaceWithEvents(4);
    const all = await ids(ws);
    await tamper('delete from audit_events where id = any($1::bigint[])', [all.slice(2)]);
    expect(await verifyAuditChain(pool, ws)).toEqual({ ok: false, rows: 2, brokenAt: 'head' });
  });

  it('refuses updates and deletes through ordinary SQL (append-only)', async () => {
    const ws = await workspaceWithEvents(2);
    const [first] = await ids(ws);
    await expect(pool.query("update audit_events set actor = 'someone-else' where id = $1", [first])).rejects.toThrow(/append-only/);
    await expect(pool.query('delete from audit_events where id = $1', [first])).rejects.toThrow(/append-only/);
    expect(await verifyAuditChain(pool, ws)).toEqual({ ok: true, rows: 2 });
  });

  it('detects reordered rows', async () => {
    const ws = await workspaceWithEvents(4);
    const all = await ids(ws);
    // Swap the whole content of rows 2 and 3, hashes included, as someone reordering history would.
    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query("set local session_replication_role = 'replica'");
      const { rows } = await client.query('select * from audit_events where id = any($1::bigint[]) order by id', [[all[1], all[2]]]);
      await client.query('update audit_events set hash = sha256(hash) where id = any($1::bigint[])', [[all[1], all[2]]]);
      for (const [target, source] of [
        [all[1], rows[1]],
        [all[2], rows[0]],
      ] as const) {
        await client.query(
          'update audit_events set actor = $2, action = $3, target = $4, details = $5, at = $6, prev_hash = $7, hash = $8 where id = $1',
          [target, source.actor, source.action, source.target, source.details, source.at, source.prev_hash, source.hash],
        );
      }
      await client.query('commit');
    } finally {
      client.release();
    }
    expect(await verifyAuditChain(pool, ws)).toMatchObject({ ok: false, brokenAt: all[1] });
  });
});

describe('audit group commit', () => {
  it('writes concurrent appends of one chain in order, each committed before its promise resolves', async () => {
    const ws = randomUUID();
    await createWorkspace(pool, { id: ws, name: 'batch' });
    const batcher = new AuditBatcher(pool, 8);
    const appends = Array.from({ length: 100 }, (_, i) =>
      batcher.append({ workspaceId: ws, actor: 'token:x', action: 'token.used', outcome: 'success', details: { i } }),
    );
    // Another chain at the same time.
    const other = randomUUID();
    await createWorkspace(pool, { id: other, name: 'batch-other' });
    const others = Array.from({ length: 30 }, (_, i) =>
      batcher.append({ workspaceId: other, actor: 'token:y', action: 'token.used', outcome: 'success', details: { i } }),
    );
    await Promise.all([...appends, ...others]);
    const { rows } = await pool.query<{ i: number }>(
      "select (details->>'i')::int as i from audit_events where workspace_id = $1 order by id",
      [ws],
    );
    expect(rows.map((r) => r.i)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(await verifyAuditChain(pool, ws)).toEqual({ ok: true, rows: 100 });
    expect(await verifyAuditChain(pool, other)).toEqual({ ok: true, rows: 30 });
    // Fewer transactions than events: group commit happened (batches of at most 8 → at least 13).
    const heads = await pool.query<{ row_count: string }>('select row_count from audit_heads where chain = $1', [ws]);
    expect(Number(heads.rows[0]!.row_count)).toBe(100);
  });

  it('rejects every append of a batch that cannot be written, and writes none of it', async () => {
    const batcher = new AuditBatcher(pool);
    const missing = randomUUID();
    // An actor longer than any index allows is not the failure we want; a details object that
    // cannot be serialised as JSON is (BigInt), and it fails before anything is written.
    const bad = batcher.append({
      workspaceId: missing,
      actor: 'x',
      action: 'y',
      outcome: 'success',
      details: { n: 1n as unknown as number },
    });
    await expect(bad).rejects.toThrow();
    const { rows } = await pool.query('select count(*)::int as n from audit_events where workspace_id = $1', [missing]);
    expect(rows[0].n).toBe(0);
  });
});
