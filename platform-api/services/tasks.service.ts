/**
 * Tasks: what a Runner runs. Parameters are validated with the check type's own schema when a task is
 * saved (the Runner validates them again: its checks are the ceiling), and sealed at rest.
 */
import { policyRefusal, PolicySummary } from '../../common/runner-policy';
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { z } from 'zod';
import { CHECK_PARAMS, CHECK_TYPES, isCheckType } from '../../common/checks';
import { isPackCheckType } from '../../common/packs';
import { ExecutionPolicy } from '../../common/contracts';
import type { WorkspaceAccess } from '../auth/auth-context';
import type { Sealer } from '../../platform/crypto/sealer';
import { ConflictError, InputError, NotFoundError } from '../../common/problem';
import { appendAuditInTransaction } from '../../platform/repos/audit.repo';
import { inTransaction } from '../../platform/repos/db';
import { getRunner, runnerPolicyBinding, runnerPolicySealed } from '../../platform/repos/runners.repo';
import { createTask, deleteTask, getTask, listTasks, type Task } from '../../platform/repos/tasks.repo';

export const CreateTaskBody = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, 'letters, digits, space, dot, dash and underscore'),
  runnerId: z.uuid(),
  checkType: z
    .string()
    .max(64)
    .refine((t) => isCheckType(t) || isPackCheckType(t), { message: `must be one of ${CHECK_TYPES.join(', ')} or <pack>/<check>` }),
  params: z.record(z.string(), z.unknown()).default({}),
  policy: ExecutionPolicy.partial().default({}),
});

/**
 * The parameters of a task of `checkType` on `runnerId`, validated as a task's are when it is saved:
 * a built-in check type's own schema (defaults filled in), then the Runner's reported policy (which
 * also knows its packs' schemas). Throws InputError (400) or NotFoundError (the Runner, 404).
 * Exported for alert hooks, which save tasks with parameters rendered from an alert.
 */
export async function validTaskParams(
  pool: Pool,
  sealer: Sealer,
  workspaceId: string,
  runnerId: string,
  checkType: string,
  input: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  // A pack check's parameters are validated against the JSON Schema its Runner reported (below).
  let params: Record<string, unknown> = input;
  if (isCheckType(checkType)) {
    const parsedParams = CHECK_PARAMS[checkType].safeParse(input);
    if (!parsedParams.success) {
      throw new InputError(
        `invalid parameters for ${checkType}`,
        parsedParams.error.issues.map((i) => ({ path: ['params', ...i.path].join('.'), message: i.message })),
      );
    }
    params = parsedParams.data;
  }
  if (!(await getRunner(pool, workspaceId, runnerId))) throw new NotFoundError('runner');
  // What the Runner's policy will refuse is refused now, when the Runner has reported its policy.
  const sealedPolicy = await runnerPolicySealed(pool, workspaceId, runnerId);
  if (sealedPolicy) {
    const summary = await sealer.open<PolicySummary>(workspaceId, runnerPolicyBinding(runnerId), sealedPolicy);
    const refusal = policyRefusal(PolicySummary.parse(summary), checkType, params);
    if (refusal) throw new InputError("the Runner's policy refuses this task", [refusal]);
  } else if (!isCheckType(checkType)) {
    throw new InputError('the Runner has not reported its check packs yet', [
      { path: 'checkType', message: `${checkType} can be saved once the Runner has connected and reported its packs` },
    ]);
  }
  return params;
}

export function createTasksService({ pool, sealer }: { pool: Pool; sealer: Sealer }) {
  return {
    async create(auth: WorkspaceAccess, workspaceId: string, body: unknown, ip?: string): Promise<Task> {
      const parsed = CreateTaskBody.safeParse(body);
      if (!parsed.success) throw InputError.fromZod('task', parsed.error);
      const input = parsed.data;
      const params = await validTaskParams(pool, sealer, workspaceId, input.runnerId, input.checkType, input.params);
      const task: Task = {
        id: randomUUID(),
        workspaceId,
        runnerId: input.runnerId,
        name: input.name,
        checkType: input.checkType,
        params,
        policy: ExecutionPolicy.parse(input.policy),
      };
      try {
        await inTransaction(pool, async (tx) => {
          await createTask(tx, sealer, task);
          await appendAuditInTransaction(tx, {
            workspaceId,
            actor: auth.actor,
            action: 'task.created',
            target: `task:${task.id}`,
            outcome: 'success',
            details: { checkType: task.checkType },
            ip,
          });
        });
      } catch (err) {
        if ((err as { code?: string }).code === '23505')
          throw new ConflictError(`a task named ${JSON.stringify(input.name)} already exists`);
        throw err;
      }
      return task;
    },

    async get(workspaceId: string, id: string): Promise<Task> {
      const task = await getTask(pool, sealer, workspaceId, id);
      if (!task) throw new NotFoundError('task');
      return task;
    },

    list: (workspaceId: string, limit: number) => listTasks(pool, workspaceId, limit),

    async remove(auth: WorkspaceAccess, workspaceId: string, id: string, ip?: string): Promise<void> {
      await inTransaction(pool, async (tx) => {
        if (!(await deleteTask(tx, workspaceId, id))) throw new NotFoundError('task');
        await appendAuditInTransaction(tx, {
          workspaceId,
          actor: auth.actor,
          action: 'task.deleted',
          target: `task:${id}`,
          outcome: 'success',
          ip,
        });
      });
    },
  };
}

export type TasksService = ReturnType<typeof createTasksService>;
