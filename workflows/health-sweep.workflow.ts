/**
 * `healthSweep`: every task of one Runner, as child `runTask` workflows with bounded concurrency,
 * then one score per namespace and for the cluster, and the findings compared with the previous
 * sweep (new, still open, resolved). A failed child run is recorded by itself and counted; it does
 * not fail the sweep.
 */
import { executeChild, isCancellation } from '@temporalio/workflow';
import { platformActivities } from './platform-activities';
import { runWorkflowId } from '../common/ids';
import type { SweepSummary } from '../activities/platform/sweeps';
import { runTask } from './run-task.workflow';

const platform = platformActivities({ long: true });

export interface HealthSweepInput {
  sweepId: string;
  workspaceId: string;
  runnerId: string;
  requestedBy: string;
  /** Child runs at the same time; the Runner's own concurrency is its ceiling anyway. */
  concurrency?: number;
}

export async function healthSweep(input: HealthSweepInput): Promise<SweepSummary> {
  const runs = await platform.startSweep({
    sweepId: input.sweepId,
    workspaceId: input.workspaceId,
    runnerId: input.runnerId,
    requestedBy: input.requestedBy,
  });
  const queue = [...runs];
  const lanes = Math.max(1, Math.min(input.concurrency ?? 4, queue.length));
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      for (let run = queue.shift(); run; run = queue.shift()) {
        try {
          await executeChild(runTask, { workflowId: runWorkflowId(input.workspaceId, run.runId), args: [run] });
        } catch (err) {
          if (isCancellation(err)) throw err;
          // The child recorded its own failure; the sweep counts it.
        }
      }
    }),
  );
  return platform.finishSweep({ sweepId: input.sweepId });
}
