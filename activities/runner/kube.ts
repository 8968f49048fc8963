/**
 * The Runner's Kubernetes access: its own identity (in-cluster service account, or a kubeconfig
 * path), read-only calls only, every call bounded in time, and one pool of keep-alive connections
 * to the API server shared by every call. This module loads `@kubernetes/client-node`; the Runner
 * imports it only when it has a cluster identity (workers/runner.ts), and checks use the light
 * helpers of `kube-api.ts`, re-exported here.
 */
import {
  AppsV1Api,
  AutoscalingV2Api,
  BatchV1Api,
  bufferFromFileOrString,
  CoreV1Api,
  createConfiguration,
  CustomObjectsApi,
  DiscoveryV1Api,
  HttpMethod,
  KubeConfig,
  RequestContext,
  ServerConfiguration,
  setHeaderMiddleware,
  type Configuration,
  type SecurityAuthentication,
} from '@kubernetes/client-node';
import type { AgentOptions } from 'node:https';
import { Agent, fetch } from 'undici';
import { PAGE_SIZE, type KubeClients } from './kube-api';

export * from './kube-api';

/** Connections to the API server at most (more calls wait for a free one). */
const MAX_CONNECTIONS = 32;

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
  const dispatcher = sharedDispatcher(kc);
  const auth: SecurityAuthentication = {
    getName: () => 'kubeconfig, shared connections',
    // The kubeconfig sets the headers of each call (a token file is re-read as it rotates); the
    // library would also give each call a connection pool of its own, i.e. a new TLS handshake per
    // call (its 2.0.1 builds a new undici Agent per request): every call uses the shared one instead.
    applySecurityAuthentication: async (context) => {
      await kc.applySecurityAuthentication(context);
      if (dispatcher) context.setDispatcher(dispatcher);
    },
  };
  const make = <T>(api: new (config: Configuration) => T) => makeClient(kc, auth, api, timeoutMs);
  return {
    timeoutMs,
    pageSize: options.pageSize ?? PAGE_SIZE,
    core: make(CoreV1Api),
    apps: make(AppsV1Api),
    batch: make(BatchV1Api),
    discovery: make(DiscoveryV1Api),
    autoscaling: make(AutoscalingV2Api),
    custom: make(CustomObjectsApi),
    get: (path, { signal, maxBytes }) => rawGet(kc, dispatcher, path, AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]), maxBytes),
    close: async () => dispatcher?.close(),
  };
}

/**
 * One undici Agent (keep-alive, at most {@link MAX_CONNECTIONS} connections) with the TLS material of
 * the kubeconfig's current cluster and user, read once: a Runner picks up a rotated CA or client
 * certificate when it restarts (in-cluster, the service account's CA does not rotate under a
 * running pod; its token, a header, is re-read per call). Clusters behind a proxy keep the
 * library's own per-call dispatcher (undefined here).
 */
function sharedDispatcher(kc: KubeConfig): Agent | undefined {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  if (cluster.proxyUrl) return undefined;
  const user = kc.getCurrentUser();
  const tls: AgentOptions = {};
  const ca = bufferFromFileOrString(cluster.caFile, cluster.caData);
  if (ca) tls.ca = ca;
  const cert = user ? bufferFromFileOrString(user.certFile, user.certData) : null;
  if (cert) tls.cert = cert;
  const key = user ? bufferFromFileOrString(user.keyFile, user.keyData) : null;
  if (key) tls.key = key;
  if (cluster.skipTLSVerify) tls.rejectUnauthorized = false;
  if (cluster.tlsServerName) tls.servername = cluster.tlsServerName;
  // The library's own mapping of these options (and its refusal of plain http without skipTLSVerify).
  const options = kc.createDispatcherOptions(cluster, tls);
  const connect = options.type === 'agent' ? options.connect : { keepAlive: true, keepAliveInitialDelay: 30_000 };
  return new Agent({ connect, connections: MAX_CONNECTIONS });
}

/**
 * A client of one API group, plus an abort of every request after `timeoutMs`: a call that
 * {@link call} gave up on is aborted too, which closes its connection instead of leaving it to an
 * API server that accepted it and never answers.
 */
function makeClient<T>(kc: KubeConfig, auth: SecurityAuthentication, api: new (config: Configuration) => T, timeoutMs: number): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  return new api(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: auth },
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

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** A GET with the kubeconfig's authentication over the shared connections; nothing but GET is possible. */
async function rawGet(
  kc: KubeConfig,
  dispatcher: Agent | undefined,
  path: string,
  signal: AbortSignal,
  maxBytes = DEFAULT_MAX_BYTES,
): Promise<{ status: number; contentType: string; body: Buffer }> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  if (!path.startsWith('/') || path.startsWith('//')) throw new Error('a Kubernetes API path starts with a single /');
  const context = new RequestContext(`${cluster.server.replace(/\/+$/, '')}${path}`, HttpMethod.GET);
  await kc.applySecurityAuthentication(context);
  const headers: Record<string, string> = { ...context.getHeaders(), accept: 'application/json', 'user-agent': 'lookout-runner' };
  const response = await fetch(context.getUrl(), {
    method: 'GET',
    headers,
    signal,
    redirect: 'manual',
    ...((dispatcher ?? context.getDispatcher()) ? { dispatcher: dispatcher ?? context.getDispatcher() } : {}),
  });
  const chunks: Buffer[] = [];
  let size = 0;
  if (response.body) {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > maxBytes) {
        await response.body.cancel().catch(() => undefined);
        throw new Error(`the Kubernetes API answered more than ${maxBytes} bytes for one request`);
      }
      chunks.push(Buffer.from(chunk));
    }
  }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: Buffer.concat(chunks) };
}
