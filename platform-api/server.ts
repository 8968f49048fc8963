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

export function createApiServer(app: Express, tls?: { certFile: string; keyFile: string }): http.Server {
  if (!tls) return http.createServer(app);
  return https.createServer(serverTlsOptions({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }), app);
}
