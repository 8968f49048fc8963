/**
 * External logins through the API's own routes: OIDC (a real oidc-provider over HTTPS: code + PKCE,
 * state bound to the browser, expired and replayed state, bearer JWTs checked for issuer, audience,
 * expiry and signature) and SAML 2.0 (responses signed by a test IdP key: signature, audience,
 * replayed RelayState and replayed assertions). Both end in a session and in audit rows.
 */
import { randomUUID } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import type { OidcLogin } from '../platform-api/auth/oidc';
import type { SamlLogin } from '../platform-api/auth/saml';
import { api, newWorkspace, startPlatform, type TestPlatform } from './harness/env';
import type { TestOidcProvider } from './harness/oidc-provider';
import type { TestSamlIdp } from './harness/saml-idp';
import { ACS_URL, API_AUDIENCE, REDIRECT_URI, SP_ENTITY_ID, startSsoFixtures } from './harness/sso';
import { cookiesOf, inviteAndAccept } from './harness/users';

const PROBE = 'http://127.0.0.1:9/healthz';

let provider: TestOidcProvider;
let oidc: OidcLogin;
let idp: TestSamlIdp;
let platform: TestPlatform;

beforeAll(async () => {
  let saml: SamlLogin;
  ({ provider, oidc, idp, saml } = await startSsoFixtures());
  platform = await startPlatform({
    app: {
      bearer: oidc,
      sso: { oidc: { login: oidc, redirectUri: REDIRECT_URI }, saml, samlEmailVerified: true },
    },
  });
});
afterAll(async () => {
  await platform?.stop();
  await provider?.stop();
});

async function lastFailure(action: string): Promise<Record<string, unknown> | undefined> {
  const { rows } = await platform.pool.query(
    "select details from audit_events where workspace_id is null and action = $1 and outcome = 'failure' order by id desc limit 1",
    [action],
  );
  return rows[0]?.details;
}

/** Follows a login from the API's start route through the provider, and returns the callback request to make. */
async function oidcRoundTrip(sub: string): Promise<{ path: string; cookie: string }> {
  const start = await fetch(`${platform.baseUrl}/v1/auth/oidc/login`, { redirect: 'manual' });
  expect(start.status).toBe(302);
  const flowCookie = cookiesOf(start.headers)['__Host-lookout_oidc']!;
  const callback = await provider.authorize(start.headers.get('location')!, sub);
  expect(callback.origin + callback.pathname).toBe(REDIRECT_URI);
  return { path: `${callback.pathname}${callback.search}`, cookie: `__Host-lookout_oidc=${flowCookie}` };
}

