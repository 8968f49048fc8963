/**
 * Generation rules: how a cluster's inventory (`k8s.discover`) becomes tasks. Built-in defaults
 * cover a cluster with the first-party checks; a workspace may replace them with its own list. The
 * plan is a pure function of the inventory, the rules, what the Runner's policy allows and the
 * tasks discovery generated before: rediscovery creates what is new, updates what changed and
 * removes what is gone, and never sees a task made by hand.
 */
import { z } from 'zod';
import { canonicalJson } from '../../common/canonical-json';
import { CHECK_PARAMS, isCheckType } from '../../common/checks';
import { Capability, KIND_COUNT_KEYS, NamesMode, type Inventory } from '../../common/discovery';
import { isPackCheckType } from '../../common/packs';
import { policyRefusal, type PolicySummary } from '../../common/runner-policy';

/** `payments`, `team-*`, `*`: a namespace name pattern (`*` any run of characters). */
const NamespaceGlob = z
  .string()
  .max(63)
  .regex(/^[a-z0-9*]([-a-z0-9*]*[a-z0-9*])?$/, 'must be a namespace name or a pattern with *');

export const GenerationRule = z.strictObject({
  /** Names the rule in generated tasks' names and keys: keep it stable. */
  id: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lower-case name')
    .max(40),
  checkType: z
    .string()
    .max(64)
    .refine((t) => isCheckType(t) || isPackCheckType(t), 'must be a built-in check type or <pack>/<check>'),
  /** `namespace`: one task per namespace that matches; `cluster`: one task for the cluster. */
  scope: z.enum(['namespace', 'cluster']),
  /** Namespaces a namespace rule applies to (with clear names; hashed names match `*` only). */
  namespaces: z.array(NamespaceGlob).min(1).max(50).default(['*']),
  excludeNamespaces: z.array(NamespaceGlob).max(50).default([]),
  /** A namespace rule applies only to namespaces holding at least one object of one of these kinds. */
  whenAny: z
    .array(z.enum(KIND_COUNT_KEYS as [string, ...string[]]))
    .max(KIND_COUNT_KEYS.length)
    .default([]),
  /** The rule applies only when the cluster serves one of these systems. */
  requiresAny: z.array(Capability).max(Capability.options.length).default([]),
  /** The rule applies only to inventories made under these names modes. */
  names: z.array(NamesMode).min(1).max(3).default(['clear', 'hashed', 'counts']),
  /** The task's parameters; a namespace rule fills in `namespace` (or `namespaces`) itself. */
  params: z.record(z.string(), z.unknown()).default({}),
  /** Execution bounds of the generated tasks (as a task's `policy`). */
  policy: z.record(z.string(), z.unknown()).default({}),
});
export type GenerationRule = z.infer<typeof GenerationRule>;

export const GenerationRules = z
  .array(GenerationRule)
  .max(100)
  .superRefine((rules, ctx) => {
    const seen = new Set<string>();
    rules.forEach((r, i) => {
      if (seen.has(r.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate rule ${r.id}` });
      seen.add(r.id);
    });
  });

/**
 * A namespace group: the tasks discovery generates for its namespaces belong to it, and `apply`
 * schedules a sweep of the group (scored and compared with its own previous sweep).
 */
/** A namespace group's name, wherever one is given (rules, sweeps, schedules). */
export const GroupName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a group name (lower-case letters, digits and -)')
  .max(40);

export const NamespaceGroup = z.strictObject({
  name: GroupName,
  namespaces: z.array(NamespaceGlob).min(1).max(50),
});
export type NamespaceGroup = z.infer<typeof NamespaceGroup>;

export const NamespaceGroups = z
  .array(NamespaceGroup)
  .max(50)
  .superRefine((groups, ctx) => {
    const seen = new Set<string>();
    groups.forEach((g, i) => {
      if (seen.has(g.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate group ${g.name}` });
      seen.add(g.name);
    });
  });

const workloads = ['pods', 'deployments', 'statefulsets', 'daemonsets'];

/** The built-in rules: every namespace with workloads gets its health, jobs, volumes and services checked; the cluster its nodes and systems. */
export const DEFAULT_RULES: GenerationRule[] = GenerationRules.parse([
  { id: 'namespace-health', checkType: 'k8s.namespace-health', scope: 'namespace', whenAny: workloads, names: ['clear', 'hashed'] },
  { id: 'jobs', checkType: 'k8s.jobs', scope: 'namespace', whenAny: ['cronjobs', 'jobs'], names: ['clear', 'hashed'] },
  { id: 'volumes', checkType: 'k8s.pvc-binding', scope: 'namespace', whenAny: ['pvcs'], names: ['clear', 'hashed'] },
  { id: 'service-endpoints', checkType: 'k8s.service-endpoints', scope: 'namespace', whenAny: ['services'], names: ['clear', 'hashed'] },
  { id: 'nodes', checkType: 'k8s.node-conditions', scope: 'cluster' },
  { id: 'autoscalers', checkType: 'k8s.hpa-limits', scope: 'cluster' },
  { id: 'quotas', checkType: 'k8s.quota-usage', scope: 'cluster' },
  { id: 'rollouts', checkType: 'k8s.rollout-stuck', scope: 'cluster' },
  { id: 'certificates', checkType: 'k8s.cert-manager', scope: 'cluster', requiresAny: ['cert-manager'] },
  { id: 'gitops', checkType: 'k8s.gitops', scope: 'cluster', requiresAny: ['argocd', 'flux'] },
  // With counts only, the Platform knows no namespace: the same ground is covered cluster-wide.
  { id: 'pods', checkType: 'k8s.pod-status', scope: 'cluster', names: ['counts'] },
  { id: 'restarts', checkType: 'k8s.pod-restarts', scope: 'cluster', names: ['counts'] },
  { id: 'workloads', checkType: 'k8s.workload-availability', scope: 'cluster', names: ['counts'] },
  { id: 'cluster-jobs', checkType: 'k8s.jobs', scope: 'cluster', names: ['counts'] },
  { id: 'cluster-volumes', checkType: 'k8s.pvc-binding', scope: 'cluster', names: ['counts'] },
]);

