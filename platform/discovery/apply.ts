/**
 * Discovery on the Platform: the plan for one Runner from its latest inventory, and applying it in
 * one transaction. Used by the API (`POST …/runners/{id}/discover`) and by the platform worker when a
 * scheduled rediscovery's result is stored.
 */
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { ExecutionPolicy } from '../../common/contracts';
import type { Inventory } from '../../common/discovery';
import { PolicySummary } from '../../common/runner-policy';
import type { Sealer } from '../crypto/sealer';
import { appendAuditInTransaction } from '../repos/audit.repo';
import { inTransaction } from '../repos/db';
import { getDiscoveryRules } from '../repos/discovery.repo';
import { getRunner, runnerPolicyBinding, runnerPolicySealed } from '../repos/runners.repo';
import { createTask, deleteGeneratedTask, generatedTasks, setTaskGroup, taskIdByName, updateTaskParams } from '../repos/tasks.repo';
import {
  DEFAULT_RULES,
  GenerationRules,
  NamespaceGroups,
  planDiscovery,
  type DiscoveryPlan,
  type GenerationRule,
  type NamespaceGroup,
} from './rules';

/** Why discovery cannot plan (no such Runner, no policy reported yet, unreadable rules). */
export class DiscoveryError extends Error {
  constructor(
    message: string,
    readonly kind: 'not-found' | 'not-ready' | 'invalid',
  ) {
    super(message);
    this.name = 'DiscoveryError';
  }
}

/** The workspace's generation rules and namespace groups: its own when it saved some, else the built-in defaults and none. */
export async function workspaceRules(
  pool: Pool,
  workspaceId: string,
): Promise<{ rules: GenerationRule[]; groups: NamespaceGroup[]; custom: boolean }> {
  const stored = await getDiscoveryRules(pool, workspaceId);
  if (!stored) return { rules: DEFAULT_RULES, groups: [], custom: false };
  const rules = GenerationRules.safeParse(stored.rules);
  const groups = NamespaceGroups.safeParse(stored.groups);
  if (!rules.success || !groups.success)
    throw new DiscoveryError("the workspace's generation rules no longer validate: save them again", 'invalid');
  return { rules: rules.data, groups: groups.data, custom: true };
}

export async function planForRunner(
  pool: Pool,
  sealer: Sealer,
  { workspaceId, runnerId, inventory }: { workspaceId: string; runnerId: string; inventory: Inventory },
): Promise<DiscoveryPlan> {
  const runner = await getRunner(pool, workspaceId, runnerId);
  if (!runner) throw new DiscoveryError('runner not found', 'not-found');
  const sealed = await runnerPolicySealed(pool, workspaceId, runnerId);
  if (!sealed) throw new DiscoveryError('the Runner has not reported its policy yet: start it and try again', 'not-ready');
  const policy = PolicySummary.parse(await sealer.open(workspaceId, runnerPolicyBinding(runnerId), sealed));
  const { rules, groups } = await workspaceRules(pool, workspaceId);
  const existing = await generatedTasks(pool, sealer, workspaceId, runnerId);
  return planDiscovery({ inventory, rules, groups, runnerName: runner.name, policy, existing });
}

export interface AppliedPlan {
  created: number;
  updated: number;
  removed: number;
  /** Planned tasks whose name a hand-made task already holds: left alone. */
  conflicts: string[];
}

/** Creates, updates and removes generated tasks as planned, in one transaction, audited as `discovery.applied`. */
export async function applyPlan(
  pool: Pool,
  sealer: Sealer,
  {
    workspaceId,
    runnerId,
    plan,
    actor,
    ip,
  }: { workspaceId: string; runnerId: string; plan: DiscoveryPlan; actor: string; ip?: string | undefined },
): Promise<AppliedPlan> {
  return inTransaction(pool, async (tx) => {
    const applied: AppliedPlan = { created: 0, updated: 0, removed: 0, conflicts: [] };
    for (const t of plan.remove) if (await deleteGeneratedTask(tx, workspaceId, runnerId, t.id)) applied.removed += 1;
    for (const t of plan.update) {
      await updateTaskParams(tx, sealer, workspaceId, t.id, t.params, t.checkType);
      await setTaskGroup(tx, workspaceId, t.id, t.group);
      applied.updated += 1;
    }
    for (const t of plan.create) {
      if (await taskIdByName(tx, workspaceId, t.name)) {
        applied.conflicts.push(t.name);
        continue;
      }
      await createTask(tx, sealer, {
        id: randomUUID(),
        workspaceId,
        runnerId,
        name: t.name,
        checkType: t.checkType,
        params: t.params,
        policy: ExecutionPolicy.partial().parse(t.policy),
        origin: 'generated',
        discoveryKey: t.key,
        sweepGroup: t.group,
      });
      applied.created += 1;
    }
    await appendAuditInTransaction(tx, {
      workspaceId,
      actor,
      action: 'discovery.applied',
      target: `runner:${runnerId}`,
      outcome: 'success',
      details: { created: applied.created, updated: applied.updated, removed: applied.removed, conflicts: applied.conflicts.length },
      ip,
    });
    return applied;
  });
}
