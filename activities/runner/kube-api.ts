/**
 * What the checks need of the Kubernetes API without loading the client library: the clients'
 * shape (types only), paged listing folded page by page, API errors as {@link KubeError}s, and
 * quantities. `@kubernetes/client-node` (2,742 model files, some 50 MiB of a Runner's memory) is
 * loaded by `kube.ts` alone, which the Runner imports only when it has a cluster identity.
 */
import type { AppsV1Api, AutoscalingV2Api, BatchV1Api, CoreV1Api, CustomObjectsApi, DiscoveryV1Api } from '@kubernetes/client-node';

export const PAGE_SIZE = 500;

export interface KubeClients {
  /** Longest wait for one API call (one page of a list). */
  timeoutMs: number;
  /** Objects per page of a list. */
  pageSize: number;
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
  discovery: DiscoveryV1Api;
  autoscaling: AutoscalingV2Api;
  /** Custom resources (cert-manager, Argo CD, Flux): untyped objects, listed with {@link customPage}. */
  custom: CustomObjectsApi;
  /**
   * A raw read of the API server with the Runner's identity: GET only, the path (with its query)
   * below the server's base URL, bounded by `timeoutMs`. For what the typed clients do not cover
   * (discovery, any kind a check pack reads). Answers the status, the content type and the body
   * (at most `maxBytes`, default 64 MiB; a larger body fails).
   */
  get(path: string, options: { signal: AbortSignal; maxBytes?: number }): Promise<{ status: number; contentType: string; body: Buffer }>;
  /** Closes the shared connections to the API server; calls made afterwards fail. */
  close(): Promise<void>;
}

/** A Kubernetes API failure, described without response bodies (which may echo object data). */
export class KubeError extends Error {
  constructor(
    readonly status: number | 'timeout' | 'network',
    readonly what: string,
  ) {
    super(KubeError.describe(status, what));
    this.name = 'KubeError';
  }

  static describe(status: KubeError['status'], what: string): string {
    switch (status) {
      case 403:
        return `cannot ${what}: forbidden (403); the Runner's role does not allow it`;
      case 404:
        return `cannot ${what}: not found (404); the API or resource does not exist in this cluster`;
      case 410:
        return `cannot ${what}: the list changed too much while paging (410, continue token expired); run the check again`;
      case 401:
        return `cannot ${what}: unauthorized (401); the Runner's credentials were refused`;
      case 'timeout':
        return `cannot ${what}: the Kubernetes API did not answer in time`;
      case 'network':
        return `cannot ${what}: the Kubernetes API is unreachable`;
      default:
        return `cannot ${what}: the Kubernetes API answered ${status}`;
    }
  }
}

export interface CallOptions {
  signal: AbortSignal;
  timeoutMs: number;
  /** Called after each page, so that long listings keep the activity's heartbeat alive. */
  onPage?: () => void;
}

/**
 * The HTTP status of an `ApiException` of the client library, recognised by its shape (a numeric
 * `code` beside `body` and `headers`) so that this module need not load the library: network
 * errors carry a string `code` (`ECONNREFUSED`) and no `body`.
 */
