/**
 * `runTask`: one check on one Runner. Records the start, runs `executeCheck` on the Runner's own task
 * queue, stores the result through the Platform, records the finish. A business outcome (an
 * unhealthy target) is a succeeded run with issues; only technical faults fail the run, and then the
 * workflow itself fails with an `ApplicationFailure`, so that operators find and reset it in the
 * Temporal UI.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  TimeoutFailure,
  isCancellation,
  patched,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import { localPlatformActivities, platformActivities } from './platform-activities';
import type { ExecutionPolicy, RunOutcome, RunTaskInput } from '../common/contracts';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../common/errors';
import { parseRunWorkflowId, runnerTaskQueue, workspaceOfWorkflowId } from '../common/ids';
import type { RunnerActivities } from '../activities/runner';

/** Failure types the workflow itself reports, beside those of common/errors. */
export const RunFailureType = {
  RunnerUnavailable: 'RunnerUnavailable',
  CheckTimedOut: 'CheckTimedOut',
  CheckFailed: 'CheckFailed',
} as const;

const platform = platformActivities();
const local = localPlatformActivities();

/** The Runner's activities on its own queue, under the task's execution policy. */
function runnerActivities(runnerId: string, policy: ExecutionPolicy) {
  return proxyActivities<RunnerActivities>({
    taskQueue: runnerTaskQueue(runnerId),
    scheduleToStartTimeout: policy.scheduleToStartMs,
    startToCloseTimeout: policy.startToCloseMs,
    heartbeatTimeout: policy.heartbeatMs,
    retry: {
      maximumAttempts: policy.maxAttempts,
      initialInterval: policy.initialRetryIntervalMs,
      backoffCoefficient: 2,
      nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES],
    },
  });
}

export async function runTask(input: RunTaskInput): Promise<RunOutcome> {
  const { runId } = input;
  // Since issue 15 the input must name this workflow's own workspace and run, and the check is what
  // PostgreSQL says, not what the input says; histories recorded before replay as they ran.
  const fromDatabase = patched('run-from-database');
  if (fromDatabase) {
    // A run's workflow id names its workspace (and, but for scheduled runs, the run itself).
    const own = workflowInfo().workflowId;
    const ownRun = parseRunWorkflowId(own);
    if (workspaceOfWorkflowId(own) !== input.workspaceId || (ownRun && ownRun.runId !== runId)) {
      throw ApplicationFailure.create({
        type: FailureType.RunMismatch,
        message: 'the input names another run than this workflow',
        nonRetryable: true,
      });
    }
  }
  // Since issue 17 the Platform's steps are two local activities (start and sign; store the result
  // and finish): a run takes two workflow tasks and one activity task, the check. Histories recorded
  // before replay the four ordinary activities they ran.
  if (fromDatabase && patched('local-platform-steps')) return runWithLocalSteps(runId);
  const started = await platform.recordRunStarted({ runId });
  const { workspaceId, taskId, checkType, params, policy, runnerId } = fromDatabase && started ? started : input;
  const runner = runnerActivities(runnerId, policy);

  // Since issue 15 the Runner gets the check signed by the Platform (an activity: the workflow never
  // holds the key); a retry resets to the step that signs, so every attempt window is signed afresh.
  const signed = patched('signed-envelope');
  let failure: { status: RunOutcome['status']; errorType: string; errorMessage: string } | undefined;
  try {
    const request = signed ? await platform.signTask({ runId }) : { runId, workspaceId, taskId, checkType, params };
    const result = await runner.executeCheck(request);
    await platform.storeResult({ runId, workspaceId, result });
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => platform.recordRunFinished({ runId, status: 'cancelled' }));
      throw err;
    }
    failure = classifyFailure(err);
  }
  if (!failure) {
    await platform.recordRunFinished({ runId, status: 'succeeded' });
    return { status: 'succeeded' };
  }
  await platform.recordRunFinished({ runId, ...failure });
  throw ApplicationFailure.create({ type: failure.errorType, message: failure.errorMessage, nonRetryable: true });
}

/**
 * A run since issue 17: `beginRun` (queued → running, audited, and the check signed as PostgreSQL
 * says it) and `completeRun` (result verified and stored, run succeeded, both audited, in one
 * transaction) are local activities; a failure or cancellation is recorded by `recordRunFinished`,
 * also local. A retry resets to the workflow task that scheduled the check, which runs `beginRun`
 * again: a fresh envelope for the new attempt.
 */
async function runWithLocalSteps(runId: string): Promise<RunOutcome> {
  const { input, request } = await local.beginRun({ runId });
  const runner = runnerActivities(input.runnerId, input.policy);
  let failure: { status: RunOutcome['status']; errorType: string; errorMessage: string } | undefined;
  try {
    const result = await runner.executeCheck(request);
    await local.completeRun({ runId, workspaceId: input.workspaceId, result });
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => local.recordRunFinished({ runId, status: 'cancelled' }));
      throw err;
    }
    failure = classifyFailure(err);
  }
  if (!failure) return { status: 'succeeded' };
  await local.recordRunFinished({ runId, ...failure });
  throw ApplicationFailure.create({ type: failure.errorType, message: failure.errorMessage, nonRetryable: true });
}

function classifyFailure(err: unknown): { status: RunOutcome['status']; errorType: string; errorMessage: string } {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof TimeoutFailure) {
    if (cause.timeoutType === 'SCHEDULE_TO_START') {
      return {
        status: 'runner_unavailable',
        errorType: RunFailureType.RunnerUnavailable,
        errorMessage: 'no Runner picked the check up in time: is the Runner for this task running and connected?',
      };
    }
    return {
      status: 'failed',
      errorType: RunFailureType.CheckTimedOut,
      errorMessage: `the check timed out (${cause.timeoutType}) on its last attempt`,
    };
  }
  if (cause instanceof ApplicationFailure && cause.type === FailureType.ResultRejected) {
    return { status: 'rejected', errorType: cause.type, errorMessage: cause.message };
  }
  if (cause instanceof ApplicationFailure) {
    return { status: 'failed', errorType: cause.type ?? RunFailureType.CheckFailed, errorMessage: cause.message };
  }
  return {
    status: 'failed',
    errorType: RunFailureType.CheckFailed,
    errorMessage: cause instanceof Error ? cause.message : 'the check failed',
  };
}
