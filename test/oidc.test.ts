/**
 * OIDC login and bearer verification against a real oidc-provider over HTTPS (no mocks). Each
 * refusal asserts the exact OidcError reason, and that no token or code leaks into the error.
 */
import { createOidcLogin, looksLikeJwt, OidcError, type OidcLogin, type OidcSettings } from '../platform-api/auth/oidc';
import { startOidcProvider, type TestOidcProvider } from './harness/oidc-provider';

const REDIRECT_URI = 'https://lookout.test/auth/oidc/callback';
const API_AUDIENCE = 'https://api.lookout.test';

let op: TestOidcProvider;
let settings: OidcSettings;
let login: OidcLogin;

beforeAll(async () => {
  op = await startOidcProvider({ redirectUris: [REDIRECT_URI] });
  op.addAccount({ sub: 'alice', email: 'alice@example.com', name: 'Alice Example' });
  op.addAccount({ sub: 'bob', email: 'bob@example.com' });
  settings = {
    issuer: op.issuer,
    clientId: op.clientId,
    clientSecret: op.clientSecret,
    redirectUri: REDIRECT_URI,
    ca: op.caPem,
    audiences: [op.clientId, API_AUDIENCE],
  };
  login = await createOidcLogin(settings);
});

afterAll(async () => {
  await op?.stop();
});

/** Awaits a refusal and returns it; fails the test if `promise` resolves or throws anything else. */
async function refusal(promise: Promise<unknown>, ...secrets: string[]): Promise<OidcError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OidcError);
  const text = `${String(err)} ${String((err as Error).cause)} ${(err as Error).stack ?? ''}`;
  for (const secret of secrets) expect(text).not.toContain(secret);
  return err as OidcError;
}

/** Claims the verifier accepts; each bearer test changes one thing. */
function validClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: op.issuer, aud: API_AUDIENCE, sub: 'alice', email: 'alice@example.com', iat: now, exp: now + 300, ...overrides };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('OIDC login (authorization code + PKCE)', () => {
  it('asks for a code with S256 PKCE, state and nonce, and returns the identity with email after the callback', async () => {
    const { url, pending } = await login.start();
    const request = new URL(url);
    expect(request.origin).toBe(new URL(op.issuer).origin);
    expect(request.searchParams.get('response_type')).toBe('code');
    expect(request.searchParams.get('code_challenge_method')).toBe('S256');
    expect(request.searchParams.get('state')).toBe(pending.state);
    expect(request.searchParams.get('nonce')).toBe(pending.nonce);
    expect(request.searchParams.get('code_challenge')).not.toBe(pending.codeVerifier);
    expect(url).not.toContain(pending.codeVerifier);

    const callback = await op.authorize(url, 'alice');
    await expect(login.finish(callback, pending)).resolves.toEqual({
      issuer: op.issuer,
      subject: 'alice',
      email: 'alice@example.com',
      emailVerified: true,
      name: 'Alice Example',
    });
  });

  it('uses only the query of the callback URL, so a proxy that rewrites scheme and host does not break the login', async () => {
    const { url, pending } = await login.start();
    const callback = await op.authorize(url, 'bob');
    const seenBehindProxy = new URL(`http://10.0.0.7:8080/auth/oidc/callback${callback.search}`);
    await expect(login.finish(seenBehindProxy, pending)).resolves.toMatchObject({ subject: 'bob', email: 'bob@example.com' });
  });

  it('refuses a callback whose state is not the pending login’s state (state_mismatch)', async () => {
    const { url, pending } = await login.start();
    const { pending: other } = await login.start();
    const callback = await op.authorize(url, 'alice');
    const err = await refusal(login.finish(callback, { ...pending, state: other.state }), callback.searchParams.get('code')!);
    expect(err.reason).toBe('state_mismatch');
  });

  it('refuses an ID token whose nonce is not the pending login’s nonce (nonce_mismatch)', async () => {
    const { url, pending } = await login.start();
    const { pending: other } = await login.start();
    const callback = await op.authorize(url, 'alice');
    const err = await refusal(login.finish(callback, { ...pending, nonce: other.nonce }), callback.searchParams.get('code')!);
    expect(err.reason).toBe('nonce_mismatch');
  });

  it('refuses a code redeemed with another login’s PKCE verifier (provider_error)', async () => {
    const { url, pending } = await login.start();
    const { pending: other } = await login.start();
    const callback = await op.authorize(url, 'alice');
    const err = await refusal(
      login.finish(callback, { ...pending, codeVerifier: other.codeVerifier }),
      callback.searchParams.get('code')!,
      other.codeVerifier,
    );
    expect(err.reason).toBe('provider_error');
    expect(err.message).toContain('invalid_grant');
  });

  it('refuses a replayed callback: the same code works once (provider_error)', async () => {
    const { url, pending } = await login.start();
    const callback = await op.authorize(url, 'alice');
    await expect(login.finish(callback, pending)).resolves.toMatchObject({ subject: 'alice' });
    const err = await refusal(login.finish(callback, pending), callback.searchParams.get('code')!, op.clientSecret);
    expect(err.reason).toBe('provider_error');
    expect(err.message).toContain('invalid_grant');
  });

  it('refuses a callback that carries an error from the provider (provider_error)', async () => {
    const { pending } = await login.start();
    const callback = new URL(`${REDIRECT_URI}?error=access_denied&state=${pending.state}&iss=${encodeURIComponent(op.issuer)}`);
    const err = await refusal(login.finish(callback, pending));
    expect(err.reason).toBe('provider_error');
    expect(err.message).toContain('access_denied');
  });
});

