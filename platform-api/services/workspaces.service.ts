/**
 * Workspaces, their members and API tokens, the audit log, and GDPR export and erasure.
 */
import { exportIssues } from '../../platform/repos/issues.repo';
import { listHooks } from '../../platform/repos/hooks.repo';
import { listNotifications, listSinks } from '../../platform/repos/sinks.repo';
import { notificationView } from './sinks.service';
import { issueView } from './issues.service';
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { z } from 'zod';
import { temporalScheduleId } from '../../common/ids';
import { isWorkflowNotFound } from '../../common/temporal-errors';
import type { AuthContext, WorkspaceAccess } from '../auth/auth-context';
import { ROLES, roleAtMost } from '../../platform/permissions';
import type { PlatformCrypto } from '../../platform/crypto';
import { createWorkspaceKeys } from '../../platform/crypto/platform-keyring';
import { ConflictError, ForbiddenError, NotFoundError, UnavailableError } from '../../common/problem';
import { appendAudit, appendAuditInTransaction, listAudit, listAuditNewest, verifyAuditChain } from '../../platform/repos/audit.repo';
import { inTransaction } from '../../platform/repos/db';
import { getResult } from '../../platform/repos/results.repo';
import { listRunners } from '../../platform/repos/runners.repo';
import { listRuns } from '../../platform/repos/runs.repo';
import { listSchedules } from '../../platform/repos/schedules.repo';
import { exportSweeps } from '../../platform/repos/sweeps.repo';
import { getTask, listTasks } from '../../platform/repos/tasks.repo';
import { getToken, listTokens, revokeToken, type ApiTokenRow } from '../../platform/repos/tokens.repo';
import { getCredentials } from '../../platform/repos/users.repo';
import { listOpenInvitations } from '../../platform/repos/invitations.repo';
import { invitationView } from './invitations.service';
import {
  addMembership,
  countOwnersForUpdate,
  createWorkspace,
  eraseWorkspace,
  getMembershipRole,
  getWorkspace,
  listMembers,
  removeMembership,
  setMembershipRole,
  workspacesOfUser,
} from '../../platform/repos/workspaces.repo';
import type { SecretsService } from './secrets.service';
import type { WorkspaceTemporal } from '../../platform/workspace-temporal';
import { createToken } from './tokens.service';
import type { ChangeSource } from '../../platform/repos/change-feed';

export const CreateWorkspaceBody = z.strictObject({ name: z.string().trim().min(1).max(100) });
const RoleSchema = z.enum(ROLES);
export const UpdateMemberBody = z.strictObject({ role: RoleSchema });
export const CreateTokenBody = z.strictObject({
  name: z.string().trim().min(1).max(100),
  role: RoleSchema,
  /** Lifetime in days; no expiry when absent. */
  expiresInDays: z.number().int().min(1).max(3650).optional(),
});
/**
 * Pages of the audit log: oldest first from `after` (the answer's `next` is the next `after`), or
 * with `order=newest` newest first from `before` (the answer's `next` is the next `before`).
 */
export const AuditQuery = z
  .strictObject({
    order: z.enum(['oldest', 'newest']).default('oldest'),
    after: z
      .string()
      .regex(/^\d{1,18}$/, 'an event id')
      .optional(),
    before: z
      .string()
      .regex(/^\d{1,18}$/, 'an event id')
      .optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
  })
  .refine((q) => (q.order === 'newest' ? q.after === undefined : q.before === undefined), {
    message: '`after` pages oldest first, `before` pages newest first (order=newest)',
    path: ['order'],
  });

function tokenView(t: ApiTokenRow) {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    hint: t.displayHint,
    createdBy: t.createdBy,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
  };
}

/** The user behind a principal: a session's or bearer's user, or the creator of an API token. */
function userOf(auth: AuthContext): string | null {
  return auth.userId;
}

