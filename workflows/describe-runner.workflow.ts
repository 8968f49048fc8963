/**
 * `describeRunner`: asks a Runner, on its own queue, for its version, allowlist and policy summary and stores them.
 * A Runner that does not pick the task up within a few seconds is offline: the answer is null.
 */
import { proxyActivities } from '@temporalio/workflow';
import { runnerTaskQueue } from '../common/ids';
import type { PlatformActivities } from '../activities/platform';
import type { RunnerActivities } from '../activities/runner';

const platform = proxyActivities<PlatformActivities>({ startToCloseTimeout: '30 seconds' });

export async function describeRunner(input: {
  workspaceId: string;
  runnerId: string;
}): Promise<{ version: string; allowedChecks: string[]; policy?: unknown } | null> {
  const runner = proxyActivities<RunnerActivities>({
    taskQueue: runnerTaskQueue(input.runnerId),
    scheduleToStartTimeout: '5 seconds',
    startToCloseTimeout: '10 seconds',
    retry: { maximumAttempts: 1 },
  });
  let info: { version: string; allowedChecks: string[]; policy?: unknown };
  try {
    info = await runner.describeRunner();
  } catch {
    return null;
  }
  await platform.recordRunnerInfo({ ...input, version: info.version, allowedChecks: info.allowedChecks, policy: info.policy });
  return { version: info.version, allowedChecks: info.allowedChecks, policy: info.policy };
}
