/**
 * What the checks of custom resources (cert-manager, Argo CD, Flux) share: listing a kind whose CRD
 * the cluster may not have, and reading the status conditions those controllers write.
 */
import { customPage, KubeError, type CustomResource } from '../../kube-api';
import { foldScoped, type KubeRun, type Scope } from './common';

/** A status condition as the controllers of these kinds write it (every field optional: it is untyped JSON). */
export interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/** The part of a custom object every check reads: its name, namespace and generation. */
export interface CustomObject {
  metadata?: { name?: string; namespace?: string; generation?: number } | undefined;
}

/** A custom kind a check reads: its API, and the kind's name as issues show it. */
export interface CustomKind extends CustomResource {
  kind: string;
}

/**
 * Folds the objects of a custom kind in the scope page by page, as {@link foldScoped} does.
 * Resolves with the number of objects, or `undefined` when the cluster does not serve the kind
 * (404: its CRD is not installed, or not at this version). The API server authorises before it
 * routes, so a Runner whose role lacks the kind gets 403, an error, never a quiet `undefined`.
 * Pages reach `onPage` as they arrive: a caller that must not keep a partial fold (a CRD removed
 * while paging) collects per kind and keeps the lot only when a number comes back.
 */
export async function foldCustom<T extends CustomObject>(
  run: KubeRun,
  kind: CustomKind,
  scope: Scope,
  onPage: (items: T[]) => void,
): Promise<number | undefined> {
  try {
    return await foldScoped<T>(
      run,
      `${kind.plural}.${kind.group}/${kind.version}`,
      scope,
      (q) => customPage<T>(run.kube, kind, undefined, q),
      (namespace, q) => customPage<T>(run.kube, kind, namespace, q),
      onPage,
    );
  } catch (err) {
    if (err instanceof KubeError && err.status === 404) return undefined;
    throw err;
  }
}

/** The condition of `type`, if the controller wrote one. */
export function conditionOf(conditions: unknown, type: string): Condition | undefined {
  if (!Array.isArray(conditions)) return undefined;
  return (conditions as Condition[]).find((c) => typeof c === 'object' && c !== null && c.type === type);
}
