import type { Queryable } from './db';

export interface Runner {
  id: string;
  workspaceId: string;
  name: string;
  taskQueue: string;
}

/** `attestationPublicKey`: the public half of the Runner's own Ed25519 key (raw, base64). */
export async function createRunner(db: Queryable, r: Runner & { attestationPublicKey?: string | undefined }): Promise<void> {
  await db.query(
    `insert into runners (id, workspace_id, name, task_queue, attestation_public_key, attestation_changed_at)
     values ($1, $2, $3, $4, $5, case when $5::text is null then null else now() end)`,
    [r.id, r.workspaceId, r.name, r.taskQueue, r.attestationPublicKey ?? null],
  );
}

/** How the Platform checks a Runner's results: its public key (none: v1, workspace key), or revoked. */
export interface RunnerAttestation {
  publicKey: string | null;
  revokedAt: Date | null;
}

export async function getRunnerAttestation(db: Queryable, workspaceId: string, id: string): Promise<RunnerAttestation | undefined> {
  const { rows } = await db.query<{ attestation_public_key: string | null; attestation_revoked_at: Date | null }>(
    'select attestation_public_key, attestation_revoked_at from runners where id = $1 and workspace_id = $2',
    [id, workspaceId],
  );
  const r = rows[0];
  return r && { publicKey: r.attestation_public_key, revokedAt: r.attestation_revoked_at };
}

/** Gives the Runner a new attestation key (and lifts a revocation); false when there is no such Runner. */
export async function setRunnerAttestationKey(db: Queryable, workspaceId: string, id: string, publicKey: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `update runners set attestation_public_key = $3, attestation_revoked_at = null, attestation_changed_at = now()
      where id = $1 and workspace_id = $2`,
    [id, workspaceId, publicKey],
  );
  return rowCount === 1;
}

/** Revokes the Runner's attestation key: its results are refused from now on. False when there is no such Runner. */
export async function revokeRunnerAttestationKey(db: Queryable, workspaceId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'update runners set attestation_revoked_at = coalesce(attestation_revoked_at, now()), attestation_changed_at = now() where id = $1 and workspace_id = $2',
    [id, workspaceId],
  );
  return rowCount === 1;
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
