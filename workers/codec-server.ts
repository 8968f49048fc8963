/**
 * The codec server, hosted by the customer beside the Runner: `/encode` and `/decode` for the
 * Temporal Web UI and CLI, holding only its own workspace's keys. A codec server with keys is a
 * decryption oracle, so every request is authenticated (bearer token; `none` is accepted only on
 * loopback, for the quick start), CORS admits only the configured UI origins, and every decode is
 * written to its audit log.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Payload } from '@temporalio/common';
import express, { type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import { z } from 'zod';
import { CodecError, KEY_ID_METADATA, WorkspaceCodec } from '../common/codec';
import { CodecServerConfig } from '../common/config';
import { FileKeyring, type Keyring } from '../common/keyring';
import { createLogger, type Logger } from '../common/logger';
import { serverTlsOptions } from '../common/tls';
import { ApiError, AuthenticationError, ForbiddenError, InputError, notFoundHandler, problemHandler } from '../common/problem';
import { loadConfigOrExit, runMain } from '../common/process';

const WirePayloads = z.strictObject({
  payloads: z.array(z.object({ metadata: z.record(z.string(), z.base64()).optional(), data: z.base64().optional() })).max(1_000),
});

export interface CodecAppOptions {
  keyring: Keyring;
  logger: Logger;
  /** Bearer token accepted, or `undefined` for no authentication (loopback only). */
  token: string | undefined;
  /**
   * The token `/encode` requires, distinct from the decode token; without it `/encode` is off. An
   * encoding codec server lets whoever holds its token write payloads Temporal will accept as the
   * workspace's, outside the API's authorization and audit.
   */
  encodeToken?: string | undefined;
  allowedOrigins: readonly string[];
  namespaces: readonly string[];
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

function cors(allowed: ReadonlySet<string>): RequestHandler {
  return (req, res, next) => {
    const origin = req.get('origin');
    res.vary('Origin');
    if (origin !== undefined && !allowed.has(origin)) return next(new ForbiddenError('origin not allowed'));
    if (origin) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Methods', 'POST, GET, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
      res.setHeader('Access-Control-Max-Age', '600');
    }
    // Preflights carry no credentials: they are answered before authentication.
    if (req.method === 'OPTIONS') return void res.status(204).end();
    next();
  };
}

function authenticate(token: string | undefined): RequestHandler {
  const expected = token === undefined ? undefined : sha256(token);
  return (req, _res, next) => {
    if (!expected) return next();
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    if (!match?.[1] || !timingSafeEqual(sha256(match[1]), expected))
      return next(new AuthenticationError('a valid bearer token is required'));
    next();
  };
}

/** The details of a workflow patch marker, which the SDK's core writes unencoded. */
function isPatchMarker(p: Payload): boolean {
  if (Buffer.from(p.metadata?.['encoding'] ?? new Uint8Array()).toString() !== 'json/plain') return false;
  try {
    const value = JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString('utf8')) as unknown;
    return (
      typeof value === 'object' &&
      value !== null &&
      Object.keys(value).sort().join(',') === 'deprecated,id' &&
      typeof (value as { id: unknown }).id === 'string' &&
      /^[a-z0-9-]{1,64}$/.test((value as { id: string }).id) &&
      typeof (value as { deprecated: unknown }).deprecated === 'boolean'
    );
  } catch {
    return false;
  }
}

