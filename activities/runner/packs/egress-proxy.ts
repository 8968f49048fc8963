/**
 * The two ways out of a script's sandbox, both served by the Runner on unix sockets that only the
 * sandbox can reach (see `sandbox.ts`; the in-sandbox relay turns them into 127.0.0.1 ports):
 *
 * - an HTTP proxy (CONNECT for https, absolute-URI requests for http) that lets a connection through
 *   only to a host and port the pack declared *and* the policy granted, and only to addresses the
 *   granted policy destination allows: the name is resolved here, every address it resolves to is
 *   checked ({@link addressRefusal}), and the checked address is dialled (no second lookup, so no DNS
 *   rebinding). Metadata host names are refused unless the policy destination names them exactly.
 * - a Kubernetes API proxy (plain HTTP, GET only): discovery, plus get and list of the group and
 *   resources the check's rules cover; forwarded with the Runner's read-only identity
 *   (`KubeClients.get`). Watches are refused (the proxy answers whole bodies only).
 *
 * A refusal is a 403 with a short reason naming the host or path only. Neither proxy logs anything:
 * what a script asks for may hold its secrets.
 *
 * Per sandbox, each proxy holds at most {@link MAX_CONNECTIONS} connections (more are closed as they
 * come), and the Kubernetes proxy forwards at most {@link KUBE_CONCURRENCY} requests at once (the rest
 * wait their turn), so a sandbox can make the Runner buffer at most that many answers of
 * {@link KUBE_MAX_BYTES}.
 */
import dns from 'node:dns';
import { chmodSync, chownSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { destinationFor, hostMatches } from '../../../common/runner-policy';
import type { KubernetesRule } from '../../../common/packs';
import type { KubeClients } from '../kube-api';
import { addressRefusal, METADATA_HOSTS } from '../policy';
import type { SandboxDestination } from './types';

const DEFAULT_PORTS = { https: 443, http: 80 } as const;
/** Longest wait for an upstream TCP connection. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Largest Kubernetes API body the proxy hands a script. */
export const KUBE_MAX_BYTES = 32 * 1024 * 1024;
/** Kubernetes requests of one sandbox forwarded at once; the others are queued. */
export const KUBE_CONCURRENCY = 4;
/** Connections one proxy accepts at once (per sandbox); more are closed as they are accepted. */
export const MAX_CONNECTIONS = 64;

/** A proxy listening on a unix socket; `close` ends every connection it holds. */
export interface SocketProxy {
  readonly socketPath: string;
  close(): Promise<void>;
}

/** Where a script wants to go through the proxy. */
export interface EgressTarget {
  scheme: 'https' | 'http';
  /** Lower-case host name or IP literal (IPv6 without brackets), as the WHATWG URL parser normalised it. */
  host: string;
  port: number;
  /** The request path (http only: a tunnel's path is unknown). */
  path?: string | undefined;
}

/**
 * The destination entry that lets `target` through, or why none does. Names only: the addresses are
 * checked by {@link resolveAllowed}.
 */
export function egressDecision(
  target: EgressTarget,
  destinations: readonly SandboxDestination[],
): SandboxDestination | { refused: string } {
  const where = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  for (const entry of destinations) {
    const { declared, policy } = entry;
    if (declared.scheme !== target.scheme || policy.scheme !== target.scheme) continue;
    if ((declared.port ?? DEFAULT_PORTS[declared.scheme]) !== target.port) continue;
    if (!hostMatches(declared.host, target.host)) continue;
    // The policy's own host, port and (for http, where it is known) path prefix: the loader matched
    // them already; checked again so that this module alone is enough to read the rule.
    const url = new URL(`${target.scheme}://${where}${target.path ?? '/'}`);
    if (target.path === undefined) {
      if (!hostMatches(policy.host, target.host)) continue;
      if (policy.port !== '*' && (policy.port ?? DEFAULT_PORTS[policy.scheme]) !== target.port) continue;
    } else if (!destinationFor([policy], url)) continue;
    // A wildcard never reaches a metadata service: only a destination naming it does (as the policy gate).
    if (METADATA_HOSTS.has(target.host) && (declared.host !== target.host || policy.host !== target.host))
      return { refused: `${where} is a cloud metadata service` };
    return entry;
  }
  return { refused: `${target.scheme} to ${where} is not a destination of this check` };
}

/** The addresses `host` resolves to, when every one of them is allowed by the entry's policy destination. */
export async function resolveAllowed(host: string, entry: SandboxDestination): Promise<string[] | { refused: string }> {
  let addresses: string[];
  if (net.isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await dns.promises.lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch {
      return { refused: `${host} does not resolve` };
    }
  }
  if (addresses.length === 0) return { refused: `${host} does not resolve` };
  for (const address of addresses) {
    const why = addressRefusal(address, entry.policy);
    if (why) return { refused: `${host} resolves to a ${why}, which destination ${entry.policy.name} does not allow` };
  }
  return addresses;
}

/** Dials the first address that answers. */
function dial(addresses: readonly string[], port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const attempt = (i: number) => {
      const address = addresses[i];
      if (address === undefined) return reject(new Error('unreachable'));
      const socket = net.connect({ host: address, port, timeout: CONNECT_TIMEOUT_MS });
      const failed = () => {
        socket.destroy();
        attempt(i + 1);
      };
      socket.once('timeout', failed);
      socket.once('error', failed);
      socket.once('connect', () => {
        socket.removeListener('timeout', failed);
        socket.removeListener('error', failed);
        socket.setTimeout(0);
        resolve(socket);
      });
    };
    attempt(0);
  });
}

