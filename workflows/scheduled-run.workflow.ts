/**
 * `scheduledRunTask`: what a Temporal Schedule starts. It makes the run's id deterministically,
 * has the Platform record the run (trigger `schedule`), then runs it exactly as `runTask` does.
 */
import { proxyActivities, uuid4, workflowInfo } from '@temporalio/workflow';
import type { RunOutcome } from '../common/contracts';
import { NON_RETRYABLE_FAILURE_TYPES } from '../common/errors';
import type { PlatformActivities } from '../activities/platform';
import { runTask } from './run-task.workflow';

const platform = proxyActivities<PlatformActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '30 seconds', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] },
});

export interface ScheduledRunInput {
  workspaceId: string;
  taskId: string;
  scheduleId: string;
}

export async function scheduledRunTask(input: ScheduledRunInput): Promise<RunOutcome> {
  const run = await platform.createScheduledRun({ ...input, runId: uuid4(), workflowId: workflowInfo().workflowId });
  return runTask(run);
}
