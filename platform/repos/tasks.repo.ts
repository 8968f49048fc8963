import type { Sealer } from '../crypto/sealer';
import type { Queryable } from './db';

export interface Task {
  id: string;
  workspaceId: string;
  runnerId: string;
  name: string;
  checkType: string;
  /** Sealed at rest: parameters name customer endpoints and resources. */
  params: Record<string, unknown>;
  policy: Record<string, unknown>;
}

const binding = (id: string) => `task:${id}:params`;

export async function createTask(db: Queryable, sealer: Sealer, t: Task): Promise<void> {
  await db.query(
    'insert into tasks (id, workspace_id, runner_id, name, check_type, params_sealed, policy) values ($1, $2, $3, $4, $5, $6, $7)',
    [
      t.id,
      t.workspaceId,
      t.runnerId,
      t.name,
      t.checkType,
      await sealer.seal(t.workspaceId, binding(t.id), t.params, db),
      JSON.stringify(t.policy),
    ],
  );
}

/** Replaces a task's parameters. */
export async function updateTaskParams(
  db: Queryable,
  sealer: Sealer,
  workspaceId: string,
  id: string,
  params: Record<string, unknown>,
): Promise<void> {
  await db.query('update tasks set params_sealed = $3, updated_at = now() where id = $1 and workspace_id = $2', [
    id,
    workspaceId,
    await sealer.seal(workspaceId, binding(id), params),
  ]);
}

/** A task of `workspaceId`; a task of another workspace is not found. */
export async function getTask(db: Queryable, sealer: Sealer, workspaceId: string, id: string): Promise<Task | undefined> {
  const { rows } = await db.query<{
    id: string;
    workspace_id: string;
    runner_id: string;
    name: string;
    check_type: string;
    params_sealed: Buffer;
    policy: Record<string, unknown>;
  }>('select id, workspace_id, runner_id, name, check_type, params_sealed, policy from tasks where id = $1 and workspace_id = $2', [
    id,
    workspaceId,
  ]);
  const r = rows[0];
  if (!r) return undefined;
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    runnerId: r.runner_id,
    name: r.name,
    checkType: r.check_type,
    params: await sealer.open<Record<string, unknown>>(r.workspace_id, binding(r.id), r.params_sealed),
    policy: r.policy,
  };
}

export interface TaskSummary {
  id: string;
  runnerId: string;
  name: string;
  checkType: string;
  createdAt: Date;
}

/** The tasks of a workspace, without their sealed parameters. */
export async function listTasks(db: Queryable, workspaceId: string, limit: number): Promise<TaskSummary[]> {
  const { rows } = await db.query<{ id: string; runner_id: string; name: string; check_type: string; created_at: Date }>(
    'select id, runner_id, name, check_type, created_at from tasks where workspace_id = $1 order by name limit $2',
    [workspaceId, limit],
  );
  return rows.map((r) => ({ id: r.id, runnerId: r.runner_id, name: r.name, checkType: r.check_type, createdAt: r.created_at }));
}

/** Deletes a task (and, by cascade, its runs); false when it does not exist in that workspace. */
export async function deleteTask(db: Queryable, workspaceId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query('delete from tasks where id = $1 and workspace_id = $2', [id, workspaceId]);
  return rowCount === 1;
}

/** Every task of one Runner: what a health sweep runs. */
export async function taskIdsOfRunner(db: Queryable, workspaceId: string, runnerId: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>('select id from tasks where workspace_id = $1 and runner_id = $2 order by name', [
    workspaceId,
    runnerId,
  ]);
  return rows.map((r) => r.id);
}

/** The id of the task of `workspaceId` named `name` (names are unique per workspace). */
export async function taskIdByName(db: Queryable, workspaceId: string, name: string): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>('select id from tasks where workspace_id = $1 and name = $2', [workspaceId, name]);
  return rows[0]?.id;
}
