import type { Queryable } from './db';

/** A workspace's own generation rules and namespace groups (still to be validated by the caller), or undefined for the defaults. */
export async function getDiscoveryRules(
  db: Queryable,
  workspaceId: string,
): Promise<{ rules: unknown; groups: unknown; updatedBy: string; updatedAt: Date } | undefined> {
  const { rows } = await db.query<{ rules: unknown; groups: unknown; updated_by: string; updated_at: Date }>(
    'select rules, groups, updated_by, updated_at from discovery_rules where workspace_id = $1',
    [workspaceId],
  );
  const r = rows[0];
  return r && { rules: r.rules, groups: r.groups, updatedBy: r.updated_by, updatedAt: r.updated_at };
}

export async function putDiscoveryRules(db: Queryable, workspaceId: string, rules: unknown, groups: unknown, actor: string): Promise<void> {
  await db.query(
    `insert into discovery_rules (workspace_id, rules, groups, updated_by) values ($1, $2, $3, $4)
     on conflict (workspace_id) do update set rules = excluded.rules, groups = excluded.groups, updated_by = excluded.updated_by, updated_at = now()`,
    [workspaceId, JSON.stringify(rules), JSON.stringify(groups), actor],
  );
}

/** Back to the built-in defaults; false when the workspace had none of its own. */
export async function deleteDiscoveryRules(db: Queryable, workspaceId: string): Promise<boolean> {
  const { rowCount } = await db.query('delete from discovery_rules where workspace_id = $1', [workspaceId]);
  return rowCount === 1;
}