describe('OIDC login', () => {
  it('logs a member in with code + PKCE and starts a session', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const email = `oidc-${randomUUID()}@example.test`;
    const sub = randomUUID();
    provider.addAccount({ sub, email, name: 'Olive Idc' });
    expect(
      (
        await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/members`, {
          token: ws.token,
          body: { email, role: 'operator' },
        })
      ).status,
    ).toBe(202);

    const start = await fetch(`${platform.baseUrl}/v1/auth/oidc/login`, { redirect: 'manual' });
    const location = new URL(start.headers.get('location')!);
    expect(location.searchParams.get('code_challenge_method')).toBe('S256');
    expect(location.searchParams.get('state')).toEqual(expect.any(String));
    expect(location.searchParams.get('nonce')).toEqual(expect.any(String));
    const flowCookie = cookiesOf(start.headers)['__Host-lookout_oidc']!;
    const callback = await provider.authorize(location.toString(), sub);
    const done = await fetch(`${platform.baseUrl}${callback.pathname}${callback.search}`, {
      redirect: 'manual',
      headers: { cookie: `__Host-lookout_oidc=${flowCookie}` },
    });
    expect(done.status).toBe(303);
    const session = cookiesOf(done.headers)['__Host-lookout_session'];
    expect(session).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const headers = { cookie: `__Host-lookout_session=${session}`, 'x-csrf-token': cookiesOf(done.headers)['__Host-lookout_csrf']! };
    // A new account: no membership until the pending invitation to its verified address is accepted.
    expect((await api(platform.baseUrl, 'GET', '/v1/me', { headers })).body).toMatchObject({ user: { email }, workspaces: [] });
    const mine = await api(platform.baseUrl, 'GET', '/v1/me/invitations', { headers });
    expect(mine.body['items']).toEqual([expect.objectContaining({ workspaceId: ws.workspaceId, email, role: 'operator' })]);
    const invitationId = String((mine.body['items'] as { id: string }[])[0]!.id);
    expect((await api(platform.baseUrl, 'POST', `/v1/me/invitations/${invitationId}/accept`, { headers })).status).toBe(200);
    expect((await api(platform.baseUrl, 'POST', `/v1/me/invitations/${invitationId}/accept`, { headers })).status).toBe(404);
    const me = await api(platform.baseUrl, 'GET', '/v1/me', { headers });
    expect(me.body).toMatchObject({
      kind: 'session',
      session: { method: 'oidc' },
      user: { email },
      workspaces: [{ id: ws.workspaceId, role: 'operator' }],
    });

    // The same callback again: the state was consumed.
    const replay = await fetch(`${platform.baseUrl}${callback.pathname}${callback.search}`, {
      redirect: 'manual',
      headers: { cookie: `__Host-lookout_oidc=${flowCookie}` },
    });
    expect(replay.status).toBe(401);
    expect(await lastFailure('auth.oidc')).toEqual({ reason: 'replayed_state' });
  });

  it('refuses a callback whose state has expired', async () => {
    const sub = randomUUID();
    provider.addAccount({ sub, email: `late-${randomUUID()}@example.test` });
    const trip = await oidcRoundTrip(sub);
    await platform.pool.query("update auth_flows set expires_at = now() - interval '1 second' where kind = 'oidc' and consumed_at is null");
    const res = await fetch(`${platform.baseUrl}${trip.path}`, { redirect: 'manual', headers: { cookie: trip.cookie } });
    expect(res.status).toBe(401);
    expect(res.headers.getSetCookie().some((c) => c.startsWith('__Host-lookout_session='))).toBe(false);
    expect(await lastFailure('auth.oidc')).toEqual({ reason: 'expired_state' });
  });

  it('refuses a callback in a browser that did not start the login (login CSRF)', async () => {
    const sub = randomUUID();
    provider.addAccount({ sub, email: `csrf-${randomUUID()}@example.test` });
    const trip = await oidcRoundTrip(sub);
    const res = await fetch(`${platform.baseUrl}${trip.path}`, { redirect: 'manual' });
    expect(res.status).toBe(401);
    expect(await lastFailure('auth.oidc')).toEqual({ reason: 'state_not_bound_to_browser' });
  });

  it('refuses a callback with a state it never issued', async () => {
    const res = await fetch(`${platform.baseUrl}/v1/auth/oidc/callback?state=forged&code=abc`, {
      redirect: 'manual',
      headers: { cookie: '__Host-lookout_oidc=forged' },
    });
    expect(res.status).toBe(401);
    expect(await lastFailure('auth.oidc')).toEqual({ reason: 'unknown_state' });
  });
});

describe('OIDC bearer JWTs', () => {
  async function member(role: 'operator' | 'viewer') {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const email = `bearer-${randomUUID()}@example.test`;
    const sub = randomUUID();
    provider.addAccount({ sub, email });
    // The member joined from their mailbox before; the provider's verified email links the JWT to them.
    await inviteAndAccept(platform.baseUrl, ws.workspaceId, ws.token, email, role, `correct horse ${randomUUID()}`);
    return { ws, sub, email };
  }
  const now = () => Math.floor(Date.now() / 1000);

  it('accepts a JWT from the provider for the API audience, within the member role', async () => {
    const { ws, sub } = await member('viewer');
    const jwt = await provider.issueAccessToken(sub, API_AUDIENCE);
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, { token: jwt })).status).toBe(200);
    expect(
      (await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, { token: jwt, body: { taskId: ws.taskId } })).status,
    ).toBe(403);
    const other = await newWorkspace(platform, { probeUrl: PROBE });
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${other.workspaceId}/runs`, { token: jwt })).status).toBe(404);
  });

  it.each([
    [
      'another audience',
      'audience_mismatch',
      (sub: string) =>
        provider.signWithProviderKey({ iss: provider.issuer, sub, aud: 'https://elsewhere.example.test', exp: now() + 300, iat: now() }),
    ],
    [
      'another issuer',
      'issuer_mismatch',
      (sub: string) =>
        provider.signWithProviderKey({ iss: 'https://evil.example.test', sub, aud: API_AUDIENCE, exp: now() + 300, iat: now() }),
    ],
    [
      'an expired token',
      'expired',
      (sub: string) => provider.signWithProviderKey({ iss: provider.issuer, sub, aud: API_AUDIENCE, exp: now() - 600, iat: now() - 900 }),
    ],
    [
      'a key the provider does not publish',
      'signature',
      (sub: string) => provider.signWithForeignKey({ iss: provider.issuer, sub, aud: API_AUDIENCE, exp: now() + 300, iat: now() }),
    ],
  ])('answers 401 for %s and audits why', async (_label, reason, make) => {
    const { ws, sub } = await member('operator');
    const res = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, { token: await make(sub) });
    expect(res.status).toBe(401);
    expect(await lastFailure('auth.bearer')).toEqual({ reason });
  });

  it('answers 401 for a valid JWT of someone who is nobody here', async () => {
    const sub = randomUUID();
    provider.addAccount({ sub, email: `stranger-${randomUUID()}@example.test` });
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const res = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, {
      token: await provider.issueAccessToken(sub, API_AUDIENCE),
    });
    expect(res.status).toBe(401);
    expect(await lastFailure('auth.bearer')).toEqual({ reason: 'unknown_user' });
  });
});