const HOP_BY_HOP = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'upgrade',
]);

function endToEnd(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) out[name] = value;
  return out;
}

function refuseSocket(socket: Duplex, status: number, reason: string): void {
  const text = `lookout: ${reason}\n`;
  const phrase = status === 403 ? 'Forbidden' : status === 400 ? 'Bad Request' : 'Bad Gateway';
  socket.end(
    `HTTP/1.1 ${status} ${phrase}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}

function refuseResponse(res: http.ServerResponse, status: number, reason: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' }).end(`lookout: ${reason}\n`);
}

/** Listens on `socketPath` (owned by `owner`, mode 0600) until closed. */
async function listen(server: http.Server, socketPath: string, owner: { uid: number; gid: number } | undefined): Promise<SocketProxy> {
  const sockets = new Set<Duplex>();
  server.maxConnections = MAX_CONNECTIONS;
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (_err, s: Duplex) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  if (owner) chownSync(socketPath, owner.uid, owner.gid);
  chmodSync(socketPath, 0o600);
  return {
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Starts the egress proxy for one sandbox run on `socketPath`. Upstream connections are closed with
 * the proxy (and so with the run); `signal` aborts every connection early.
 */
export async function startEgressProxy(
  socketPath: string,
  destinations: readonly SandboxDestination[],
  options: { owner?: { uid: number; gid: number } | undefined; signal: AbortSignal },
): Promise<SocketProxy> {
  const upstreams = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    upstreams.add(s);
    s.on('close', () => upstreams.delete(s));
    if (options.signal.aborted) s.destroy();
  };
  const server = http.createServer((req, res) => {
    forwardHttp(req, res, destinations, track).catch(() => refuseResponse(res, 400, 'not a request this proxy understands'));
  });
  server.on('connect', (req: http.IncomingMessage, client: Duplex, head: Buffer) => {
    tunnel(req, client, head, destinations, track).catch(() => refuseSocket(client, 400, 'not a request this proxy understands'));
  });
  const proxy = await listen(server, socketPath, options.owner);
  const abort = () => {
    for (const s of upstreams) s.destroy();
  };
  options.signal.addEventListener('abort', abort, { once: true });
  return {
    socketPath,
    close: async () => {
      options.signal.removeEventListener('abort', abort);
      abort();
      await proxy.close();
    },
  };
}

async function tunnel(
  req: http.IncomingMessage,
  client: Duplex,
  head: Buffer,
  destinations: readonly SandboxDestination[],
  track: (s: net.Socket) => void,
): Promise<void> {
  client.on('error', () => client.destroy());
  const target = req.url ?? '';
  let url: URL;
  try {
    if (!/^[^/@?#\s]+:\d{1,5}$/.test(target)) throw new Error('not host:port');
    url = new URL(`https://${target}`);
  } catch {
    return refuseSocket(client, 400, 'CONNECT needs host:port');
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : 443;
  const entry = egressDecision({ scheme: 'https', host, port }, destinations);
  if ('refused' in entry) return refuseSocket(client, 403, entry.refused);
  const addresses = await resolveAllowed(host, entry);
  if ('refused' in addresses) return refuseSocket(client, 403, addresses.refused);
  let upstream: net.Socket;
  try {
    upstream = await dial(addresses, port);
  } catch {
    return refuseSocket(client, 502, `${host}:${port} did not accept a connection`);
  }
  track(upstream);
  if (client.destroyed) return void upstream.destroy();
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  upstream.on('error', close);
  client.on('error', close);
  client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length) upstream.write(head);
  upstream.pipe(client);
  client.pipe(upstream);
}

