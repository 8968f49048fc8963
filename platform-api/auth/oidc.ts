/**
 * OpenID Connect building blocks: browser login with the authorization code flow (PKCE S256, state,
 * nonce) and verification of bearer JWTs issued by the same provider. No routes and no storage here:
 * the caller keeps the pending login server-side and maps {@link OidcError} to a 401.
 *
 * Bearer JWTs are verified by common/oidc-bearer.ts (the codec server verifies users' tokens there too).
 * openid-client, jose and undici are loaded with dynamic `import()` because the first two are
 * ESM-only and this project compiles to CommonJS.
 */
import { z } from 'zod';
import type * as OpenIdClient from 'openid-client';
import {
  caFetch,
  createBearerVerifier,
  identityFrom,
  isError,
  MESSAGES,
  networkFailure,
  OidcError,
  type OidcIdentity,
} from '../../common/oidc-bearer';

export { looksLikeJwt, OidcError, type OidcIdentity } from '../../common/oidc-bearer';

/** Provider and client settings; validated by {@link createOidcLogin}. */
export interface OidcSettings {
  /** Issuer identifier, exactly as the provider puts it in `iss`; must be `https://`. */
  issuer: string;
  clientId: string;
  /** Confidential client (client_secret_basic); omit for a public client with PKCE only. */
  clientSecret?: string;
  /** Registered redirect URI; also the `redirect_uri` sent to the token endpoint. */
  redirectUri: string;
  /** Audiences accepted on bearer JWTs; defaults to [clientId]. */
  audiences?: string[];
  /** Space-separated scopes requested at login; must include `openid`; default 'openid email profile'. */
  scopes?: string;
  /**
   * PEM of a private CA that signs the provider's TLS certificate (tests, private IdPs). When given,
   * it replaces the system trust store for every request to the provider.
   */
  ca?: string;
  /** Clock tolerance in seconds, default 30. */
  clockToleranceSeconds?: number;
}

/** What a login must remember between {@link OidcLogin.start} and {@link OidcLogin.finish}; secret, keep it server-side. */
export interface OidcPendingLogin {
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** One configured provider. Safe to share between requests. */
export interface OidcLogin {
  /**
   * Starts a login: authorization code + PKCE (S256) + state + nonce. Returns the provider URL to
   * redirect the browser to; the caller keeps `pending` server-side (never in a client-readable
   * place) and hands it to {@link finish} once, then discards it. Makes no network request.
   */
  start(): Promise<{ url: string; pending: OidcPendingLogin }>;
  /**
   * Handles the redirect back. Only the query of `callbackUrl` is used; `redirect_uri` is always
   * the configured one, so a proxy that changes scheme or host does not matter. Checks state, the
   * `iss` response parameter, redeems the code with the PKCE verifier, and checks the ID token's
   * signature (provider JWKS), nonce, issuer, audience and expiry. Reads missing email/name from
   * the userinfo endpoint. One network round trip to the token endpoint (30 s timeout), plus JWKS
   * and userinfo when needed. Not idempotent: a code works once. Throws {@link OidcError}.
   */
  finish(callbackUrl: URL, pending: OidcPendingLogin): Promise<OidcIdentity>;
  /**
   * Verifies a bearer JWT (access or ID token) from the same provider: signature against the
   * provider's JWKS (fetched on demand, cached, refetched for an unknown `kid` at most every 30 s,
   * 5 s timeout), an asymmetric `alg` only (never `none` or HS*), `iss` exactly the issuer, `aud`
   * one of the audiences, `exp` required, `exp`/`nbf` with the clock tolerance, `sub` required.
   * Throws {@link OidcError}.
   */
  verifyBearer(jwt: string): Promise<OidcIdentity>;
}

const settingsSchema = z.object({
  issuer: z
    .url({ protocol: /^https$/, message: 'issuer must be an https:// URL' })
    // refine runs even when the URL check failed, hence the canParse guard.
    .refine((v) => !URL.canParse(v) || ((u) => !u.search && !u.hash && !u.username && !u.password)(new URL(v)), {
      message: 'issuer must have no query, fragment or credentials',
    }),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1).optional(),
  // Plain http is allowed for the redirect back only (a developer's localhost); the provider decides.
  redirectUri: z.url({ protocol: /^https?$/, message: 'redirectUri must be an http(s) URL' }),
  audiences: z.array(z.string().min(1)).min(1).optional(),
  scopes: z
    .string()
    .regex(/(^|\s)openid(\s|$)/, { message: "scopes must include 'openid'" })
    .optional(),
  ca: z.string().includes('-----BEGIN CERTIFICATE-----', { message: 'ca must be a PEM certificate' }).optional(),
  clockToleranceSeconds: z.number().int().min(0).max(300).optional(),
});

