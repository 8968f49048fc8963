/**
 * Notification sinks (issue 19): where a workspace's issue changes go (Slack, Microsoft Teams,
 * PagerDuty Events v2, a webhook signed with HMAC-SHA256, email), routed by severity, Runner,
 * namespace and change (new, reopened, resolved). Where a sink sends is a secret: written here,
 * sealed, and never answered again (a webhook sink's signing secret is shown once, at creation).
 * Deliveries are the platform worker's (`sinkDelivery`); what every retry failed is dead-lettered,
 * listed here, and sent again on request.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { z } from 'zod';
import { wakeSink, type NotifySettings } from '../../platform/notify/wake';
import { ConflictError, NotFoundError } from '../../common/problem';
import type { Sealer } from '../../platform/crypto/sealer';
import type { Mailer } from '../../platform/mail';
import { DeliveryError, deliver, SinkTargetInput, type SinkTarget } from '../../platform/notify/deliver';
import { TRANSITIONS, type NotificationBatch } from '../../platform/notify/formats';
import { appendAudit, appendAuditInTransaction } from '../../platform/repos/audit.repo';
import { inTransaction } from '../../platform/repos/db';
import {
  deleteSink,
  getSinkWithTarget,
  insertSink,
  listNotifications,
  listSinks,
  NOTIFICATION_STATES,
  requeueNotification,
  type Notification,
  type Sink,
} from '../../platform/repos/sinks.repo';
import type { WorkspaceTemporal } from '../../platform/workspace-temporal';
import type { WorkspaceAccess } from '../auth/auth-context';

const Name = z
  .string()
  .min(1)
  .max(60)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore');

/** A Kubernetes namespace name (RFC 1123 label). */
const NamespaceName = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a Kubernetes namespace name');

export const CreateSinkBody = z.strictObject({
  name: Name,
  /** Where it sends: `{kind: slack|teams, url}`, `{kind: pagerduty, routingKey}`, `{kind: webhook, url}`, `{kind: email, to}`. */
  target: SinkTargetInput,
  /** Issues of at most this severity (1 = unavailable only … 4 = everything). */
  maxSeverity: z.number().int().min(1).max(4).default(3),
  runnerIds: z.array(z.uuid()).max(50).default([]),
  namespaces: z.array(NamespaceName).max(100).default([]),
  events: z
    .array(z.enum(TRANSITIONS))
    .min(1)
    .max(3)
    .refine((e) => new Set(e).size === e.length, 'each event once')
    .default(['new', 'reopened', 'resolved']),
  /** Changes within this many seconds go out as one message. */
  groupSeconds: z.number().int().min(0).max(3600).default(30),
  /** At most this many messages a minute (PagerDuty: events); what waits is grouped into the next. */
  maxPerMinute: z.number().int().min(1).max(600).default(10),
});

