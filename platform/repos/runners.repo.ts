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

export interface RunnerInfo extends Runner {
  createdAt: Date;
  version: string | null;
  enabledChecks: string[];
  lastSeenAt: Date | null;
  policyDigest: string | null;
  /** The policy summary the Runner reported, sealed under `runnerPolicyBinding(id)`. */
  policySealed: Buffer | null;
}

/** The sealing binding of a Runner's reported policy summary. */
export const runnerPolicyBinding = (runnerId: string) => `runner:${runnerId}:policy`;

export async function listRunners(db: Queryable, workspaceId: string): Promise<RunnerInfo[]> {
  const { rows } = await db.query<{
    id: string;
    workspace_id: string;
    name: string;
    task_queue: string;
    created_at: Date;
    version: string | null;
    enabled_checks: string[];
    last_seen_at: Date | null;
    policy_digest: string | null;
    policy_sealed: Buffer | null;
  }>(
    `select id, workspace_id, name, task_queue, created_at, version, enabled_checks, last_seen_at, policy_digest, policy_sealed
       from runners where workspace_id = $1 order by name`,
    [workspaceId],
  );
  return rows.map((r) => ({
    id: r.id,
    workspaceId: r.workspace_id,
    name: r.name,
    taskQueue: r.task_queue,
    createdAt: r.created_at,
    version: r.version,
    enabledChecks: r.enabled_checks,
    lastSeenAt: r.last_seen_at,
    policyDigest: r.policy_digest,
    policySealed: r.policy_sealed,
  }));
}

/** Stores what a Runner reported about itself, and when. */
export async function recordRunnerInfo(
  db: Queryable,
  workspaceId: string,
  runnerId: string,
  info: { version: string; enabledChecks: string[]; policyDigest: string | null; policySealed: Buffer | null },
): Promise<void> {
  await db.query(
    'update runners set version = $3, enabled_checks = $4, policy_digest = $5, policy_sealed = $6, last_seen_at = now() where id = $1 and workspace_id = $2',
    [runnerId, workspaceId, info.version, info.enabledChecks, info.policyDigest, info.policySealed],
  );
}

/** The sealed policy summary a Runner last reported, if any. */
export async function runnerPolicySealed(db: Queryable, workspaceId: string, runnerId: string): Promise<Buffer | undefined> {
  const { rows } = await db.query<{ policy_sealed: Buffer | null }>(
    'select policy_sealed from runners where id = $1 and workspace_id = $2',
    [runnerId, workspaceId],
  );
  return rows[0]?.policy_sealed ?? undefined;
}
