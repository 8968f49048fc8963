/**
 * The Runner's Kubernetes access: its own identity (in-cluster service account, or a kubeconfig
 * path), read-only calls only, lists paged with `limit` + `continue` so memory stays bounded, and
 * every call bounded in time. API errors become {@link KubeError}s that checks turn into an `error`
 * result with a clear message instead of a crash.
 */
import {
  ApiException,
  AppsV1Api,
  AutoscalingV2Api,
  BatchV1Api,
  CoreV1Api,
  createConfiguration,
  DiscoveryV1Api,
  KubeConfig,
  ServerConfiguration,
  setHeaderMiddleware,
  type Configuration,
} from '@kubernetes/client-node';

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
}

/** Loads the Runner's cluster identity: `kubeconfig` when given, else the pod's service account, else none. */
export function loadKubeClients(options: {
  kubeconfig?: string | undefined;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  pageSize?: number;
}): KubeClients | undefined {
  const kc = new KubeConfig();
  if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
  else if ((options.env ?? process.env)['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
  else return undefined;
  const timeoutMs = options.timeoutMs ?? 15_000;
  return {
    timeoutMs,
    pageSize: options.pageSize ?? PAGE_SIZE,
    core: makeClient(kc, CoreV1Api, timeoutMs),
    apps: makeClient(kc, AppsV1Api, timeoutMs),
    batch: makeClient(kc, BatchV1Api, timeoutMs),
    discovery: makeClient(kc, DiscoveryV1Api, timeoutMs),
    autoscaling: makeClient(kc, AutoscalingV2Api, timeoutMs),
  };
}

/**
 * `kc.makeApiClient`, plus an abort of every request after `timeoutMs`. Without it a call that
 * {@link call} gave up on stays open: the library makes a connection pool per request, so an API
 * server that accepts and never answers would hold one socket of the Runner per timed-out call, for good.
 */
function makeClient<T>(kc: KubeConfig, api: new (config: Configuration) => T, timeoutMs: number): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  return new api(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      middleware: [setHeaderMiddleware('User-Agent', 'lookout-runner')],
      promiseMiddleware: [
        {
          pre: async (context) => {
            context.setSignal(AbortSignal.timeout(timeoutMs));
            return context;
          },
          post: async (context) => context,
        },
      ],
    }),
  );
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

async function call<T>(what: string, fn: () => Promise<T>, { signal, timeoutMs }: CallOptions): Promise<T> {
  if (signal.aborted) throw signal.reason;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KubeError('timeout', what)), timeoutMs);
  });
  const aborted = new Promise<never>((_, reject) =>
    signal.addEventListener('abort', () => reject(signal.reason instanceof Error ? signal.reason : new Error('cancelled')), { once: true }),
  );
  try {
    return await Promise.race([fn(), timeout, aborted]);
  } catch (err) {
    if (err instanceof KubeError || signal.aborted) throw err;
    if (err instanceof ApiException) throw new KubeError(err.code, what);
    // The request's own abort (makeClient) may win the race against the timer above.
    if (err instanceof Error && err.name === 'TimeoutError') throw new KubeError('timeout', what);
    throw new KubeError('network', what);
  } finally {
    clearTimeout(timer);
  }
}

/** Every item of a paged list, fetched `PAGE_SIZE` at a time. */
export async function listAll<T>(
  what: string,
  page: (cont: string | undefined) => Promise<{ items: T[]; metadata?: { _continue?: string } | undefined }>,
  options: CallOptions,
): Promise<T[]> {
  const items: T[] = [];
  let cont: string | undefined;
  do {
    const res = await call(what, () => page(cont), options);
    items.push(...res.items);
    cont = res.metadata?._continue || undefined;
    options.onPage?.();
  } while (cont);
  return items;
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