const toPayload = (p: z.infer<typeof WirePayloads>['payloads'][number]): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toWire = (p: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

export function createCodecApp({ keyring, logger, token, encodeToken, allowedOrigins, namespaces }: CodecAppOptions): Express {
  const codec = new WorkspaceCodec(keyring);
  const app = express();
  app.disable('x-powered-by');
  app.use(helmet({ crossOriginResourcePolicy: false }));
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.use(cors(new Set(allowedOrigins)));
  const decodeAuth = authenticate(token);
  const encodeAuth = encodeToken ? authenticate(encodeToken) : undefined;
  app.use((req, res, next) => {
    if (req.path !== '/encode') return decodeAuth(req, res, next);
    if (!encodeAuth) {
      logger.warn({ audit: 'codec.encode', outcome: 'refused', origin: req.get('origin'), reason: 'encode_off' }, 'codec request refused');
      return next(new ForbiddenError('encoding is off on this codec server (LOOKOUT_CODEC_ENCODE_TOKEN)'));
    }
    return encodeAuth(req, res, next);
  });
  app.use(express.json({ limit: '8mb' }));

  const namespaceOf = (ns: string | undefined) => {
    // The Temporal CLI sends an empty X-Namespace header: that means the default.
    const namespace = ns || (namespaces[0] ?? 'default');
    if (!namespaces.includes(namespace)) throw new ForbiddenError('namespace not served by this codec server');
    return namespace;
  };

  /**
   * Decodes what the UI or CLI shows. The one payload Temporal itself writes in clear, the SDK's
   * patch marker (`json/plain` `{"id":…,"deprecated":…}`, naming a code version), is handed back as
   * it is: refusing it would hide the whole history. Anything else must be ciphertext.
   */
  const decodeForDisplay = async (payloads: Payload[]): Promise<Payload[]> => {
    const decoded = await codec.decode(payloads.filter((p) => !isPatchMarker(p)));
    let next = 0;
    return payloads.map((p) => (isPatchMarker(p) ? p : decoded[next++]!));
  };

  const handle =
    (direction: 'encode' | 'decode'): RequestHandler =>
    async (req, res) => {
      const namespace = namespaceOf(req.get('x-namespace'));
      const parsed = WirePayloads.safeParse(req.body);
      if (!parsed.success) throw InputError.fromZod('payloads', parsed.error);
      const payloads = parsed.data.payloads.map(toPayload);
      let out: Payload[];
      try {
        out = direction === 'encode' ? await codec.encode(payloads) : await decodeForDisplay(payloads);
      } catch (err) {
        if (err instanceof CodecError) {
          logger.warn(
            { audit: `codec.${direction}`, outcome: 'refused', namespace, origin: req.get('origin'), reason: err.message },
            'codec request refused',
          );
          throw new ApiError(/no key/.test(err.message) ? 403 : 400, 'Codec refused', err.message);
        }
        throw err;
      }
      if (direction === 'decode') {
        const keyIds = [...new Set(payloads.map((p) => Buffer.from(p.metadata?.[KEY_ID_METADATA] ?? new Uint8Array()).toString('utf8')))];
        logger.info(
          { audit: 'codec.decode', outcome: 'success', namespace, origin: req.get('origin'), payloads: payloads.length, keyIds },
          'payloads decoded',
        );
      }
      res.json({ payloads: out.map(toWire) });
    };
  app.post('/encode', handle('encode'));
  app.post('/decode', handle('decode'));
  app.use(notFoundHandler);
  app.use(problemHandler(logger));
  return app;
}

async function main(): Promise<void> {
  const config = loadConfigOrExit('codec-server', CodecServerConfig);
  const logger = createLogger('codec-server', config.LOOKOUT_LOG_LEVEL);
  const keyring = new FileKeyring(config.LOOKOUT_CODEC_KEYS_FILE, 5_000, (e) =>
    e.ok ? logger.info('key file reloaded') : logger.warn({ reason: e.reason }, 'key file change ignored'),
  );
  const app = createCodecApp({
    keyring,
    logger,
    token: config.LOOKOUT_CODEC_AUTH === 'token' ? config.LOOKOUT_CODEC_TOKEN : undefined,
    encodeToken: config.LOOKOUT_CODEC_ENCODE_TOKEN,
    allowedOrigins: config.LOOKOUT_CODEC_ALLOWED_ORIGINS,
    namespaces: [config.LOOKOUT_TEMPORAL_NAMESPACE],
  });
  const server = config.LOOKOUT_CODEC_TLS_CERT_FILE
    ? https.createServer(
        serverTlsOptions({
          cert: readFileSync(config.LOOKOUT_CODEC_TLS_CERT_FILE),
          key: readFileSync(config.LOOKOUT_CODEC_TLS_KEY_FILE ?? ''),
        }),
        app,
      )
    : http.createServer(app);
  server.listen(config.LOOKOUT_CODEC_PORT, config.LOOKOUT_CODEC_HOST, () => {
    logger.info(
      {
        host: config.LOOKOUT_CODEC_HOST,
        port: config.LOOKOUT_CODEC_PORT,
        workspaceId: keyring.soleWorkspaceId,
        auth: config.LOOKOUT_CODEC_AUTH,
        tls: Boolean(config.LOOKOUT_CODEC_TLS_CERT_FILE),
      },
      'codec server listening',
    );
  });
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (require.main === module) runMain('codec-server', main);