export const NotificationQuery = z.strictObject({
  state: z.enum(NOTIFICATION_STATES).optional(),
  sinkId: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** A sink as the API shows it: its kind and routing, never where it sends. */
export type SinkView = Omit<Sink, 'workspaceId' | 'createdAt'> & { createdAt: string };

const sinkView = (s: Sink): SinkView => ({
  id: s.id,
  name: s.name,
  kind: s.kind,
  routing: s.routing,
  groupSeconds: s.groupSeconds,
  maxPerMinute: s.maxPerMinute,
  createdBy: s.createdBy,
  createdAt: s.createdAt.toISOString(),
});

export const notificationView = (n: Notification) => ({
  id: n.id,
  sinkId: n.sinkId,
  issueId: n.issueId,
  transition: n.transition,
  runId: n.runId,
  state: n.state,
  deliveryId: n.deliveryId,
  attempts: n.attempts,
  lastError: n.lastError,
  createdAt: n.createdAt.toISOString(),
  updatedAt: n.updatedAt.toISOString(),
  deliveredAt: n.deliveredAt?.toISOString() ?? null,
});

export interface SinksServiceDeps {
  pool: Pool;
  sealer: Sealer;
  temporal: Pick<WorkspaceTemporal, 'forWorkspace'>;
  /** How `test` sends (the platform worker's settings, from the same environment). */
  notify: Pick<NotifySettings, 'allowPrivateDestinations' | 'caPem' | 'linkBase'>;
  mailer?: Mailer | undefined;
  mailFrom?: string | undefined;
  /** Where the platform worker polls (tests give each its own). */
  platformTaskQueue?: string | undefined;
}

/** The message `test` sends: an example issue, marked as a test. */
function testBatch(workspaceId: string, sinkName: string, linkBase: string | undefined): NotificationBatch {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    workspaceId,
    sinkName,
    test: true,
    linkBase,
    events: [
      {
        issueId: randomUUID(),
        fingerprint: randomBytes(16).toString('hex'),
        transition: 'new',
        severity: 4,
        state: 'open',
        checkType: 'lookout.test',
        runnerId: '00000000-0000-0000-0000-000000000000',
        runId: null,
        title: 'Lookout test notification',
        resource: { kind: 'Sink', name: sinkName },
        expected: 'this message reaches you',
        actual: 'it did',
        nextSteps: ['Nothing to do: this is a test of the sink.'],
        firstSeenAt: now,
        lastSeenAt: now,
        seenCount: 1,
      },
    ],
  };
}

export function createSinksService({ pool, sealer, temporal, notify, mailer, mailFrom, platformTaskQueue }: SinksServiceDeps) {
  return {
    async create(access: WorkspaceAccess, body: z.infer<typeof CreateSinkBody>, ip?: string) {
      // A webhook sink signs with a secret the Platform makes; it is shown this once.
      const signingSecret = body.target.kind === 'webhook' ? randomBytes(32).toString('base64url') : undefined;
      const target: SinkTarget = body.target.kind === 'webhook' ? { ...body.target, secret: signingSecret! } : body.target;
      const sink = {
        id: randomUUID(),
        workspaceId: access.workspaceId,
        name: body.name,
        kind: body.target.kind,
        routing: { maxSeverity: body.maxSeverity, runnerIds: body.runnerIds, namespaces: body.namespaces, events: body.events },
        groupSeconds: body.groupSeconds,
        maxPerMinute: body.maxPerMinute,
        createdBy: access.actor,
      };
      try {
        await inTransaction(pool, async (tx) => {
          await insertSink(tx, sealer, sink, target);
          await appendAuditInTransaction(tx, {
            workspaceId: access.workspaceId,
            actor: access.actor,
            action: 'sink.created',
            target: `sink:${sink.id}`,
            outcome: 'success',
            details: { kind: sink.kind, ...sink.routing, groupSeconds: sink.groupSeconds, maxPerMinute: sink.maxPerMinute },
            ip,
          });
        });
      } catch (err) {
        if ((err as { code?: string }).code === '23505')
          throw new ConflictError(`a sink named ${JSON.stringify(body.name)} already exists`);
        throw err;
      }
      return { ...sinkView({ ...sink, createdAt: new Date() }), ...(signingSecret ? { signingSecret } : {}) };
    },

    async list(workspaceId: string): Promise<SinkView[]> {
      return (await listSinks(pool, workspaceId)).map(sinkView);
    },

    async remove(access: WorkspaceAccess, id: string, ip?: string): Promise<void> {
      await inTransaction(pool, async (tx) => {
        if (!(await deleteSink(tx, access.workspaceId, id))) throw new NotFoundError('sink');
        await appendAuditInTransaction(tx, {
          workspaceId: access.workspaceId,
          actor: access.actor,
          action: 'sink.deleted',
          target: `sink:${id}`,
          outcome: 'success',
          ip,
        });
      });
    },

    /**
     * Sends an example message now and answers whether it was delivered, and if not why (a reason
     * that names no URL or token): the test itself succeeded either way.
     */
    async test(access: WorkspaceAccess, id: string, ip?: string): Promise<{ delivered: boolean; reason?: string }> {
      const found = await getSinkWithTarget(pool, sealer, access.workspaceId, id);
      if (!found) throw new NotFoundError('sink');
      let reason: string | undefined;
      try {
        await deliver(found.target, testBatch(access.workspaceId, found.sink.name, notify.linkBase), {
          allowPrivateDestinations: notify.allowPrivateDestinations,
          mailer,
          ...(mailFrom ? { mailFrom } : {}),
          caPem: notify.caPem,
        });
      } catch (err) {
        reason = err instanceof DeliveryError ? err.reason : 'could not send';
      }
      await appendAudit(pool, {
        workspaceId: access.workspaceId,
        actor: access.actor,
        action: 'sink.tested',
        target: `sink:${id}`,
        outcome: reason ? 'failure' : 'success',
        details: reason ? { reason } : {},
        ip,
      });
      return reason ? { delivered: false, reason } : { delivered: true };
    },

    async notifications(workspaceId: string, query: z.infer<typeof NotificationQuery>) {
      return (await listNotifications(pool, workspaceId, query)).map(notificationView);
    },

    /** Sends a dead-lettered notification again (its sink's delivery is woken). */
    async retry(access: WorkspaceAccess, id: string, ip?: string): Promise<void> {
      const requeued = await inTransaction(pool, async (tx) => {
        const requeued = await requeueNotification(tx, access.workspaceId, id);
        if (!requeued) throw new NotFoundError('notification');
        if ('state' in requeued) throw new ConflictError(`the notification is ${requeued.state}: only a dead-lettered one is sent again`);
        await appendAuditInTransaction(tx, {
          workspaceId: access.workspaceId,
          actor: access.actor,
          action: 'notification.retried',
          target: `notification:${id}`,
          outcome: 'success',
          details: { sinkId: requeued.sinkId },
          ip,
        });
        return requeued;
      });
      await wakeSink(
        await temporal.forWorkspace(access.workspaceId),
        { workspaceId: access.workspaceId, sinkId: requeued.sinkId },
        platformTaskQueue,
      );
    },
  };
}

export type SinksService = ReturnType<typeof createSinksService>;
