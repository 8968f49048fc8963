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
import {
  createRunner,
  getRunner,
  listRunners,
  revokeRunnerAttestationKey,
  runnerPolicyBinding,
  setRunnerAttestationKey,
} from '../../platform/repos/runners.repo';
import { generateSigningSeed, isRawPublicKey, signingKeyFromSeed, signingKeyId } from '../../common/ed25519';
import type { TemporalTokenIssuer } from '../../platform/crypto/temporal-tokens';
import { PolicySummary } from '../../common/runner-policy';
import { CHECK_PARAMS, isCheckType, type CheckType } from '../../common/checks';

/** The public half of a Runner's own Ed25519 key (raw 32 bytes, base64), made where the Runner runs. */
const AttestationPublicKey = z.string().refine(isRawPublicKey, 'an Ed25519 public key: 32 bytes in base64 (lookout runner keygen)');

export const RegisterRunnerBody = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'lower-case letters, digits and dashes'),
  /**
   * The public half of the Runner's attestation key, made by its owner (`lookout runner keygen`), so
   * that the private half never passes the Platform. Without it the Platform makes the key pair,
   * answers the private half once and keeps only the public one.
   */
  attestationPublicKey: AttestationPublicKey.optional(),
});
export const AttestationKeyBody = z.strictObject({ publicKey: AttestationPublicKey.optional() });

/** The Runner's attestation key: the given public half, or a new pair whose seed is answered once. */
export function runnerAttestationKey(publicKey: string | undefined): { publicKey: string; keyId: string; seed?: string } {
  if (publicKey) return { publicKey, keyId: signingKeyId(Buffer.from(publicKey, 'base64')) };
  const seed = generateSigningSeed();
  const key = signingKeyFromSeed(Buffer.from(seed, 'base64'));
  return { publicKey: key.publicKey, keyId: key.keyId, seed };
}

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

