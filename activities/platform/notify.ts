/**
 * Notification delivery, the Platform's side (issue 19): the activities of the `sinkDelivery`
 * workflow. The workflow carries ids only; what a notification says is read here, from PostgreSQL,
 * when it is sent (the issue as it is then, sealed at rest, opened in this process), and where it
 * goes is the sink's sealed target. Every activity acts only for the workspace its workflow id
 * names (`ws-<id>.sink-<id>`), so a workflow started for another workspace's sink reaches nothing.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import { FailureType } from '../../common/errors';
import { sinkWorkflowId, workspaceOfWorkflowId } from '../../common/ids';
import type { NotifySettings, SinkRef } from '../../platform/notify/wake';
export type { SinkRef } from '../../platform/notify/wake';
import type { Logger } from '../../common/logger';
import type { Sealer } from '../../platform/crypto/sealer';
import { DeliveryError, deliver, type DeliveryOptions } from '../../platform/notify/deliver';
import type { NotificationBatch, NotificationEvent } from '../../platform/notify/formats';
import { appendAudit } from '../../platform/repos/audit.repo';
import { getIssues } from '../../platform/repos/issues.repo';
import {
  finishDelivery,
  getSink,
  getSinkWithTarget,
  notificationsOfDelivery,
  recordDeliveryAttempt,
  sinkOwes,
  takeDelivery,
  type Notification,
} from '../../platform/repos/sinks.repo';

/** What the workflow plans the next delivery with: the sink's pacing and the worker's retry rules. */
export interface SinkPlan {
  kind: string;
  groupSeconds: number;
  maxPerMinute: number;
  owes: boolean;
  maxAttempts: number;
  initialRetryMs: number;
}

/** Events a delivery of one message carries at most (PagerDuty: events sent one by one, paced by the rate). */
export const MAX_EVENTS_PER_MESSAGE = 50;

