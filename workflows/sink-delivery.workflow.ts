/**
 * `sinkDelivery`: one per notification sink (`ws-<workspace>.sink-<sink>`), woken by the `owed`
 * signal (signal-with-start) when a run's issue changes owe the sink something. It waits the sink's
 * grouping window so that changes close together go out as one message, keeps to the sink's rate
 * (what waits is grouped into the next message), sends each delivery as an activity that Temporal
 * retries with backoff, and dead-letters a delivery whose every attempt failed. It carries ids only:
 * what a message says is read when it is sent. Idle, it ends; the next change starts it again.
 */
import {
  ActivityFailure,
  condition,
  continueAsNew,
  defineSignal,
  isCancellation,
  proxyActivities,
  setHandler,
  sleep,
} from '@temporalio/workflow';
import { NON_RETRYABLE_FAILURE_TYPES } from '../common/errors';
import type { NotifyActivities, SinkRef } from '../activities/platform/notify';
import { platformActivities } from './platform-activities';

export const owedSignal = defineSignal('owed');

const platform = platformActivities();

/** How long an idle workflow waits for the next change before it ends. */
const IDLE_MS = 15 * 60_000;
/** Deliveries per run before it continues as new (a bounded history). */
const DELIVERIES_PER_RUN = 200;

export interface SinkDeliveryState {
  /** When the last messages went out (epoch ms, the last minute's), for the rate. */
  sentAt: number[];
}

export async function sinkDelivery(ref: SinkRef, state: SinkDeliveryState = { sentAt: [] }): Promise<void> {
  let owed = true;
  setHandler(owedSignal, () => {
    owed = true;
  });
  const sentAt = [...state.sentAt];
  for (let delivered = 0; delivered < DELIVERIES_PER_RUN;) {
    // Cleared before looking, so that a signal arriving while we look is not lost.
    owed = false;
    const plan = await platform.planSinkDelivery(ref);
    if (!plan) return; // the sink is gone
    if (!plan.owes) {
      if (await condition(() => owed, IDLE_MS)) continue;
      return;
    }
    if (plan.groupSeconds > 0) await sleep(plan.groupSeconds * 1000);
    // The rate: at most maxPerMinute messages in any minute (PagerDuty: events).
    const recent = () => {
      while (sentAt.length > 0 && sentAt[0]! <= Date.now() - 60_000) sentAt.shift();
      return sentAt.length;
    };
    if (recent() >= plan.maxPerMinute) await sleep(sentAt[0]! + 60_000 - Date.now());
    const budget = plan.kind === 'pagerduty' ? Math.max(1, plan.maxPerMinute - recent()) : Number.MAX_SAFE_INTEGER;
    const taken = await platform.takeSinkDelivery({ ...ref, max: budget });
    if (!taken) continue;
    const send = proxyActivities<NotifyActivities>({
      startToCloseTimeout: '1 minute',
      retry: {
        initialInterval: plan.initialRetryMs,
        backoffCoefficient: 2,
        maximumInterval: '5 minutes',
        maximumAttempts: plan.maxAttempts,
        nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES],
      },
    });
    try {
      await send.sendSinkDelivery({ ...ref, deliveryId: taken.deliveryId });
    } catch (err) {
      if (isCancellation(err) || !(err instanceof ActivityFailure)) throw err;
      await platform.deadLetterSinkDelivery({ ...ref, deliveryId: taken.deliveryId });
    }
    const now = Date.now();
    for (let i = 0; i < (plan.kind === 'pagerduty' ? taken.count : 1); i++) sentAt.push(now);
    delivered++;
    owed = true;
  }
  await continueAsNew<typeof sinkDelivery>(ref, { sentAt });
}
