/**
 * True when Temporal answered that a workflow execution does not exist (the SDK's
 * WorkflowNotFoundError, or gRPC NOT_FOUND from a raw service call): deleted, past retention, or
 * never started.
 */
export function isWorkflowNotFound(err: unknown): boolean {
  return err instanceof Error && (err.name === 'WorkflowNotFoundError' || (err as { code?: number }).code === 5);
}
