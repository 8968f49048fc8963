import type { Queryable } from './db';
import type { Role } from '../permissions';

export interface Workspace {
  id: string;
  name: string;
  createdAt: Date;
}

/** `temporalNamespace`: the workspace's own namespace; without it, the deployment's shared one. */
export async function createWorkspace(
  db: Queryable,
  w: { id: string; name: string; temporalNamespace?: string | undefined },
): Promise<void> {
  await db.query('insert into workspaces (id, name, temporal_namespace) values ($1, $2, $3)', [w.id, w.name, w.temporalNamespace ?? null]);
}

/** The workspace's own Temporal namespace: null for the shared one, undefined for no such workspace. */
export async function workspaceNamespace(db: Queryable, id: string): Promise<string | null | undefined> {
  const { rows } = await db.query<{ temporal_namespace: string | null }>('select temporal_namespace from workspaces where id = $1', [id]);
  return rows[0] ? rows[0].temporal_namespace : undefined;
}

/**
 * Every namespace workspaces live in, and every namespace a run not yet finished was started in (a
 * moved workspace's older runs finish where they started); `shared` stands for null.
 */
export async function workspaceNamespaces(db: Queryable, shared: string): Promise<string[]> {
  const { rows } = await db.query<{ ns: string }>(
    `select coalesce(temporal_namespace, $1) as ns from workspaces
     union
     select coalesce(temporal_namespace, $1) from runs where finished_at is null
     order by 1`,
    [shared],
  );
  return rows.map((r) => r.ns);
}

export async function setWorkspaceNamespace(db: Queryable, id: string, namespace: string | null): Promise<boolean> {
  const { rowCount } = await db.query('update workspaces set temporal_namespace = $2 where id = $1', [id, namespace]);
  return rowCount === 1;
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

export interface Member {
  userId: string;
  email: string;
  displayName: string | null;
  role: Role;
  createdAt: Date;
}

export async function listMembers(db: Queryable, workspaceId: string): Promise<Member[]> {
  const { rows } = await db.query<{ user_id: string; email: string; display_name: string | null; role: Role; created_at: Date }>(
    `select m.user_id, u.email, u.display_name, m.role, m.created_at from memberships m join users u on u.id = m.user_id
      where m.workspace_id = $1 order by m.created_at, u.email`,
    [workspaceId],
  );
  return rows.map((r) => ({ userId: r.user_id, email: r.email, displayName: r.display_name, role: r.role, createdAt: r.created_at }));
}

export async function setMembershipRole(db: Queryable, workspaceId: string, userId: string, role: Role): Promise<boolean> {
  const { rowCount } = await db.query('update memberships set role = $3 where workspace_id = $1 and user_id = $2', [
    workspaceId,
    userId,
    role,
  ]);
  return rowCount === 1;
}

export async function removeMembership(db: Queryable, workspaceId: string, userId: string): Promise<boolean> {
  const { rowCount } = await db.query('delete from memberships where workspace_id = $1 and user_id = $2', [workspaceId, userId]);
  return rowCount === 1;
}

/** Locks the workspace's memberships and counts its owners (so two demotions cannot race past the last owner). */
export async function countOwnersForUpdate(db: Queryable, workspaceId: string): Promise<number> {
  const { rows } = await db.query<{ role: Role }>('select role from memberships where workspace_id = $1 for update', [workspaceId]);
  return rows.filter((r) => r.role === 'owner').length;
}

export async function workspacesOfUser(db: Queryable, userId: string): Promise<(Workspace & { role: Role })[]> {
  const { rows } = await db.query<{ id: string; name: string; created_at: Date; role: Role }>(
    'select w.id, w.name, w.created_at, m.role from memberships m join workspaces w on w.id = m.workspace_id where m.user_id = $1 order by w.created_at, w.id',
    [userId],
  );
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at, role: r.role }));
}

/**
 * Erases a workspace inside the caller's transaction: its audit chain (the append-only guard lets
 * exactly this workspace's rows go), then the workspace, which cascades to every row it owns,
 * its keys included. Returns how many rows of each kind went.
 */
export async function eraseWorkspace(db: Queryable, workspaceId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of [
    'runs',
    'results',
    'tasks',
    'runners',
    'schedules',
    'sweeps',
    'issues',
    'hooks',
    'sinks',
    'notifications',
    'api_tokens',
    'memberships',
    'secrets',
    'workspace_keys',
  ]) {
    const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from ${table} where workspace_id = $1`, [workspaceId]);
    counts[table] = rows[0]?.n ?? 0;
  }
  await db.query("select set_config('lookout.audit_erase', $1, true)", [workspaceId]);
  counts['audit_events'] = (await db.query('delete from audit_events where workspace_id = $1', [workspaceId])).rowCount ?? 0;
  await db.query("select set_config('lookout.audit_erase', '', true)");
  await db.query('delete from audit_heads where chain = $1', [workspaceId]);
  await db.query('delete from invitations where workspace_id = $1', [workspaceId]);
  const { rowCount } = await db.query('delete from workspaces where id = $1', [workspaceId]);
  counts['workspaces'] = rowCount ?? 0;
  return counts;
}

/** Workspaces still in the deployment's shared namespace, oldest first. */
export async function workspacesInSharedNamespace(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>('select id from workspaces where temporal_namespace is null order by created_at');
  return rows.map((r) => r.id);
}
