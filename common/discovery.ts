/**
 * Discovery: what `k8s.discover` may tell the Platform about a cluster, and how names leave a Runner.
 *
 * The Runner's policy says how Kubernetes names cross the boundary (`discovery.names`):
 * - `clear`: as they are;
 * - `hashed`: every namespace and resource name in every result of the Runner becomes
 *   `h-<20 hex>`, a keyed hash under a key only the Runner holds (so the Platform cannot test guesses);
 *   tasks name namespaces by that hash and the Runner maps it back;
 * - `counts`: the inventory carries counts only, no namespace list (other results are unchanged).
 */
import { z } from 'zod';

export const NamesMode = z.enum(['clear', 'hashed', 'counts']);
export type NamesMode = z.infer<typeof NamesMode>;

/** A hashed name as it leaves a Runner whose policy hashes names: also a valid namespace name. */
export const HASHED_NAME = /^h-[0-9a-f]{20}$/;

/**
 * The namespaces every cluster has: naming them in clear tells the Platform nothing it did not know
 * (discovery leaves the `kube-*` ones out by name).
 */
export const KUBERNETES_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'] as const;

/** The task parameters that name namespaces (and nodes), in built-in checks and by convention in packs. */
export const NAME_PARAMS = ['namespace', 'namespaces', 'excludeNamespaces', 'nodes'] as const;
/** Of those, the ones a Runner under hashed names maps back from a hash to the namespace. */
export const NAMESPACE_PARAMS = ['namespace', 'namespaces', 'excludeNamespaces'] as const;

/**
 * The names `params` gives in clear (not as `h-…`; the Kubernetes namespaces aside). A Runner whose policy hashes names refuses a task
 * that has any: answering for a name the Platform chose would tell it that name's hash (and whether
 * the namespace exists), and with it the meaning of every result that carries that hash.
 */
export function clearNamesIn(params: Record<string, unknown>): string[] {
  return NAME_PARAMS.flatMap((f) => {
    const v = params[f];
    return (Array.isArray(v) ? v : [v]).filter(
      (x): x is string =>
        typeof x === 'string' && !HASHED_NAME.test(x) && !(f !== 'nodes' && (KUBERNETES_NAMESPACES as readonly string[]).includes(x)),
    );
  });
}

/** Why a Runner under hashed names refuses a task naming things in clear (the same words on both sides). */
export const CLEAR_NAMES_REFUSED =
  "this Runner's policy hashes names (discovery.names: hashed): a task names namespaces and nodes by their hash (h-…, as its results show them), never in clear";

const Count = z.number().int().min(0).max(100_000_000);

/** What one namespace (or the whole cluster) holds, by kind. */
export const KindCounts = z.strictObject({
  pods: Count,
  deployments: Count,
  statefulsets: Count,
  daemonsets: Count,
  cronjobs: Count,
  jobs: Count,
  services: Count,
  ingresses: Count,
  pvcs: Count,
});
export type KindCounts = z.infer<typeof KindCounts>;
export const KIND_COUNT_KEYS = Object.keys(KindCounts.shape) as (keyof KindCounts)[];

/** Systems found beside Kubernetes itself, from the API groups the cluster serves (its CRDs). */
export const Capability = z.enum(['cert-manager', 'argocd', 'flux', 'prometheus-operator', 'gateway-api', 'istio']);
export type Capability = z.infer<typeof Capability>;

/** The API group that reveals each capability. */
export const CAPABILITY_GROUPS: Readonly<Record<Capability, string>> = {
  'cert-manager': 'cert-manager.io',
  argocd: 'argoproj.io',
  flux: 'kustomize.toolkit.fluxcd.io',
  'prometheus-operator': 'monitoring.coreos.com',
  'gateway-api': 'gateway.networking.k8s.io',
  istio: 'networking.istio.io',
};

/** At most this many namespaces are listed by name; more are counted only (`truncated`). */
export const MAX_INVENTORY_NAMESPACES = 1000;

export const NamespaceInventory = KindCounts.extend({
  name: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
    .max(63),
});
export type NamespaceInventory = z.infer<typeof NamespaceInventory>;

/** A cluster's inventory, as `k8s.discover` returns it: counts, capabilities and (unless counts only) namespaces. */
export const Inventory = z.strictObject({
  v: z.literal(1),
  names: NamesMode,
  cluster: z.strictObject({
    nodes: Count,
    storageClasses: Count,
    namespaces: Count,
    capabilities: z.array(Capability).max(Capability.options.length),
  }),
  totals: KindCounts,
  /** Empty when the policy says counts only. */
  namespaces: z.array(NamespaceInventory).max(MAX_INVENTORY_NAMESPACES),
  truncated: z.boolean(),
});
export type Inventory = z.infer<typeof Inventory>;

export function emptyCounts(): KindCounts {
  return { pods: 0, deployments: 0, statefulsets: 0, daemonsets: 0, cronjobs: 0, jobs: 0, services: 0, ingresses: 0, pvcs: 0 };
}