export function createWorkspacesService(deps: {
  pool: Pool;
  crypto: PlatformCrypto;
  temporal: WorkspaceTemporal;
  secrets: SecretsService;
  /** Told of membership, token and erasure changes, so that this process's caches drop them at once. */
  changes?: ChangeSource | undefined;
}) {
  const { pool, crypto, temporal, secrets, changes } = deps;

  return {
    async me(auth: AuthContext) {
      if (auth.kind === 'api_token') {
        const ws = await getWorkspace(pool, auth.workspaceId);
        return { kind: auth.kind, tokenId: auth.tokenId, workspaces: ws ? [{ id: ws.id, name: ws.name, role: auth.role }] : [] };
      }
      const creds = await getCredentials(pool, auth.userId);
      return {
        kind: auth.kind,
        user: {
          id: auth.userId,
          email: creds?.email,
          displayName: creds?.displayName ?? null,
          mfaEnrolled: Boolean(creds?.totpConfirmedAt),
        },
        ...(auth.kind === 'session' ? { session: { id: auth.sessionId, method: auth.method } } : {}),
        workspaces: (await workspacesOfUser(pool, auth.userId)).map((w) => ({ id: w.id, name: w.name, role: w.role })),
      };
    },

    /** A new workspace with its keys; the user who makes it is its first owner. API tokens cannot. */
    async create(auth: AuthContext, input: z.infer<typeof CreateWorkspaceBody>, ip: string | undefined) {
      if (auth.kind === 'api_token') throw new ForbiddenError('API tokens are bound to one workspace and cannot create workspaces');
      const id = randomUUID();
      // Its Temporal namespace first: a namespace without a workspace (the insert failed) holds
      // nothing and is named by an id nobody has; a workspace without its namespace could not run.
      const temporalNamespace = await temporal.provision(id).catch((err: unknown) => {
        throw new UnavailableError(
          `the workflow engine did not create the workspace's namespace: ${err instanceof Error ? err.message.split('\n')[0] : 'unknown error'}`,
        );
      });
      await inTransaction(pool, async (tx) => {
        await createWorkspace(tx, { id, name: input.name, temporalNamespace });
        await createWorkspaceKeys(tx, crypto.master, id);
        await addMembership(tx, { workspaceId: id, userId: auth.userId, role: 'owner' });
        await appendAuditInTransaction(tx, {
          workspaceId: id,
          actor: auth.actor,
          action: 'workspace.created',
          target: `workspace:${id}`,
          outcome: 'success',
          ip,
        });
        await appendAuditInTransaction(tx, {
          workspaceId: id,
          actor: auth.actor,
          action: 'member.added',
          target: `user:${auth.userId}`,
          outcome: 'success',
          details: { role: 'owner' },
          ip,
        });
      });
      return { id, name: input.name, role: 'owner' as const };
    },

    async get(access: WorkspaceAccess) {
      const ws = await getWorkspace(pool, access.workspaceId);
      if (!ws) throw new NotFoundError('workspace');
      return { id: ws.id, name: ws.name, createdAt: ws.createdAt.toISOString(), role: access.role };
    },

    async members(access: WorkspaceAccess) {
      return (await listMembers(pool, access.workspaceId)).map((m) => ({ ...m, createdAt: m.createdAt.toISOString() }));
    },

    /** Changes a member's role; the last owner cannot be demoted. */
    async updateMember(access: WorkspaceAccess, userId: string, input: z.infer<typeof UpdateMemberBody>, ip: string | undefined) {
      await inTransaction(pool, async (tx) => {
        const owners = await countOwnersForUpdate(tx, access.workspaceId);
        const current = await getMembershipRole(tx, access.workspaceId, userId);
        if (!current) throw new NotFoundError('member');
        if (current === 'owner' && input.role !== 'owner' && owners <= 1) throw new ConflictError('a workspace keeps at least one owner');
        await setMembershipRole(tx, access.workspaceId, userId, input.role);
        await appendAuditInTransaction(tx, {
          workspaceId: access.workspaceId,
          actor: access.actor,
          action: 'member.role_changed',
          target: `user:${userId}`,
          outcome: 'success',
          details: { from: current, to: input.role },
          ip,
        });
      });
      changes?.announce('tokens');
      return { userId, role: input.role };
    },

    async removeMember(access: WorkspaceAccess, userId: string, ip: string | undefined) {
      await inTransaction(pool, async (tx) => {
        const owners = await countOwnersForUpdate(tx, access.workspaceId);
        const current = await getMembershipRole(tx, access.workspaceId, userId);
        if (!current) throw new NotFoundError('member');
        if (current === 'owner' && owners <= 1) throw new ConflictError('a workspace keeps at least one owner');
        await removeMembership(tx, access.workspaceId, userId);
        await appendAuditInTransaction(tx, {
          workspaceId: access.workspaceId,
          actor: access.actor,
          action: 'member.removed',
          target: `user:${userId}`,
          outcome: 'success',
          details: { role: current },
          ip,
        });
      });
      changes?.announce('tokens');
    },

    async tokens(access: WorkspaceAccess) {
      return (await listTokens(pool, access.workspaceId)).map(tokenView);
    },

    /**
     * Makes an API token bound to this workspace, with a role no higher than its creator's (for a
     * token made with a token: that token's role). The token is in this answer only.
     */
    async createToken(access: WorkspaceAccess, input: z.infer<typeof CreateTokenBody>, ip: string | undefined) {
      if (!roleAtMost(input.role, access.role)) throw new ForbiddenError(`a token cannot outrank its creator (${access.role})`);
      const expiresAt = input.expiresInDays ? new Date(Date.now() + input.expiresInDays * 86_400_000) : null;
      const createdBy = userOf(access.principal);
      return inTransaction(pool, async (tx) => {
        const made = await createToken(tx, { workspaceId: access.workspaceId, createdBy, name: input.name, role: input.role, expiresAt });
        await appendAuditInTransaction(tx, {
          workspaceId: access.workspaceId,
          actor: access.actor,
          action: 'token.created',
          target: `token:${made.id}`,
          outcome: 'success',
          details: { role: input.role, expiresAt: expiresAt?.toISOString() ?? null },
          ip,
        });
        const row = await getToken(tx, access.workspaceId, made.id);
        return { ...tokenView(row!), token: made.token };
      });
    },

    async revokeToken(access: WorkspaceAccess, tokenId: string, ip: string | undefined) {
      await inTransaction(pool, async (tx) => {
        if (!(await getToken(tx, access.workspaceId, tokenId))) throw new NotFoundError('token');
        const revoked = await revokeToken(tx, access.workspaceId, tokenId);
        await appendAuditInTransaction(tx, {
          workspaceId: access.workspaceId,
          actor: access.actor,
          action: 'token.revoked',
          target: `token:${tokenId}`,
          outcome: 'success',
          details: { alreadyRevoked: !revoked },
          ip,
        });
      });
      changes?.announce('tokens');
    },

    /** A page of the workspace's audit log, oldest first, with whether the whole chain verifies. */
    async audit(access: WorkspaceAccess, query: z.infer<typeof AuditQuery>) {
      const [items, verification] = await Promise.all([
        query.order === 'newest'
          ? listAuditNewest(pool, access.workspaceId, query.limit, query.before)
          : listAudit(pool, access.workspaceId, query.limit, query.after ?? '0'),
        verifyAuditChain(pool, access.workspaceId),
      ]);
      const last = items.at(-1);
      return { items, chain: verification, ...(items.length === query.limit && last ? { next: last.id } : {}) };
    },

    /** Everything the workspace holds, as JSON. Secrets are listed by name only; nothing else is left out. */
    async exportAll(access: WorkspaceAccess, ip: string | undefined) {
      const ws = access.workspaceId;
      const workspace = await getWorkspace(pool, ws);
      if (!workspace) throw new NotFoundError('workspace');
      const taskIds = (await listTasks(pool, ws, 1_000_000)).map((t) => t.id);
      const tasks = await Promise.all(taskIds.map((id) => getTask(pool, crypto.sealer, ws, id)));
      const runs = await listRuns(pool, ws, 1_000_000);
      const results = [];
      for (const run of runs) {
        const result = await getResult(pool, crypto.sealer, ws, run.id);
        if (result) results.push({ runId: run.id, ...result });
      }
      const secretNames = await secrets.list(access, ws, ip);
      await appendAudit(pool, {
        workspaceId: ws,
        actor: access.actor,
        action: 'workspace.exported',
        target: `workspace:${ws}`,
        outcome: 'success',
        details: { tasks: tasks.length, runs: runs.length },
        ip,
      });
      return {
        format: 'lookout-workspace-export/v1',
        exportedAt: new Date().toISOString(),
        workspace: { id: workspace.id, name: workspace.name, createdAt: workspace.createdAt.toISOString() },
        members: await this.members(access),
        invitations: (await listOpenInvitations(pool, ws)).map(invitationView),
        apiTokens: await this.tokens(access),
        runners: await listRunners(pool, ws),
        tasks,
        schedules: await listSchedules(pool, ws),
        runs,
        results,
        sweeps: await exportSweeps(pool, ws),
        issues: (await exportIssues(pool, crypto.sealer, ws)).map(issueView),
        // Hooks without their secrets (the Platform holds only their hashes).
        hooks: await listHooks(pool, crypto.sealer, ws),
        // Sinks without where they send (a secret the API never answers), and what was sent.
        sinks: (await listSinks(pool, ws)).map((s) => ({ ...s, createdAt: s.createdAt.toISOString() })),
        notifications: (await listNotifications(pool, ws, { limit: 10_000_000 })).map(notificationView),
        secrets: secretNames,
        audit: await listAudit(pool, ws, 10_000_000),
      };
    },

    /**
     * Erases the workspace: its Temporal Schedules and workflow executions, its secrets in the store,
     * then every row (audit chain included) and its keys, so that anything left anywhere cannot be
     * decrypted. The erasure itself is recorded in the system audit chain.
     */
    async erase(access: WorkspaceAccess, ip: string | undefined) {
      const ws = access.workspaceId;
      const namespace = await temporal.namespaceOf(ws);
      const client = temporal.forNamespace(namespace);
      for (const schedule of await listSchedules(pool, ws)) {
        await client.schedule
          .getHandle(temporalScheduleId(ws, schedule.id))
          .delete()
          .catch((err: unknown) => {
            if (!(err instanceof Error && err.name === 'ScheduleNotFoundError')) throw err;
          });
      }
      // Temporal deletes asynchronously (the history goes within seconds to a minute) and its
      // visibility is eventually consistent: list again until a pass finds nothing new (bounded), so
      // that executions indexed late are deleted too. The keys go below, so whatever is still
      // stored meanwhile can no longer be decrypted.
      const deleted = new Set<string>();
      for (let pass = 0; pass < 5; pass++) {
        let fresh = 0;
        for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH "ws-${ws}."` })) {
          if (deleted.has(wf.runId)) continue;
          fresh++;
          await client.workflowService
            .deleteWorkflowExecution({
              namespace,
              workflowExecution: { workflowId: wf.workflowId, runId: wf.runId },
            })
            .catch((err: unknown) => {
              if (!isWorkflowNotFound(err)) throw err; // already gone
            });
          deleted.add(wf.runId);
        }
        if (fresh === 0) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      const workflows = deleted.size;
      // The workspace's own namespace goes too (Temporal removes what is left in it asynchronously);
      // the shared one stays.
      await temporal.remove(namespace);
      const secretNames = await secrets.list(access, ws, ip);
      for (const s of secretNames) await secrets.remove(access, ws, s.name, ip);
      const counts = await inTransaction(pool, async (tx) => {
        const erased = await eraseWorkspace(tx, ws);
        await appendAuditInTransaction(tx, {
          workspaceId: null,
          actor: access.actor,
          action: 'workspace.erased',
          target: `workspace:${ws}`,
          outcome: 'success',
          details: {
            ...erased,
            temporalWorkflows: workflows,
            temporalNamespaceDeleted: namespace !== temporal.sharedNamespace,
            secretsInStore: secretNames.length,
          },
          ip,
        });
        return erased;
      });
      changes?.announce('tokens');
      changes?.announce('runs');
      return {
        erased: true,
        workspaceId: ws,
        counts: {
          ...counts,
          temporalWorkflows: workflows,
          temporalNamespaceDeleted: namespace !== temporal.sharedNamespace,
          secretsInStore: secretNames.length,
        },
      };
    },
  };
}

export type WorkspacesService = ReturnType<typeof createWorkspacesService>;