describe('SAML 2.0 login', () => {
  async function startSaml(): Promise<{ relayState: string; requestId: string; cookie: string }> {
    const res = await fetch(`${platform.baseUrl}/v1/auth/saml/login`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(new URL(idp.ssoUrl).origin + new URL(idp.ssoUrl).pathname);
    const request = inflateRawSync(Buffer.from(location.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
    const requestId = /\sID="([^"]+)"/.exec(request)![1]!;
    const relayState = location.searchParams.get('RelayState')!;
    return { relayState, requestId, cookie: `__Host-lookout_saml=${cookiesOf(res.headers)['__Host-lookout_saml']}` };
  }
  async function post(flow: { relayState: string; cookie: string }, samlResponse: string) {
    return fetch(`${platform.baseUrl}/v1/auth/saml/acs`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: flow.cookie },
      body: new URLSearchParams({ SAMLResponse: samlResponse, RelayState: flow.relayState }).toString(),
    });
  }

  it('logs a member in with a signed response and refuses the same POST again', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const email = `saml-${randomUUID()}@example.test`;
    // The member joined from their mailbox; this IdP is configured as verifying emails, so it links.
    await inviteAndAccept(platform.baseUrl, ws.workspaceId, ws.token, email, 'viewer', `correct horse ${randomUUID()}`);
    const flow = await startSaml();
    const response = idp.response({
      nameId: `name-${randomUUID()}`,
      email,
      audience: SP_ENTITY_ID,
      recipient: ACS_URL,
      destination: ACS_URL,
      inResponseTo: flow.requestId,
    });
    const res = await post(flow, response);
    expect(res.status).toBe(303);
    const session = cookiesOf(res.headers)['__Host-lookout_session'];
    const me = await api(platform.baseUrl, 'GET', '/v1/me', { headers: { cookie: `__Host-lookout_session=${session}` } });
    expect(me.body).toMatchObject({ session: { method: 'saml' }, user: { email }, workspaces: [{ id: ws.workspaceId, role: 'viewer' }] });
    expect((await post(flow, response)).status).toBe(401);
    expect(await lastFailure('auth.saml')).toEqual({ reason: 'replayed_state' });
  });

  it('refuses an assertion it has seen before, even inside a new login', async () => {
    const email = `saml-${randomUUID()}@example.test`;
    const assertionId = `_${randomUUID()}`;
    const first = await startSaml();
    expect(
      (
        await post(
          first,
          idp.response({ nameId: email, email, audience: SP_ENTITY_ID, recipient: ACS_URL, inResponseTo: first.requestId, assertionId }),
        )
      ).status,
    ).toBe(303);
    const second = await startSaml();
    const res = await post(
      second,
      idp.response({ nameId: email, email, audience: SP_ENTITY_ID, recipient: ACS_URL, inResponseTo: second.requestId, assertionId }),
    );
    expect(res.status).toBe(401);
    expect(await lastFailure('auth.saml')).toEqual({ reason: 'replayed_assertion' });
  });

  it.each([
    ['an unsigned response', 'unsigned', { signResponse: false, signAssertion: false }],
    ['a response signed by another key', 'signature', { signWith: 'foreign' as const }],
    ['another audience', 'audience', { audience: 'https://other-sp.example.test' }],
    ['another recipient', 'recipient', { recipient: 'https://other-sp.example.test/acs' }],
    ['an expired assertion', 'expired', { notBefore: new Date(Date.now() - 3_600_000), notOnOrAfter: new Date(Date.now() - 1_800_000) }],
  ])('refuses %s without a session', async (_label, reason, overrides) => {
    const flow = await startSaml();
    const email = `saml-${randomUUID()}@example.test`;
    const res = await post(
      flow,
      idp.response({ nameId: email, email, audience: SP_ENTITY_ID, recipient: ACS_URL, inResponseTo: flow.requestId, ...overrides }),
    );
    expect(res.status).toBe(401);
    expect(res.headers.getSetCookie().some((c) => c.startsWith('__Host-lookout_session='))).toBe(false);
    expect(await lastFailure('auth.saml')).toEqual({ reason });
  });

  it('publishes its service provider metadata', async () => {
    const res = await fetch(`${platform.baseUrl}/v1/auth/saml/metadata`);
    expect(res.status).toBe(200);
    const xml = await res.text();
    expect(xml).toContain(`entityID="${SP_ENTITY_ID}"`);
    expect(xml).toContain(ACS_URL);
  });
});
