import type { Queryable } from './db';

export interface Task {
  id: string;
  workspaceId: string;
  runnerId: string;
  name: string;
  checkType: string;
  params: Record<string, unknown>;
  policy: Record<string, unknown>;
}

export async function createTask(db: Queryable, t: Task): Promise<void> {
  await db.query(
    'insert into tasks (id, workspace_id, runner_id, name, check_type, params, policy) values ($1, $2, $3, $4, $5, $6, $7)',
    [t.id, t.workspaceId, t.runnerId, t.name, t.checkType, JSON.stringify(t.params), JSON.stringify(t.policy)],
  );
}

/** A task of `workspaceId`; a task of another workspace is not found. */
export async function getTask(db: Queryable, workspaceId: string, id: string): Promise<Task | undefined> {
  const { rows } = await db.query<{
    id: string;
    workspace_id: string;
    runner_id: string;
    name: string;
    check_type: string;
    params: Record<string, unknown>;
    policy: Record<string, unknown>;
  }>('select id, workspace_id, runner_id, name, check_type, params, policy from tasks where id = $1 and workspace_id = $2', [
    id,
    workspaceId,
  ]);
  const r = rows[0];
  return (
    r && {
      id: r.id,
      workspaceId: r.workspace_id,
      runnerId: r.runner_id,
      name: r.name,
      checkType: r.check_type,
      params: r.params,
      policy: r.policy,
    }
  );
}