async function forwardHttp(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  destinations: readonly SandboxDestination[],
  track: (s: net.Socket) => void,
): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '');
  } catch {
    return refuseResponse(res, 400, 'a proxy request names an absolute http:// URL');
  }
  if (url.protocol !== 'http:') return refuseResponse(res, 400, 'use CONNECT for https');
  if (req.headers.upgrade) return refuseResponse(res, 403, 'protocol upgrades are not proxied');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : 80;
  const entry = egressDecision({ scheme: 'http', host, port, path: url.pathname }, destinations);
  if ('refused' in entry) return refuseResponse(res, 403, entry.refused);
  const addresses = await resolveAllowed(host, entry);
  if ('refused' in addresses) return refuseResponse(res, 403, addresses.refused);
  let socket: net.Socket;
  try {
    socket = await dial(addresses, port);
  } catch {
    return refuseResponse(res, 502, `${url.host} did not accept a connection`);
  }
  track(socket);
  const upstream = http.request({
    createConnection: () => socket,
    method: req.method,
    path: `${url.pathname}${url.search}`,
    headers: { ...endToEnd(req.headers), host: url.host, connection: 'close' },
    setHost: false,
  });
  upstream.on('error', () => refuseResponse(res, 502, `${url.host} failed`));
  upstream.on('response', (answer) => {
    res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
    answer.pipe(res);
  });
  req.pipe(upstream);
}

// ---------------------------------------------------------------------------------------------
// Kubernetes API

/** A request the Kubernetes proxy forwards: the path with its query, as the script sent it. */
export type KubeDecision = { forward: string } | { refused: string; status: number };

/** Subresources that reach into a workload or a node rather than read an object. */
const NEVER_SUBRESOURCES = new Set(['exec', 'attach', 'portforward', 'proxy']);
/** Namespace subresources (as the API server's request-info parser). */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
const SEGMENT = /^[A-Za-z0-9][-A-Za-z0-9._:]*$/;
const VERSION = /^v[0-9]+((alpha|beta)[0-9]+)?$/;

/**
 * Whether a script may make this Kubernetes API request: GET only; discovery paths; otherwise the
 * group, resource (with its subresource) and verb (`get` for a named object, `list` for a collection)
 * must be covered by one of `rules`. Watches are refused; `secrets` always are.
 */
