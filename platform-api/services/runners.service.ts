/**
 * Runners: registration returns, once, everything the Runner's Helm chart needs (ids, task queue,
 * Temporal endpoint, the workspace key file for its Secret); presence comes from Temporal's own
 * poller information for the Runner's task queue.
 */
import { randomUUID } from 'node:crypto';
import type { WorkspaceTemporal } from '../../platform/workspace-temporal';
import { temporal as proto } from '@temporalio/proto';
import type { Pool } from 'pg';
import { z } from 'zod';
import { describeRunnerWorkflowId, PLATFORM_TASK_QUEUE, runnerTaskQueue } from '../../common/ids';
import type { describeRunner } from '../../workflows';
import type { WorkspaceAccess } from '../auth/auth-context';
import type { PlatformCrypto } from '../../platform/crypto';
import { exportRunnerKeyFile } from '../../platform/crypto/platform-keyring';
import { ConflictError, InputError, NotFoundError } from '../../common/problem';
import { appendAudit, appendAuditInTransaction } from '../../platform/repos/audit.repo';
import { inTransaction } from '../../platform/repos/db';
import { createRunner, getRunner, listRunners, runnerPolicyBinding } from '../../platform/repos/runners.repo';
import type { TemporalTokenIssuer } from '../../platform/crypto/temporal-tokens';
import type { PolicySummary } from '../../common/runner-policy';

export const RegisterRunnerBody = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'lower-case letters, digits and dashes'),
});

/** A Runner counts as online when it polled its queue within this long. */
export const ONLINE_WITHIN_MS = 120_000;

export interface RunnersServiceDeps {
  platformTaskQueue?: string | undefined;
  pool: Pool;
  crypto: PlatformCrypto;
  temporal: WorkspaceTemporal;
  /** The Temporal endpoint Runners dial (often not the Platform's own internal address). */
  runnerTemporal: { address: string };
  /** Issues Runners' Temporal tokens (their namespace, worker role); without it Runners get none. */
  temporalTokens?: TemporalTokenIssuer | undefined;
}