function apiStatus(err: unknown): number | undefined {
  if (!(err instanceof Error) || !('body' in err) || !('headers' in err)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

async function call<T>(what: string, fn: () => Promise<T>, { signal, timeoutMs }: CallOptions): Promise<T> {
  if (signal.aborted) throw signal.reason;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KubeError('timeout', what)), timeoutMs);
  });
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('cancelled'));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([fn(), timeout, aborted]);
  } catch (err) {
    if (err instanceof KubeError || signal.aborted) throw err;
    const status = apiStatus(err);
    if (status !== undefined) throw new KubeError(status, what);
    // The request's own abort (makeClient) may win the race against the timer above.
    if (err instanceof Error && err.name === 'TimeoutError') throw new KubeError('timeout', what);
    throw new KubeError('network', what);
  } finally {
    clearTimeout(timer);
    // The listener holds the race, and with it this call's result: left on a signal that lives as
    // long as the run, it would keep every page of every listing in memory until the run ends.
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

export interface Page<T> {
  items: T[];
  metadata?: { _continue?: string } | undefined;
}

/**
 * Folds a paged list page by page: each page is handed to `onPage` as it arrives and then dropped,
 * so memory holds one page (`limit` objects), not the list. Resolves with the number of items.
 */
export async function eachPage<T>(
  what: string,
  page: (cont: string | undefined) => Promise<Page<T>>,
  options: CallOptions,
  onPage: (items: T[]) => void,
): Promise<number> {
  let count = 0;
  let cont: string | undefined;
  do {
    const res = await call(what, () => page(cont), options);
    count += res.items.length;
    onPage(res.items);
    cont = res.metadata?._continue || undefined;
    options.onPage?.();
  } while (cont);
  return count;
}

/** Every item of a paged list, fetched page by page (for small lists; checks fold with {@link eachPage}). */
export async function listAll<T>(what: string, page: (cont: string | undefined) => Promise<Page<T>>, options: CallOptions): Promise<T[]> {
  const items: T[] = [];
  await eachPage(what, page, options, (p) => items.push(...p));
  return items;
}

/** A custom resource by its API: group, version and plural name (`cert-manager.io`, `v1`, `certificates`). */
export interface CustomResource {
  group: string;
  version: string;
  plural: string;
}

/**
 * One page of custom objects, in `namespace` or across all namespaces, for {@link eachPage}. The
 * objects are the API server's JSON as it is (`T` says what a check reads of them: declare every
 * field optional); the list's `continue` token is passed on as `_continue`, as the typed clients do.
 */
export async function customPage<T>(
  kube: KubeClients,
  resource: CustomResource,
  namespace: string | undefined,
  query: { limit: number; _continue?: string; labelSelector?: string },
): Promise<Page<T>> {
  const { group, version, plural } = resource;
  const list = (
    namespace
      ? await kube.custom.listNamespacedCustomObject({ group, version, plural, namespace, ...query })
      : await kube.custom.listCustomObjectForAllNamespaces({ group, version, resourcePlural: plural, ...query })
  ) as { items?: unknown; metadata?: { continue?: unknown } } | undefined;
  const cont = list?.metadata?.continue;
  return {
    items: Array.isArray(list?.items) ? (list.items as T[]) : [],
    metadata: typeof cont === 'string' && cont ? { _continue: cont } : {},
  };
}

/** Parses a Kubernetes quantity (`500m`, `1Gi`, `2`, `1e3`) into a number. */
export function parseQuantity(q: string): number {
  const m = /^([+-]?[0-9.]+)([eE][+-]?[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(q.trim());
  if (!m?.[1]) return Number.NaN;
  const base = Number(m[1] + (m[2] ?? ''));
  const factor: Record<string, number> = {
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
  };
  return base * (m[3] ? (factor[m[3]] ?? 1) : 1);
}

/**
 * Clients that load themselves on their first call: `load` runs once, when a check or the `k8s:`
 * secret provider first calls the API, so a Runner that never does keeps the client library out of
 * its memory. Every method of the API objects is async, so each can wait for the load; a failed
 * load fails that call (and is tried again on the next). `timeoutMs` and `pageSize` must be those
 * `load` gives its clients.
 */
export function lazyKubeClients(load: () => Promise<KubeClients>, settings: { timeoutMs: number; pageSize: number }): KubeClients {
  let loading: Promise<KubeClients> | undefined;
  const loaded = () =>
    (loading ??= load().catch((err: unknown) => {
      loading = undefined;
      throw err;
    }));
  const api = <K extends 'core' | 'apps' | 'batch' | 'discovery' | 'autoscaling' | 'custom'>(key: K): KubeClients[K] =>
    new Proxy(
      {},
      {
        // Not a thenable: `then` (and symbols) are left undefined, so that awaiting the object is harmless.
        get: (_, method) =>
          method === 'then' || typeof method === 'symbol'
            ? undefined
            : async (...args: unknown[]) => {
                const target = (await loaded())[key] as unknown as Record<string | symbol, (...a: unknown[]) => Promise<unknown>>;
                return target[method]!(...args);
              },
      },
    ) as KubeClients[K];
  return {
    ...settings,
    core: api('core'),
    apps: api('apps'),
    batch: api('batch'),
    discovery: api('discovery'),
    autoscaling: api('autoscaling'),
    custom: api('custom'),
    get: async (path, options) => (await loaded()).get(path, options),
    close: async () => {
      if (loading) await (await loading.catch(() => undefined))?.close();
    },
  };
}