/** A task discovery wants to exist. */
export interface PlannedTask {
  /** `<rule>:<namespace>` or `<rule>:*`: what identifies it across rediscoveries. */
  key: string;
  name: string;
  checkType: string;
  params: Record<string, unknown>;
  policy: Record<string, unknown>;
  rule: string;
  namespace?: string;
  /** The namespace group it belongs to (the first whose patterns match its namespace), or null. */
  group: string | null;
}

/** A task discovery generated before. */
export interface GeneratedTask {
  id: string;
  key: string;
  name: string;
  checkType: string;
  params: Record<string, unknown>;
  group: string | null;
}

export interface DiscoveryPlan {
  create: PlannedTask[];
  update: (PlannedTask & { id: string })[];
  remove: { id: string; key: string; name: string }[];
  keep: number;
  /** Rules that made nothing, and why (the Runner's policy refuses the check type, bad parameters, …). */
  skipped: { rule: string; reason: string }[];
  /** The namespace groups that hold planned tasks (each gets its own sweep schedule on apply). */
  groups: string[];
}

function globMatches(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(name);
}

/** A task name from the Runner's name, the namespace (or `cluster`) and the rule: within the task name rules, at most 100 characters. */
export function generatedTaskName(runnerName: string, target: string, rule: string): string {
  const runner =
    runnerName
      .replace(/[^A-Za-z0-9 ._-]+/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 30) || 'runner';
  return `${runner} ${target} ${rule}`.slice(0, 100);
}

/** The parameters of a namespace rule's task: the namespace filled in the way the check type takes it. */
function namespaceParams(checkType: string, params: Record<string, unknown>, namespace: string): Record<string, unknown> {
  if (isCheckType(checkType)) {
    const shape = (CHECK_PARAMS[checkType] as unknown as { shape?: Record<string, unknown> }).shape ?? {};
    if ('namespace' in shape) return { ...params, namespace };
  }
  return { ...params, namespaces: [namespace] };
}

export function planDiscovery(input: {
  inventory: Inventory;
  rules: readonly GenerationRule[];
  groups?: readonly NamespaceGroup[];
  runnerName: string;
  policy: PolicySummary;
  existing: readonly GeneratedTask[];
}): DiscoveryPlan {
  const { inventory, rules, policy } = input;
  const wanted = new Map<string, PlannedTask>();
  const skipped: DiscoveryPlan['skipped'] = [];
  for (const rule of rules) {
    if (!rule.names.includes(inventory.names)) continue;
    if (rule.requiresAny.length && !rule.requiresAny.some((c) => inventory.cluster.capabilities.includes(c))) continue;
    const targets: (string | undefined)[] =
      rule.scope === 'cluster'
        ? [undefined]
        : inventory.namespaces
            .filter(
              (ns) =>
                rule.namespaces.some((p) => globMatches(p, ns.name)) &&
                !rule.excludeNamespaces.some((p) => globMatches(p, ns.name)) &&
                (rule.whenAny.length === 0 || rule.whenAny.some((k) => ns[k as keyof typeof ns] !== 0)),
            )
            .map((ns) => ns.name);
    for (const namespace of targets) {
      let params = namespace === undefined ? rule.params : namespaceParams(rule.checkType, rule.params, namespace);
      if (isCheckType(rule.checkType)) {
        const parsed = CHECK_PARAMS[rule.checkType].safeParse(params);
        if (!parsed.success) {
          skipped.push({
            rule: rule.id,
            reason: `invalid parameters: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`,
          });
          break;
        }
        params = parsed.data;
      }
      const refusal = policyRefusal(policy, rule.checkType, params);
      if (refusal) {
        skipped.push({ rule: rule.id, reason: refusal.message });
        break;
      }
      const group =
        namespace === undefined
          ? null
          : ((input.groups ?? []).find((g) => g.namespaces.some((p) => globMatches(p, namespace)))?.name ?? null);
      const key = `${rule.id}:${namespace ?? '*'}`;
      wanted.set(key, {
        key,
        name: generatedTaskName(input.runnerName, namespace ?? 'cluster', rule.id),
        checkType: rule.checkType,
        params,
        policy: rule.policy,
        rule: rule.id,
        ...(namespace === undefined ? {} : { namespace }),
        group,
      });
    }
  }
  const groups = [...new Set([...wanted.values()].flatMap((t) => (t.group ? [t.group] : [])))].sort();
  const plan: DiscoveryPlan = { create: [], update: [], remove: [], keep: 0, skipped, groups };
  const existing = new Map(input.existing.map((t) => [t.key, t]));
  for (const [key, task] of wanted) {
    const had = existing.get(key);
    if (!had) plan.create.push(task);
    else if (had.checkType !== task.checkType || had.group !== task.group || canonicalJson(had.params) !== canonicalJson(task.params))
      plan.update.push({ ...task, id: had.id, name: had.name });
    else plan.keep += 1;
  }
  for (const [key, had] of existing) if (!wanted.has(key)) plan.remove.push({ id: had.id, key, name: had.name });
  return plan;
}
