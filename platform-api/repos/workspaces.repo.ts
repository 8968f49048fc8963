import type { Queryable } from './db';
import type { Role } from '../auth/permissions';

export interface Workspace {
  id: string;
  name: string;
  createdAt: Date;
}

export async function createWorkspace(db: Queryable, w: { id: string; name: string }): Promise<void> {
  await db.query('insert into workspaces (id, name) values ($1, $2)', [w.id, w.name]);
}

export async function getWorkspace(db: Queryable, id: string): Promise<Workspace | undefined> {
  const { rows } = await db.query<{ id: string; name: string; created_at: Date }>(
    'select id, name, created_at from workspaces where id = $1',
    [id],
  );
  const row = rows[0];
  return row && { id: row.id, name: row.name, createdAt: row.created_at };
}

export async function addMembership(db: Queryable, m: { workspaceId: string; userId: string; role: Role }): Promise<void> {
  await db.query('insert into memberships (workspace_id, user_id, role) values ($1, $2, $3)', [m.workspaceId, m.userId, m.role]);
}

export async function getMembershipRole(db: Queryable, workspaceId: string, userId: string): Promise<Role | undefined> {
  const { rows } = await db.query<{ role: Role }>('select role from memberships where workspace_id = $1 and user_id = $2', [
    workspaceId,
    userId,
  ]);
  return rows[0]?.role;
}
