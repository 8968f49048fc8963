/**
 * The codec server, hosted by the customer beside the Runner: `/encode` and `/decode` for the
 * Temporal Web UI and CLI, holding only its own workspace's keys. A codec server with keys is a
 * decryption oracle, so every request is authenticated (a shared bearer token, or the signed-in
 * user's own access token from the OIDC provider, which the Web UI passes on; `none` is accepted only
 * on loopback, for the quick start), CORS admits only the configured UI origins, a payload is decoded
 * only when the workflow it is bound to belongs to this workspace (whatever `X-Namespace` says), and
 * every decode is written to its audit log with who asked.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Payload } from '@temporalio/common';
import express, { type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import { z } from 'zod';
import { BINDING_METADATA, CodecError, KEY_ID_METADATA, WorkspaceCodec } from '../common/codec';
import { workspaceOfWorkflowId } from '../common/ids';
import { discoverBearerVerifier, looksLikeJwt, OidcError, type BearerVerifier } from '../common/oidc-bearer';
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
  /** Bearer token accepted, or `undefined` for no authentication (loopback only); ignored with `users`. */
  token: string | undefined;
  /**
   * Per-user access instead of the shared token: the bearer must be an access token of this OIDC
   * provider (verified as the API verifies OIDC bearers); `allowed` names who may decode (verified
   * emails, or `sub:<subject>`), everyone the provider vouches for when empty.
   */
  users?: { verifier: BearerVerifier; allowed: readonly string[] } | undefined;
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

/** Who made a request, for the audit log: a user of the OIDC provider, the shared token, or nobody (loopback). */
type Caller = { user: string; email?: string | undefined } | { user: 'token' } | { user: 'anonymous' };

function bearerOf(req: express.Request): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
}

function authenticate(token: string | undefined): RequestHandler {
  const expected = token === undefined ? undefined : sha256(token);
  return (req, res, next) => {
    if (!expected) {
      res.locals['caller'] = { user: 'anonymous' } satisfies Caller;
      return next();
    }
    const presented = bearerOf(req);
    if (!presented || !timingSafeEqual(sha256(presented), expected))
      return next(new AuthenticationError('a valid bearer token is required'));
    res.locals['caller'] = { user: 'token' } satisfies Caller;
    next();
  };
}

/** The signed-in user's access token, verified against the provider; only `allowed` users, when listed. */
function authenticateUser({ verifier, allowed }: NonNullable<CodecAppOptions['users']>, logger: Logger): RequestHandler {
  const allowedSet = new Set(allowed.map((a) => (a.startsWith('sub:') ? a : a.toLowerCase())));
  return (req, res, next) => {
    const presented = bearerOf(req);
    if (!presented || !looksLikeJwt(presented)) return next(new AuthenticationError("the signed-in user's access token is required"));
    verifier.verify(presented).then(
      (identity) => {
        const user = `${identity.issuer}#${identity.subject}`;
        const email = identity.email && identity.emailVerified ? identity.email.toLowerCase() : undefined;
        if (allowedSet.size > 0 && !allowedSet.has(`sub:${identity.subject}`) && !(email && allowedSet.has(email))) {
          logger.warn(
            { audit: `codec${req.path.replace('/', '.')}`, outcome: 'refused', user, email, reason: 'user_not_allowed' },
            'codec request refused',
          );
          return next(new ForbiddenError('this user may not use this codec server'));
        }
        res.locals['caller'] = { user, email } satisfies Caller;
        next();
      },
      (err: unknown) => {
        const reason = err instanceof OidcError ? err.reason : 'invalid_token';
        logger.warn({ audit: `codec${req.path.replace('/', '.')}`, outcome: 'refused', reason }, 'codec request refused');
        next(new AuthenticationError('the access token was refused'));
      },
    );
  };
}

const isTimestamp = (v: unknown) =>
  typeof v === 'object' &&
  v !== null &&
  Object.keys(v).sort().join(',') === 'nanos,seconds' &&
  Number.isInteger((v as { seconds: unknown }).seconds) &&
  Number.isInteger((v as { nanos: unknown }).nanos);

/**
 * The bookkeeping of a local activity marker, which the SDK's core writes unencoded beside the
 * activity's (encoded) result: `json/plain` `{"seq","attempt","activity_id","activity_type",
 * "complete_time","backoff","original_schedule_time"}` — counters, our activity's type name and
 * times, nothing of a customer. Only exactly that shape passes.
 */
