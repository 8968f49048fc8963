/**
 * Schedules: each is a Temporal Schedule whose action starts `scheduledRunTask` for one task of the
 * workspace, mirrored in PostgreSQL. Overlap is SKIP unless asked otherwise — also for a trigger by
 * hand, which Temporal would otherwise run with ALLOW_ALL — and the catch-up window is explicit.
 */
import { randomUUID } from 'node:crypto';
import type { ScheduleDescription, ScheduleOptions, ScheduleOverlapPolicy } from '@temporalio/client';
import type { WorkspaceTemporal } from '../../platform/workspace-temporal';
import type { Pool } from 'pg';
import { z } from 'zod';
import { GroupName } from '../../platform/discovery/rules';
import { PLATFORM_TASK_QUEUE, scheduledRunWorkflowId, temporalScheduleId } from '../../common/ids';
import type { WorkspaceAccess } from '../auth/auth-context';
import { ConflictError, InputError, NotFoundError } from '../../common/problem';
import { appendAudit } from '../../platform/repos/audit.repo';
import {
  deleteSchedule,
  getSchedule,
  insertSchedule,
  listSchedules,
  setSchedulePaused,
  updateScheduleSettings,
  type ScheduleRow,
} from '../../platform/repos/schedules.repo';
import { getRunner } from '../../platform/repos/runners.repo';
import { getTask } from '../../platform/repos/tasks.repo';
import type { Sealer } from '../../platform/crypto/sealer';

const OVERLAP = ['skip', 'buffer_one', 'buffer_all', 'cancel_other', 'terminate_other', 'allow_all'] as const;

