/**
 * Platform activities: the PostgreSQL side of a run. Each is idempotent (keyed by run id) because
 * Temporal may run an activity more than once (retries, worker loss, workflow reset); each state
 * change and its audit row commit in one transaction.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import { TaskResult, type RunStatus } from '../../common/contracts';
import { FailureType } from '../../common/errors';
import type { Logger } from '../../common/logger';
import { appendAuditInTransaction } from '../../platform-api/repos/audit.repo';
import { inTransaction } from '../../platform-api/repos/db';
import { insertResult } from '../../platform-api/repos/results.repo';
import { getRun, markRunFinished, markRunStarted } from '../../platform-api/repos/runs.repo';

export interface PlatformActivityDeps {
  pool: Pool;
  logger: Logger;
}

export interface RecordRunFinishedInput {
  runId: string;
  status: RunStatus;
  errorType?: string;
  errorMessage?: string;
}

const SYSTEM_ACTOR = 'system:platform-worker';

export function createPlatformActivities({ pool, logger }: PlatformActivityDeps) {
  return {
    /** queued → running, audited once. Fails non-retryably if the run does not exist. */
    async recordRunStarted({ runId }: { runId: string }): Promise<void> {
      await inTransaction(pool, async (tx) => {
        const { changed, run } = await markRunStarted(tx, runId);
        if (!run) throw ApplicationFailure.create({ type: FailureType.RunNotFound, message: 'run not found', nonRetryable: true });
        if (changed) {
          await appendAuditInTransaction(tx, { workspaceId: run.workspaceId, actor: SYSTEM_ACTOR, action: 'run.started', target: `run:${runId}`, outcome: 'success' });
        }
      });
    },

    /**
     * Validates a Runner's result against the contract and the run it claims to answer, then stores
     * it once (first write wins). A result that does not match is rejected non-retryably, audited,
     * and nothing is stored.
     */
    async storeResult({ runId, workspaceId, result }: { runId: string; workspaceId: string; result: unknown }): Promise<void> {
      const parsed = TaskResult.safeParse(result);
      const run = await getRun(pool, runId);
      const problem = !run
        ? 'run not found'
        : run.workspaceId !== workspaceId
          ? 'run belongs to another workspace'
          : !parsed.success
            ? `result does not match the contract: ${parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}`
            : parsed.data.runId !== runId || parsed.data.workspaceId !== run.workspaceId
              ? 'result is for another run'
              : parsed.data.checkType !== run.checkType
                ? 'result is for another check type'
                : undefined;
      if (problem || !parsed.success || !run) {
        logger.warn({ runId, problem }, 'result rejected');
        await inTransaction(pool, (tx) =>
          appendAuditInTransaction(tx, { workspaceId: run?.workspaceId ?? null, actor: SYSTEM_ACTOR, action: 'run.result_rejected', target: `run:${runId}`, outcome: 'failure', details: { reason: problem } }),
        );
        throw ApplicationFailure.create({ type: FailureType.ResultRejected, message: problem ?? 'result rejected', nonRetryable: true });
      }
      await inTransaction(pool, async (tx) => {
        const stored = await insertResult(tx, parsed.data);
        if (stored) {
          await appendAuditInTransaction(tx, {
            workspaceId: run.workspaceId,
            actor: SYSTEM_ACTOR,
            action: 'run.result_stored',
            target: `run:${runId}`,
            outcome: 'success',
            details: { status: parsed.data.status, issues: parsed.data.issues.length },
          });
        }
      });
    },

    /** Moves the run to its terminal status once; later calls keep the first terminal status. */
    async recordRunFinished(input: RecordRunFinishedInput): Promise<void> {
      await inTransaction(pool, async (tx) => {
        const { changed, run } = await markRunFinished(tx, input.runId, input);
        if (!run) throw ApplicationFailure.create({ type: FailureType.RunNotFound, message: 'run not found', nonRetryable: true });
        if (changed) {
          await appendAuditInTransaction(tx, {
            workspaceId: run.workspaceId,
            actor: SYSTEM_ACTOR,
            action: 'run.finished',
            target: `run:${input.runId}`,
            outcome: input.status === 'succeeded' ? 'success' : 'failure',
            details: { status: input.status, ...(input.errorType ? { errorType: input.errorType } : {}) },
          });
        }
      });
    },
  };
}

export type PlatformActivities = ReturnType<typeof createPlatformActivities>;
