/**
 * The Express application, built from declared dependencies so that tests run the same app with the
 * real middleware against real services. Every route comes from one table (routes/route.ts).
 */
import type { WorkspaceTemporal } from '../platform/workspace-temporal';
import type { TemporalTokenIssuer } from '../platform/crypto/temporal-tokens';
import express, { Router, type Express } from 'express';
import { rateLimit } from 'express-rate-limit';
import helmet from 'helmet';
import type { Pool } from 'pg';
import type { Logger } from '../common/logger';
import { authorize, createAuthenticator, type BearerVerifier } from './auth/auth-context';
import type { PlatformCrypto } from '../platform/crypto';
import { ApiError, notFoundHandler, problemHandler } from '../common/problem';
import { openApiDocument } from './openapi';
import { AuditBatcher } from '../platform/repos/audit.repo';
import { ping } from '../platform/repos/db';
import { authRoutes } from './routes/auth.router';
import { healthRoutes } from './routes/health.router';
import { defineRoute, mountRoutes, type RouteDef } from './routes/route';
import { runnersRoutes } from './routes/runners.router';
import { runsRoutes } from './routes/runs.router';
import { schedulesRoutes } from './routes/schedules.router';
import { secretsRoutes } from './routes/secrets.router';
import { ssoRoutes, type SsoLogins } from './routes/sso.router';
import { invitationsRoutes } from './routes/invitations.router';
import { createInvitationsService } from './services/invitations.service';
import type { Mailer } from '../platform/mail';
import { sweepsRoutes } from './routes/sweeps.router';
import { discoveryRoutes } from './routes/discovery.router';
import { createDiscoveryService } from './services/discovery.service';
import { issuesRoutes } from './routes/issues.router';
import { HOOK_CALL_PREFIX, hookBodies, hooksRoutes } from './routes/hooks.router';
import { createHooksService } from './services/hooks.service';
import { sinksRoutes } from './routes/sinks.router';
import { createSinksService } from './services/sinks.service';
import type { NotifySettings } from '../platform/notify/wake';
import { tasksRoutes } from './routes/tasks.router';
import { workspacesRoutes } from './routes/workspaces.router';
import { createIdentityService, type LoginDelays } from './services/identity.service';
import { createRunnersService } from './services/runners.service';
import { createRunsService } from './services/runs.service';
import { createSchedulesService } from './services/schedules.service';
import { createSecretsService } from './services/secrets.service';
import { createSessionsService } from './services/sessions.service';
import { createSsoService } from './services/sso.service';
import { createSweepsService } from './services/sweeps.service';
import { createTasksService } from './services/tasks.service';
import { createIssuesService } from './services/issues.service';
import { createWorkspacesService } from './services/workspaces.service';
import type { VaultClient } from '../platform/vault/vault-client';
import type { ChangeSource } from '../platform/repos/change-feed';
import type { ApiTokenForAuth } from '../platform/repos/tokens.repo';
import { FeedCache } from './cache';
import { TokenUseRecorder } from './auth/token-uses';
import type { RunView } from './services/runs.service';
import type { Registry } from 'prom-client';
import { apiRequestMetrics } from './metrics';
import { CONSOLE_CSP, consoleAssets } from './console-assets';

export interface AppDeps {
  pool: Pool;
  /** Temporal, per workspace namespace. */
  temporal: WorkspaceTemporal;
  logger: Logger;
  crypto: PlatformCrypto;
  /** The Temporal endpoint Runners dial, given to them at registration. */
  runnerTemporal: { address: string };
  /** Issues Runners' Temporal tokens (LOOKOUT_TEMPORAL_TOKEN_KEY_FILE). */
  temporalTokens?: TemporalTokenIssuer | undefined;
  /** Where workspace secrets are written (the Platform's token cannot read them). */
  vault?: { client: VaultClient; mount: string } | undefined;
  /** The queue runs are started on; tests give each platform worker its own. */
  platformTaskQueue?: string;
  /** Verifies OIDC bearer JWTs, when an OpenID provider is configured. */
  bearer?: BearerVerifier | undefined;
  /** Refused hook calls allowed per client address and window (default 120 a minute); past it, 429 without auditing each. */
  hookFailureLimit?: { limit: number; windowMs: number };
  /** Failed authentication attempts allowed per client address and window (default 20 per 15 minutes). */
  authRateLimit?: { limit: number; windowMs: number };
  /** The delays after failed logins (per account, per address); LOGIN_DELAYS by default. */
  loginDelays?: LoginDelays | undefined;
  /** LOOKOUT_TRUST_PROXY: a hop count or trusted proxy addresses/CIDRs; none by default. */
  trustProxy?: number | string[] | undefined;
  /** External logins (OIDC, SAML), when configured: their routes are mounted with the same checks. */
  sso?: SsoLogins | undefined;
  /** Sends invitation mail (LOOKOUT_SMTP_URL); without it, members are invited with `lookout users invite`. */
  mailer?: Mailer | undefined;
  /** Who mail is from (LOOKOUT_SMTP_FROM), for sinks' test messages. */
  mailFrom?: string | undefined;
  /** How a sink's test message is sent (LOOKOUT_NOTIFY_ALLOW_PRIVATE; the platform worker sends the rest). */
  notify?: Pick<NotifySettings, 'allowPrivateDestinations' | 'caPem' | 'linkBase'> | undefined;
  /** LOOKOUT_PUBLIC_URL: the address invitation mail points to. */
  publicUrl?: string | undefined;
  /**
   * The change feed (LISTEN/NOTIFY). With it, verified tokens and finished runs are served from
   * memory and forgotten as soon as they change; without it, every request reads PostgreSQL.
   */
  changes?: ChangeSource | undefined;
  /** Caches: verified tokens (default 10,000 for 60 s), finished run views (default 2,000 for 10 minutes; 0: none). */
  cache?: { tokens?: number; tokenTtlMs?: number; runViews?: number; runViewTtlMs?: number } | undefined;
  /** LOOKOUT_TOKEN_USE_INTERVAL_MS: how often counted token uses are written to the audit log (default a minute). */
  tokenUseIntervalMs?: number | undefined;
  /** Where request counts and latencies by route template go (served by the metrics endpoint, not by this app). */
  metrics?: Registry | undefined;
  /** Where the built web console is (dist/console by default). */
  consoleDir?: string | undefined;
  /** LOOKOUT_TEMPORAL_UI_URL: the Temporal Web UI the console links operators to (none by default). */
  temporalUiUrl?: string | undefined;
}

