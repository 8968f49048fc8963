/**
 * Discovery through the API: run a Runner's `k8s.discover` task (made on first use, origin
 * `discovery`), wait for its inventory, and answer the plan the workspace's generation rules make of
 * it; with `apply`, create the generated tasks, a rediscovery schedule for the discovery task and a
 * sweep schedule for the Runner (each only when it has none).
 */
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { z } from 'zod';
import { DiscoverParams } from '../../common/checks';
import { ExecutionPolicy, TERMINAL_RUN_STATUSES } from '../../common/contracts';
import { ConflictError, InputError, NotFoundError } from '../../common/problem';
import type { Sealer } from '../../platform/crypto/sealer';
import { applyPlan, DiscoveryError, planForRunner, workspaceRules, type AppliedPlan } from '../../platform/discovery/apply';
import { GenerationRules, generatedTaskName, NamespaceGroups, type DiscoveryPlan } from '../../platform/discovery/rules';
import { appendAudit } from '../../platform/repos/audit.repo';
import { deleteDiscoveryRules, getDiscoveryRules, putDiscoveryRules } from '../../platform/repos/discovery.repo';
import { getRunner } from '../../platform/repos/runners.repo';
import { getRun } from '../../platform/repos/runs.repo';
import { listSchedules } from '../../platform/repos/schedules.repo';
import { createTask, discoveryTaskId, getTask, updateTaskParams } from '../../platform/repos/tasks.repo';
import type { WorkspaceAccess } from '../auth/auth-context';
import type { RunsService, RunView } from './runs.service';
import type { SchedulesService } from './schedules.service';
import { validTaskParams } from './tasks.service';

export const DiscoverBody = z
  .strictObject({
    /** Create what the plan says (also `?apply`). */
    apply: z.boolean().default(false),
    /** Namespaces left out of the inventory (saved on the discovery task); default the Kubernetes system namespaces. */
    excludeNamespaces: DiscoverParams.shape.excludeNamespaces.optional(),
    /** How long to wait for the inventory before answering 202 with the run. */
    waitSeconds: z.number().int().min(0).max(300).default(60),
    /** With `apply`: rediscovery every this many seconds (a schedule of the discovery task), unless one exists. */
    rediscoverEverySeconds: z
      .number()
      .int()
      .min(300)
      .max(7 * 86_400)
      .default(6 * 3_600),
    /** With `apply`: a health sweep of the Runner every this many seconds, unless one is scheduled. */
    sweepEverySeconds: z
      .number()
      .int()
      .min(60)
      .max(7 * 86_400)
      .default(3_600),
  })
  .default({ apply: false, waitSeconds: 60, rediscoverEverySeconds: 6 * 3_600, sweepEverySeconds: 3_600 });

/** `?apply` (or `?apply=true`): the same as `"apply": true` in the body. */
export const DiscoverQuery = z.strictObject({
  apply: z
    .enum(['', 'true', 'false'])
    .optional()
    .transform((v) => v === '' || v === 'true'),
});

export const PutRulesBody = z.strictObject({ rules: GenerationRules, groups: NamespaceGroups.default([]) });

const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_RUN_STATUSES);

export interface DiscoveryAnswer {
  runId: string;
  status: RunView['status'];
  /** Why the discovery run did not succeed (its error type; the run's view has the message). */
  error?: string | null;
  inventory?: unknown;
  plan?: DiscoveryPlan;
  applied?: AppliedPlan & { schedules: { rediscovery: string | null; sweep: string | null; groups: Record<string, string> } };
}

function problemOf(err: unknown): never {
  if (err instanceof DiscoveryError) {
    if (err.kind === 'not-found') throw new NotFoundError('runner');
    throw new ConflictError(err.message);
  }
  throw err;
}

