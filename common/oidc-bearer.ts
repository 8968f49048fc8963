/**
 * Verification of OpenID Connect bearer JWTs, shared by the API (callers with their provider's
 * access token) and the codec server (the Temporal Web UI passing the signed-in user's token):
 * signature against the provider's JWKS, asymmetric algorithms only, issuer, audience, expiry.
 * The browser login flow is the API's (platform-api/auth/oidc.ts), which verifies bearers here too.
 *
 * jose and undici are loaded with dynamic `import()`: jose is ESM-only and this project compiles
 * to CommonJS.
 */
import type * as Jose from 'jose';

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

export const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
// The signature may be empty (an unsecured `alg: none` JWT): still a JWT, refused by verifyBearer.
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Cheap shape check (three base64url segments, the last possibly empty) to tell a JWT from an API token (`lk_…`). Verifies nothing. */
export function looksLikeJwt(value: string): boolean {
  return value.length <= 16_384 && JWT_SHAPE.test(value);
}

/** Verifies bearer JWTs of one provider. Safe to share between requests. */
export interface BearerVerifier {
  readonly issuer: string;
  /**
   * Verifies a bearer JWT (access or ID token): signature against the provider's JWKS (fetched on
   * demand, cached, refetched for an unknown `kid` at most every 30 s, 5 s timeout), an asymmetric
   * `alg` only (never `none` or HS*), `iss` exactly the issuer, `aud` one of the audiences, `exp`
   * required, `exp`/`nbf` with the clock tolerance, `sub` required. Throws {@link OidcError}.
   */
  verify(jwt: string): Promise<OidcIdentity>;
}

/** A verifier for the provider `issuer` whose keys are at `jwksUri` (from its discovery document). */
export async function createBearerVerifier(options: {
  issuer: string;
  jwksUri: string | undefined;
  audiences: string[];
  clockToleranceSeconds?: number | undefined;
  fetchImpl?: ((url: string, options: object) => Promise<Response>) | undefined;
}): Promise<BearerVerifier> {
  const jose = await import('jose');
  const { issuer, audiences } = options;
  const clockTolerance = options.clockToleranceSeconds ?? 30;
  const jwks = options.jwksUri
    ? jose.createRemoteJWKSet(new URL(options.jwksUri), options.fetchImpl ? { [jose.customFetch]: options.fetchImpl } : {})
    : undefined;
  return {
    issuer,
    async verify(jwt) {
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

/**
 * Discovers the provider (`/.well-known/openid-configuration`, 30 s timeout; the discovered issuer
 * must equal `issuer`) and returns a {@link BearerVerifier}. `ca`: a private CA (PEM) that replaces
 * the system trust store for every request to the provider. Throws {@link OidcError}
 * (`discovery_failed`, `issuer_mismatch`).
 */
export async function discoverBearerVerifier(options: {
  issuer: string;
  audiences: string[];
  ca?: string | undefined;
  clockToleranceSeconds?: number | undefined;
}): Promise<BearerVerifier> {
  const fetchImpl = options.ca ? await caFetch(options.ca) : undefined;
  const url = `${options.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let metadata: { issuer?: unknown; jwks_uri?: unknown };
  try {
    const res = await (fetchImpl ?? fetch)(url, { signal: AbortSignal.timeout(30_000) });
    if (!res.ok) throw new Error(`discovery answered ${res.status}`);
    metadata = (await res.json()) as typeof metadata;
  } catch (err) {
    throw new OidcError('discovery_failed', 'OIDC discovery failed', {
      cause: networkFailure(err) ?? new Error(String((err as Error)?.message)),
    });
  }
  if (metadata.issuer !== options.issuer)
    throw new OidcError('issuer_mismatch', 'the provider’s discovery document names a different issuer');
  return createBearerVerifier({
    issuer: options.issuer,
    jwksUri: typeof metadata.jwks_uri === 'string' ? metadata.jwks_uri : undefined,
    audiences: options.audiences,
    clockToleranceSeconds: options.clockToleranceSeconds,
    fetchImpl,
  });
}

/** undici's own fetch with an Agent that trusts only `ca` (undici's fetch and Agent must match versions). */
export async function caFetch(ca: string): Promise<(url: string, options: object) => Promise<Response>> {
  const undici = await import('undici');
  const dispatcher = new undici.Agent({ connect: { ca } });
  // openid-client and jose only read status, headers and body; undici's Response has the same shape.
  return async (url, options) => await undici.fetch(url, { ...(options as Parameters<typeof undici.fetch>[1]), dispatcher });
}

export function identityFrom(claims: Record<string, unknown>, issuer: string): OidcIdentity {
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

export const MESSAGES: Record<string, string> = {
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

/** Duck-typed: errors from fetch or from another realm (test sandboxes) fail `instanceof Error`. */
export function isError(value: unknown): value is Error {
  return (
    typeof value === 'object' && value !== null && typeof (value as Error).message === 'string' && typeof (value as Error).name === 'string'
  );
}

/**
 * fetch() failures (DNS, refused, TLS) are TypeErrors "fetch failed" whose cause names the network
 * error; timeouts are TimeoutError/AbortError. openid-client passes them on as they are, or wraps
 * them ("something went wrong") when they come from another realm, so the chain is searched by name.
 */
export function networkFailure(err: unknown): Error | undefined {
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