export function kubeDecision(method: string | undefined, rawUrl: string | undefined, rules: readonly KubernetesRule[]): KubeDecision {
  if (method !== 'GET') return { refused: `${method ?? '?'} is not allowed: scripts only read`, status: 405 };
  if (!rawUrl?.startsWith('/') || rawUrl.startsWith('//')) return { refused: 'not an API path', status: 400 };
  const url = new URL(rawUrl, 'http://kubernetes.invalid');
  const path = url.pathname;
  if (path.includes('%') || path.includes('//')) return { refused: 'escaped or empty path segments are not allowed', status: 403 };
  const watch = url.searchParams.get('watch');
  if (watch !== null && watch !== 'false' && watch !== '0') return { refused: 'watch is not available to scripts', status: 403 };
  const parts = path.slice(1).split('/');
  if (parts.at(-1) === '') parts.pop();
  if (parts.some((p) => !SEGMENT.test(p))) return { refused: `${path} is not an API path`, status: 403 };
  const forward = { forward: `${path}${url.search}` };

  // Discovery.
  const [root, second, third] = parts;
  if (parts.length === 1 && (root === 'api' || root === 'apis' || root === 'version')) return forward;
  if (root === 'openapi' && (second === 'v2' ? parts.length === 2 : second === 'v3')) return forward;
  if (root === 'api' && parts.length === 2 && VERSION.test(second ?? '')) return forward;
  if (root === 'apis' && (parts.length === 2 || (parts.length === 3 && VERSION.test(third ?? '')))) return forward;

  let group: string;
  let rest: string[];
  if (root === 'api' && VERSION.test(second ?? '')) {
    group = '';
    rest = parts.slice(2);
  } else if (root === 'apis' && second !== undefined && VERSION.test(third ?? '')) {
    group = second;
    rest = parts.slice(3);
  } else return { refused: `${path} is not a discovery or resource path`, status: 403 };
  if (rest[0] === 'watch') return { refused: 'watch is not available to scripts', status: 403 };
  if (rest[0] === 'namespaces' && rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2] ?? '')) rest = rest.slice(2);
  const [resource, name, subresource, ...more] = rest;
  if (resource === undefined || more.length) return { refused: `${path} is not a resource path`, status: 403 };
  if (resource === 'secrets') return { refused: 'secrets are read through secret bindings only', status: 403 };
  if (subresource !== undefined && NEVER_SUBRESOURCES.has(subresource))
    return { refused: `${resource}/${subresource} is never available to scripts`, status: 403 };
  const verb = name === undefined ? 'list' : 'get';
  const key = subresource === undefined ? resource : `${resource}/${subresource}`;
  const covered = rules.some(
    (r) => (r.apiGroups.includes(group) || r.apiGroups.includes('*')) && r.resources.includes(key) && r.verbs.includes(verb),
  );
  if (!covered) return { refused: `${verb} ${key}${group ? `.${group}` : ''} is not granted to this check`, status: 403 };
  return forward;
}

function kubeStatus(res: http.ServerResponse, code: number, message: string): void {
  const reason = code === 403 ? 'Forbidden' : code === 405 ? 'MethodNotAllowed' : code === 400 ? 'BadRequest' : 'ServiceUnavailable';
  const body = JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `lookout: ${message}`,
    reason,
    code,
  });
  res.writeHead(code, { 'content-type': 'application/json' }).end(body);
}

/** A counting semaphore: `run` starts at most `limit` tasks at once, the others in the order they came. */
function limiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await task();
    } finally {
      // Hand the slot on as it is (active stays), or free it.
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

/**
 * Starts the Kubernetes API proxy for one sandbox run on `socketPath` (see {@link kubeDecision}); it
 * forwards at most {@link KUBE_CONCURRENCY} requests at once, and drops a queued request whose client
 * went away.
 */
export async function startKubeProxy(
  socketPath: string,
  kube: { clients: KubeClients; rules: readonly KubernetesRule[] },
  options: { owner?: { uid: number; gid: number } | undefined; signal: AbortSignal },
): Promise<SocketProxy> {
  const limit = limiter(KUBE_CONCURRENCY);
  const server = http.createServer((req, res) => {
    req.resume();
    const decision = kubeDecision(req.method, req.url, kube.rules);
    if ('refused' in decision) return kubeStatus(res, decision.status, decision.refused);
    limit(async () => {
      if (res.destroyed || options.signal.aborted) return;
      const answer = await kube.clients.get(decision.forward, { signal: options.signal, maxBytes: KUBE_MAX_BYTES });
      res.writeHead(answer.status, { 'content-type': answer.contentType || 'application/json' }).end(answer.body);
    }).catch(() => {
      if (res.headersSent || res.destroyed) res.destroy();
      else kubeStatus(res, 503, 'the Kubernetes API did not answer');
    });
  });
  return listen(server, socketPath, options.owner);
}
