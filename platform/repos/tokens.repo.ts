import type { Queryable } from './db';
import type { Role } from '../permissions';

export interface ApiTokenRow {
  id: string;
  workspaceId: string;
  createdBy: string | null;
  name: string;
  role: Role;
  displayHint: string;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  createdAt: Date;
}

/** A token as authentication sees it: with the role its creator holds now in the token's workspace. */
export interface ApiTokenForAuth extends ApiTokenRow {
  /** null when the token has no creator (made by the system), undefined when the creator left the workspace. */
  creatorRole: Role | null | undefined;
}

export async function insertToken(
  db: Queryable,
  t: {
    id: string;
    workspaceId: string;
    createdBy: string | null;
    name: string;
    hash: Buffer;
    displayHint: string;
    role: Role;
    expiresAt: Date | null;
  },
): Promise<void> {
  await db.query(
    `insert into api_tokens (id, workspace_id, created_by, name, token_hash, display_hint, role, expires_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [t.id, t.workspaceId, t.createdBy, t.name, t.hash, t.displayHint, t.role, t.expiresAt],
  );
}

type Row = {
  id: string;
  workspace_id: string;
  created_by: string | null;
  name: string;
  role: Role;
  display_hint: string;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  created_at: Date;
};
const COLUMNS =
  't.id, t.workspace_id, t.created_by, t.name, t.role, t.display_hint, t.expires_at, t.revoked_at, t.last_used_at, t.created_at';
const toToken = (r: Row): ApiTokenRow => ({
  id: r.id,
  workspaceId: r.workspace_id,
  createdBy: r.created_by,
  name: r.name,
  role: r.role,
  displayHint: r.display_hint,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
  createdAt: r.created_at,
});

export async function findTokenByHash(db: Queryable, hash: Buffer): Promise<ApiTokenForAuth | undefined> {
  const { rows } = await db.query<Row & { creator_role: Role | null }>(
    `select ${COLUMNS}, m.role as creator_role from api_tokens t
       left join memberships m on m.workspace_id = t.workspace_id and m.user_id = t.created_by
      where t.token_hash = $1`,
    [hash],
  );
  const r = rows[0];
  if (!r) return undefined;
  return { ...toToken(r), creatorRole: r.created_by === null ? null : (r.creator_role ?? undefined) };
}

export async function getToken(db: Queryable, workspaceId: string, id: string): Promise<ApiTokenRow | undefined> {
  const { rows } = await db.query<Row>(`select ${COLUMNS} from api_tokens t where t.workspace_id = $1 and t.id = $2`, [workspaceId, id]);
  return rows[0] && toToken(rows[0]);
}

export async function listTokens(db: Queryable, workspaceId: string): Promise<ApiTokenRow[]> {
  const { rows } = await db.query<Row>(`select ${COLUMNS} from api_tokens t where t.workspace_id = $1 order by t.created_at, t.id`, [
    workspaceId,
  ]);
  return rows.map(toToken);
}

/**
 * Records when tokens were last used, for many tokens in one statement (the API writes its counted
 * uses once per interval, not once per request). A later time never goes backwards.
 */
export async function touchTokens(db: Queryable, uses: readonly { id: string; at: Date }[]): Promise<void> {
  if (uses.length === 0) return;
  await db.query(
    `update api_tokens t set last_used_at = u.at
       from unnest($1::uuid[], $2::timestamptz[]) as u(id, at)
      where t.id = u.id and (t.last_used_at is null or t.last_used_at < u.at)`,
    [uses.map((u) => u.id), uses.map((u) => u.at)],
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
