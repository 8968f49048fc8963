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
  /**
   * `manual` (made by a person or a hook), `discovery` (a Runner's k8s.discover task), `generated`
   * (by discovery) or `followup` (a finding's next check, run by sweeps).
   */
  origin?: TaskOrigin;
  /** A generated task's `<rule>:<namespace>`; a follow-up's `@next/<hash>`. */
  discoveryKey?: string;
  /** The namespace group a generated task belongs to, if any: a sweep of that group runs it. */
  sweepGroup?: string | null;
}

export type TaskOrigin = 'manual' | 'discovery' | 'generated' | 'followup';

const binding = (id: string) => `task:${id}:params`;

export async function createTask(db: Queryable, sealer: Sealer, t: Task): Promise<void> {
  await db.query(
    `insert into tasks (id, workspace_id, runner_id, name, check_type, params_sealed, policy, origin, discovery_key, sweep_group)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      t.id,
      t.workspaceId,
      t.runnerId,
      t.name,
      t.checkType,
      await sealer.seal(t.workspaceId, binding(t.id), t.params, db),
      JSON.stringify(t.policy),
      t.origin ?? 'manual',
      t.discoveryKey ?? null,
      t.sweepGroup ?? null,
    ],
  );
}

/** Replaces a task's parameters (and, for a generated task whose rule changed, its check type). */
export async function updateTaskParams(
  db: Queryable,
  sealer: Sealer,
  workspaceId: string,
  id: string,
  params: Record<string, unknown>,
  checkType?: string,
): Promise<void> {
  await db.query(
    'update tasks set params_sealed = $3, check_type = coalesce($4, check_type), updated_at = now() where id = $1 and workspace_id = $2',
    [id, workspaceId, await sealer.seal(workspaceId, binding(id), params), checkType ?? null],
  );
}

/** The tasks discovery generated for one Runner, with their parameters. */
export async function generatedTasks(
  db: Queryable,
  sealer: Sealer,
  workspaceId: string,
  runnerId: string,
): Promise<{ id: string; key: string; name: string; checkType: string; params: Record<string, unknown>; group: string | null }[]> {
  const { rows } = await db.query<{
    id: string;
    discovery_key: string;
    name: string;
    check_type: string;
    params_sealed: Buffer;
    sweep_group: string | null;
  }>(
    `select id, discovery_key, name, check_type, params_sealed, sweep_group from tasks
      where workspace_id = $1 and runner_id = $2 and origin = 'generated' order by discovery_key`,
    [workspaceId, runnerId],
  );
  return Promise.all(
    rows.map(async (r) => ({
      id: r.id,
      key: r.discovery_key,
      name: r.name,
      checkType: r.check_type,
      params: await sealer.open<Record<string, unknown>>(workspaceId, binding(r.id), r.params_sealed),
      group: r.sweep_group,
    })),
  );
}

/** A generated task's group (discovery moves it when the workspace's groups change). */
export async function setTaskGroup(db: Queryable, workspaceId: string, id: string, group: string | null): Promise<void> {
  await db.query('update tasks set sweep_group = $3, updated_at = now() where id = $1 and workspace_id = $2', [id, workspaceId, group]);
}

/** The id of a Runner's `k8s.discover` task, if discovery has run for it. */
export async function discoveryTaskId(db: Queryable, workspaceId: string, runnerId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `select id from tasks where workspace_id = $1 and runner_id = $2 and origin = 'discovery'`,
    [workspaceId, runnerId],
  );
  return rows[0]?.id;
}

/** A task's origin, or undefined when it does not exist in that workspace. */
export async function taskOrigin(db: Queryable, workspaceId: string, id: string): Promise<TaskOrigin | undefined> {
  const { rows } = await db.query<{ origin: TaskOrigin }>('select origin from tasks where id = $1 and workspace_id = $2', [
    id,
    workspaceId,
  ]);
  return rows[0]?.origin;
}

/** Deletes a generated task of one Runner; false when it is not one (a hand-made task is never deleted here). */
export async function deleteGeneratedTask(db: Queryable, workspaceId: string, runnerId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`delete from tasks where id = $1 and workspace_id = $2 and runner_id = $3 and origin = 'generated'`, [
    id,
    workspaceId,
    runnerId,
  ]);
  return rowCount === 1;
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
  /** Who made it: by hand, discovery's own task, a generation rule, or a sweep's follow-up. */
  origin: string;
  /** The namespace group it belongs to, if any. */
  sweepGroup: string | null;
  createdAt: Date;
}

/** The tasks of a workspace, without their sealed parameters. */
export async function listTasks(db: Queryable, workspaceId: string, limit: number): Promise<TaskSummary[]> {
  const { rows } = await db.query<{
    id: string;
    runner_id: string;
    name: string;
    check_type: string;
    origin: string;
    sweep_group: string | null;
    created_at: Date;
  }>('select id, runner_id, name, check_type, origin, sweep_group, created_at from tasks where workspace_id = $1 order by name limit $2', [
    workspaceId,
    limit,
  ]);
  return rows.map((r) => ({
    id: r.id,
    runnerId: r.runner_id,
    name: r.name,
    checkType: r.check_type,
    origin: r.origin,
    sweepGroup: r.sweep_group,
    createdAt: r.created_at,
  }));
}

/** Deletes a task (and, by cascade, its runs); false when it does not exist in that workspace. */
export async function deleteTask(db: Queryable, workspaceId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query('delete from tasks where id = $1 and workspace_id = $2', [id, workspaceId]);
  return rowCount === 1;
}

/**
 * What a health sweep runs of one Runner: its tasks but its discovery task (which finds nothing and
 * has its own schedule) and follow-ups (run only when a finding of the sweep asks for them); with
 * `group`, only the tasks of that namespace group.
 */
export async function taskIdsOfRunner(db: Queryable, workspaceId: string, runnerId: string, group?: string | null): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `select id from tasks where workspace_id = $1 and runner_id = $2 and origin in ('manual', 'generated')
        and ($3::text is null or sweep_group = $3) order by name`,
    [workspaceId, runnerId, group ?? null],
  );
  return rows.map((r) => r.id);
}

/** The id of the task of `workspaceId` named `name` (names are unique per workspace). */
export async function taskIdByName(db: Queryable, workspaceId: string, name: string): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>('select id from tasks where workspace_id = $1 and name = $2', [workspaceId, name]);
  return rows[0]?.id;
}

/** The id of a Runner's task with this key (a generated task's or a follow-up's), if it exists. */
export async function taskIdByKey(db: Queryable, workspaceId: string, runnerId: string, key: string): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    'select id from tasks where workspace_id = $1 and runner_id = $2 and discovery_key = $3',
    [workspaceId, runnerId, key],
  );
  return rows[0]?.id;
}
