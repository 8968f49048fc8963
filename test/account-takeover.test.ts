/**
 * Account takeover across workspaces (issue 16), played step by step through the API by an
 * attacker with a workspace of their own, against a victim who cannot log in yet (the owner
 * `lookout admin bootstrap` made, who works with API tokens only). Every step that used to
 * succeed is refused or harmless, and the victim's access and credentials stay as they were.
 * Then the other half: when the owner of the mailbox claims an account someone else had set up
 * (a password, TOTP, sessions set before anyone proved the mailbox), all of that is revoked.
 */
import { randomUUID } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { hash as argon2Hash } from '@node-rs/argon2';
import type { OidcLogin } from '../platform-api/auth/oidc';
import type { SamlLogin } from '../platform-api/auth/saml';
import { api, invitationCodeFor, newWorkspace, startPlatform, type TestPlatform } from './harness/env';
import type { TestOidcProvider } from './harness/oidc-provider';
import type { TestSamlIdp } from './harness/saml-idp';
import { ACS_URL, API_AUDIENCE, REDIRECT_URI, SP_ENTITY_ID, startSsoFixtures } from './harness/sso';
import { cookiesOf, inviteAndLogIn, passwordLogin } from './harness/users';

const PROBE = 'http://127.0.0.1:9/healthz';

let provider: TestOidcProvider;
let oidc: OidcLogin;
let idp: TestSamlIdp;
let platform: TestPlatform;

beforeAll(async () => {
  let saml: SamlLogin;
  ({ provider, oidc, idp, saml } = await startSsoFixtures());
  // The SAML IdP is not configured as verifying emails (the default).
  platform = await startPlatform({ app: { bearer: oidc, sso: { oidc: { login: oidc, redirectUri: REDIRECT_URI }, saml } } });
});
afterAll(async () => {
  await platform?.stop();
  await provider?.stop();
});

/** Everything that decides who can act as a user, to compare before and after. */
async function credentialsOf(userId: string) {
  const { rows } = await platform.pool.query(
    `select u.password_hash, u.totp_secret, u.totp_confirmed_at, u.email_verified_at,
            (select count(*)::int from user_identities where user_id = u.id) as identities,
            (select count(*)::int from sessions where user_id = u.id and revoked_at is null) as sessions,
            (select count(*)::int from recovery_codes where user_id = u.id) as recovery_codes,
            (select coalesce(json_agg(json_build_object('ws', workspace_id, 'role', role) order by workspace_id), '[]') from memberships where user_id = u.id) as memberships
       from users u where u.id = $1`,
    [userId],
  );
  return rows[0] as Record<string, unknown>;
}

async function oidcLogin(sub: string): Promise<Response> {
  const start = await fetch(`${platform.baseUrl}/v1/auth/oidc/login`, { redirect: 'manual' });
  const flowCookie = cookiesOf(start.headers)['__Host-lookout_oidc']!;
  const callback = await provider.authorize(start.headers.get('location')!, sub);
  return fetch(`${platform.baseUrl}${callback.pathname}${callback.search}`, {
    redirect: 'manual',
    headers: { cookie: `__Host-lookout_oidc=${flowCookie}` },
  });
}

async function samlLogin(nameId: string, email: string): Promise<Response> {
  const res = await fetch(`${platform.baseUrl}/v1/auth/saml/login`, { redirect: 'manual' });
  const location = new URL(res.headers.get('location')!);
  const request = inflateRawSync(Buffer.from(location.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
  const response = idp.response({
    nameId,
    email,
    audience: SP_ENTITY_ID,
    recipient: ACS_URL,
    destination: ACS_URL,
    inResponseTo: /\sID="([^"]+)"/.exec(request)![1]!,
  });
  return fetch(`${platform.baseUrl}/v1/auth/saml/acs`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: `__Host-lookout_saml=${cookiesOf(res.headers)['__Host-lookout_saml']}`,
    },
    body: new URLSearchParams({ SAMLResponse: response, RelayState: location.searchParams.get('RelayState')! }).toString(),
  });
}

