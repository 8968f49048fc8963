import type { Queryable } from './db';

export type KeyPurposeColumn = 'payload' | 'data';

export interface WrappedKeyRow {
  workspaceId: string;
  purpose: KeyPurposeColumn;
  version: number;
  wrapped: Buffer;
  state: KeyState;
}

/** active: encrypts and attests; retired: decrypts history, attests nothing; revoked: refused everywhere. */
export type KeyState = 'active' | 'retired' | 'revoked';

interface Row {
  workspace_id: string;
  purpose: KeyPurposeColumn;
  version: number;
  wrapped: Buffer;
  state: KeyState;
}

const toKey = (r: Row): WrappedKeyRow => ({
  workspaceId: r.workspace_id,
  purpose: r.purpose,
  version: r.version,
  wrapped: r.wrapped,
  state: r.state,
});

export async function insertKey(db: Queryable, k: Omit<WrappedKeyRow, 'state'>): Promise<void> {
  await db.query("insert into workspace_keys (workspace_id, purpose, version, wrapped, state) values ($1, $2, $3, $4, 'active')", [
    k.workspaceId,
    k.purpose,
    k.version,
    k.wrapped,
  ]);
}

export async function getActiveKey(db: Queryable, workspaceId: string, purpose: KeyPurposeColumn): Promise<WrappedKeyRow | undefined> {
  const { rows } = await db.query<Row>(
    "select workspace_id, purpose, version, wrapped, state from workspace_keys where workspace_id = $1 and purpose = $2 and state = 'active'",
    [workspaceId, purpose],
  );
  return rows[0] && toKey(rows[0]);
}

export async function getKey(
  db: Queryable,
  workspaceId: string,
  purpose: KeyPurposeColumn,
  version: number,
): Promise<WrappedKeyRow | undefined> {
  const { rows } = await db.query<Row>(
    'select workspace_id, purpose, version, wrapped, state from workspace_keys where workspace_id = $1 and purpose = $2 and version = $3',
    [workspaceId, purpose, version],
  );
  return rows[0] && toKey(rows[0]);
}

export async function listKeys(db: Queryable, workspaceId: string, purpose: KeyPurposeColumn): Promise<WrappedKeyRow[]> {
  const { rows } = await db.query<Row>(
    'select workspace_id, purpose, version, wrapped, state from workspace_keys where workspace_id = $1 and purpose = $2 order by version',
    [workspaceId, purpose],
  );
  return rows.map(toKey);
}

/** Retires the active key and returns the next version number; call inside a transaction. */
export async function retireActiveKey(db: Queryable, workspaceId: string, purpose: KeyPurposeColumn): Promise<number> {
  await db.query('select pg_advisory_xact_lock(hashtext($1))', [`keys:${workspaceId}:${purpose}`]);
  await db.query(
    "update workspace_keys set state = 'retired', retired_at = now() where workspace_id = $1 and purpose = $2 and state = 'active'",
    [workspaceId, purpose],
  );
  const { rows } = await db.query<{ v: number | null }>(
    'select max(version) as v from workspace_keys where workspace_id = $1 and purpose = $2',
    [workspaceId, purpose],
  );
  return (rows[0]?.v ?? 0) + 1;
}

/**
 * Revokes a key that is not active (rotate first); answers its state before, or undefined when the
 * workspace has no such key. Idempotent. Call inside a transaction.
 */
export async function revokeKey(
  db: Queryable,
  workspaceId: string,
  purpose: KeyPurposeColumn,
  version: number,
): Promise<KeyState | undefined> {
  await db.query('select pg_advisory_xact_lock(hashtext($1))', [`keys:${workspaceId}:${purpose}`]);
  const { rows } = await db.query<{ state: KeyState }>(
    'select state from workspace_keys where workspace_id = $1 and purpose = $2 and version = $3 for update',
    [workspaceId, purpose, version],
  );
  const before = rows[0]?.state;
  if (before === 'retired')
    await db.query(
      "update workspace_keys set state = 'revoked', revoked_at = now() where workspace_id = $1 and purpose = $2 and version = $3",
      [workspaceId, purpose, version],
    );
  return before;
}
