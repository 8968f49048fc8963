/**
 * Issues: what is wrong, across runs (platform/repos/issues.repo.ts). People list them and change
 * their state: acknowledge, ignore until a date (with a reason), or open again. Every change is
 * audited; a reason is sealed like the finding itself.
 */
import type { Pool } from 'pg';
import { z } from 'zod';
import type { WorkspaceAccess } from '../auth/auth-context';
import type { Sealer } from '../../platform/crypto/sealer';
import { ConflictError, InputError, NotFoundError } from '../../common/problem';
import { appendAuditInTransaction } from '../../platform/repos/audit.repo';
import { inTransaction } from '../../platform/repos/db';
import { getIssue, ISSUE_STATES, listIssues, setIssueState, type StoredIssue } from '../../platform/repos/issues.repo';

export const ListIssuesQuery = z.strictObject({
  state: z.enum(ISSUE_STATES).optional(),
  /** At most this severity: 1 lists only the most severe. */
  severity: z.coerce.number().int().min(1).max(4).optional(),
  runnerId: z.uuid().optional(),
  checkType: z.string().min(1).max(64).optional(),
  namespace: z
    .string()
    .max(253)
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name')
    .optional(),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
});

const MAX_IGNORE_MS = 366 * 24 * 3600_000;

export const ChangeIssueBody = z
  .strictObject({
    state: z.enum(['acknowledged', 'ignored', 'open']),
    /** For `ignored`: until when (at most a year ahead); the issue is open again afterwards. */
    until: z.iso.datetime().optional(),
    reason: z.string().min(1).max(500).optional(),
  })
  .superRefine((b, ctx) => {
    if (b.state === 'ignored') {
      if (!b.until) ctx.addIssue({ code: 'custom', path: ['until'], message: 'an ignore needs an end: until' });
      else {
        const ms = Date.parse(b.until) - Date.now();
        if (ms <= 0) ctx.addIssue({ code: 'custom', path: ['until'], message: 'must be in the future' });
        if (ms > MAX_IGNORE_MS) ctx.addIssue({ code: 'custom', path: ['until'], message: 'may be at most a year ahead' });
      }
    } else if (b.until) ctx.addIssue({ code: 'custom', path: ['until'], message: 'only an ignore has an end' });
  });

/** An issue as the API shows it. */
export function issueView(i: StoredIssue) {
  return {
    id: i.id,
    /** Opaque and stable: PagerDuty's dedup key for this issue. */
    fingerprint: i.fingerprint,
    state: i.state,
    severity: i.severity,
    checkType: i.checkType,
    runnerId: i.runnerId,
    taskId: i.taskId,
    title: i.detail.title,
    resource: i.detail.resource,
    expected: i.detail.expected,
    actual: i.detail.actual,
    nextSteps: i.detail.nextSteps,
    nextChecks: i.detail.nextChecks ?? [],
    ...(i.detail.details === undefined ? {} : { details: i.detail.details }),
    firstSeenAt: i.firstSeenAt.toISOString(),
    lastSeenAt: i.lastSeenAt.toISOString(),
    resolvedAt: i.resolvedAt?.toISOString() ?? null,
    ignoredUntil: i.ignoredUntil?.toISOString() ?? null,
    reason: i.reason,
    seenCount: i.seenCount,
    reopenedCount: i.reopenedCount,
    lastRunId: i.lastRunId,
    stateChangedAt: i.stateChangedAt.toISOString(),
  };
}

export function createIssuesService({ pool, sealer }: { pool: Pool; sealer: Sealer }) {
  return {
    async list(workspaceId: string, query: z.infer<typeof ListIssuesQuery>) {
      return (await listIssues(pool, sealer, workspaceId, query)).map(issueView);
    },

    async get(workspaceId: string, id: string) {
      const issue = await getIssue(pool, sealer, workspaceId, id);
      if (!issue) throw new NotFoundError('issue');
      return issueView(issue);
    },

    async change(auth: WorkspaceAccess, workspaceId: string, id: string, body: unknown, ip?: string) {
      const parsed = ChangeIssueBody.safeParse(body);
      if (!parsed.success) throw InputError.fromZod('issue', parsed.error);
      const change = parsed.data;
      await inTransaction(pool, async (tx) => {
        const done = await setIssueState(tx, sealer, workspaceId, id, {
          state: change.state,
          until: change.until ? new Date(change.until) : undefined,
          reason: change.reason,
        });
        if (!done) throw new NotFoundError('issue');
        if ('refused' in done) throw new ConflictError(done.refused);
        await appendAuditInTransaction(tx, {
          workspaceId,
          actor: auth.actor,
          action: change.state === 'open' ? 'issue.reopened' : `issue.${change.state}`,
          target: `issue:${id}`,
          outcome: 'success',
          // The reason is sealed on the issue; the audit row says only that there is one.
          details: { from: done.previous, ...(change.until ? { until: change.until } : {}), reason: Boolean(change.reason) },
          ip,
        });
      });
      return this.get(workspaceId, id);
    },
  };
}

export type IssuesService = ReturnType<typeof createIssuesService>;
