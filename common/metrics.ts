/**
 * Prometheus metrics of one process: a prom-client registry with the process's own metrics and the
 * Node.js defaults, served on a port of its own (LOOKOUT_METRICS_LISTEN, loopback by default),
 * optionally behind a bearer token (LOOKOUT_METRICS_TOKEN). A worker process also appends the
 * Temporal SDK's own metrics, which its Core runtime serves on an ephemeral loopback port.
 *
 * Labels hold bounded, opaque values only (check types from the known list, statuses, route
 * templates, failure types): never a secret, a resource name, a host name or a raw path.
 */
import { createServer, get, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { timingSafeEqual, createHash } from 'node:crypto';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { isCheckType } from './checks';
import type { Logger } from './logger';
import type { TelemetrySettings } from './config';

/** A registry for one process, with the Node.js process metrics (`process_*`, `nodejs_*`). */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** A check type as a label: one of the known types, else `unknown` (a hostile request must not mint series). */
export function checkTypeLabel(value: unknown): string {
  return typeof value === 'string' && isCheckType(value) ? value : 'unknown';
}

/** Buckets for result sizes in bytes (the boundary caps a result well below 1 MiB). */
export const RESULT_BYTES_BUCKETS = [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576];

/** A free TCP port on loopback, for the Temporal SDK's own Prometheus endpoint. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The text of the Temporal SDK's Prometheus endpoint (empty if it does not answer within a second). */
function scrapeLoopback(address: string): Promise<string> {
  return new Promise((resolve) => {
    const req = get(`http://${address}/metrics`, { timeout: 1_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(res.statusCode === 200 ? Buffer.concat(chunks).toString('utf8') : ''));
      res.on('error', () => resolve(''));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(''));
  });
}

const digest = (v: string) => createHash('sha256').update(v).digest();

export interface MetricsServerOptions {
  settings: Pick<TelemetrySettings, 'LOOKOUT_METRICS_LISTEN' | 'LOOKOUT_METRICS_TOKEN'>;
  registry: Registry;
  logger: Logger;
  /** `host:port` of the Temporal SDK's own Prometheus endpoint, appended to /metrics. */
  temporalMetricsAddress?: string | undefined;
}

/**
 * Serves `GET /metrics` on LOOKOUT_METRICS_LISTEN, or nothing when it is `off`. A port that cannot
 * be bound is logged and left alone: metrics never stop the process from doing its work.
 */
export function startMetricsServer({ settings, registry, logger, temporalMetricsAddress }: MetricsServerOptions): Server | undefined {
  const listen = settings.LOOKOUT_METRICS_LISTEN;
  if (!listen) return undefined;
  const token = settings.LOOKOUT_METRICS_TOKEN ? digest(`Bearer ${settings.LOOKOUT_METRICS_TOKEN}`) : undefined;
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') return void res.writeHead(404).end();
    // Digests of equal length, so the comparison takes the same time whatever was sent.
    if (token && !timingSafeEqual(digest(req.headers.authorization ?? ''), token))
      return void res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
    void Promise.all([registry.metrics(), temporalMetricsAddress ? scrapeLoopback(temporalMetricsAddress) : '']).then(
      ([own, temporal]) => res.writeHead(200, { 'content-type': registry.contentType }).end(temporal ? `${own}\n${temporal}` : own),
      (err: unknown) => {
        logger.warn({ err }, 'metrics could not be collected');
        res.writeHead(500).end();
      },
    );
  });
  server.on('error', (err) =>
    logger.warn({ err, host: listen.host, port: listen.port }, 'metrics endpoint could not listen; metrics are off'),
  );
  server.listen(listen.port, listen.host, () => logger.info({ host: listen.host, port: listen.port }, 'metrics listening'));
  server.unref();
  return server;
}
