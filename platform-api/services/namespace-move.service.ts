/**
 * `lookout workspaces move-namespace`: moves a workspace from the deployment's shared Temporal
 * namespace (where workspaces made before namespaces per workspace live) into a namespace of its
 * own. In this order, so that nothing fires where nobody polls:
 *
 * 1. register the namespace;
 * 2. record it with the workspace (audited): the platform worker starts polling it at once, new
 *    runs start there; runs in flight stay in the shared namespace and finish there (their rows name
 *    it, and the platform worker keeps polling it while any run there is unfinished);
 * 3. create each Temporal Schedule in the new namespace from PostgreSQL's row, then delete the old
 *    one (a firing in between runs once in either namespace: both are served).
 *
 * The workspace's Runners must then be pointed at the new namespace (`temporal.namespace` in their
 * Helm values, with credentials for it); until they are, the workspace's new runs wait for them.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError } from '@temporalio/client';
import type { Pool } from 'pg';
import { ConflictError, NotFoundError } from '../../common/problem';
import { appendAuditInTransaction } from '../../platform/repos/audit.repo';
import { inTransaction } from '../../platform/repos/db';
import { listSchedules } from '../../platform/repos/schedules.repo';
import { setWorkspaceNamespace, workspaceNamespace } from '../../platform/repos/workspaces.repo';
import type { WorkspaceTemporal } from '../../platform/workspace-temporal';
import { temporalScheduleId } from '../../common/ids';
import { temporalScheduleOptions } from './schedules.service';

export interface NamespaceMove {
  workspaceId: string;
  from: string;
  to: string;
  schedules: number;
  alreadyMoved: boolean;
}

export async function moveToOwnNamespace(
  deps: { pool: Pool; temporal: WorkspaceTemporal; platformTaskQueue?: string },
  workspaceId: string,
  actor: string,
): Promise<NamespaceMove> {
  const { pool, temporal } = deps;
  const current = await workspaceNamespace(pool, workspaceId);
  if (current === undefined) throw new NotFoundError('workspace');
  if (current !== null) return { workspaceId, from: current, to: current, schedules: 0, alreadyMoved: true };
  if (temporal.mode.kind === 'shared')
    throw new ConflictError('this deployment keeps every workspace in the shared namespace (LOOKOUT_TEMPORAL_NAMESPACES=shared)');
  const from = temporal.sharedNamespace;
  const to = (await temporal.provision(workspaceId))!;
  await inTransaction(pool, async (tx) => {
    await setWorkspaceNamespace(tx, workspaceId, to);
    await appendAuditInTransaction(tx, {
      workspaceId,
      actor,
      action: 'workspace.namespace_moved',
      target: `workspace:${workspaceId}`,
      outcome: 'success',
      details: { from, to },
    });
  });
  temporal.forget(workspaceId);
  const schedules = await listSchedules(pool, workspaceId);
  for (const row of schedules) {
    await temporal
      .forNamespace(to)
      .schedule.create(temporalScheduleOptions(row, deps.platformTaskQueue))
      .catch((err: unknown) => {
        if (!(err instanceof ScheduleAlreadyRunning)) throw err; // a repeated move
      });
    await temporal
      .forNamespace(from)
      .schedule.getHandle(temporalScheduleId(workspaceId, row.id))
      .delete()
      .catch((err: unknown) => {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      });
  }
  return { workspaceId, from, to, schedules: schedules.length, alreadyMoved: false };
}