/**
 * Validates `settings`, discovers the provider (`/.well-known/openid-configuration`, 30 s timeout;
 * the discovered issuer must equal `settings.issuer`) and returns a ready {@link OidcLogin}.
 * Throws {@link OidcError} with reason `invalid_settings`, `discovery_failed` or `issuer_mismatch`.
 */
export async function createOidcLogin(settings: OidcSettings): Promise<OidcLogin> {
  const parsed = settingsSchema.safeParse(settings);
  if (!parsed.success) {
    // zod's messages name the field and the rule, never the value (the client secret stays out).
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new OidcError('invalid_settings', `invalid OIDC settings: ${detail}`);
  }
  const s = parsed.data;
  const client = await import('openid-client');
  const fetchImpl = s.ca ? await caFetch(s.ca) : undefined;

  let config: OpenIdClient.Configuration;
  try {
    config = await client.discovery(
      new URL(s.issuer),
      s.clientId,
      {
        client_secret: s.clientSecret,
        redirect_uris: [s.redirectUri],
        response_types: ['code'],
        [client.clockTolerance]: s.clockToleranceSeconds ?? 30,
      },
      s.clientSecret ? client.ClientSecretBasic(s.clientSecret) : client.None(),
      {
        ...(fetchImpl ? { [client.customFetch]: fetchImpl } : {}),
        // The ID token comes straight from the token endpoint over TLS, so openid-client would skip
        // its signature; we check it anyway, as the contract of finish() promises.
        execute: [client.enableNonRepudiationChecks],
      },
    );
  } catch (err) {
    const mapped = mapClientError(err, 'discovery');
    throw mapped.reason === 'issuer_mismatch'
      ? new OidcError('issuer_mismatch', 'the provider’s discovery document names a different issuer', { cause: mapped.cause })
      : new OidcError('discovery_failed', `OIDC discovery failed (${mapped.reason})`, { cause: mapped.cause });
  }
  const metadata = config.serverMetadata();
  const issuer = metadata.issuer;
  const scopes = s.scopes ?? 'openid email profile';
  const audiences = s.audiences ?? [s.clientId];
  const redirectUri = new URL(s.redirectUri);
  const bearer = await createBearerVerifier({
    issuer,
    jwksUri: metadata.jwks_uri,
    audiences,
    clockToleranceSeconds: s.clockToleranceSeconds,
    fetchImpl,
  });

  return {
    async start() {
      const pending: OidcPendingLogin = {
        state: client.randomState(),
        nonce: client.randomNonce(),
        codeVerifier: client.randomPKCECodeVerifier(),
      };
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: s.redirectUri,
        scope: scopes,
        response_type: 'code',
        state: pending.state,
        nonce: pending.nonce,
        code_challenge: await client.calculatePKCECodeChallenge(pending.codeVerifier),
        code_challenge_method: 'S256',
      });
      return { url: url.href, pending };
    },

    async finish(callbackUrl, pending) {
      const current = new URL(redirectUri.href);
      current.search = callbackUrl.search;
      let claims: OpenIdClient.IDToken;
      let accessToken: string;
      try {
        const tokens = await client.authorizationCodeGrant(config, current, {
          expectedState: pending.state,
          expectedNonce: pending.nonce,
          pkceCodeVerifier: pending.codeVerifier,
          idTokenExpected: true,
        });
        const idClaims = tokens.claims();
        if (!idClaims) throw new OidcError('malformed', 'the token response has no ID token');
        claims = idClaims;
        accessToken = tokens.access_token;
      } catch (err) {
        throw toOidcError(err, 'login');
      }
      const identity = identityFrom(claims, issuer);
      if (identity.email === undefined && metadata.userinfo_endpoint) {
        try {
          const info = await client.fetchUserInfo(config, accessToken, claims.sub);
          return { ...identityFrom(info, issuer), ...definedOnly(identity) };
        } catch (err) {
          throw toOidcError(err, 'userinfo');
        }
      }
      return identity;
    },

    verifyBearer: (jwt) => bearer.verify(jwt),
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function toOidcError(err: unknown, phase: 'login' | 'userinfo'): OidcError {
  if (err instanceof OidcError) return err;
  const { reason, cause, detail } = mapClientError(err, phase);
  const message =
    reason === 'provider_error'
      ? `the provider refused the ${phase} request${detail ? ` (${detail})` : ''}`
      : (MESSAGES[reason] ?? `OIDC ${phase} failed`);
  return new OidcError(reason, message, { cause });
}

