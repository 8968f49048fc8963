/**
 * Invitations by mail (migration 0013): a pending membership of an email address in a workspace,
 * or an operator's claim code for an account, accepted once with the code sent to that address.
 * Only the SHA-256 of the code is stored.
 */
import type { Role } from '../permissions';
import type { Queryable } from './db';

export interface Invitation {
  id: string;
  workspaceId: string | null;
  email: string;
  role: Role | null;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
}

type Row = {
  id: string;
  workspace_id: string | null;
  email: string;
  role: Role | null;
  created_by: string;
  created_at: Date;
  expires_at: Date;
};
const COLUMNS = 'id, workspace_id, email, role, created_by, created_at, expires_at';
const toInvitation = (r: Row): Invitation => ({
  id: r.id,
  workspaceId: r.workspace_id,
  email: r.email,
  role: r.role,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
});

/** Makes an invitation; an open one for the same workspace and address is revoked (inviting again replaces it). */
export async function insertInvitation(
  db: Queryable,
  i: { id: string; tokenHash: Buffer; workspaceId: string | null; email: string; role: Role | null; createdBy: string; expiresAt: Date },
): Promise<void> {
  if (i.workspaceId)
    await db.query(
      `update invitations set revoked_at = now()
        where workspace_id = $1 and lower(email) = lower($2) and accepted_at is null and revoked_at is null`,
      [i.workspaceId, i.email],
    );
  await db.query(
    `insert into invitations (id, token_hash, workspace_id, email, role, created_by, expires_at) values ($1, $2, $3, $4, $5, $6, $7)`,
    [i.id, i.tokenHash, i.workspaceId, i.email, i.role, i.createdBy, i.expiresAt],
  );
}

/** An open invitation by its code's hash, locked for the caller's transaction; undefined when unknown, used, revoked or expired. */
export async function lockOpenInvitation(db: Queryable, tokenHash: Buffer): Promise<Invitation | undefined> {
  const { rows } = await db.query<Row>(
    `select ${COLUMNS} from invitations
      where token_hash = $1 and accepted_at is null and revoked_at is null and expires_at > now() for update`,
    [tokenHash],
  );
  return rows[0] && toInvitation(rows[0]);
}

/** An open invitation by id for `email` (the signed-in user's verified address), locked. */
export async function lockOpenInvitationFor(db: Queryable, id: string, email: string): Promise<Invitation | undefined> {
  const { rows } = await db.query<Row>(
    `select ${COLUMNS} from invitations
      where id = $1 and lower(email) = lower($2) and workspace_id is not null
        and accepted_at is null and revoked_at is null and expires_at > now() for update`,
    [id, email],
  );
  return rows[0] && toInvitation(rows[0]);
}

export async function markInvitationAccepted(db: Queryable, id: string, userId: string): Promise<void> {
  await db.query('update invitations set accepted_at = now(), accepted_by = $2 where id = $1', [id, userId]);
}

/** The open invitations of a workspace, newest first. */
export async function listOpenInvitations(db: Queryable, workspaceId: string): Promise<Invitation[]> {
  const { rows } = await db.query<Row>(
    `select ${COLUMNS} from invitations
      where workspace_id = $1 and accepted_at is null and revoked_at is null and expires_at > now() order by created_at desc`,
    [workspaceId],
  );
  return rows.map(toInvitation);
}

/** The open workspace invitations addressed to `email`. */
export async function listOpenInvitationsFor(db: Queryable, email: string): Promise<Invitation[]> {
  const { rows } = await db.query<Row>(
    `select ${COLUMNS} from invitations
      where lower(email) = lower($1) and workspace_id is not null
        and accepted_at is null and revoked_at is null and expires_at > now() order by created_at desc`,
    [email],
  );
  return rows.map(toInvitation);
}

/** Revokes an open invitation of a workspace; false when there is none with that id. */
export async function revokeInvitation(db: Queryable, workspaceId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'update invitations set revoked_at = now() where workspace_id = $1 and id = $2 and accepted_at is null and revoked_at is null',
    [workspaceId, id],
  );
  return rowCount === 1;
}
