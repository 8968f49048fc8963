/**
 * Closes orphan runs: a run is recorded (queued, audited) before its workflow starts, so an API that
 * dies between the two leaves a queued run that nothing will ever move. The platform worker calls
 * this every minute: a queued run older than the bound whose workflow Temporal does not know is
 * closed as `failed` (`NotStarted`), audited. A run whose workflow exists is left to it.
 */
import type { WorkspaceTemporal } from './workspace-temporal';
import { isWorkflowNotFound } from '../common/temporal-errors';
import type { Pool } from 'pg';
import type { Sealer } from './crypto/sealer';
import { appendAuditInTransaction } from './repos/audit.repo';
import { inTransaction } from './repos/db';
import { markRunFinished, runErrorBinding, staleQueuedRuns } from './repos/runs.repo';

export async function closeOrphanRuns(
  deps: { pool: Pool; temporal: Pick<WorkspaceTemporal, 'forNamespace' | 'sharedNamespace'>; sealer: Sealer },
  { olderThanMs = 120_000, workspaceId }: { olderThanMs?: number; workspaceId?: string } = {},
): Promise<string[]> {
  const closed: string[] = [];
  for (const run of await staleQueuedRuns(deps.pool, olderThanMs, 100, workspaceId)) {
    const known = await deps.temporal
      .forNamespace(run.temporalNamespace ?? deps.temporal.sharedNamespace)
      .workflow.getHandle(run.workflowId)
      .describe()
      .then(
        () => true,
        (err: unknown) => {
          if (isWorkflowNotFound(err)) return false;
          throw err;
        },
      );
    if (known) continue;
    const errorSealed = await deps.sealer.seal(
      run.workspaceId,
      runErrorBinding(run.id),
      'the run was recorded but its workflow never started (the API stopped in between); start it again',
    );
    await inTransaction(deps.pool, async (tx) => {
      const { changed } = await markRunFinished(tx, run.id, { status: 'failed', errorType: 'NotStarted', errorSealed });
      if (changed) {
        await appendAuditInTransaction(tx, {
          workspaceId: run.workspaceId,
          actor: 'system:platform-worker',
          action: 'run.orphan_closed',
          target: `run:${run.id}`,
          outcome: 'failure',
          details: { olderThanMs },
        });
        closed.push(run.id);
      }
    });
  }
  return closed;
}