function isLocalActivityMarker(p: Payload): boolean {
  if (Buffer.from(p.metadata?.['encoding'] ?? new Uint8Array()).toString() !== 'json/plain') return false;
  try {
    const v = JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString('utf8')) as Record<string, unknown>;
    return (
      typeof v === 'object' &&
      v !== null &&
      Object.keys(v).sort().join(',') === 'activity_id,activity_type,attempt,backoff,complete_time,original_schedule_time,seq' &&
      Number.isInteger(v['seq']) &&
      Number.isInteger(v['attempt']) &&
      typeof v['activity_id'] === 'string' &&
      /^[0-9]{1,10}$/.test(v['activity_id']) &&
      typeof v['activity_type'] === 'string' &&
      /^[A-Za-z][A-Za-z0-9]{0,63}$/.test(v['activity_type']) &&
      (v['complete_time'] === null || isTimestamp(v['complete_time'])) &&
      (v['original_schedule_time'] === null || isTimestamp(v['original_schedule_time'])) &&
      (v['backoff'] === null || isTimestamp(v['backoff']))
    );
  } catch {
    return false;
  }
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

export function createCodecApp({ keyring, logger, token, users, encodeToken, allowedOrigins, namespaces }: CodecAppOptions): Express {
  const codec = new WorkspaceCodec(keyring);
  const app = express();
  app.disable('x-powered-by');
  app.use(helmet({ crossOriginResourcePolicy: false }));
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.use(cors(new Set(allowedOrigins)));
  const decodeAuth = users ? authenticateUser(users, logger) : authenticate(token);
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
   * Decodes what the UI or CLI shows. The payloads the SDK's core writes in clear, a patch marker
   * (`json/plain` `{"id":…,"deprecated":…}`, naming a code version) and a local activity marker's
   * bookkeeping (counters, activity type, times; since issue 17 runTask has local activities), are
   * handed back as they are: refusing them would hide the whole history. Anything else must be ciphertext.
   */
  const decodeForDisplay = async (payloads: Payload[], namespace: string): Promise<Payload[]> =>
    Promise.all(payloads.map(async (p) => (isPatchMarker(p) || isLocalActivityMarker(p) ? p : await decodeBound(p, namespace))));

  /**
   * One payload, held to the workflow it is bound to (format v2): that workflow must be of this
   * workspace, and the codec then refuses a key of another workspace or a relabelled binding. The
   * namespace the caller names is not trusted for this.
   */
  const decodeBound = async (payload: Payload, namespace: string): Promise<Payload> => {
    const binding = payload.metadata?.[BINDING_METADATA] ? Buffer.from(payload.metadata[BINDING_METADATA]).toString('utf8') : undefined;
    if (binding !== undefined && workspaceOfWorkflowId(binding) !== keyring.soleWorkspaceId)
      throw new CodecError('payload bound to a workflow of another workspace');
    const [decoded] = await codec.decode([payload], binding ? { type: 'workflow', namespace, workflowId: binding } : undefined);
    return decoded!;
  };

  const caller = (res: express.Response): Caller => (res.locals['caller'] as Caller | undefined) ?? { user: 'anonymous' };

  const handle =
    (direction: 'encode' | 'decode'): RequestHandler =>
    async (req, res) => {
      const namespace = namespaceOf(req.get('x-namespace'));
      const parsed = WirePayloads.safeParse(req.body);
      if (!parsed.success) throw InputError.fromZod('payloads', parsed.error);
      const payloads = parsed.data.payloads.map(toPayload);
      let out: Payload[];
      try {
        out = direction === 'encode' ? await codec.encode(payloads) : await decodeForDisplay(payloads, namespace);
      } catch (err) {
        if (err instanceof CodecError) {
          logger.warn(
            { audit: `codec.${direction}`, outcome: 'refused', ...caller(res), namespace, origin: req.get('origin'), reason: err.message },
            'codec request refused',
          );
          throw new ApiError(/no key|another workspace/.test(err.message) ? 403 : 400, 'Codec refused', err.message);
        }
        throw err;
      }
      if (direction === 'decode') {
        const keyIds = [...new Set(payloads.map((p) => Buffer.from(p.metadata?.[KEY_ID_METADATA] ?? new Uint8Array()).toString('utf8')))];
        logger.info(
          {
            audit: 'codec.decode',
            outcome: 'success',
            ...caller(res),
            namespace,
            origin: req.get('origin'),
            payloads: payloads.length,
            keyIds,
          },
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
  const users =
    config.LOOKOUT_CODEC_AUTH === 'oidc'
      ? {
          verifier: await discoverBearerVerifier({
            issuer: config.LOOKOUT_CODEC_OIDC_ISSUER!,
            audiences: config.LOOKOUT_CODEC_OIDC_AUDIENCES!,
            ca: config.LOOKOUT_CODEC_OIDC_CA_FILE ? readFileSync(config.LOOKOUT_CODEC_OIDC_CA_FILE, 'utf8') : undefined,
          }),
          allowed: config.LOOKOUT_CODEC_ALLOWED_USERS ?? [],
        }
      : undefined;
  const app = createCodecApp({
    keyring,
    logger,
    token: config.LOOKOUT_CODEC_AUTH === 'token' ? config.LOOKOUT_CODEC_TOKEN : undefined,
    users,
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