const ROUTES = Symbol('lookout.routes');
const CLOSE = Symbol('lookout.close');
const FLUSH = Symbol('lookout.flush');

/** Writes the token uses counted so far now rather than at the end of the interval. */
export async function flushApp(app: Express): Promise<void> {
  await (app as unknown as { [FLUSH]?: () => Promise<void> })[FLUSH]?.();
}

/** Writes what the app holds in memory (counted token uses). Call before closing the pool. */
export async function closeApp(app: Express): Promise<void> {
  await (app as unknown as { [CLOSE]?: () => Promise<void> })[CLOSE]?.();
}

/** Where the SAML IdP posts its assertion (HTTP-POST binding): a form by design, bound to the browser by RelayState. */
const SAML_ACS_PATH = '/v1/auth/saml/acs';

/**
 * 415 for a request whose body is not JSON (a form, `text/plain`, `multipart/form-data`: what a
 * cross-site page can post without a preflight), except on `formPath`.
 */
function refuseNonJsonBodies(formPath: string): express.RequestHandler {
  return (req, _res, next) => {
    const type = req.get('content-type');
    if (!type || req.path === formPath) return next();
    const media = type.split(';')[0]!.trim().toLowerCase();
    if (media === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(media)) return next();
    next(new ApiError(415, 'Unsupported Media Type', 'request bodies are application/json'));
  };
}

/** The route table an app was built with (the authorization-matrix and fuzzing tests walk it). */
export function routesOf(app: Express): readonly RouteDef[] {
  return (app as unknown as { [ROUTES]: readonly RouteDef[] })[ROUTES];
}

