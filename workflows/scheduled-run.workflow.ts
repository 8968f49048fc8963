/**
 * `scheduledRunTask`: what a Temporal Schedule starts. It makes the run's id deterministically,
 * has the Platform record the run (trigger `schedule`), then runs it exactly as `runTask` does.
 */
import { isCancellation, patched, uuid4, workflowInfo } from '@temporalio/workflow';
import { platformActivities } from './platform-activities';
import type { RunOutcome } from '../common/contracts';
import type { SweepSummary } from '../activities/platform/sweeps';
import { healthSweep } from './health-sweep.workflow';
import { runTask } from './run-task.workflow';

const platform = platformActivities();

export interface ScheduledRunInput {
  workspaceId: string;
  taskId: string;
  scheduleId: string;
}

export async function scheduledRunTask(input: ScheduledRunInput): Promise<RunOutcome> {
  const run = await platform.createScheduledRun({ ...input, runId: uuid4(), workflowId: workflowInfo().workflowId });
  // Added after the first deployment: histories recorded before it replay without the outcome step.
  if (!patched('schedule-outcome')) return runTask(run);
  try {
    const outcome = await runTask(run);
    await platform.recordScheduleOutcome({ scheduleId: input.scheduleId, workspaceId: input.workspaceId, runId: run.runId, failed: false });
    return outcome;
  } catch (err) {
    if (!isCancellation(err))
      await platform.recordScheduleOutcome({
        scheduleId: input.scheduleId,
        workspaceId: input.workspaceId,
        runId: run.runId,
        failed: true,
      });
    throw err;
  }
}

export interface ScheduledSweepInput {
  workspaceId: string;
  runnerId: string;
  scheduleId: string;
  /** A namespace group of the Runner, or all its tasks. */
  group?: string;
}

/** What a sweep schedule starts: a health sweep of the Runner, requested by the schedule. */
export async function scheduledHealthSweep(input: ScheduledSweepInput): Promise<SweepSummary> {
  return healthSweep({
    sweepId: uuid4(),
    workspaceId: input.workspaceId,
    runnerId: input.runnerId,
    requestedBy: `schedule:${input.scheduleId}`,
    ...(input.group ? { group: input.group } : {}),
  });
}