describe('an owner of another workspace cannot take over an account through invitations or SSO', () => {
  it('refuses or defuses every step, and leaves the victim as they were', async () => {
    // The victim: the owner `lookout admin bootstrap` made, API tokens only, no password yet.
    const victimEmail = `victim-${randomUUID()}@example.test`;
    const victimWs = await newWorkspace(platform, { probeUrl: PROBE, ownerEmail: victimEmail });
    const before = await credentialsOf(victimWs.ownerId);
    expect(before).toMatchObject({ password_hash: null, totp_secret: null, identities: 0, sessions: 0 });
    // The attacker: owner of a workspace of their own (anyone may make one).
    const attackerWs = await newWorkspace(platform, { probeUrl: PROBE });

    // 1. The attacker invites the victim's email: the answer is the one an unknown email gets, and
    //    carries no code; the code went to the victim's mailbox.
    const since = Date.now();
    const invite = (email: string) =>
      api(platform.baseUrl, 'POST', `/v1/workspaces/${attackerWs.workspaceId}/members`, {
        token: attackerWs.token,
        body: { email, role: 'owner' },
      });
    const forVictim = await invite(victimEmail);
    const unknownEmail = `nobody-${randomUUID()}@example.test`;
    const forNobody = await invite(unknownEmail);
    expect(forVictim.status).toBe(202);
    expect(forNobody.status).toBe(202);
    const shape = (b: Record<string, unknown>) => ({ ...b, id: 'id', email: 'email', expiresAt: 'at' });
    expect(shape(forVictim.body)).toEqual(shape(forNobody.body));
    expect(Object.keys(forVictim.body).sort()).toEqual(['email', 'expiresAt', 'id', 'role', 'status', 'workspaceId']);
    const mailed = await invitationCodeFor(platform.baseUrl, victimEmail, since);
    expect(JSON.stringify(forVictim.body)).not.toContain(mailed);
    expect(platform.mailbox.to(victimEmail).every((m) => m.to.length === 1 && m.to[0] === victimEmail.toLowerCase())).toBe(true);

    // 2. The membership is pending: the attacker's workspace gained no member, the victim no role.
    const members = await api(platform.baseUrl, 'GET', `/v1/workspaces/${attackerWs.workspaceId}/members`, { token: attackerWs.token });
    expect(JSON.stringify(members.body)).not.toContain(victimWs.ownerId);

    // 3. Without the mail, nothing to accept: a guessed code is refused.
    const guessed = await api(platform.baseUrl, 'POST', '/v1/auth/invitations/accept', {
      body: { invitation: 'A'.repeat(43), password: 'the attacker picks this one' },
    });
    expect(guessed.status).toBe(400);

    // 4. No password to guess: the same 401 as for an unknown account.
    const asVictim = await api(platform.baseUrl, 'POST', '/v1/auth/password', {
      body: { email: victimEmail, password: 'anything at all' },
    });
    const asNobody = await api(platform.baseUrl, 'POST', '/v1/auth/password', {
      body: { email: unknownEmail, password: 'anything at all' },
    });
    expect(asVictim.status).toBe(401);
    expect(asVictim.body).toEqual(asNobody.body);

    // 5. An OIDC account of the attacker's claiming the victim's email, unverified: no link.
    const oidcSub = `attacker-${randomUUID()}`;
    provider.addAccount({ sub: oidcSub, email: victimEmail, emailVerified: false });
    const oidcRes = await oidcLogin(oidcSub);
    expect(oidcRes.status).toBe(401);
    expect(oidcRes.headers.getSetCookie().some((c) => c.startsWith('__Host-lookout_session='))).toBe(false);
    //    Nor as a bearer JWT.
    const jwt = await provider.issueAccessToken(oidcSub, API_AUDIENCE);
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${victimWs.workspaceId}/runs`, { token: jwt })).status).toBe(401);

    // 6. A SAML IdP that is not configured as verifying emails asserts the victim's email: no link.
    const samlRes = await samlLogin(`attacker-${randomUUID()}`, victimEmail);
    expect(samlRes.status).toBe(401);
    expect(samlRes.headers.getSetCookie().some((c) => c.startsWith('__Host-lookout_session='))).toBe(false);

    // The victim: same credentials, same memberships, their token still works.
    expect(await credentialsOf(victimWs.ownerId)).toEqual(before);
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${victimWs.workspaceId}`, { token: victimWs.token })).status).toBe(200);

    // The owner of the mailbox can still claim the account with the code only they got.
    const password = `the victim's own passphrase ${randomUUID()}`;
    const accepted = await api(platform.baseUrl, 'POST', '/v1/auth/invitations/accept', { body: { invitation: mailed, password } });
    expect(accepted.status).toBe(200);
    const victim = await passwordLogin(platform.baseUrl, victimEmail, password);
    const me = await api(platform.baseUrl, 'GET', '/v1/me', { headers: { cookie: victim.cookie } });
    expect((me.body['workspaces'] as { id: string; role: string }[]).map((w) => `${w.id}:${w.role}`).sort()).toEqual(
      [`${victimWs.workspaceId}:owner`, `${attackerWs.workspaceId}:owner`].sort(),
    );
  });

  it('answers an invitation the same for a member of other workspaces and for a stranger', async () => {
    const a = await newWorkspace(platform, { probeUrl: PROBE });
    const b = await newWorkspace(platform, { probeUrl: PROBE });
    const member = await inviteAndLogIn(platform.baseUrl, a.workspaceId, a.token, 'viewer');
    const invite = (email: string) =>
      api(platform.baseUrl, 'POST', `/v1/workspaces/${b.workspaceId}/members`, { token: b.token, body: { email, role: 'viewer' } });
    const known = await invite(member.email);
    const stranger = await invite(`stranger-${randomUUID()}@example.test`);
    expect([known.status, stranger.status]).toEqual([202, 202]);
    expect(Object.keys(known.body).sort()).toEqual(Object.keys(stranger.body).sort());
    // The existing member is not in workspace b until they accept.
    const me = await api(platform.baseUrl, 'GET', '/v1/me', { headers: { cookie: member.cookie } });
    expect((me.body['workspaces'] as { id: string }[]).map((w) => w.id)).toEqual([a.workspaceId]);
  });
});

