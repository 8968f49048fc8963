/** Health sweeps: start one for a Runner, read its scores and how its findings changed. */
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { z } from 'zod';
import { GroupName } from '../../platform/discovery/rules';
import { PLATFORM_TASK_QUEUE, sweepWorkflowId } from '../../common/ids';
import type { healthSweep } from '../../workflows';
import type { WorkspaceAccess } from '../auth/auth-context';
import type { Sealer } from '../../platform/crypto/sealer';
import { InputError, NotFoundError } from '../../common/problem';
import { appendAudit } from '../../platform/repos/audit.repo';
import { getRunner } from '../../platform/repos/runners.repo';
import { runsOfSweep } from '../../platform/repos/runs.repo';
import {
  breakdownOf,
  getSweep,
  listSweeps,
  sweepNamespacesBinding,
  type SweepBreakdown,
  type SweepPart,
  type SweepRow,
} from '../../platform/repos/sweeps.repo';
import type { WorkspaceTemporal } from '../../platform/workspace-temporal';

export const StartSweepBody = z.strictObject({
  runnerId: z.uuid(),
  /** Only the tasks of this namespace group of the Runner (discovery's groups). */
  group: GroupName.optional(),
  concurrency: z.number().int().min(1).max(32).default(4),
  /** Rounds of the next checks findings name (0: none), at most `limit` runs a round. */
  nextChecks: z
    .strictObject({ depth: z.number().int().min(0).max(3).default(1), limit: z.number().int().min(1).max(50).default(20) })
    .default({ depth: 1, limit: 20 }),
});

/** The query of a workspace's sweeps (the console's health history). */
export const ListSweepsQuery = z.strictObject({
  runner: z.uuid().optional(),
  /** A namespace group's sweeps; without it, sweeps of whole Runners. */
  group: GroupName.optional(),
  status: z.enum(['running', 'completed', 'failed']).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(30),
});

export function createSweepsService({
  pool,
  temporal,
  sealer,
  platformTaskQueue = PLATFORM_TASK_QUEUE,
}: {
  pool: Pool;
  temporal: WorkspaceTemporal;
  sealer: Sealer;
  platformTaskQueue?: string | undefined;
}) {
  /** A sweep as the API shows it: its scores, per namespace, the cluster's own and per endpoint, each finding counted once. */
  async function view(sweep: SweepRow) {
    const breakdown = sweep.namespacesSealed
      ? breakdownOf(
          await sealer.open<SweepBreakdown | Record<string, SweepPart>>(
            sweep.workspaceId,
            sweepNamespacesBinding(sweep.id),
            sweep.namespacesSealed,
          ),
        )
      : null;
    return {
      id: sweep.id,
      runnerId: sweep.runnerId,
      group: sweep.group,
      status: sweep.status,
      score: sweep.score,
      namespaces: breakdown?.namespaces ?? null,
      cluster: breakdown?.cluster ?? null,
      endpoints: breakdown?.endpoints ?? null,
      issues: sweep.status === 'completed' ? { new: sweep.issuesNew, open: sweep.issuesOpen, resolved: sweep.issuesResolved } : null,
      startedAt: sweep.startedAt.toISOString(),
      finishedAt: sweep.finishedAt?.toISOString() ?? null,
    };
  }

  return {
    /** The workspace a sweep belongs to, or undefined when there is no such sweep. */
    async workspaceOf(sweepId: string): Promise<string | undefined> {
      return (await getSweep(pool, sweepId))?.workspaceId;
    },

    async start(auth: WorkspaceAccess, workspaceId: string, body: unknown, ip?: string): Promise<{ id: string; status: string }> {
      const parsed = StartSweepBody.safeParse(body);
      if (!parsed.success) throw InputError.fromZod('sweep', parsed.error);
      if (!(await getRunner(pool, workspaceId, parsed.data.runnerId))) throw new NotFoundError('runner');
      const id = randomUUID();
      const client = await temporal.forWorkspace(workspaceId);
      await client.workflow.start<typeof healthSweep>('healthSweep', {
        taskQueue: platformTaskQueue,
        workflowId: sweepWorkflowId(workspaceId, id),
        args: [
          {
            sweepId: id,
            workspaceId,
            runnerId: parsed.data.runnerId,
            requestedBy: auth.actor,
            concurrency: parsed.data.concurrency,
            nextChecks: parsed.data.nextChecks,
            ...(parsed.data.group ? { group: parsed.data.group } : {}),
          },
        ],
      });
      await appendAudit(pool, {
        workspaceId,
        actor: auth.actor,
        action: 'sweep.requested',
        target: `sweep:${id}`,
        outcome: 'success',
        details: { runnerId: parsed.data.runnerId },
        ip,
      });
      return { id, status: 'running' };
    },

    async get(auth: WorkspaceAccess, id: string) {
      const sweep = await getSweep(pool, id);
      if (!sweep || sweep.workspaceId !== auth.workspaceId) throw new NotFoundError('sweep');
      const runs = await runsOfSweep(pool, id);
      return {
        ...(await view(sweep)),
        runs: runs.map((r) => ({ id: r.id, taskId: r.taskId, checkType: r.checkType, status: r.status })),
      };
    },

    /** Sweeps newest first, each with its scores (without its runs): a Runner's health history. */
    async list(auth: WorkspaceAccess, query: z.infer<typeof ListSweepsQuery>) {
      const rows = await listSweeps(pool, auth.workspaceId, {
        runnerId: query.runner,
        group: query.group ?? null,
        status: query.status,
        limit: query.limit,
      });
      return Promise.all(rows.map(view));
    },
  };
}

export type SweepsService = ReturnType<typeof createSweepsService>;
