import type { Queryable } from './db';
import type { Role } from '../auth/permissions';

export interface ApiTokenRow {
  id: string;
  workspaceId: string;
  createdBy: string | null;
  name: string;
  role: Role;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

export async function insertToken(
  db: Queryable,
  t: { id: string; workspaceId: string; createdBy: string | null; name: string; hash: Buffer; displayHint: string; role: Role; expiresAt: Date | null },
): Promise<void> {
  await db.query(
    `insert into api_tokens (id, workspace_id, created_by, name, token_hash, display_hint, role, expires_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [t.id, t.workspaceId, t.createdBy, t.name, t.hash, t.displayHint, t.role, t.expiresAt],
  );
}

export async function findTokenByHash(db: Queryable, hash: Buffer): Promise<ApiTokenRow | undefined> {
  const { rows } = await db.query<{
    id: string;
    workspace_id: string;
    created_by: string | null;
    name: string;
    role: Role;
    expires_at: Date | null;
    revoked_at: Date | null;
  }>('select id, workspace_id, created_by, name, role, expires_at, revoked_at from api_tokens where token_hash = $1', [hash]);
  const r = rows[0];
  return (
    r && {
      id: r.id,
      workspaceId: r.workspace_id,
      createdBy: r.created_by,
      name: r.name,
      role: r.role,
      expiresAt: r.expires_at,
      revokedAt: r.revoked_at,
    }
  );
}

/** Records a use; at most one write a minute per token so that busy tokens do not hammer one row. */
export async function touchToken(db: Queryable, id: string): Promise<void> {
  await db.query(
    `update api_tokens set last_used_at = now()
      where id = $1 and (last_used_at is null or last_used_at < now() - interval '1 minute')`,
    [id],
  );
}

/** Revokes a token; returns false when it does not exist in that workspace or was already revoked. */
export async function revokeToken(db: Queryable, workspaceId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'update api_tokens set revoked_at = now() where id = $1 and workspace_id = $2 and revoked_at is null',
    [id, workspaceId],
  );
  return rowCount === 1;
}