export function createRunnersService({
  pool,
  crypto,
  temporal,
  runnerTemporal,
  temporalTokens,
  platformTaskQueue = PLATFORM_TASK_QUEUE,
}: RunnersServiceDeps) {
  const { sealer } = crypto;
  /** A Runner's Temporal token, audited (its expiry, never the token). */
  const issueToken = async (workspaceId: string, runnerId: string, actor: string, ip: string | undefined) => {
    if (!temporalTokens) return undefined;
    const namespace = await temporal.namespaceOf(workspaceId);
    const issued = temporalTokens.issueRunner(runnerId, namespace);
    await appendAudit(pool, {
      workspaceId,
      actor,
      action: 'runner.temporal_token_issued',
      target: `runner:${runnerId}`,
      outcome: 'success',
      details: { namespace, role: 'worker', expiresAt: issued.expiresAt, kid: temporalTokens.kid },
      ip,
    });
    return { ...issued, namespace };
  };
  return {
    temporalJwks: () => temporalTokens?.jwks() ?? { keys: [] },

    /** A fresh Temporal token for a Runner of the workspace (rotation before expiry, or after a leak: rotate the key too). */
    async issueTemporalToken(auth: WorkspaceAccess, workspaceId: string, runnerId: string, ip?: string) {
      if (!(await getRunner(pool, workspaceId, runnerId))) throw new NotFoundError('runner');
      if (!temporalTokens) throw new ConflictError('this Platform issues no Temporal tokens (LOOKOUT_TEMPORAL_TOKEN_KEY_FILE is not set)');
      const issued = (await issueToken(workspaceId, runnerId, auth.actor, ip))!;
      return { runnerId, temporalApiKey: issued.token, expiresAt: issued.expiresAt, namespace: issued.namespace };
    },

    async register(auth: WorkspaceAccess, workspaceId: string, body: unknown, ip?: string) {
      const parsed = RegisterRunnerBody.safeParse(body);
      if (!parsed.success) throw InputError.fromZod('runner', parsed.error);
      const id = randomUUID();
      const taskQueue = runnerTaskQueue(id);
      try {
        const keyFile = await inTransaction(pool, async (tx) => {
          await createRunner(tx, { id, workspaceId, name: parsed.data.name, taskQueue });
          const file = await exportRunnerKeyFile(tx, crypto.master, workspaceId);
          await appendAuditInTransaction(tx, {
            workspaceId,
            actor: auth.actor,
            action: 'runner.registered',
            target: `runner:${id}`,
            outcome: 'success',
            ip,
          });
          await appendAuditInTransaction(tx, {
            workspaceId,
            actor: auth.actor,
            action: 'keys.exported',
            target: `runner:${id}`,
            outcome: 'success',
            details: { keys: file.keys.map((k) => k.id) },
            ip,
          });
          return file;
        });
        const secretName = `lookout-runner-${parsed.data.name}`;
        const namespace = await temporal.namespaceOf(workspaceId);
        const token = await issueToken(workspaceId, id, auth.actor, ip);
        return {
          id,
          name: parsed.data.name,
          taskQueue,
          /** Shown once: store it only in the Runner's Kubernetes Secret. */
          keyFile,
          /** Shown once, with an issuer configured: the Runner's Temporal credential (its namespace, worker role). */
          ...(token ? { temporalApiKey: token.token, temporalApiKeyExpiresAt: token.expiresAt } : {}),
          helmValues: {
            runner: { id, workspaceId },
            // The workspace's own namespace: the Runner's Temporal credentials are scoped to it.
            temporal: { address: runnerTemporal.address, namespace, ...(token ? { apiKey: true } : {}) },
            existingSecret: secretName,
            // The Platform's task-signing key: the Runner runs only tasks it signed.
            policy: { platformKeys: [crypto.signing.publicKey] },
          },
          install: [
            `kubectl create namespace lookout --dry-run=client -o yaml | kubectl apply -f -`,
            `kubectl -n lookout create secret generic ${secretName} --from-file=keys.json=./keys.json${token ? ' --from-file=temporal-api-key=./temporal-api-key' : ''}`,
            `helm install ${secretName} charts/runner -n lookout -f ./values.json`,
          ],
        };
      } catch (err) {
        if ((err as { code?: string }).code === '23505')
          throw new ConflictError(`a Runner named ${JSON.stringify(parsed.data.name)} already exists`);
        throw err;
      }
    },

    /**
     * Every Runner of the workspace with its last poll (Temporal's poller information) and, for
     * online Runners, its version and allowlist as it reports them (refreshed when older than a minute).
     */
    async list(workspaceId: string) {
      const runners = await listRunners(pool, workspaceId);
      const client = await temporal.forWorkspace(workspaceId);
      return Promise.all(
        runners.map(async (stored) => {
          let r = stored;
          const described = await client.workflowService
            .describeTaskQueue({
              namespace: client.options.namespace,
              taskQueue: { name: r.taskQueue },
              taskQueueType: proto.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            })
            .catch(() => undefined);
          const polls = (described?.pollers ?? [])
            .map((p) =>
              p.lastAccessTime?.seconds ? Number(p.lastAccessTime.seconds) * 1000 + Math.floor((p.lastAccessTime.nanos ?? 0) / 1e6) : 0,
            )
            .filter((t) => t > 0);
          const last = polls.length ? Math.max(...polls) : undefined;
          const online = last !== undefined && Date.now() - last < ONLINE_WITHIN_MS;
          if (online && (!r.lastSeenAt || Date.now() - r.lastSeenAt.getTime() > 60_000)) {
            const refreshed = await client.workflow
              .execute<typeof describeRunner>('describeRunner', {
                taskQueue: platformTaskQueue,
                workflowId: describeRunnerWorkflowId(workspaceId, r.id),
                workflowIdConflictPolicy: 'USE_EXISTING',
                args: [{ workspaceId, runnerId: r.id }],
                workflowExecutionTimeout: '20 seconds',
              })
              .catch(() => null);
            if (refreshed) r = (await listRunners(pool, workspaceId)).find((x) => x.id === r.id) ?? r;
          }
          const policy = r.policySealed ? await sealer.open<PolicySummary>(workspaceId, runnerPolicyBinding(r.id), r.policySealed) : null;
          return {
            id: r.id,
            name: r.name,
            taskQueue: r.taskQueue,
            createdAt: r.createdAt.toISOString(),
            pollers: polls.length,
            lastPollAt: last ? new Date(last).toISOString() : null,
            online,
            version: r.version,
            enabledChecks: r.enabledChecks,
            /** The Runner's policy as it reported it: digest, check types, destinations, binding names. */
            policy,
          };
        }),
      );
    },
  };
}

export type RunnersService = ReturnType<typeof createRunnersService>;
