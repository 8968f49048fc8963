/**
 * `healthSweep`: every task of one Runner, as child `runTask` workflows with bounded concurrency,
 * then, round by round, the next checks their findings name (bounded depth), then one score per
 * namespace and for the cluster, and the findings compared with the previous
 * sweep (new, still open, resolved). A failed child run is recorded by itself and counted; it does
 * not fail the sweep.
 */
import { executeChild, isCancellation, patched } from '@temporalio/workflow';
import { platformActivities } from './platform-activities';
import type { RunTaskInput } from '../common/contracts';
import { runWorkflowId } from '../common/ids';
import type { SweepSummary } from '../activities/platform/sweeps';
import { runTask } from './run-task.workflow';

const platform = platformActivities({ long: true });

export interface HealthSweepInput {
  sweepId: string;
  workspaceId: string;
  runnerId: string;
  requestedBy: string;
  /** Only the tasks of this namespace group of the Runner (discovery's groups); all its tasks without. */
  group?: string;
  /** Child runs at the same time; the Runner's own concurrency is its ceiling anyway. */
  concurrency?: number;
  /**
   * Rounds of next checks: the checks the findings of a round name run as the next round (0: none;
   * default 1), at most `limit` per round (default 20). The Runner's policy decides what may run.
   */
  nextChecks?: { depth: number; limit: number };
}

export async function healthSweep(input: HealthSweepInput): Promise<SweepSummary> {
  const runs = await platform.startSweep({
    sweepId: input.sweepId,
    workspaceId: input.workspaceId,
    runnerId: input.runnerId,
    requestedBy: input.requestedBy,
    ...(input.group ? { group: input.group } : {}),
  });
  const runAll = async (batch: RunTaskInput[]) => {
    const queue = [...batch];
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
  };
  await runAll(runs);
  // Sweeps started before next checks existed replay without them.
  if (patched('sweep-next-checks')) {
    const { depth, limit } = input.nextChecks ?? { depth: 1, limit: 20 };
    let batch = runs;
    for (let round = 1; round <= depth && batch.length; round++) {
      batch = await platform.sweepFollowUps({
        sweepId: input.sweepId,
        workspaceId: input.workspaceId,
        runnerId: input.runnerId,
        runIds: batch.map((r) => r.runId),
        depth: round,
        limit,
      });
      await runAll(batch);
    }
  }
  return platform.finishSweep({ sweepId: input.sweepId });
}
