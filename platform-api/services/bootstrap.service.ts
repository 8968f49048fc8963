/**
 * `lookout admin bootstrap`: a workspace with an owner, an owner API token (returned once), a Runner
 * registration and a first task, in one transaction.
 */
import { runnerAttestationKey } from './runners.service';
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { z } from 'zod';
import { HttpProbeParams } from '../../common/checks';
import { ExecutionPolicy } from '../../common/contracts';
import { runnerTaskQueue } from '../../common/ids';
import type { PlatformCrypto } from '../../platform/crypto';
import { createWorkspaceKeys } from '../../platform/crypto/platform-keyring';
import { appendAuditInTransaction } from '../../platform/repos/audit.repo';
import { inTransaction } from '../../platform/repos/db';
import { createRunner } from '../../platform/repos/runners.repo';
import { createTask } from '../../platform/repos/tasks.repo';
import { createToken } from './tokens.service';
import { findUserByEmail, createUser } from '../../platform/repos/users.repo';
import { addMembership, createWorkspace } from '../../platform/repos/workspaces.repo';
import type { WorkspaceTemporal } from '../../platform/workspace-temporal';

export const BootstrapInput = z.strictObject({
  workspaceName: z.string().min(1).max(100),
  ownerEmail: z.email(),
  runnerName: z.string().min(1).max(100).default('default'),
  taskName: z.string().min(1).max(100).default('api-health'),
  probeUrl: z.url({ protocol: /^https?$/ }),
  policy: ExecutionPolicy.partial().default({}),
});
export type BootstrapInput = z.input<typeof BootstrapInput>;

export interface BootstrapOutput {
  workspaceId: string;
  ownerId: string;
  tokenId: string;
  /** Shown once; only its SHA-256 is stored. */
  token: string;
  runnerId: string;
  /** The private half (base64 seed) of the Runner's result-attestation key, shown once; the Platform keeps only the public half. */
  runnerAttestationKey: string;
  taskQueue: string;
  taskId: string;
  /** Where its workflows and its Runner's task queue live. */
  temporalNamespace: string | undefined;
}

/** `temporal` registers the workspace's own Temporal namespace first (none in shared mode). */
export async function bootstrap(
  pool: Pool,
  crypto: PlatformCrypto,
  temporal: Pick<WorkspaceTemporal, 'provision'>,
  rawInput: BootstrapInput,
): Promise<BootstrapOutput> {
  const input = BootstrapInput.parse(rawInput);
  const params = HttpProbeParams.parse({ url: input.probeUrl });
  const policy = ExecutionPolicy.parse(input.policy);
  const workspaceId = randomUUID();
  const runnerId = randomUUID();
  const taskId = randomUUID();
  const attestation = runnerAttestationKey(undefined);
  const temporalNamespace = await temporal.provision(workspaceId);
  return inTransaction(pool, async (tx) => {
    await createWorkspace(tx, { id: workspaceId, name: input.workspaceName, temporalNamespace });
    await createWorkspaceKeys(tx, crypto.master, workspaceId);
    const existing = await findUserByEmail(tx, input.ownerEmail);
    const ownerId = existing?.id ?? randomUUID();
    if (!existing) await createUser(tx, { id: ownerId, email: input.ownerEmail });
    await addMembership(tx, { workspaceId, userId: ownerId, role: 'owner' });
    const token = await createToken(tx, { workspaceId, createdBy: ownerId, name: 'bootstrap', role: 'owner', expiresAt: null });
    const taskQueue = runnerTaskQueue(runnerId);
    await createRunner(tx, { id: runnerId, workspaceId, name: input.runnerName, taskQueue, attestationPublicKey: attestation.publicKey });
    await createTask(tx, crypto.sealer, {
      id: taskId,
      workspaceId,
      runnerId,
      name: input.taskName,
      checkType: 'http.probe',
      params,
      policy,
    });
    const actor = 'system:bootstrap';
    for (const [action, target] of [
      ['workspace.created', `workspace:${workspaceId}`],
      ['member.added', `user:${ownerId}`],
      ['keys.created', `workspace:${workspaceId}`],
      ['token.created', `token:${token.id}`],
      ['runner.registered', `runner:${runnerId}`],
      ['task.created', `task:${taskId}`],
    ] as const) {
      await appendAuditInTransaction(tx, { workspaceId, actor, action, target, outcome: 'success' });
    }
    return {
      workspaceId,
      ownerId,
      tokenId: token.id,
      token: token.token,
      runnerId,
      runnerAttestationKey: attestation.seed!,
      taskQueue,
      taskId,
      temporalNamespace,
    };
  });
}