/**
 * Classifies an openid-client / oauth4webapi error. Their messages are static texts, but their
 * `cause` holds the callback parameters (the code), token responses and claims, so the returned
 * cause is a fresh Error with only the library's code and message; network errors keep their cause.
 */
function mapClientError(err: unknown, phase: string): { reason: string; cause: unknown; detail?: string } {
  if (!isError(err)) return { reason: 'provider_error', cause: undefined };
  const e = err as Error & { code?: unknown; error?: unknown; cause?: unknown };
  const inner = isError(e.cause) ? (e.cause as Error & { cause?: unknown }) : undefined;
  const innerCause = (inner?.cause ?? e.cause) as { claim?: unknown; attribute?: unknown } | undefined;
  const safeCause = new Error(`${typeof e.code === 'string' ? `${e.code}: ` : ''}${e.message}${inner ? `: ${inner.message}` : ''}`);
  const oauthError = typeof e.error === 'string' && /^[\w.-]{1,64}$/.test(e.error) ? e.error : undefined;

  switch (e.code) {
    case 'OAUTH_RESPONSE_BODY_ERROR':
    case 'OAUTH_AUTHORIZATION_RESPONSE_ERROR':
    case 'OAUTH_WWW_AUTHENTICATE_CHALLENGE':
      return { reason: 'provider_error', cause: safeCause, detail: oauthError };
    case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED': {
      const claim = innerCause?.claim;
      const reason =
        claim === 'iss'
          ? 'issuer_mismatch'
          : claim === 'aud' || claim === 'azp'
            ? 'audience_mismatch'
            : claim === 'nonce'
              ? 'nonce_mismatch'
              : 'malformed';
      return { reason, cause: safeCause };
    }
    case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
      return { reason: innerCause?.claim === 'nbf' ? 'not_yet_valid' : 'expired', cause: safeCause };
    case 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED':
      return {
        reason: innerCause?.attribute === 'issuer' ? 'issuer_mismatch' : phase === 'userinfo' ? 'subject_mismatch' : 'malformed',
        cause: safeCause,
      };
    case 'OAUTH_KEY_SELECTION_FAILED':
      return { reason: 'signature', cause: safeCause };
    case 'OAUTH_INVALID_RESPONSE': {
      const text = inner?.message ?? e.message;
      if (/"state"/.test(text)) return { reason: 'state_mismatch', cause: safeCause };
      if (/"iss" \(issuer\) response parameter/.test(text)) return { reason: 'issuer_mismatch', cause: safeCause };
      if (/"alg"/.test(text)) return { reason: 'alg_not_allowed', cause: safeCause };
      if (/signature/.test(text)) return { reason: 'signature', cause: safeCause };
      return { reason: 'malformed', cause: safeCause };
    }
    case 'OAUTH_RESPONSE_IS_NOT_CONFORM':
    case 'OAUTH_RESPONSE_IS_NOT_JSON':
    case 'OAUTH_PARSE_ERROR':
      return { reason: 'malformed', cause: safeCause };
  }
  const network = networkFailure(err);
  if (network) return { reason: 'provider_unreachable', cause: network };
  return { reason: 'provider_error', cause: safeCause };
}