export function createDiscoveryService({
  pool,
  sealer,
  runs,
  schedules,
  pollMs = 200,
}: {
  pool: Pool;
  sealer: Sealer;
  runs: RunsService;
  schedules: SchedulesService;
  pollMs?: number;
}) {
  /** The Runner's discovery task, made on first use with `excludeNamespaces`, or updated to them. */
  async function discoveryTask(auth: WorkspaceAccess, workspaceId: string, runnerId: string, exclude: string[] | undefined, ip?: string) {
    const existing = await discoveryTaskId(pool, workspaceId, runnerId);
    if (existing) {
      if (exclude) {
        const task = await getTask(pool, sealer, workspaceId, existing);
        const params = await validTaskParams(pool, sealer, workspaceId, runnerId, 'k8s.discover', {
          ...task?.params,
          excludeNamespaces: exclude,
        });
        await updateTaskParams(pool, sealer, workspaceId, existing, params);
      }
      return existing;
    }
    const runner = await getRunner(pool, workspaceId, runnerId);
    if (!runner) throw new NotFoundError('runner');
    const params = await validTaskParams(
      pool,
      sealer,
      workspaceId,
      runnerId,
      'k8s.discover',
      exclude ? { excludeNamespaces: exclude } : {},
    );
    const id = randomUUID();
    await createTask(pool, sealer, {
      id,
      workspaceId,
      runnerId,
      name: generatedTaskName(runner.name, 'cluster', 'discovery'),
      checkType: 'k8s.discover',
      params,
      policy: ExecutionPolicy.partial().parse({}),
      origin: 'discovery',
    }).catch((err: unknown) => {
      if ((err as { code?: string }).code === '23505')
        throw new ConflictError('a task already holds the name of the discovery task, or discovery started twice at once');
      throw err;
    });
    await appendAudit(pool, {
      workspaceId,
      actor: auth.actor,
      action: 'task.created',
      target: `task:${id}`,
      outcome: 'success',
      details: { checkType: 'k8s.discover' },
      ip,
    });
    return id;
  }

  async function waitForRun(runId: string, waitMs: number) {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const run = await getRun(pool, runId);
      if (!run) throw new NotFoundError('run');
      if (TERMINAL.has(run.status) || Date.now() >= deadline) return run;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /**
   * The schedules `apply` makes when the Runner has none of the kind: rediscovery, a sweep of all its
   * tasks, and a sweep of each namespace group the plan fills.
   */
  async function ensureSchedules(
    auth: WorkspaceAccess,
    workspaceId: string,
    runnerId: string,
    taskId: string,
    body: z.infer<typeof DiscoverBody>,
    groups: readonly string[],
    ip?: string,
  ) {
    const existing = await listSchedules(pool, workspaceId);
    const made = { rediscovery: null as string | null, sweep: null as string | null, groups: {} as Record<string, string> };
    if (!existing.some((s) => s.taskId === taskId)) {
      made.rediscovery = (
        await schedules.create(
          auth,
          workspaceId,
          { taskId, spec: { intervalSeconds: body.rediscoverEverySeconds }, note: 'rediscovery' },
          ip,
        )
      ).id;
    }
    const sweep = async (group: string | null) =>
      (
        await schedules.create(
          auth,
          workspaceId,
          {
            runnerId,
            ...(group ? { group } : {}),
            spec: { intervalSeconds: body.sweepEverySeconds },
            note: group ? `health sweep of ${group}` : 'health sweep',
          },
          ip,
        )
      ).id;
    if (!existing.some((s) => s.runnerId === runnerId && s.sweepGroup === null)) made.sweep = await sweep(null);
    for (const group of groups) {
      if (!existing.some((s) => s.runnerId === runnerId && s.sweepGroup === group)) made.groups[group] = await sweep(group);
    }
    return made;
  }

  return {
    async discover(
      auth: WorkspaceAccess,
      workspaceId: string,
      runnerIdAsGiven: string,
      input: unknown,
      applyQuery: boolean,
      ip?: string,
    ): Promise<DiscoveryAnswer> {
      // The id as stored (a UUID may arrive in upper case): it is part of what binds sealed rows.
      const runnerId = (await getRunner(pool, workspaceId, runnerIdAsGiven))?.id;
      if (!runnerId) throw new NotFoundError('runner');
      const parsed = DiscoverBody.safeParse(input ?? {});
      if (!parsed.success) throw InputError.fromZod('discovery', parsed.error);
      const body = parsed.data;
      const apply = body.apply || applyQuery;
      const taskId = await discoveryTask(auth, workspaceId, runnerId, body.excludeNamespaces, ip);
      const requested = await runs.requestRun(auth, workspaceId, taskId, 'api', ip);
      const run = await waitForRun(requested.id, body.waitSeconds * 1000);
      if (!TERMINAL.has(run.status)) return { runId: run.id, status: run.status };
      // A discovery that did not succeed is reported as such (the task and its run stay, like any run's).
      if (run.status !== 'succeeded') return { runId: run.id, status: run.status, error: run.errorType };
      const view = await runs.getRunView(auth, run.id);
      const inventory = view.result?.inventory;
      if (!inventory) throw new ConflictError(`discovery run ${run.id} returned no inventory`);
      const plan = await planForRunner(pool, sealer, { workspaceId, runnerId, inventory }).catch(problemOf);
      if (!apply) return { runId: run.id, status: run.status, inventory, plan };
      const applied = await applyPlan(pool, sealer, { workspaceId, runnerId, plan, actor: auth.actor, ip });
      const made = await ensureSchedules(auth, workspaceId, runnerId, taskId, body, plan.groups, ip);
      return { runId: run.id, status: run.status, inventory, plan, applied: { ...applied, schedules: made } };
    },

    async rules(workspaceId: string) {
      const { rules, groups, custom } = await workspaceRules(pool, workspaceId).catch(problemOf);
      const stored = custom ? await getDiscoveryRules(pool, workspaceId) : undefined;
      return { rules, groups, custom, ...(stored ? { updatedBy: stored.updatedBy, updatedAt: stored.updatedAt.toISOString() } : {}) };
    },

    async putRules(auth: WorkspaceAccess, workspaceId: string, input: unknown, ip?: string) {
      const parsed = PutRulesBody.safeParse(input);
      if (!parsed.success) throw InputError.fromZod('rules', parsed.error);
      await putDiscoveryRules(pool, workspaceId, parsed.data.rules, parsed.data.groups, auth.actor);
      await appendAudit(pool, {
        workspaceId,
        actor: auth.actor,
        action: 'discovery.rules_updated',
        target: `workspace:${workspaceId}`,
        outcome: 'success',
        details: { rules: parsed.data.rules.length, groups: parsed.data.groups.length },
        ip,
      });
      return this.rules(workspaceId);
    },

    async resetRules(auth: WorkspaceAccess, workspaceId: string, ip?: string) {
      if (await deleteDiscoveryRules(pool, workspaceId)) {
        await appendAudit(pool, {
          workspaceId,
          actor: auth.actor,
          action: 'discovery.rules_reset',
          target: `workspace:${workspaceId}`,
          outcome: 'success',
          ip,
        });
      }
      return this.rules(workspaceId);
    },
  };
}

export type DiscoveryService = ReturnType<typeof createDiscoveryService>;
