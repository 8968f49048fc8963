/**
 * The API's listener: HTTPS when given a certificate (TLS 1.2 minimum, 1.3 preferred by clients
 * that have it, AEAD suites only: see common/tls.ts), plain HTTP otherwise (behind a TLS-terminating
 * ingress, or on loopback for the quick start).
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { Express } from 'express';
import { serverTlsOptions } from '../common/tls';

/**
 * How long an idle keep-alive connection is kept: longer than the idle timeouts of the proxies and
 * clients in front (load balancers commonly 60 s, undici 4 s), so that the other side closes it
 * first. A server that closes first races the client's next request on that connection, which
 * then fails with ECONNRESET (not retried for a POST).
 */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export function createApiServer(app: Express, tls?: { certFile: string; keyFile: string }): http.Server {
  const server = tls
    ? https.createServer(serverTlsOptions({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }), app)
    : http.createServer(app);
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // Above the keep-alive timeout, as Node requires for it to hold.
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;
  return server;
}