describe('OIDC settings and discovery', () => {
  it('refuses an http:// issuer before any request (invalid_settings)', async () => {
    const err = await refusal(createOidcLogin({ ...settings, issuer: op.issuer.replace('https:', 'http:') }), op.clientSecret);
    expect(err.reason).toBe('invalid_settings');
    expect(err.message).toContain('issuer must be an https:// URL');
  });

  it.each([
    ['not a URL', 'issuer'],
    ['an issuer with a query', 'issuer'],
    ['a redirect URI that is not http(s)', 'redirectUri'],
    ['scopes without openid', 'scopes'],
  ])('refuses %s (invalid_settings)', async (label, field) => {
    const bad: Partial<OidcSettings> = {
      'not a URL': { issuer: 'not a url' },
      'an issuer with a query': { issuer: `${op.issuer}/?tenant=1` },
      'a redirect URI that is not http(s)': { redirectUri: 'javascript:alert(1)' },
      'scopes without openid': { scopes: 'email profile' },
    }[label]!;
    const err = await refusal(createOidcLogin({ ...settings, ...bad }), op.clientSecret);
    expect(err.reason).toBe('invalid_settings');
    expect(err.message).toContain(`${field}:`);
  });

  it('refuses a provider whose discovery document names a different issuer (issuer_mismatch)', async () => {
    // Same server, reached by another name its certificate also covers: it still says it is 127.0.0.1.
    const err = await refusal(createOidcLogin({ ...settings, issuer: op.issuer.replace('127.0.0.1', 'localhost') }));
    expect(err.reason).toBe('issuer_mismatch');
  });

  it('refuses a provider whose TLS certificate is not trusted (discovery_failed)', async () => {
    const err = await refusal(createOidcLogin({ ...settings, ca: undefined }));
    expect(err.reason).toBe('discovery_failed');
    // fetch's TypeError keeps the TLS error as its cause, for the operator.
    expect((err.cause as Error).cause).toMatchObject({ code: expect.stringMatching(/CERT|SIGNATURE/) });
  });
});

describe('OIDC bearer JWT verification', () => {
  it('accepts a JWT access token the provider issued for the API audience and returns its subject and email', async () => {
    const token = await op.issueAccessToken('alice', API_AUDIENCE);
    expect(looksLikeJwt(token)).toBe(true);
    await expect(login.verifyBearer(token)).resolves.toEqual({
      issuer: op.issuer,
      subject: 'alice',
      email: 'alice@example.com',
      emailVerified: true,
      name: 'Alice Example',
    });
  });

  it('accepts a token signed with the provider’s key whose audience is the client id', async () => {
    await expect(login.verifyBearer(await op.signWithProviderKey(validClaims({ aud: op.clientId })))).resolves.toMatchObject({
      subject: 'alice',
      email: 'alice@example.com',
    });
  });

  it('refuses an access token the provider issued for another audience (audience_mismatch)', async () => {
    const token = await op.issueAccessToken('alice', 'https://other-api.example');
    const err = await refusal(login.verifyBearer(token), token);
    expect(err.reason).toBe('audience_mismatch');
  });

  it('refuses a token expired beyond the clock tolerance (expired)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await op.signWithProviderKey(validClaims({ iat: now - 600, exp: now - 120 }));
    const err = await refusal(login.verifyBearer(token), token);
    expect(err.reason).toBe('expired');
  });

  it('accepts a token expired within the clock tolerance', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect(login.verifyBearer(await op.signWithProviderKey(validClaims({ iat: now - 600, exp: now - 5 })))).resolves.toMatchObject({
      subject: 'alice',
    });
  });

  it('refuses a token that is not valid yet (not_yet_valid)', async () => {
    const token = await op.signWithProviderKey(validClaims({ nbf: Math.floor(Date.now() / 1000) + 600 }));
    expect((await refusal(login.verifyBearer(token), token)).reason).toBe('not_yet_valid');
  });

  it('refuses a token without exp (malformed)', async () => {
    const token = await op.signWithProviderKey(validClaims({ exp: undefined }));
    expect((await refusal(login.verifyBearer(token), token)).reason).toBe('malformed');
  });

  it('refuses a token signed with the provider’s key but naming another issuer (issuer_mismatch)', async () => {
    const token = await op.signWithProviderKey(validClaims({ iss: 'https://evil.example' }));
    expect((await refusal(login.verifyBearer(token), token)).reason).toBe('issuer_mismatch');
  });

  it('refuses a token signed by a key the provider does not publish, under the provider key’s kid (signature)', async () => {
    const token = await op.signWithForeignKey(validClaims());
    expect((await refusal(login.verifyBearer(token), token)).reason).toBe('signature');
  });

  it('refuses an unsecured token with alg none (alg_not_allowed)', async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(validClaims())}.`;
    expect(looksLikeJwt(token)).toBe(true);
    expect((await refusal(login.verifyBearer(token), token)).reason).toBe('alg_not_allowed');
  });

  it('refuses an HS256 token, whatever its secret (alg_not_allowed)', async () => {
    const jose = await import('jose');
    const token = await new jose.SignJWT(validClaims())
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(op.clientSecret));
    expect((await refusal(login.verifyBearer(token), token)).reason).toBe('alg_not_allowed');
  });

  it('refuses a value that is not a JWT without any request (malformed)', async () => {
    expect((await refusal(login.verifyBearer('lk_not-a-jwt'))).reason).toBe('malformed');
  });
});

describe('looksLikeJwt', () => {
  it('tells JWTs from API tokens', () => {
    expect(looksLikeJwt('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln')).toBe(true);
    expect(looksLikeJwt(`lk_${'A'.repeat(43)}`)).toBe(false);
    expect(looksLikeJwt('a.b')).toBe(false);
    expect(looksLikeJwt('a.b.c.d')).toBe(false);
    expect(looksLikeJwt('a.b+/.c')).toBe(false);
    expect(looksLikeJwt('')).toBe(false);
  });
});
