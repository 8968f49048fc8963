/**
 * Waking a sink's delivery (the `sinkDelivery` workflow, one per sink) and how the platform worker
 * delivers: shared by the platform worker's activities and the API (which wakes a sink when a
 * dead-lettered notification is sent again).
 */
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { PLATFORM_TASK_QUEUE, sinkWorkflowId } from '../../common/ids';
import type { Mailer } from '../mail';
import { sinksOwingLong } from '../repos/sinks.repo';
import type { WorkspaceTemporal } from '../workspace-temporal';

/** How the platform worker delivers notifications (its configuration). */
export interface NotifySettings {
  /** http:// and private, loopback and link-local destinations (development and tests only). */
  allowPrivateDestinations: boolean;
  /** Attempts per delivery before it is dead-lettered. */
  maxAttempts: number;
  /** The first retry's wait; each next one doubles, up to five minutes. */
  initialRetryMs: number;
  /** Email sinks without an SMTP URL of their own send through this. */
  mailer?: Mailer | undefined;
  mailFrom?: string | undefined;
  /** Links in messages point here (LOOKOUT_PUBLIC_URL). */
  linkBase?: string | undefined;
  /** For receivers whose certificate a private CA signs. */
  caPem?: string | undefined;
}

export const DEFAULT_NOTIFY_SETTINGS: NotifySettings = { allowPrivateDestinations: false, maxAttempts: 8, initialRetryMs: 2_000 };

export interface SinkRef {
  workspaceId: string;
  sinkId: string;
}

/**
 * Wakes a sink's delivery workflow (starts it, or signals the one that runs): something is owed.
 * Idempotent; called after the change that owes it committed.
 */
export async function wakeSink(client: Client, ref: SinkRef, taskQueue = PLATFORM_TASK_QUEUE): Promise<void> {
  await client.workflow.signalWithStart('sinkDelivery', {
    workflowId: sinkWorkflowId(ref.workspaceId, ref.sinkId),
    taskQueue,
    args: [ref],
    signal: 'owed',
    signalArgs: [],
  });
}

/**
 * Wakes the delivery of every sink that has owed a notification for over two minutes past its
 * grouping window (a wake lost with a process, or Temporal unreachable then). Answers how many.
 */
export async function wakeForgottenSinks(pool: Pool, temporal: Pick<WorkspaceTemporal, 'forWorkspace'>): Promise<number> {
  const forgotten = await sinksOwingLong(pool);
  for (const ref of forgotten) await wakeSink(await temporal.forWorkspace(ref.workspaceId), ref);
  return forgotten.length;
}
