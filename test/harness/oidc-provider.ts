/**
 * A real OpenID Provider for tests: oidc-provider (v9) over HTTPS on a free loopback port, with one
 * confidential client, PKCE required, an in-memory account list, and JWT access tokens for any
 * resource indicator (RFC 8707). The browser part of a login is driven over HTTP by `authorize`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import type * as Jose from 'jose';
import { serverTlsOptions } from '../../common/tls';
import { makePki } from './tls';

export interface TestOidcAccount {
  sub: string;
  email: string;
  name?: string;
  /** What the provider says in `email_verified` (default true). */
  emailVerified?: boolean;
}

export interface TestOidcProvider {
  /** `https://127.0.0.1:<port>`, exactly as the provider writes it in `iss`. */
  issuer: string;
  /** PEM of the CA that signs the provider's TLS certificate (SAN localhost and 127.0.0.1). */
  caPem: string;
  clientId: string;
  clientSecret: string;
  addAccount(account: TestOidcAccount): void;
  /**
   * Drives the browser part of the login without a browser: follows the authorization URL through
   * the provider's dev interactions (login as `sub`, consent) over HTTP, carrying cookies, and
   * returns the final redirect URL to one of the redirect URIs (not fetched).
   */
  authorize(authorizationUrl: string, sub: string): Promise<URL>;
  /**
   * A JWT access token (`typ: at+jwt`, with `email`/`name`) for `sub` and `audience` (an absolute
   * URI), obtained through a real authorization code flow with a `resource` indicator.
   */
  issueAccessToken(sub: string, audience: string): Promise<string>;
  /** Signs `claims` exactly as given (RS256) with the key the provider publishes. */
  signWithProviderKey(claims: Record<string, unknown>): Promise<string>;
  /** Signs `claims` exactly as given (RS256) with a key the provider does NOT publish, under the provider key's `kid`. */
  signWithForeignKey(claims: Record<string, unknown>): Promise<string>;
  stop(): Promise<void>;
}

/** Starts the provider; `redirectUris` are registered for the client. Call `stop()` when done. */
export async function startOidcProvider(options: { redirectUris: string[] }): Promise<TestOidcProvider> {
  const jose = await import('jose');
  const { Provider } = await import('oidc-provider');
  const undici = await import('undici');

  const pki = makePki('oidc');
  const caPem = readFileSync(pki.caFile, 'utf8');
  const dispatcher = new undici.Agent({ connect: { ca: caPem } });

  // RS256: the default ID token algorithm of both oidc-provider and openid-client.
  const kid = `test-${randomBytes(4).toString('hex')}`;
  const providerKey = await jose.generateKeyPair('RS256', { extractable: true });
  const foreignKey = await jose.generateKeyPair('RS256');
  const providerJwk = { ...(await jose.exportJWK(providerKey.privateKey)), kid, alg: 'RS256', use: 'sig' };

  const clientId = 'lookout-test';
  const clientSecret = randomBytes(24).toString('base64url');
  const accounts = new Map<string, TestOidcAccount>();

  // The issuer needs the port, so the server listens first and gets its handler after.
  const server = https.createServer(serverTlsOptions({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [providerJwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    // Explicit lifetimes (seconds) keep oidc-provider from noting its defaults on every request.
    ttl: { AuthorizationCode: 60, AccessToken: 300, IdToken: 300, Interaction: 600, Session: 3600, Grant: 3600 },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    findAccount: async (_ctx: unknown, sub: string) => {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        claims: async () => ({ sub, email: account.email, email_verified: account.emailVerified ?? true, name: account.name }),
      };
    },
    features: {
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Without a `resource` parameter the access token stays opaque and is good for userinfo.
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resourceIndicator: string) => ({
          scope: 'api',
          audience: resourceIndicator,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 300,
        }),
      },
    },
    // JWT access tokens carry who the user is, as many providers' access tokens do.
    extraTokenClaims: async (_ctx: unknown, token: { kind: string; accountId?: string; resourceServer?: unknown }) => {
      const account = token.accountId ? accounts.get(token.accountId) : undefined;
      if (token.kind !== 'AccessToken' || !token.resourceServer || !account) return undefined;
      return { email: account.email, email_verified: account.emailVerified ?? true, name: account.name };
    },
  });
  server.on('request', provider.callback());

  const redirectTargets = options.redirectUris.map((u) => new URL(u));
  const isRedirectTarget = (url: URL) => redirectTargets.some((r) => r.origin === url.origin && r.pathname === url.pathname);

  async function authorize(authorizationUrl: string, sub: string): Promise<URL> {
    const cookies = new Map<string, string>();
    let url = new URL(authorizationUrl);
    let form: URLSearchParams | undefined;
    for (let hop = 0; hop < 20; hop++) {
      const response = await undici.fetch(url, {
        method: form ? 'POST' : 'GET',
        body: form,
        redirect: 'manual',
        dispatcher,
        headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
      });
      // One jar for the whole provider: sending a cookie outside its path does no harm here.
      for (const line of response.headers.getSetCookie()) {
        const [pair = '', ...attributes] = line.split(';');
        const eq = pair.indexOf('=');
        const name = pair.slice(0, eq).trim();
        const value = pair.slice(eq + 1).trim();
        const expired = attributes.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split('=')[1] ?? '') < Date.now());
        if (!value || expired) cookies.delete(name);
        else cookies.set(name, value);
      }
      form = undefined;
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        const next = new URL(location, url);
        if (isRedirectTarget(next)) return next;
        url = next;
        continue;
      }
      const html = await response.text();
      const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      if (response.status !== 200 || !prompt || !action) {
        throw new Error(`authorize: unexpected ${response.status} at ${url.pathname} (prompt ${prompt ?? 'none'})`);
      }
      url = new URL(action.replace(/&amp;/g, '&'), url);
      form = prompt === 'login' ? new URLSearchParams({ prompt, login: sub, password: 'any' }) : new URLSearchParams({ prompt });
    }
    throw new Error('authorize: too many hops');
  }

  async function issueAccessToken(sub: string, audience: string): Promise<string> {
    const redirectUri = options.redirectUris[0];
    if (!redirectUri) throw new Error('issueAccessToken needs a registered redirect URI');
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const auth = new URL(`${issuer}/auth`);
    auth.search = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid api',
      resource: audience,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: randomBytes(8).toString('hex'),
    }).toString();
    const callback = await authorize(auth.href, sub);
    const code = callback.searchParams.get('code');
    if (!code) throw new Error(`issueAccessToken: no code in the callback (error ${callback.searchParams.get('error') ?? 'none'})`);
    const response = await undici.fetch(`${issuer}/token`, {
      method: 'POST',
      dispatcher,
      headers: {
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
        code_verifier: verifier,
        resource: audience,
      }),
    });
    const body = (await response.json()) as { access_token?: string; error?: string };
    if (!response.ok || !body.access_token) throw new Error(`issueAccessToken: token endpoint ${response.status} ${body.error ?? ''}`);
    return body.access_token;
  }

  const sign = (key: Jose.CryptoKey) => async (claims: Record<string, unknown>) =>
    new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(key);

  return {
    issuer,
    caPem,
    clientId,
    clientSecret,
    addAccount: (account) => void accounts.set(account.sub, account),
    authorize,
    issueAccessToken,
    signWithProviderKey: sign(providerKey.privateKey),
    signWithForeignKey: sign(foreignKey.privateKey),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dispatcher.close();
    },
  };
}