export function createApp(deps: AppDeps): Express {
  const { pool, temporal, logger, crypto, runnerTemporal, vault, platformTaskQueue } = deps;
  const { sealer } = crypto;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy ?? false);
  if (deps.metrics) app.use(apiRequestMetrics(deps.metrics));
  // One strict policy for every answer: the console's page, its two files and the API's JSON.
  app.use(helmet({ contentSecurityPolicy: { useDefaults: false, directives: CONSOLE_CSP } }));
  // Bodies are JSON, which a cross-site form cannot send (login CSRF): anything else is refused
  // before it is read. The one form the API takes is the SAML IdP's POST to the assertion consumer.
  app.use(refuseNonJsonBodies(SAML_ACS_PATH));
  // Hook calls are read raw (signed bytes, 256 KiB); the JSON parser below then skips them. An
  // address whose calls keep failing (guessing hook ids or secrets, or a misconfigured sender) is
  // refused before any work, and before each refusal would add a row to the audit log.
  const hookFailures = deps.hookFailureLimit ?? { limit: 120, windowMs: 60_000 };
  app.use(
    HOOK_CALL_PREFIX,
    rateLimit({
      ...hookFailures,
      skipSuccessfulRequests: true,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      handler: (_req, _res, next) =>
        next(new ApiError(429, 'Too Many Requests', 'too many refused hook calls from this address; try again in a minute')),
    }),
  );
  app.use(HOOK_CALL_PREFIX, hookBodies());
  app.use(express.json({ limit: '64kb', strict: true, type: ['application/json', 'application/*+json'] }));
  app.use(SAML_ACS_PATH, express.urlencoded({ extended: false, limit: '256kb', type: 'application/x-www-form-urlencoded' }));

  // Per-address limit on failed logins (per-account lockout is in the identity service).
  const { limit, windowMs } = deps.authRateLimit ?? { limit: 20, windowMs: 15 * 60 * 1000 };
  app.use(
    '/v1/auth',
    rateLimit({
      windowMs,
      limit,
      skipSuccessfulRequests: true,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      handler: (_req, _res, next) =>
        next(new ApiError(429, 'Too Many Requests', 'too many failed attempts from this address; try again later')),
    }),
  );

  const identity = createIdentityService({ pool, master: crypto.master, ...(deps.loginDelays ? { delays: deps.loginDelays } : {}) });
  const secrets = createSecretsService({ pool, vault: vault?.client, mount: vault?.mount ?? 'lookout' });
  const sessions = createSessionsService({ pool });
  const cache = deps.cache ?? {};
  const tokenCache = new FeedCache<ApiTokenForAuth>(deps.changes, {
    max: cache.tokens ?? 10_000,
    ttlMs: cache.tokenTtlMs ?? 60_000,
    invalidates: (change) => (change === 'tokens' ? 'all' : undefined),
  });
  const runViews =
    (cache.runViews ?? 2_000) > 0
      ? new FeedCache<RunView>(deps.changes, {
          max: cache.runViews ?? 2_000,
          ttlMs: cache.runViewTtlMs ?? 10 * 60_000,
          invalidates: (change) =>
            change === 'runs' || change === 'keys' ? 'all' : change.startsWith('run:') ? { key: change.slice(4) } : undefined,
        })
      : undefined;
  const routes: RouteDef[] = [
    ...healthRoutes({ ping: () => ping(pool) }),
    ...authRoutes({ identity, sessions, methods: { oidc: Boolean(deps.sso?.oidc), saml: Boolean(deps.sso?.saml) } }),
    ...(deps.sso ? ssoRoutes({ ...deps.sso, sso: createSsoService({ pool, master: crypto.master }), sessions, identity }) : []),
    ...workspacesRoutes({ workspaces: createWorkspacesService({ pool, crypto, temporal, secrets, changes: deps.changes }) }),
    ...invitationsRoutes({ invitations: createInvitationsService({ pool, mailer: deps.mailer, publicUrl: deps.publicUrl }) }),
    ...runsRoutes({
      runs: createRunsService({ pool, temporal, logger, sealer, platformTaskQueue, runViews, changes: deps.changes }),
      temporalUi: { url: deps.temporalUiUrl?.replace(/\/$/, ''), namespaceOf: (ws) => temporal.namespaceOf(ws) },
    }),
    ...tasksRoutes({ tasks: createTasksService({ pool, sealer }) }),
    ...issuesRoutes({ issues: createIssuesService({ pool, sealer }) }),
    ...hooksRoutes({
      hooks: createHooksService({ pool, sealer, runs: createRunsService({ pool, temporal, logger, sealer, platformTaskQueue }) }),
    }),
    ...sinksRoutes({
      sinks: createSinksService({
        pool,
        sealer,
        temporal,
        notify: deps.notify ?? { allowPrivateDestinations: false },
        mailer: deps.mailer,
        mailFrom: deps.mailFrom,
        platformTaskQueue,
      }),
    }),
    ...sweepsRoutes({ sweeps: createSweepsService({ pool, temporal, sealer, platformTaskQueue }) }),
    ...schedulesRoutes({ schedules: createSchedulesService({ pool, temporal, sealer, platformTaskQueue }) }),
    ...discoveryRoutes({
      discovery: createDiscoveryService({
        pool,
        sealer,
        runs: createRunsService({ pool, temporal, logger, sealer, platformTaskQueue, runViews, changes: deps.changes }),
        schedules: createSchedulesService({ pool, temporal, sealer, platformTaskQueue }),
      }),
    }),
    ...secretsRoutes({ secrets }),
    ...runnersRoutes({
      runners: createRunnersService({ pool, crypto, temporal, runnerTemporal, temporalTokens: deps.temporalTokens, platformTaskQueue }),
    }),
  ];
  let document: Record<string, unknown> | undefined;
  routes.push(
    defineRoute({
      method: 'get',
      path: '/openapi.json',
      tag: 'meta',
      summary: 'This API, as an OpenAPI 3.1 document',
      access: 'public',
      success: { status: 200, description: 'the OpenAPI document' },
      async handle({ res }) {
        document ??= openApiDocument(routes);
        res.json(document);
      },
    }),
  );

  const router = Router();
  const audit = new AuditBatcher(pool);
  const tokenUses = new TokenUseRecorder(pool, audit, logger, deps.tokenUseIntervalMs);
  mountRoutes(router, routes, {
    authenticate: createAuthenticator({ pool, audit, bearer: deps.bearer, tokens: tokenCache, tokenUses }),
    authorize: (auth, workspaceId, permission, req, route) => authorize(pool, audit, auth, workspaceId, permission, req, route),
  });
  app.use(router);
  app.use(consoleAssets(deps.consoleDir));
  app.use(notFoundHandler);
  app.use(problemHandler(logger));
  Object.defineProperty(app, ROUTES, { value: routes });
  Object.defineProperty(app, CLOSE, { value: () => tokenUses.close() });
  Object.defineProperty(app, FLUSH, { value: () => tokenUses.flush() });
  return app;
}