describe("the mailbox owner's claim revokes what someone else set up", () => {
  /**
   * An account set up by someone who never proved the mailbox, as invitations answered to the
   * inviter used to allow: a password, TOTP enrolled at the first login, a live session.
   */
  async function squatted() {
    const ws = await newWorkspace(platform, { probeUrl: PROBE, ownerEmail: `squatted-${randomUUID()}@example.test` });
    const email = (await platform.pool.query<{ email: string }>('select email from users where id = $1', [ws.ownerId])).rows[0]!.email;
    const squatterPassword = `the squatter's passphrase ${randomUUID()}`;
    await platform.pool.query('update users set password_hash = $2 where id = $1', [
      ws.ownerId,
      await argon2Hash(squatterPassword, { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 }),
    ]);
    const squatter = await passwordLogin(platform.baseUrl, email, squatterPassword);
    expect((await api(platform.baseUrl, 'GET', '/v1/me', { headers: { cookie: squatter.cookie } })).status).toBe(200);
    expect(await credentialsOf(ws.ownerId)).toMatchObject({ sessions: 1, recovery_codes: 10, email_verified_at: null });
    return { ws, email, squatter, squatterPassword };
  }

  async function expectSquatterGone(s: Awaited<ReturnType<typeof squatted>>, via: string) {
    expect((await api(platform.baseUrl, 'GET', '/v1/me', { headers: { cookie: s.squatter.cookie } })).status).toBe(401);
    expect(
      (await api(platform.baseUrl, 'POST', '/v1/auth/password', { body: { email: s.email, password: s.squatterPassword } })).status,
    ).toBe(401);
    const { rows } = await platform.pool.query<{ details: Record<string, unknown> }>(
      "select details from audit_events where action = 'user.claimed' and actor = $1",
      [`user:${s.ws.ownerId}`],
    );
    expect(rows.map((r) => r.details)).toEqual([
      expect.objectContaining({ via, revoked: { password: true, totp: true, recoveryCodes: 10, sessions: 1, identities: 0 } }),
    ]);
  }

  it('by the code from an invitation mail', async () => {
    const s = await squatted();
    const other = await newWorkspace(platform, { probeUrl: PROBE });
    const since = Date.now();
    expect(
      (
        await api(platform.baseUrl, 'POST', `/v1/workspaces/${other.workspaceId}/members`, {
          token: other.token,
          body: { email: s.email, role: 'viewer' },
        })
      ).status,
    ).toBe(202);
    const invitation = await invitationCodeFor(platform.baseUrl, s.email, since);
    // Claiming needs a new password: the one someone else set is not the owner's.
    expect((await api(platform.baseUrl, 'POST', '/v1/auth/invitations/accept', { body: { invitation } })).status).toBe(400);
    const password = `the owner's passphrase ${randomUUID()}`;
    expect((await api(platform.baseUrl, 'POST', '/v1/auth/invitations/accept', { body: { invitation, password } })).status).toBe(200);
    await expectSquatterGone(s, 'invitation');
    // The owner enrols TOTP anew at the first login; their memberships are intact.
    const owner = await passwordLogin(platform.baseUrl, s.email, password);
    expect(owner.recoveryCodes).toHaveLength(10);
    const me = await api(platform.baseUrl, 'GET', '/v1/me', { headers: { cookie: owner.cookie } });
    expect((me.body['workspaces'] as { id: string }[]).map((w) => w.id).sort()).toEqual([s.ws.workspaceId, other.workspaceId].sort());
  });

  it('by a login whose provider verified the email', async () => {
    const s = await squatted();
    const sub = `owner-${randomUUID()}`;
    provider.addAccount({ sub, email: s.email, emailVerified: true });
    const res = await oidcLogin(sub);
    expect(res.status).toBe(303);
    await expectSquatterGone(s, 'oidc');
    const cookie = `__Host-lookout_session=${cookiesOf(res.headers)['__Host-lookout_session']}`;
    const me = await api(platform.baseUrl, 'GET', '/v1/me', { headers: { cookie } });
    expect(me.body).toMatchObject({ user: { email: s.email }, workspaces: [{ id: s.ws.workspaceId, role: 'owner' }] });
    expect(await credentialsOf(s.ws.ownerId)).toMatchObject({ password_hash: null, totp_secret: null, identities: 1, sessions: 1 });
    // Claimed once: a second verified login changes nothing more.
    expect((await oidcLogin(sub)).status).toBe(303);
    expect(
      (await platform.pool.query("select 1 from audit_events where action = 'user.claimed' and actor = $1", [`user:${s.ws.ownerId}`]))
        .rowCount,
    ).toBe(1);
  });
});