const CRON_FIELD = /^[0-9A-Za-z*?/,#-]+$/;
/** Temporal's cron syntax: 5 to 7 fields (optional seconds and year), or a predefined macro. */
function isCronString(value: string): boolean {
  const trimmed = value.trim();
  if (/^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$/.test(trimmed)) return true;
  const fields = trimmed.split(/\s+/);
  return fields.length >= 5 && fields.length <= 7 && fields.every((f) => CRON_FIELD.test(f));
}

/** Temporal refuses a spec it cannot parse with INVALID_ARGUMENT: that is the caller's input, a 400. */
function refusal(err: unknown, fallback: (message: string) => Error): Error {
  const message = err instanceof Error ? (err.message.split('\n')[0] ?? 'error') : 'error';
  return (err as { code?: number }).code === 3 ? new InputError(`the schedule was refused: ${message}`) : fallback(message);
}

const SpecBody = z
  .strictObject({
    cron: z
      .array(
        z
          .string()
          .min(5)
          .max(100)
          .refine(isCronString, 'a cron expression of 5 to 7 fields, or @hourly, @daily, @weekly, @monthly, @yearly'),
      )
      .min(1)
      .max(10)
      .optional(),
    intervalSeconds: z
      .number()
      .int()
      .min(1)
      .max(31 * 86_400)
      .optional(),
    timezone: z
      .string()
      .max(64)
      .refine((tz) => {
        try {
          new Intl.DateTimeFormat('en', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, 'must be an IANA time zone')
      .optional(),
    jitterSeconds: z.number().int().min(0).max(86_400).optional(),
  })
  .refine((s) => Boolean(s.cron) !== Boolean(s.intervalSeconds), 'give either cron or intervalSeconds');

function temporalSpec(spec: z.infer<typeof SpecBody>) {
  return {
    ...(spec.cron ? { cronExpressions: spec.cron } : {}),
    ...(spec.intervalSeconds ? { intervals: [{ every: spec.intervalSeconds * 1000 }] } : {}),
    ...(spec.timezone ? { timezone: spec.timezone } : {}),
    ...(spec.jitterSeconds ? { jitter: spec.jitterSeconds * 1000 } : {}),
  };
}

export const CreateScheduleBody = z
  .strictObject({
    /** Runs of one task… */
    taskId: z.uuid().optional(),
    /** …or health sweeps of one Runner. */
    runnerId: z.uuid().optional(),
    /** With `runnerId`: sweeps of one namespace group of it (as discovery's groups name them). */
    group: GroupName.optional(),
    spec: SpecBody,
    overlap: z.enum(OVERLAP).default('skip'),
    catchupWindowSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86_400)
      .default(60),
    pauseOnFailure: z.boolean().default(false),
    /** Pause after this many consecutive failed runs. */
    pauseAfterFailures: z.number().int().min(1).max(100).optional(),
    paused: z.boolean().default(false),
    note: z.string().max(200).optional(),
  })
  .refine((b) => Boolean(b.taskId) !== Boolean(b.runnerId), 'give either taskId (runs of a task) or runnerId (health sweeps of a Runner)')
  .refine((b) => !b.group || Boolean(b.runnerId), 'a group is for health sweeps: give runnerId with it');

export const UpdateScheduleBody = z
  .strictObject({
    spec: SpecBody.optional(),
    overlap: z.enum(OVERLAP).optional(),
    catchupWindowSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86_400)
      .optional(),
    pauseOnFailure: z.boolean().optional(),
    pauseAfterFailures: z.number().int().min(1).max(100).nullable().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'nothing to update');

export interface ScheduleView {
  id: string;
  taskId: string | null;
  runnerId: string | null;
  group: string | null;
  spec: ScheduleRow['spec'];
  overlap: string;
  catchupWindowSeconds: number;
  pauseOnFailure: boolean;
  pauseAfterFailures: number | null;
  paused: boolean;
  note: string | null;
  nextRuns: string[];
  recentRuns: { scheduledAt: string; workflowId: string }[];
  createdAt: string;
}

function view(row: ScheduleRow, description?: ScheduleDescription): ScheduleView {
  return {
    id: row.id,
    taskId: row.taskId,
    runnerId: row.runnerId,
    group: row.sweepGroup,
    spec: row.spec,
    overlap: row.overlap,
    catchupWindowSeconds: row.catchupSeconds,
    pauseOnFailure: row.pauseOnFailure,
    pauseAfterFailures: row.pauseAfterFailures,
    paused: description?.state.paused ?? row.paused,
    note: row.note,
    nextRuns: (description?.info.nextActionTimes ?? []).slice(0, 5).map((d) => d.toISOString()),
    recentRuns: (description?.info.recentActions ?? [])
      .slice(-10)
      .map((a) => ({ scheduledAt: a.scheduledAt.toISOString(), workflowId: a.action.workflow.workflowId })),
    createdAt: row.createdAt.toISOString(),
  };
}

/** The Temporal Schedule of a Lookout schedule, from PostgreSQL's row (creation, and a move to another namespace). */
export function temporalScheduleOptions(
  row: Omit<ScheduleRow, 'createdAt' | 'updatedAt'>,
  platformTaskQueue: string = PLATFORM_TASK_QUEUE,
): ScheduleOptions {
  const { workspaceId, id } = row;
  return {
    scheduleId: temporalScheduleId(workspaceId, id),
    spec: temporalSpec(row.spec),
    action: row.taskId
      ? {
          type: 'startWorkflow',
          workflowType: 'scheduledRunTask',
          workflowId: scheduledRunWorkflowId(workspaceId, id),
          taskQueue: platformTaskQueue,
          args: [{ workspaceId, taskId: row.taskId, scheduleId: id }],
        }
      : {
          type: 'startWorkflow',
          workflowType: 'scheduledHealthSweep',
          workflowId: scheduledRunWorkflowId(workspaceId, id),
          taskQueue: platformTaskQueue,
          args: [{ workspaceId, runnerId: row.runnerId!, scheduleId: id, ...(row.sweepGroup ? { group: row.sweepGroup } : {}) }],
        },
    policies: {
      overlap: row.overlap.toUpperCase() as ScheduleOverlapPolicy,
      catchupWindow: row.catchupSeconds * 1000,
      pauseOnFailure: row.pauseOnFailure,
    },
    state: { paused: row.paused, ...(row.note ? { note: row.note } : {}) },
  };
}

export function createSchedulesService({
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
  const handleOf = async (row: Pick<ScheduleRow, 'workspaceId' | 'id'>) =>
    (await temporal.forWorkspace(row.workspaceId)).schedule.getHandle(temporalScheduleId(row.workspaceId, row.id));
  const load = async (workspaceId: string, id: string) => {
    const row = await getSchedule(pool, workspaceId, id);
    if (!row) throw new NotFoundError('schedule');
    return row;
  };

  return {
    async create(auth: WorkspaceAccess, workspaceId: string, body: unknown, ip?: string): Promise<ScheduleView> {
      const parsed = CreateScheduleBody.safeParse(body);
      if (!parsed.success) throw InputError.fromZod('schedule', parsed.error);
      const input = parsed.data;
      // Only a task or Runner of this workspace: anything else is not found.
      if (input.taskId && !(await getTask(pool, sealer, workspaceId, input.taskId))) throw new NotFoundError('task');
      if (input.runnerId && !(await getRunner(pool, workspaceId, input.runnerId))) throw new NotFoundError('runner');
      const id = randomUUID();
      const row: Omit<ScheduleRow, 'createdAt' | 'updatedAt'> = {
        id,
        workspaceId,
        taskId: input.taskId ?? null,
        runnerId: input.runnerId ?? null,
        sweepGroup: input.group ?? null,
        spec: input.spec,
        overlap: input.overlap,
        catchupSeconds: input.catchupWindowSeconds,
        pauseOnFailure: input.pauseOnFailure,
        pauseAfterFailures: input.pauseAfterFailures ?? null,
        paused: input.paused,
        note: input.note ?? null,
        createdBy: auth.actor,
      };
      await insertSchedule(pool, row);
      try {
        await (await temporal.forWorkspace(workspaceId)).schedule.create(temporalScheduleOptions(row, platformTaskQueue));
      } catch (err) {
        await deleteSchedule(pool, workspaceId, id);
        throw refusal(err, (message) => new ConflictError(`the workflow engine refused the schedule: ${message}`));
      }
      await appendAudit(pool, {
        workspaceId,
        actor: auth.actor,
        action: 'schedule.created',
        target: `schedule:${id}`,
        outcome: 'success',
        details: { taskId: input.taskId ?? null, runnerId: input.runnerId ?? null, overlap: input.overlap },
        ip,
      });
      const created = await load(workspaceId, id);
      return view(created, await (await handleOf(created)).describe());
    },

    async get(workspaceId: string, id: string): Promise<ScheduleView> {
      const row = await load(workspaceId, id);
      return view(row, await (await handleOf(row)).describe());
    },

    async list(workspaceId: string): Promise<ScheduleView[]> {
      return Promise.all(
        (await listSchedules(pool, workspaceId)).map(async (row) =>
          view(row, await (await handleOf(row)).describe().catch(() => undefined)),
        ),
      );
    },

    /**
     * Changes the spec or policies. Temporal's update is read-modify-write without a conflict token,
     * so the whole new state is computed from PostgreSQL's mirror and written in one call.
     */
    async update(auth: WorkspaceAccess, workspaceId: string, id: string, body: unknown, ip?: string): Promise<ScheduleView> {
      const parsed = UpdateScheduleBody.safeParse(body);
      if (!parsed.success) throw InputError.fromZod('schedule update', parsed.error);
      const row = await load(workspaceId, id);
      const next = {
        spec: parsed.data.spec ?? row.spec,
        overlap: parsed.data.overlap ?? row.overlap,
        catchupSeconds: parsed.data.catchupWindowSeconds ?? row.catchupSeconds,
        pauseOnFailure: parsed.data.pauseOnFailure ?? row.pauseOnFailure,
        pauseAfterFailures: parsed.data.pauseAfterFailures === undefined ? row.pauseAfterFailures : parsed.data.pauseAfterFailures,
      };
      await (
        await handleOf(row)
      )
        .update((previous) => ({
          ...previous,
          spec: temporalSpec(next.spec),
          policies: {
            ...previous.policies,
            overlap: next.overlap.toUpperCase() as ScheduleOverlapPolicy,
            catchupWindow: next.catchupSeconds * 1000,
            pauseOnFailure: next.pauseOnFailure,
          },
        }))
        .catch((err: unknown) => {
          throw refusal(err, () => (err instanceof Error ? err : new Error('schedule update failed')));
        });
      await updateScheduleSettings(pool, workspaceId, id, next);
      await appendAudit(pool, {
        workspaceId,
        actor: auth.actor,
        action: 'schedule.updated',
        target: `schedule:${id}`,
        outcome: 'success',
        details: { fields: Object.keys(parsed.data) },
        ip,
      });
      const updated = await load(workspaceId, id);
      return view(updated, await (await handleOf(updated)).describe());
    },

    async setPaused(auth: WorkspaceAccess, workspaceId: string, id: string, paused: boolean, ip?: string): Promise<ScheduleView> {
      const row = await load(workspaceId, id);
      const handle = await handleOf(row);
      if (paused) await handle.pause(`paused by ${auth.actor}`);
      else await handle.unpause(`resumed by ${auth.actor}`);
      await setSchedulePaused(pool, workspaceId, id, paused);
      await appendAudit(pool, {
        workspaceId,
        actor: auth.actor,
        action: paused ? 'schedule.paused' : 'schedule.resumed',
        target: `schedule:${id}`,
        outcome: 'success',
        ip,
      });
      return view({ ...row, paused }, await handle.describe());
    },

    /** Runs the schedule now, under its own overlap policy (Temporal's trigger would otherwise allow all). */
    async trigger(auth: WorkspaceAccess, workspaceId: string, id: string, ip?: string): Promise<void> {
      const row = await load(workspaceId, id);
      await (await handleOf(row)).trigger(row.overlap.toUpperCase() as ScheduleOverlapPolicy);
      await appendAudit(pool, {
        workspaceId,
        actor: auth.actor,
        action: 'schedule.triggered',
        target: `schedule:${id}`,
        outcome: 'success',
        ip,
      });
    },

    async remove(auth: WorkspaceAccess, workspaceId: string, id: string, ip?: string): Promise<void> {
      const row = await load(workspaceId, id);
      await (await handleOf(row)).delete().catch((err: unknown) => {
        if (!(err instanceof Error && /not found/i.test(err.message))) throw err;
      });
      await deleteSchedule(pool, workspaceId, id);
      await appendAudit(pool, {
        workspaceId,
        actor: auth.actor,
        action: 'schedule.deleted',
        target: `schedule:${id}`,
        outcome: 'success',
        ip,
      });
    },
  };
}

export type SchedulesService = ReturnType<typeof createSchedulesService>;
