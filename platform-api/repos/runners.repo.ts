import type { Queryable } from './db';

export interface Runner {
  id: string;
  workspaceId: string;
  name: string;
  taskQueue: string;
}

export async function createRunner(db: Queryable, r: Runner): Promise<void> {
  await db.query('insert into runners (id, workspace_id, name, task_queue) values ($1, $2, $3, $4)', [
    r.id,
    r.workspaceId,
    r.name,
    r.taskQueue,
  ]);
}

export async function getRunner(db: Queryable, workspaceId: string, id: string): Promise<Runner | undefined> {
  const { rows } = await db.query<{ id: string; workspace_id: string; name: string; task_queue: string }>(
    'select id, workspace_id, name, task_queue from runners where id = $1 and workspace_id = $2',
    [id, workspaceId],
  );
  const r = rows[0];
  return r && { id: r.id, workspaceId: r.workspace_id, name: r.name, taskQueue: r.task_queue };
}

export async function listRunners(db: Queryable, workspaceId: string): Promise<(Runner & { createdAt: Date })[]> {
  const { rows } = await db.query<{ id: string; workspace_id: string; name: string; task_queue: string; created_at: Date }>(
    'select id, workspace_id, name, task_queue, created_at from runners where workspace_id = $1 order by name',
    [workspaceId],
  );
  return rows.map((r) => ({ id: r.id, workspaceId: r.workspace_id, name: r.name, taskQueue: r.task_queue, createdAt: r.created_at }));
}