export function createNotifyActivities(deps: {
  pool: Pool;
  sealer: Sealer;
  logger: Logger;
  settings: NotifySettings;
  metrics?: { delivery?(kind: string, outcome: 'delivered' | 'failed' | 'dead'): void } | undefined;
}) {
  const { pool, sealer, logger, settings, metrics } = deps;

  /** The workspace the calling workflow acts for must be the sink's (the workflow id names it). */
  const ownRef = (ref: SinkRef): SinkRef => {
    const caller = workspaceOfWorkflowId(Context.current().info.workflowExecution?.workflowId ?? '');
    if (
      caller !== ref.workspaceId ||
      Context.current().info.workflowExecution?.workflowId !== sinkWorkflowId(ref.workspaceId, ref.sinkId)
    ) {
      throw ApplicationFailure.create({
        type: FailureType.NamespaceMismatch,
        message: 'this workflow does not deliver for that sink',
        nonRetryable: true,
      });
    }
    return ref;
  };

  const eventsOf = async (workspaceId: string, notifications: Notification[]): Promise<NotificationEvent[]> => {
    const issues = new Map(
      (await getIssues(pool, sealer, workspaceId, [...new Set(notifications.map((n) => n.issueId))])).map((i) => [i.id, i]),
    );
    return notifications.flatMap((n): NotificationEvent[] => {
      const issue = issues.get(n.issueId);
      if (!issue) return [];
      return [
        {
          issueId: issue.id,
          fingerprint: issue.fingerprint,
          transition: n.transition,
          severity: issue.severity as NotificationEvent['severity'],
          state: issue.state,
          checkType: issue.checkType,
          runnerId: issue.runnerId,
          runId: n.runId,
          title: issue.detail.title,
          resource: issue.detail.resource,
          expected: issue.detail.expected,
          actual: issue.detail.actual,
          nextSteps: issue.detail.nextSteps,
          firstSeenAt: issue.firstSeenAt.toISOString(),
          lastSeenAt: issue.lastSeenAt.toISOString(),
          seenCount: issue.seenCount,
        },
      ];
    });
  };

  const deliveryOptions: DeliveryOptions = {
    allowPrivateDestinations: settings.allowPrivateDestinations,
    mailer: settings.mailer,
    ...(settings.mailFrom ? { mailFrom: settings.mailFrom } : {}),
    caPem: settings.caPem,
  };

  return {
    /** The sink's pacing and whether it owes anything; null when the sink is gone (the workflow ends). */
    async planSinkDelivery(ref: SinkRef): Promise<SinkPlan | null> {
      const { workspaceId, sinkId } = ownRef(ref);
      const sink = await getSink(pool, workspaceId, sinkId);
      if (!sink) return null;
      return {
        kind: sink.kind,
        groupSeconds: sink.groupSeconds,
        maxPerMinute: sink.maxPerMinute,
        owes: await sinkOwes(pool, workspaceId, sinkId),
        maxAttempts: settings.maxAttempts,
        initialRetryMs: settings.initialRetryMs,
      };
    },

    /** Takes up to `max` owed notifications into one delivery (an unfinished one first); null when nothing is owed. */
    async takeSinkDelivery(input: SinkRef & { max: number }): Promise<{ deliveryId: string; count: number } | null> {
      const { workspaceId, sinkId } = ownRef(input);
      const taken = await takeDelivery(pool, workspaceId, sinkId, Math.max(1, Math.min(input.max, MAX_EVENTS_PER_MESSAGE)));
      return taken ? { deliveryId: taken.deliveryId, count: taken.notifications.length } : null;
    },

    /**
     * Sends one delivery: reads its notifications and their issues, renders them for the sink and
     * sends them. Each attempt is counted with what went wrong (never a URL or a token); a refusal
     * that no retry can change fails non-retryably, anything else is retried by Temporal.
     */
    async sendSinkDelivery(input: SinkRef & { deliveryId: string }): Promise<{ events: number }> {
      const { workspaceId, sinkId } = ownRef(input);
      const found = await getSinkWithTarget(pool, sealer, workspaceId, sinkId);
      if (!found) return { events: 0 };
      const notifications = await notificationsOfDelivery(pool, sinkId, input.deliveryId);
      if (notifications.length === 0) return { events: 0 };
      const batch: NotificationBatch = {
        id: input.deliveryId,
        workspaceId,
        sinkName: found.sink.name,
        events: await eventsOf(workspaceId, notifications),
        linkBase: settings.linkBase,
      };
      if (batch.events.length > 0) {
        try {
          await deliver(found.target, batch, deliveryOptions);
        } catch (err) {
          const refusal = err instanceof DeliveryError ? err : new DeliveryError('could not send', true);
          await recordDeliveryAttempt(pool, input.deliveryId, refusal.reason);
          metrics?.delivery?.(found.sink.kind, 'failed');
          logger.warn(
            { sinkId, deliveryId: input.deliveryId, reason: refusal.reason, retryable: refusal.retryable },
            'notification not delivered',
          );
          throw ApplicationFailure.create({
            type: refusal.retryable ? 'DeliveryFailed' : FailureType.DeliveryRefused,
            message: refusal.reason,
            nonRetryable: !refusal.retryable,
          });
        }
      }
      await recordDeliveryAttempt(pool, input.deliveryId, null);
      if ((await finishDelivery(pool, input.deliveryId, 'delivered')).count > 0) metrics?.delivery?.(found.sink.kind, 'delivered');
      return { events: batch.events.length };
    },

    /** Every attempt failed (or the receiver refused): the delivery's notifications are dead, visible in the API, audited. */
    async deadLetterSinkDelivery(input: SinkRef & { deliveryId: string }): Promise<void> {
      const { workspaceId, sinkId } = ownRef(input);
      const dead = await finishDelivery(pool, input.deliveryId, 'dead');
      if (dead.count === 0) return;
      const sink = await getSink(pool, workspaceId, sinkId);
      if (sink) metrics?.delivery?.(sink.kind, 'dead');
      await appendAudit(pool, {
        workspaceId,
        actor: 'system:platform-worker',
        action: 'notification.dead_lettered',
        target: `sink:${sinkId}`,
        outcome: 'failure',
        details: {
          deliveryId: input.deliveryId,
          notifications: dead.count,
          attempts: dead.attempts,
          reason: dead.lastError,
        },
      });
    },
  };
}

export type NotifyActivities = ReturnType<typeof createNotifyActivities>;
