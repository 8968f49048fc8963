/**
 * What a hostile Temporal (or anyone who can write to its namespace) can do: schedule any activity
 * with any input on any task queue. Bundled only by the tests that play that adversary.
 */
import { proxyActivities } from '@temporalio/workflow';

export async function scheduleOnRunner(taskQueue: string, request: unknown): Promise<unknown> {
  const { executeCheck } = proxyActivities<{ executeCheck(request: unknown): Promise<unknown> }>({
    taskQueue,
    scheduleToStartTimeout: '30 seconds',
    startToCloseTimeout: '30 seconds',
    retry: { maximumAttempts: 1 },
  });
  return executeCheck(request);
}
