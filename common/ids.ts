/**
 * Identifiers that cross process boundaries. Temporal stores ids, type names and task-queue names in
 * clear text, so every id here is opaque (a UUID) and never carries a customer resource name.
 */

/** The task queue the platform worker polls: workflows and PostgreSQL-backed activities. */
export const PLATFORM_TASK_QUEUE = 'lookout-platform';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const RUN_WORKFLOW_ID = new RegExp(`^ws-(${UUID})\\.run-(${UUID})$`);
const WORKSPACE_PREFIX = new RegExp(`^ws-(${UUID})\\.`);

/** The task queue of one Runner: only that Runner polls it. */
export function runnerTaskQueue(runnerId: string): string {
  return `runner-${runnerId}`;
}

/**
 * The workflow id of a run. It carries the workspace so that the payload codec can check, from the
 * serialization context alone, that a payload belongs to the workspace that owns the run.
 */
export function runWorkflowId(workspaceId: string, runId: string): string {
  return `ws-${workspaceId}.run-${runId}`;
}

/** Parses a workflow id made by {@link runWorkflowId}; `undefined` for any other id. */
export function parseRunWorkflowId(workflowId: string): { workspaceId: string; runId: string } | undefined {
  const match = RUN_WORKFLOW_ID.exec(workflowId);
  if (!match?.[1] || !match[2]) return undefined;
  return { workspaceId: match[1], runId: match[2] };
}

/** The workspace of any Lookout workflow id (`ws-<workspaceId>.<kind>-…`); `undefined` otherwise. */
export function workspaceOfWorkflowId(workflowId: string): string | undefined {
  return WORKSPACE_PREFIX.exec(workflowId)?.[1];
}

/** The Temporal Schedule of a Lookout schedule. */
export function temporalScheduleId(workspaceId: string, scheduleId: string): string {
  return `ws-${workspaceId}.schedule-${scheduleId}`;
}

/** The workflow id prefix of a schedule's runs (Temporal appends the start time). */
export function scheduledRunWorkflowId(workspaceId: string, scheduleId: string): string {
  return `ws-${workspaceId}.sched-${scheduleId}`;
}

/** The workflow id of a health sweep. */
export function sweepWorkflowId(workspaceId: string, sweepId: string): string {
  return `ws-${workspaceId}.sweep-${sweepId}`;
}

/** The workflow that asks a Runner to describe itself (one at a time per Runner). */
export function describeRunnerWorkflowId(workspaceId: string, runnerId: string): string {
  return `ws-${workspaceId}.describe-${runnerId}`;
}

/** The workflow that delivers one notification sink's messages (one at a time per sink). */
export function sinkWorkflowId(workspaceId: string, sinkId: string): string {
  return `ws-${workspaceId}.sink-${sinkId}`;
}
