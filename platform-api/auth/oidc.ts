/**
 * OpenID Connect building blocks: browser login with the authorization code flow (PKCE S256, state,
 * nonce) and verification of bearer JWTs issued by the same provider. No routes and no storage here:
 * the caller keeps the pending login server-side and maps {@link OidcError} to a 401.
 *
 * openid-client, jose and undici are loaded with dynamic `import()` because the first two are
 * ESM-only and this project compiles to CommonJS.
 */
import { z } from 'zod';
import type * as OpenIdClient from 'openid-client';
import type * as Jose from 'jose';

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

/** The authenticated end user as the provider names them. `issuer` + `subject` is the stable key. */
export interface OidcIdentity {
  issuer: string;
  subject: string;
  email?: string;
  emailVerified?: boolean;
  name?: string;
}

/**
 * Why a login or a bearer token was refused. `reason` is a short machine word, one of:
 * `invalid_settings`, `discovery_failed`, `provider_unreachable`, `provider_error` (the provider
 * answered with an OAuth error, e.g. a reused code), `state_mismatch`, `nonce_mismatch`,
 * `issuer_mismatch`, `audience_mismatch`, `subject_mismatch`, `expired`, `not_yet_valid`,
 * `signature`, `alg_not_allowed`, `jwks_unavailable`, `malformed`.
 * The message and `cause` never contain a token, a code, a secret or a claim value.
 */
export class OidcError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OidcError';
  }
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

const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
// The signature may be empty (an unsecured `alg: none` JWT): still a JWT, refused by verifyBearer.
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

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

/** Cheap shape check (three base64url segments, the last possibly empty) to tell a JWT from an API token (`lk_…`). Verifies nothing. */
export function looksLikeJwt(value: string): boolean {
  return value.length <= 16_384 && JWT_SHAPE.test(value);
}

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
  const jose = await import('jose');
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
  const clockTolerance = s.clockToleranceSeconds ?? 30;
  const redirectUri = new URL(s.redirectUri);
  const jwks = metadata.jwks_uri
    ? jose.createRemoteJWKSet(new URL(metadata.jwks_uri), fetchImpl ? { [jose.customFetch]: fetchImpl } : {})
    : undefined;

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

    async verifyBearer(jwt) {
      if (!looksLikeJwt(jwt)) throw new OidcError('malformed', 'the bearer token is not a JWT');
      if (!jwks) throw new OidcError('jwks_unavailable', 'the provider publishes no jwks_uri');
      let payload: Jose.JWTPayload;
      try {
        ({ payload } = await jose.jwtVerify(jwt, jwks, {
          issuer,
          audience: audiences,
          algorithms: ASYMMETRIC_ALGS,
          clockTolerance,
          requiredClaims: ['sub', 'exp'],
        }));
      } catch (err) {
        throw fromJoseError(err);
      }
      return identityFrom(payload, issuer);
    },
  };
}

/** undici's own fetch with an Agent that trusts only `ca` (undici's fetch and Agent must match versions). */
async function caFetch(ca: string): Promise<(url: string, options: object) => Promise<Response>> {
  const undici = await import('undici');
  const dispatcher = new undici.Agent({ connect: { ca } });
  // openid-client and jose only read status, headers and body; undici's Response has the same shape.
  return async (url, options) => await undici.fetch(url, { ...(options as Parameters<typeof undici.fetch>[1]), dispatcher });
}

function identityFrom(claims: Record<string, unknown>, issuer: string): OidcIdentity {
  if (typeof claims.sub !== 'string' || claims.sub === '') throw new OidcError('malformed', 'the token has no subject');
  const verified = claims.email_verified;
  return {
    issuer,
    subject: claims.sub,
    email: typeof claims.email === 'string' ? claims.email : undefined,
    // Some providers (Cognito) send the boolean as a string.
    emailVerified: typeof verified === 'boolean' ? verified : verified === 'true' ? true : verified === 'false' ? false : undefined,
    name: typeof claims.name === 'string' ? claims.name : undefined,
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const MESSAGES: Record<string, string> = {
  state_mismatch: 'the login state does not match this login',
  nonce_mismatch: 'the ID token nonce does not match this login',
  issuer_mismatch: 'the token or response comes from a different issuer',
  audience_mismatch: 'the token is not meant for this client',
  subject_mismatch: 'the userinfo subject differs from the ID token subject',
  expired: 'the token has expired',
  not_yet_valid: 'the token is not valid yet',
  signature: 'the token signature does not verify against the provider’s keys',
  alg_not_allowed: 'the token uses a signing algorithm that is not allowed',
  jwks_unavailable: 'the provider’s signing keys could not be fetched',
  provider_unreachable: 'the provider could not be reached',
  malformed: 'the provider’s response or the token is malformed',
};

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

/** Duck-typed: errors from fetch or from another realm (test sandboxes) fail `instanceof Error`. */
function isError(value: unknown): value is Error {
  return (
    typeof value === 'object' && value !== null && typeof (value as Error).message === 'string' && typeof (value as Error).name === 'string'
  );
}

/**
 * fetch() failures (DNS, refused, TLS) are TypeErrors "fetch failed" whose cause names the network
 * error; timeouts are TimeoutError/AbortError. openid-client passes them on as they are, or wraps
 * them ("something went wrong") when they come from another realm, so the chain is searched by name.
 */
function networkFailure(err: unknown): Error | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && isError(current); depth++) {
    const e = current as { name?: unknown; message?: unknown; cause?: unknown };
    if ((e.name === 'TypeError' && e.message === 'fetch failed') || e.name === 'TimeoutError' || e.name === 'AbortError') return current;
    current = e.cause;
  }
  return undefined;
}

function fromJoseError(err: unknown): OidcError {
  const e = err as { code?: unknown; claim?: unknown; message?: unknown };
  const cause = new Error(`${String(e.code)}: ${String(e.message)}`);
  const fail = (reason: string) => new OidcError(reason, MESSAGES[reason] ?? 'the bearer token was refused', { cause });
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return fail('expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return fail(
        e.claim === 'iss' ? 'issuer_mismatch' : e.claim === 'aud' ? 'audience_mismatch' : e.claim === 'nbf' ? 'not_yet_valid' : 'malformed',
      );
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return fail('signature');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return fail('alg_not_allowed');
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
      return fail('jwks_unavailable');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JWT_CLAIM_INVALID':
      return fail('malformed');
  }
  // A JWKS fetch that fails at the network level surfaces as the fetch's own error.
  const network = networkFailure(err);
  if (network) return new OidcError('jwks_unavailable', MESSAGES.jwks_unavailable!, { cause: network });
  return fail('malformed');
}
