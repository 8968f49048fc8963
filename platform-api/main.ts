/** The API process. Composition root: config, logger, pool, Temporal client, HTTP server. */
import { ApiConfig } from '../common/config';
import { createLogger } from '../common/logger';
import { connectWorkspaceTemporal } from '../platform/workspace-temporal';
import { createTemporalTokenIssuer } from '../platform/crypto/temporal-tokens';
import { loadConfigOrExit, runMain } from '../common/process';
import { closeApp, createApp } from './app';
import { ChangeFeed } from '../platform/repos/change-feed';
import { createPool } from '../platform/db/pool';
import { createPlatformCrypto } from '../platform/crypto';
import { createVaultClient } from '../platform/vault/vault-client';
import { lookoutDataConverter } from '../common/data-converter';
import { readFileSync } from 'node:fs';
import { createOidcLogin } from './auth/oidc';
import { createSamlLogin } from './auth/saml';
import { smtpMailerFromConfig } from '../platform/mail';
import { resolveMasterKeys } from '../platform/crypto/kms';
import { createApiServer } from './server';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { createMetricsRegistry, startMetricsServer } from '../common/metrics';
import { startTracing } from '../common/tracing';

async function main(): Promise<void> {
  const config = loadConfigOrExit('api', ApiConfig);
  const logger = createLogger('api', config.LOOKOUT_LOG_LEVEL);
  const tracing = startTracing('lookout-api', config.LOOKOUT_OTLP_ENDPOINT);
  const metrics = createMetricsRegistry();
  const metricsServer = startMetricsServer({ settings: config, registry: metrics, logger });
  const pool = createPool(config.DATABASE_URL, (err) => logger.warn({ err }, 'idle database connection lost'), config.LOOKOUT_DB_POOL_MAX);
  const masterKeys = await resolveMasterKeys(config);
  const crypto = createPlatformCrypto(pool, masterKeys.current, config.LOOKOUT_PLATFORM_SIGNING_KEY, masterKeys.previous);
  const changes = await ChangeFeed.start(config.DATABASE_URL, logger);
  crypto.followKeyChanges(changes);
  const temporal = await connectWorkspaceTemporal(config, {
    db: pool,
    identity: `api:${process.pid}`,
    dataConverter: lookoutDataConverter(crypto.payloadKeys),
    ...(tracing ? { interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } } : {}),
  });
  const { connection } = temporal;
  const oidc =
    config.LOOKOUT_OIDC_ISSUER && config.LOOKOUT_OIDC_CLIENT_ID && config.LOOKOUT_PUBLIC_URL
      ? {
          login: await createOidcLogin({
            issuer: config.LOOKOUT_OIDC_ISSUER,
            clientId: config.LOOKOUT_OIDC_CLIENT_ID,
            ...(config.LOOKOUT_OIDC_CLIENT_SECRET ? { clientSecret: config.LOOKOUT_OIDC_CLIENT_SECRET } : {}),
            redirectUri: new URL('/v1/auth/oidc/callback', config.LOOKOUT_PUBLIC_URL).toString(),
            ...(config.LOOKOUT_OIDC_AUDIENCES
              ? {
                  audiences: config.LOOKOUT_OIDC_AUDIENCES.split(',')
                    .map((a) => a.trim())
                    .filter(Boolean),
                }
              : {}),
            ...(config.LOOKOUT_OIDC_CA_FILE ? { ca: readFileSync(config.LOOKOUT_OIDC_CA_FILE, 'utf8') } : {}),
          }),
          redirectUri: new URL('/v1/auth/oidc/callback', config.LOOKOUT_PUBLIC_URL).toString(),
        }
      : undefined;
  const saml =
    config.LOOKOUT_SAML_ENTRY_POINT && config.LOOKOUT_SAML_IDP_ENTITY_ID && config.LOOKOUT_SAML_IDP_CERT_FILE && config.LOOKOUT_PUBLIC_URL
      ? createSamlLogin({
          entryPoint: config.LOOKOUT_SAML_ENTRY_POINT,
          idpEntityId: config.LOOKOUT_SAML_IDP_ENTITY_ID,
          idpCerts: [readFileSync(config.LOOKOUT_SAML_IDP_CERT_FILE, 'utf8')],
          spEntityId: config.LOOKOUT_SAML_SP_ENTITY_ID ?? new URL('/v1/auth/saml/metadata', config.LOOKOUT_PUBLIC_URL).toString(),
          acsUrl: new URL('/v1/auth/saml/acs', config.LOOKOUT_PUBLIC_URL).toString(),
        })
      : undefined;
  const app = createApp({
    pool,
    temporal,
    logger,
    crypto,
    runnerTemporal: { address: config.LOOKOUT_RUNNER_TEMPORAL_ADDRESS ?? config.LOOKOUT_TEMPORAL_ADDRESS },
    temporalTokens: config.LOOKOUT_TEMPORAL_TOKEN_KEY_FILE
      ? createTemporalTokenIssuer(readFileSync(config.LOOKOUT_TEMPORAL_TOKEN_KEY_FILE, 'utf8'), config.LOOKOUT_TEMPORAL_TOKEN_TTL_DAYS)
      : undefined,
    vault: config.LOOKOUT_VAULT_ADDR
      ? {
          client: createVaultClient({
            endpoint: config.LOOKOUT_VAULT_ADDR,
            ...(config.LOOKOUT_VAULT_TOKEN ? { token: config.LOOKOUT_VAULT_TOKEN } : {}),
          }),
          mount: config.LOOKOUT_VAULT_MOUNT,
        }
      : undefined,
    bearer: oidc?.login,
    trustProxy: config.LOOKOUT_TRUST_PROXY,
    sso: { oidc, saml, samlEmailVerified: config.LOOKOUT_SAML_EMAIL_VERIFIED },
    mailer: smtpMailerFromConfig(config),
    publicUrl: config.LOOKOUT_PUBLIC_URL,
    temporalUiUrl: config.LOOKOUT_TEMPORAL_UI_URL,
    mailFrom: config.LOOKOUT_SMTP_FROM,
    notify: { allowPrivateDestinations: config.LOOKOUT_NOTIFY_ALLOW_PRIVATE, linkBase: config.LOOKOUT_PUBLIC_URL },
    changes,
    cache: { runViews: config.LOOKOUT_API_RUN_CACHE_SIZE },
    tokenUseIntervalMs: config.LOOKOUT_TOKEN_USE_INTERVAL_MS,
    metrics,
  });
  const tls =
    config.LOOKOUT_API_TLS_CERT_FILE && config.LOOKOUT_API_TLS_KEY_FILE
      ? { certFile: config.LOOKOUT_API_TLS_CERT_FILE, keyFile: config.LOOKOUT_API_TLS_KEY_FILE }
      : undefined;
  const server = createApiServer(app, tls).listen(config.LOOKOUT_API_PORT, config.LOOKOUT_API_HOST, () => {
    logger.info(
      { host: config.LOOKOUT_API_HOST, port: config.LOOKOUT_API_PORT, https: Boolean(tls), oidc: Boolean(oidc), saml: Boolean(saml) },
      'api listening',
    );
  });
  server.on('error', (err) => {
    logger.fatal({ err }, 'api could not listen');
    process.exit(1);
  });
  const stop = () => {
    logger.info('api stopping');
    metricsServer?.close();
    server.close(() => {
      void closeApp(app)
        .catch((err: unknown) => logger.warn({ err }, 'could not write the last token uses'))
        .then(() => Promise.allSettled([connection.close(), changes.close(), pool.end(), tracing?.shutdown()]))
        .then(() => process.exit(0));
    });
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (require.main === module) runMain('api', main);