/** `presence=false`: the stored Runners only, without asking Temporal who polls (names for a list, a select). */
export const ListRunnersQuery = z.strictObject({
  presence: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => v !== 'false'),
});

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

    /**
     * Gives a Runner a new attestation key: its owner's public half, or a pair made here whose
     * private half is answered once and never stored. Results signed with the old key are refused
     * from this moment (and a revocation is lifted). Audited.
     */
    async rotateAttestationKey(
      auth: WorkspaceAccess,
      workspaceId: string,
      runnerId: string,
      body: z.infer<typeof AttestationKeyBody>,
      ip?: string,
    ) {
      const key = runnerAttestationKey(body.publicKey);
      await inTransaction(pool, async (tx) => {
        if (!(await setRunnerAttestationKey(tx, workspaceId, runnerId, key.publicKey))) throw new NotFoundError('runner');
        await appendAuditInTransaction(tx, {
          workspaceId,
          actor: auth.actor,
          action: 'runner.attestation_key_rotated',
          target: `runner:${runnerId}`,
          outcome: 'success',
          details: { attestationKeyId: key.keyId, attestationKeyMadeBy: key.seed ? 'platform' : 'owner' },
          ip,
        });
      });
      return { runnerId, attestationKeyId: key.keyId, ...(key.seed ? { runnerKey: key.seed } : {}) };
    },

    /** Revokes a Runner's attestation key: every result of that Runner is refused from this moment, until it gets a new key. Audited. */
    async revokeAttestationKey(auth: WorkspaceAccess, workspaceId: string, runnerId: string, ip?: string) {
      await inTransaction(pool, async (tx) => {
        if (!(await revokeRunnerAttestationKey(tx, workspaceId, runnerId))) throw new NotFoundError('runner');
        await appendAuditInTransaction(tx, {
          workspaceId,
          actor: auth.actor,
          action: 'runner.attestation_key_revoked',
          target: `runner:${runnerId}`,
          outcome: 'success',
          ip,
        });
      });
    },

    async register(auth: WorkspaceAccess, workspaceId: string, body: unknown, ip?: string) {
      const parsed = RegisterRunnerBody.safeParse(body);
      if (!parsed.success) throw InputError.fromZod('runner', parsed.error);
      const id = randomUUID();
      const taskQueue = runnerTaskQueue(id);
      const attestation = runnerAttestationKey(parsed.data.attestationPublicKey);
      try {
        const keyFile = await inTransaction(pool, async (tx) => {
          await createRunner(tx, { id, workspaceId, name: parsed.data.name, taskQueue, attestationPublicKey: attestation.publicKey });
          const file = await exportRunnerKeyFile(tx, crypto.master, workspaceId);
          await appendAuditInTransaction(tx, {
            workspaceId,
            actor: auth.actor,
            action: 'runner.registered',
            target: `runner:${id}`,
            outcome: 'success',
            details: { attestationKeyId: attestation.keyId, attestationKeyMadeBy: attestation.seed ? 'platform' : 'owner' },
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
          /** The Runner's attestation key id; with a key pair made here, its private half (`runner-key`), once and never stored. */
          attestationKeyId: attestation.keyId,
          ...(attestation.seed ? { runnerKey: attestation.seed } : {}),
          /** Shown once, with an issuer configured: the Runner's Temporal credential (its namespace, worker role). */
          ...(token ? { temporalApiKey: token.token, temporalApiKeyExpiresAt: token.expiresAt } : {}),
          helmValues: {
            runner: { id, workspaceId, attestationKey: true },
            // The workspace's own namespace: the Runner's Temporal credentials are scoped to it.
            temporal: { address: runnerTemporal.address, namespace, ...(token ? { apiKey: true } : {}) },
            existingSecret: secretName,
            // The Platform's task-signing key: the Runner runs only tasks it signed.
            policy: { platformKeys: [crypto.signing.publicKey] },
          },
          install: [
            `kubectl create namespace lookout --dry-run=client -o yaml | kubectl apply -f -`,
            `kubectl -n lookout create secret generic ${secretName} --from-file=keys.json=./keys.json --from-file=runner-key=./runner-key${token ? ' --from-file=temporal-api-key=./temporal-api-key' : ''}`,
            `helm install ${secretName} charts/runner -n lookout -f ./values.json`,
          ],
          /** Once it polls: discover its cluster, see the plan, and create its checks (README: Discovery). */
          next: {
            discover: `POST /v1/workspaces/${workspaceId}/runners/${id}/discover`,
            apply: `POST /v1/workspaces/${workspaceId}/runners/${id}/discover?apply`,
            cli: `lookout discover --workspace ${workspaceId} ${id} --apply`,
          },
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
    async list(workspaceId: string, { presence }: { presence: boolean } = { presence: true }) {
      type Presence = { pollers: number | null; lastPollAt: string | null; online: boolean | null };
      const view = async (r: Awaited<ReturnType<typeof listRunners>>[number], seen: Presence) => ({
        id: r.id,
        name: r.name,
        taskQueue: r.taskQueue,
        createdAt: r.createdAt.toISOString(),
        ...seen,
        version: r.version,
        enabledChecks: r.enabledChecks,
        /** The Runner's policy as it reported it: digest, check types, destinations, binding names. */
        policy: r.policySealed ? await sealer.open<PolicySummary>(workspaceId, runnerPolicyBinding(r.id), r.policySealed) : null,
      });
      const runners = await listRunners(pool, workspaceId);
      if (!presence) return Promise.all(runners.map((r) => view(r, { pollers: null, lastPollAt: null, online: null })));
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
          return view(r, { pollers: polls.length, lastPollAt: last ? new Date(last).toISOString() : null, online });
        }),
      );
    },

    /**
     * What a Runner can run, as it last reported: the built-in types its policy allows, with their
     * parameter schemas, and each check of its packs with the pack's version, digest and source
     * (commit, signed or not), its parameter schema and needs. Never a pack's code: the Platform has none.
     */
    async checks(workspaceId: string, runnerId: string) {
      const r = (await listRunners(pool, workspaceId)).find((x) => x.id === runnerId);
      if (!r) throw new NotFoundError('runner');
      const opened = r.policySealed ? await sealer.open(workspaceId, runnerPolicyBinding(r.id), r.policySealed) : null;
      const summary = opened ? PolicySummary.safeParse(opened) : undefined;
      if (!summary?.success) return { reported: false, reportedAt: null, items: [] };
      const policy = summary.data;
      const builtIn = policy.checks.filter(isCheckType).map((type) => ({
        type,
        source: 'built-in' as const,
        parameters: builtInSchema(type),
        rawData: policy.rawData.includes(type),
      }));
      const packs = policy.packs.flatMap((pack) =>
        pack.checks
          .filter((c) => policy.checks.includes(c.type))
          .map((c) => ({
            type: c.type,
            source: 'pack' as const,
            pack: { name: pack.name, version: pack.version, digest: pack.digest, source: pack.source },
            description: c.description,
            kind: c.kind,
            parameters: c.parameters,
            needs: c.needs,
            rawData: policy.rawData.includes(c.type),
          })),
      );
      return { reported: true, reportedAt: r.lastSeenAt?.toISOString() ?? null, items: [...builtIn, ...packs] };
    },
  };
}

const builtInSchemas = new Map<string, unknown>();
/** A built-in check's parameters as JSON Schema, from the same zod schema the Runner validates with. */
function builtInSchema(type: CheckType): unknown {
  let schema = builtInSchemas.get(type);
  if (!schema) {
    schema = z.toJSONSchema(CHECK_PARAMS[type], { io: 'input', unrepresentable: 'any' });
    builtInSchemas.set(type, schema);
  }
  return schema;
}

export type RunnersService = ReturnType<typeof createRunnersService>;
