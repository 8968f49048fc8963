/**
 * The API's request metrics: counts by method, route template and status, and latency by method and
 * route template. The label is the template a route was declared with (`/v1/runs/:id`), never the
 * path a client sent (it holds ids); a request no route matched is `unmatched`.
 */
import type { RequestHandler } from 'express';
import { Counter, Histogram, type Registry } from 'prom-client';

export function apiRequestMetrics(registry: Registry): RequestHandler {
  const requests = new Counter({
    name: 'lookout_api_requests_total',
    help: 'HTTP requests answered by the API, by method, route template and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'lookout_api_request_duration_seconds',
    help: 'Time from a request arriving to its answer being sent, by method and route template.',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      // Express sets req.route on the request a declared route handled; the method label is bounded
      // by the routes' own methods for matched requests, else by Node's list of known methods.
      const template = (req.route as { path?: unknown } | undefined)?.path;
      const route = typeof template === 'string' ? `${req.baseUrl}${template}` : 'unmatched';
      const method = route === 'unmatched' && !KNOWN_METHODS.has(req.method) ? 'other' : req.method;
      requests.labels(method, route, String(res.statusCode)).inc();
      duration.labels(method, route).observe(Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  };
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
