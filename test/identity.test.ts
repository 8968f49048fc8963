/**
 * Identity through HTTP with the real middleware and PostgreSQL: invitations, passwords with
 * mandatory TOTP, recovery codes, lockout and per-address limits, sessions (cookies, rotation,
 * revocation, CSRF), API tokens (creation, role ceiling, revocation, audited use), the audit endpoint,
 * HTTPS, the OpenAPI document and GDPR export and erasure.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash, randomUUID } from 'node:crypto';
import { generate } from 'otplib';
import { verifyAuditChain } from '../platform/repos/audit.repo';
import { routesOf } from '../platform-api/app';
import {
  api,
  invitationCodeFor,
  newWorkspace,
  runTaskViaApi,
  startHttpServer,
  startPlatform,
  startRunner,
  type TestPlatform,
} from './harness/env';
import { makePki } from './harness/tls';
import { cookiesOf, freshTotp, inviteAndLogIn, mfaCookie, passwordLogin, sessionHeaders } from './harness/users';
import { LOGIN_DELAYS } from '../platform-api/services/identity.service';

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startPlatform();
});
afterAll(async () => {
  await platform?.stop();
});

const PROBE = 'http://127.0.0.1:9/healthz';

async function auditActions(
  workspaceId: string | null,
  actor: string,
): Promise<{ action: string; outcome: string; details: Record<string, unknown> }[]> {
  const { rows } = await platform.pool.query(
    'select action, outcome, details from audit_events where workspace_id is not distinct from $1 and actor = $2 order by id',
    [workspaceId, actor],
  );
  return rows;
}

describe('password login with mandatory MFA', () => {
  it('takes an invited user from invitation to a session, with TOTP enrolment before any access', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const email = `new-${randomUUID()}@example.test`;
    const since = Date.now();
    const added = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/members`, {
      token: ws.token,
      body: { email, role: 'operator' },
    });
    expect(added.status).toBe(202);
    // The inviter learns no code: it went to the mailbox, and only there.
    expect(added.body).toEqual({
      id: expect.any(String),
      workspaceId: ws.workspaceId,
      email,
      role: 'operator',
      status: 'pending',
      expiresAt: expect.any(String),
    });
    const invitation = await invitationCodeFor(platform.baseUrl, email, since);
    expect(invitation).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(added.body)).not.toContain(invitation);
    // Pending until accepted: listed as an invitation, not a member.
    const pending = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/invitations`, { token: ws.token });
    expect(pending.body['items']).toEqual([expect.objectContaining({ id: added.body['id'], email, role: 'operator', status: 'pending' })]);
    const members = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/members`, { token: ws.token });
    expect(JSON.stringify(members.body)).not.toContain(email);

    expect((await api(platform.baseUrl, 'POST', '/v1/auth/invitations/accept', { body: { invitation, password: 'short' } })).status).toBe(
      400,
    );
    // A new account must choose a password.
    expect((await api(platform.baseUrl, 'POST', '/v1/auth/invitations/accept', { body: { invitation } })).status).toBe(400);
    const password = 'a long enough passphrase';
    expect((await api(platform.baseUrl, 'POST', '/v1/auth/invitations/accept', { body: { invitation, password } })).status).toBe(200);
    expect((await api(platform.baseUrl, 'POST', '/v1/auth/invitations/accept', { body: { invitation, password } })).status).toBe(400);

    const first = await api(platform.baseUrl, 'POST', '/v1/auth/password', { body: { email, password } });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ mfa: 'enroll', challenge: expect.any(String), secret: expect.any(String) });
    expect(String(first.body['otpauthUri'])).toMatch(/^otpauth:\/\/totp\/Lookout:/);
    // No session yet: only the pre-auth cookie that binds the MFA step to this browser.
    const preauth = first.headers.getSetCookie();
    expect(preauth).toEqual([
      expect.stringMatching(/^__Host-lookout_mfa=[A-Za-z0-9_-]{43}; Max-Age=300; Path=\/; HttpOnly; Secure; SameSite=Strict$/),
    ]);

    const wrong = await api(platform.baseUrl, 'POST', '/v1/auth/mfa', {
      headers: mfaCookie(first.headers),
      body: { challenge: first.body['challenge'], code: '000000' },
    });
    expect(wrong.status).toBe(401);
    const code = await freshTotp(String(first.body['secret']));
    const done = await api(platform.baseUrl, 'POST', '/v1/auth/mfa', {
      headers: mfaCookie(first.headers),
      body: { challenge: first.body['challenge'], code },
    });
    expect(done.status).toBe(200);
    expect(done.body['recoveryCodes']).toHaveLength(10);
    const setCookies = done.headers.getSetCookie();
    const session = setCookies.find((c) => c.startsWith('__Host-lookout_session='))!;
    expect(session).toMatch(/; HttpOnly/);
    expect(session).toMatch(/; Secure/);
    expect(session).toMatch(/; SameSite=Lax/);
    expect(session).toMatch(/; Path=\//);
    const cookie = `__Host-lookout_session=${cookiesOf(done.headers)['__Host-lookout_session']}`;

    const me = await api(platform.baseUrl, 'GET', '/v1/me', { headers: { cookie } });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      kind: 'session',
      user: { email, mfaEnrolled: true },
      workspaces: [{ id: ws.workspaceId, role: 'operator' }],
    });

    // The challenge is consumed: the same challenge and code cannot make a second session.
    expect(
      (
        await api(platform.baseUrl, 'POST', '/v1/auth/mfa', {
          headers: mfaCookie(first.headers),
          body: { challenge: first.body['challenge'], code },
        })
      ).status,
    ).toBe(401);

    const userId = String(done.body['userId']);
    const actions = (await auditActions(null, `user:${userId}`)).map((a) => `${a.action}:${a.outcome}`);
    expect(actions).toEqual([
      'user.created:success',
      'auth.password:success',
      'auth.mfa:failure',
      'mfa.enrolled:success',
      'auth.login:success',
      'auth.mfa:failure',
    ]);
    // Only hashes and the wrapped TOTP secret are stored.
    const { rows } = await platform.pool.query('select password_hash, totp_secret from users where id = $1', [userId]);
    expect(rows[0].password_hash).toMatch(/^\$argon2id\$/);
    expect(Buffer.from(rows[0].totp_secret).toString('utf8')).not.toContain(String(first.body['secret']));
  });

  it('lets the bootstrap owner set a password with an invitation from `lookout users invite`', async () => {
    const email = `boot-${randomUUID()}@example.test`;
    const ws = await newWorkspace(platform, { probeUrl: PROBE, ownerEmail: email });
    const cli = spawnSync(process.execPath, ['dist/platform-api/cli.js', 'users', 'invite', '--email', email], {
      env: {
        ...process.env,
        DATABASE_URL: process.env['LOOKOUT_TEST_DATABASE_URL'],
        LOOKOUT_MASTER_KEY: process.env['LOOKOUT_TEST_MASTER_KEY'],
      },
      encoding: 'utf8',
    });
    expect(cli.status).toBe(0);
    const invitation = /^invitation (\S+)$/m.exec(cli.stdout)![1]!;
    const password = 'the owner picks a passphrase';
    expect((await api(platform.baseUrl, 'POST', '/v1/auth/invitations/accept', { body: { invitation, password } })).status).toBe(200);
    const owner = await passwordLogin(platform.baseUrl, email, password);
    const me = await api(platform.baseUrl, 'GET', '/v1/me', { headers: { cookie: owner.cookie } });
    expect(me.body).toMatchObject({ workspaces: [{ id: ws.workspaceId, role: 'owner' }] });
    const unknown = spawnSync(process.execPath, ['dist/platform-api/cli.js', 'users', 'invite', '--email', 'nobody@example.test'], {
      env: {
        ...process.env,
        DATABASE_URL: process.env['LOOKOUT_TEST_DATABASE_URL'],
        LOOKOUT_MASTER_KEY: process.env['LOOKOUT_TEST_MASTER_KEY'],
      },
      encoding: 'utf8',
    });
    expect(unknown.status).toBe(1);
  });

  it('refuses a TOTP code that was already used, and accepts each recovery code once', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const user = await inviteAndLogIn(platform.baseUrl, ws.workspaceId, ws.token, 'viewer');
    const login = await api(platform.baseUrl, 'POST', '/v1/auth/password', { body: { email: user.email, password: user.password } });
    expect(login.body['mfa']).toBe('verify');
    // The step used at enrolment: replaying its code fails.
    const { rows } = await platform.pool.query<{ totp_last_step: string }>('select totp_last_step from users where id = $1', [user.userId]);
    const replayed = await generate({ secret: user.totpSecret, epoch: Number(rows[0]!.totp_last_step) * 30 + 1 });
    expect(
      (
        await api(platform.baseUrl, 'POST', '/v1/auth/mfa', {
          headers: mfaCookie(login.headers),
          body: { challenge: login.body['challenge'], code: replayed },
        })
      ).status,
    ).toBe(401);

    const recovery = user.recoveryCodes[0]!;
    const ok = await api(platform.baseUrl, 'POST', '/v1/auth/mfa', {
      headers: mfaCookie(login.headers),
      body: { challenge: login.body['challenge'], recoveryCode: recovery },
    });
    expect(ok.status).toBe(200);
    const again = await api(platform.baseUrl, 'POST', '/v1/auth/password', { body: { email: user.email, password: user.password } });
    expect(
      (
        await api(platform.baseUrl, 'POST', '/v1/auth/mfa', {
          headers: mfaCookie(again.headers),
          body: { challenge: again.body['challenge'], recoveryCode: recovery },
        })
      ).status,
    ).toBe(401);
  });

  it('answers the same 401 for an unknown account and a wrong password, and audits both', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const user = await inviteAndLogIn(platform.baseUrl, ws.workspaceId, ws.token, 'viewer');
    const unknown = await api(platform.baseUrl, 'POST', '/v1/auth/password', {
      body: { email: `nobody-${randomUUID()}@example.test`, password: 'whatever it is' },
    });
    const wrong = await api(platform.baseUrl, 'POST', '/v1/auth/password', { body: { email: user.email, password: 'not the password' } });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(unknown.body['detail']).toBe(wrong.body['detail']);
    expect((await auditActions(null, `user:${user.userId}`)).at(-1)).toMatchObject({
      action: 'auth.password',
      outcome: 'failure',
      details: { reason: 'wrong_password' },
    });
  });

  const login = (baseUrl: string, email: string, password: string, headers?: Record<string, string>) =>
    api(baseUrl, 'POST', '/v1/auth/password', { body: { email, password }, ...(headers ? { headers } : {}) });
  /** Ends the delays of an account (as the wait would), keeping its count. */
  const waitOver = (email: string) =>
    platform.pool.query("update auth_throttle set next_attempt_at = now() - interval '1 ms' where key = $1", [
      `account:${createHash('sha256').update(email.trim().toLowerCase()).digest('hex')}`,
    ]);

  it('slows an account with growing delays after three failures, never locks it, and slows an email without an account alike', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const user = await inviteAndLogIn(platform.baseUrl, ws.workspaceId, ws.token, 'viewer');
    const nobody = `nobody-${randomUUID()}@example.test`;
    for (const email of [user.email, nobody]) {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await login(platform.baseUrl, email, `wrong ${i} password`)).status);
      expect(statuses).toEqual([401, 401, 401, 401]);
      // The fourth failure set a delay of 1 s: an attempt before it ends is refused unheard, even with the right password.
      const early = await login(platform.baseUrl, email, email === user.email ? user.password : 'any');
      expect(early.status).toBe(429);
      expect(early.body['retryAfter']).toBe(1);
      expect(early.body['detail']).toBe('too many failed attempts; wait before trying again');
    }
    // The next failure doubles it; the answers are the same for the account and the address without one.
    await waitOver(user.email);
    expect((await login(platform.baseUrl, user.email, 'wrong again')).status).toBe(401);
    const doubled = await login(platform.baseUrl, user.email, user.password);
    expect(doubled.status).toBe(429);
    expect(doubled.body['retryAfter']).toBe(2);
    expect((await auditActions(null, 'anonymous')).at(-1)).toMatchObject({ action: 'auth.password', details: { reason: 'throttled' } });
    // Once the delay is over, the right password works: nobody can lock the owner out.
    await waitOver(user.email);
    const after = await login(platform.baseUrl, user.email, user.password);
    expect(after.status).toBe(200);
    // A completed login starts the count again.
    const mfa = await api(platform.baseUrl, 'POST', '/v1/auth/mfa', {
      headers: mfaCookie(after.headers),
      body: { challenge: after.body['challenge'], code: await freshTotp(user.totpSecret) },
    });
    expect(mfa.status).toBe(200);
    expect((await login(platform.baseUrl, user.email, 'one wrong')).status).toBe(401);
    expect((await login(platform.baseUrl, user.email, user.password)).status).toBe(200);
  });

  it('counts wrong MFA codes towards the delays', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const user = await inviteAndLogIn(platform.baseUrl, ws.workspaceId, ws.token, 'viewer');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const first = await login(platform.baseUrl, user.email, user.password);
      if (first.status !== 200) {
        statuses.push(first.status);
        continue;
      }
      statuses.push(
        (
          await api(platform.baseUrl, 'POST', '/v1/auth/mfa', {
            headers: mfaCookie(first.headers),
            body: { challenge: first.body['challenge'], code: '000000' },
          })
        ).status,
      );
    }
    expect(statuses).toEqual([401, 401, 401, 401]);
    expect((await login(platform.baseUrl, user.email, user.password)).status).toBe(429);
  });

  it('slows a client address that fails with many accounts', async () => {
    const strict = await startPlatform({ app: { loginDelays: { ...LOGIN_DELAYS, address: { ...LOGIN_DELAYS.address, free: 3 } } } });
    const address = 'address:127.0.0.1';
    await platform.pool.query('delete from auth_throttle where key = $1', [address]);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await login(strict.baseUrl, `n${i}-${randomUUID()}@example.test`, 'wrong')).status);
      expect(statuses).toEqual([401, 401, 401, 401, 429]);
    } finally {
      // Every test calls from 127.0.0.1: end this address's delay for the others.
      await platform.pool.query('delete from auth_throttle where key = $1', [address]);
      await strict.stop();
    }
  });

  it('shares the delays among API replicas (PostgreSQL), and believes X-Forwarded-For only from a trusted proxy', async () => {
    const other = await startPlatform({ app: { trustProxy: 1 } });
    try {
      const email = `nobody-${randomUUID()}@example.test`;
      for (let i = 0; i < 4; i++) expect((await login(i % 2 ? other.baseUrl : platform.baseUrl, email, 'wrong')).status).toBe(401);
      expect((await login(other.baseUrl, email, 'wrong')).status).toBe(429);
      expect((await login(platform.baseUrl, email, 'wrong')).status).toBe(429);
      // Behind one trusted hop, the client address is the forwarded one; without trust, the peer's.
      const forwarded = { 'x-forwarded-for': '203.0.113.7' };
      await login(other.baseUrl, `x-${randomUUID()}@example.test`, 'wrong', forwarded);
      await login(platform.baseUrl, `y-${randomUUID()}@example.test`, 'wrong', forwarded);
      const { rows } = await platform.pool.query<{ ip: string }>(
        "select ip from audit_events where workspace_id is null and action = 'auth.password' order by id desc limit 2",
      );
      expect(rows.map((r) => r.ip)).toEqual(['127.0.0.1', '203.0.113.7']);
    } finally {
      await other.stop();
    }
  });

  it('limits failed logins per client address', async () => {
    const limited = await startPlatform({ app: { authRateLimit: { limit: 3, windowMs: 60_000 } } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++)
        statuses.push(
          (
            await api(limited.baseUrl, 'POST', '/v1/auth/password', {
              body: { email: `x${i}-${randomUUID()}@example.test`, password: 'nothing at all' },
            })
          ).status,
        );
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
      const res = await api(limited.baseUrl, 'POST', '/v1/auth/password', {
        body: { email: 'a@example.test', password: 'again and again' },
      });
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    } finally {
      await limited.stop();
    }
  });
});

describe('sessions', () => {
  it('rotates the session on login and revokes it server-side on logout', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const user = await inviteAndLogIn(platform.baseUrl, ws.workspaceId, ws.token, 'viewer');
    // Logging in again from the same browser (old cookie sent) ends the old session.
    const first = await api(platform.baseUrl, 'POST', '/v1/auth/password', { body: { email: user.email, password: user.password } });
    const second = await api(platform.baseUrl, 'POST', '/v1/auth/mfa', {
      body: { challenge: first.body['challenge'], code: await freshTotp(user.totpSecret) },
      headers: { cookie: `${user.cookie}; ${mfaCookie(first.headers).cookie}` },
    });
    expect(second.status).toBe(200);
    const newCookie = `__Host-lookout_session=${cookiesOf(second.headers)['__Host-lookout_session']}`;
    expect(newCookie).not.toBe(user.cookie);
    expect((await api(platform.baseUrl, 'GET', '/v1/me', { headers: { cookie: user.cookie } })).status).toBe(401);
    expect((await api(platform.baseUrl, 'GET', '/v1/me', { headers: { cookie: newCookie } })).status).toBe(200);

    const headers = sessionHeaders(newCookie, String(second.body['csrfToken']));
    expect((await api(platform.baseUrl, 'POST', '/v1/auth/logout', { headers })).status).toBe(204);
    expect((await api(platform.baseUrl, 'GET', '/v1/me', { headers: { cookie: newCookie } })).status).toBe(401);
  });

  it('needs the CSRF token for cookie-authenticated writes', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const owner = await inviteAndLogIn(platform.baseUrl, ws.workspaceId, ws.token, 'owner');
    const body = { name: 'csrf-test' };
    const without = await api(platform.baseUrl, 'POST', '/v1/workspaces', { body, headers: { cookie: owner.cookie } });
    expect(without.status).toBe(403);
    expect(without.body['detail']).toMatch(/CSRF/);
    const wrong = await api(platform.baseUrl, 'POST', '/v1/workspaces', {
      body,
      headers: { cookie: owner.cookie, 'x-csrf-token': 'x'.repeat(43) },
    });
    expect(wrong.status).toBe(403);
    const right = await api(platform.baseUrl, 'POST', '/v1/workspaces', { body, headers: owner.headers });
    expect(right.status).toBe(201);
    // Reads need no token.
    expect(
      (await api(platform.baseUrl, 'GET', `/v1/workspaces/${String(right.body['id'])}`, { headers: { cookie: owner.cookie } })).status,
    ).toBe(200);
  });

  it('lists and revokes sessions, and ends idle ones', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const user = await inviteAndLogIn(platform.baseUrl, ws.workspaceId, ws.token, 'viewer');
    const other = await passwordLogin(platform.baseUrl, user.email, user.password, user.totpSecret);
    const list = await api(platform.baseUrl, 'GET', '/v1/auth/sessions', { headers: { cookie: user.cookie } });
    expect(list.body['items']).toHaveLength(2);
    const otherId = (list.body['items'] as { id: string; current: boolean }[]).find((s) => !s.current)!.id;
    expect((await api(platform.baseUrl, 'DELETE', `/v1/auth/sessions/${otherId}`, { headers: user.headers })).status).toBe(204);
    expect((await api(platform.baseUrl, 'GET', '/v1/me', { headers: { cookie: other.cookie } })).status).toBe(401);
    await platform.pool.query("update sessions set last_seen_at = now() - interval '31 minutes' where user_id = $1", [user.userId]);
    expect((await api(platform.baseUrl, 'GET', '/v1/me', { headers: { cookie: user.cookie } })).status).toBe(401);
  });
});

describe('API tokens', () => {
  it('shows a new token once, audits every use, and stops it on revocation', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const made = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/tokens`, {
      token: ws.token,
      body: { name: 'ci', role: 'viewer', expiresInDays: 30 },
    });
    expect(made.status).toBe(201);
    expect(made.headers.get('cache-control')).toBe('no-store');
    const token = String(made.body['token']);
    expect(token).toMatch(/^lk_[A-Za-z0-9_-]{43}$/);
    const list = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/tokens`, { token: ws.token });
    expect(JSON.stringify(list.body)).not.toContain(token);
    expect(list.body['items']).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: made.body['id'], role: 'viewer', revokedAt: null })]),
    );
    const { rows } = await platform.pool.query("select count(*)::int as n from api_tokens where encode(token_hash, 'escape') like $1", [
      `%${token}%`,
    ]);
    expect(rows[0].n).toBe(0);

    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, { token })).status).toBe(200);
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/tasks`, { token })).status).toBe(200);
    // Uses are counted per token and written once per interval: one row per token and interval,
    // with how many requests went to which route template (never the raw path).
    const routes: Record<string, number> = {};
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      const uses = (await auditActions(ws.workspaceId, `token:${String(made.body['id'])}`)).filter((a) => a.action === 'token.used');
      for (const key of Object.keys(routes)) delete routes[key];
      for (const u of uses)
        for (const [route, n] of Object.entries(u.details['routes'] as Record<string, number>)) routes[route] = (routes[route] ?? 0) + n;
      if (Object.values(routes).reduce((a, b) => a + b, 0) >= 2) break;
    }
    expect(routes).toEqual({ 'GET /v1/workspaces/:ws/runs': 1, 'GET /v1/workspaces/:ws/tasks': 1 });
    const { rows: touched } = await platform.pool.query<{ last_used_at: Date | null }>(
      'select last_used_at from api_tokens where id = $1',
      [made.body['id']],
    );
    expect(touched[0]!.last_used_at).toBeInstanceOf(Date);

    expect(
      (await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${ws.workspaceId}/tokens/${String(made.body['id'])}`, { token: ws.token }))
        .status,
    ).toBe(204);
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, { token })).status).toBe(401);
  });

  it('never grants a token more than its creator has, now or later', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const owner = await inviteAndLogIn(platform.baseUrl, ws.workspaceId, ws.token, 'owner');
    const viewerToken = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/tokens`, {
      token: ws.token,
      body: { name: 'v', role: 'viewer' },
    });
    // A viewer token cannot mint anything (tokens.manage is an owner permission)…
    expect(
      (
        await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/tokens`, {
          token: String(viewerToken.body['token']),
          body: { name: 'x', role: 'owner' },
        })
      ).status,
    ).toBe(403);
    // …and an owner's token follows its creator: demoted to operator, the token acts as an operator.
    const ownerToken = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/tokens`, {
      headers: owner.headers,
      body: { name: 'mine', role: 'owner' },
    });
    expect(ownerToken.status).toBe(201);
    const t = String(ownerToken.body['token']);
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/members`, { token: t })).status).toBe(200);
    expect(
      (
        await api(platform.baseUrl, 'PATCH', `/v1/workspaces/${ws.workspaceId}/members/${owner.userId}`, {
          token: ws.token,
          body: { role: 'operator' },
        })
      ).status,
    ).toBe(200);
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/members`, { token: t })).status).toBe(403);
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, { token: t })).status).toBe(200);
    // Removed from the workspace, the creator's tokens stop working.
    expect(
      (await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${ws.workspaceId}/members/${owner.userId}`, { token: ws.token })).status,
    ).toBe(204);
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, { token: t })).status).toBe(401);
  });

  it('keeps at least one owner', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const res = await api(platform.baseUrl, 'PATCH', `/v1/workspaces/${ws.workspaceId}/members/${ws.ownerId}`, {
      token: ws.token,
      body: { role: 'viewer' },
    });
    expect(res.status).toBe(409);
  });
});

describe('audit log', () => {
  it('is readable by owners only, verifies, and reports an edited row', async () => {
    const ws = await newWorkspace(platform, { probeUrl: PROBE });
    const operator = await inviteAndLogIn(platform.baseUrl, ws.workspaceId, ws.token, 'operator');
    expect(
      (await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, { headers: { cookie: operator.cookie } })).status,
    ).toBe(200);
    expect(
      (await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/audit`, { headers: { cookie: operator.cookie } })).status,
    ).toBe(403);
    // Token uses reach the log once per interval (200 ms in tests).
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100)))
      if ((await auditActions(ws.workspaceId, `token:${ws.tokenId}`)).some((a) => a.action === 'token.used')) break;
    const res = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/audit?limit=1000`, { token: ws.token });
    expect(res.status).toBe(200);
    expect(res.body['chain']).toMatchObject({ ok: true });
    const actions = (res.body['items'] as { action: string }[]).map((i) => i.action);
    expect(actions).toEqual(
      expect.arrayContaining(['workspace.created', 'member.added', 'token.created', 'authz.denied', 'workspace.accessed', 'token.used']),
    );
    // Newest first, a page at a time: the same events in reverse, each page continuing where the last ended.
    const ids = (res.body['items'] as { id: string }[]).map((i) => i.id);
    const newest = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/audit?order=newest&limit=2`, { token: ws.token });
    const older = await api(
      platform.baseUrl,
      'GET',
      `/v1/workspaces/${ws.workspaceId}/audit?order=newest&limit=2&before=${String(newest.body['next'])}`,
      { token: ws.token },
    );
    const paged = [...(newest.body['items'] as { id: string }[]), ...(older.body['items'] as { id: string }[])].map((i) => i.id);
    // Reading the log is itself audited: the newest page may start with events after the first read.
    const known = paged.filter((id) => ids.includes(id));
    expect(known.length).toBeGreaterThan(0);
    expect(known).toEqual([...ids].reverse().slice(0, known.length));
    expect(paged.length).toBe(4);
    expect(new Set(paged).size).toBe(4);
    expect(paged).toEqual([...paged].sort((a, b) => Number(b) - Number(a)));
    expect(
      (await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/audit?order=newest&after=1`, { token: ws.token })).status,
    ).toBe(400);

    const client = await platform.pool.connect();
    try {
      await client.query("set session_replication_role = 'replica'");
      await client.query(
        "update audit_events set actor = 'someone-else' where id = (select min(id) from audit_events where workspace_id = $1)",
        [ws.workspaceId],
      );
    } finally {
      await client.query("set session_replication_role = 'origin'");
      client.release();
    }
    const after = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/audit`, { token: ws.token });
    expect(after.body['chain']).toMatchObject({ ok: false });
    // `lookout audit verify` finds it too, as a process, and says where.
    const cli = spawnSync(process.execPath, ['dist/platform-api/cli.js', 'audit', 'verify', '--workspace', ws.workspaceId], {
      env: {
        ...process.env,
        DATABASE_URL: process.env['LOOKOUT_TEST_DATABASE_URL'],
        LOOKOUT_MASTER_KEY: process.env['LOOKOUT_TEST_MASTER_KEY'],
      },
      encoding: 'utf8',
    });
    expect(cli.status).not.toBe(0);
    expect(cli.stdout + cli.stderr).toMatch(/broken|does not verify|tamper/i);
  });
});

describe('HTTPS', () => {
  let pki: ReturnType<typeof makePki>;
  let secure: TestPlatform;
  beforeAll(async () => {
    pki = makePki('api');
    secure = await startPlatform({ tls: { certFile: pki.certFile, keyFile: pki.keyFile } });
  });
  afterAll(async () => {
    await secure?.stop();
  });

  // The server runs in this process: the clients must not block its event loop (no *Sync calls).
  async function handshake(args: string[]): Promise<{ ok: boolean; out: string }> {
    const port = new URL(secure.baseUrl).port;
    const out = await new Promise<string>((resolve) => {
      const child = execFile(
        'openssl',
        ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', pki.caFile, '-servername', 'localhost', ...args],
        { encoding: 'utf8', timeout: 15_000 },
        (_err, stdout, stderr) => resolve(`${stdout}${stderr}`),
      );
      child.stdin?.end('Q\n');
    });
    return { ok: /Cipher is (?!\(NONE\))/.test(out) && !/handshake failure|alert|no protocols available|no cipher/i.test(out), out };
  }

  it('serves TLS 1.3 and TLS 1.2 with AEAD suites', async () => {
    const tls13 = await handshake(['-tls1_3']);
    expect(tls13.out).toMatch(/TLSv1\.3/);
    expect(tls13.ok).toBe(true);
    expect((await handshake(['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES256-GCM-SHA384'])).ok).toBe(true);
    expect((await handshake(['-tls1_2', '-cipher', 'ECDHE-ECDSA-CHACHA20-POLY1305'])).ok).toBe(true);
  });

  it('refuses TLS 1.1 and CBC suites', async () => {
    expect((await handshake(['-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0'])).ok).toBe(false);
    expect((await handshake(['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA'])).ok).toBe(
      false,
    );
  });

  it('answers with security headers', async () => {
    const { stdout: out } = await promisify(execFile)(
      'curl',
      ['-sS', '-D', '-', '-o', '/dev/null', '--cacert', pki.caFile, `https://localhost:${new URL(secure.baseUrl).port}/healthz`],
      { encoding: 'utf8' },
    );
    expect(out).toMatch(/strict-transport-security: max-age=\d+/i);
    expect(out).toMatch(/x-content-type-options: nosniff/i);
    expect(out).toMatch(/content-security-policy:/i);
  });
});

describe('OpenAPI', () => {
  it('documents every route of the table with its access, parameters and bodies', async () => {
    const res = await api(platform.baseUrl, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body['openapi']).toBe('3.1.0');
    const paths = res.body['paths'] as Record<string, Record<string, { 'x-lookout-access': string; requestBody?: unknown }>>;
    for (const route of routesOf(platform.app)) {
      const op = paths[route.path.replace(/:([A-Za-z]+)/g, '{$1}')]?.[route.method];
      expect(op).toBeDefined();
      expect(op!['x-lookout-access']).toBe(route.access);
      expect(Boolean(op!.requestBody)).toBe(Boolean(route.body));
    }
    const createTask = paths['/v1/workspaces/{ws}/tasks']!['post']!.requestBody as {
      content: { 'application/json': { schema: { properties: Record<string, unknown> } } };
    };
    expect(Object.keys(createTask.content['application/json'].schema.properties)).toEqual(
      expect.arrayContaining(['name', 'runnerId', 'checkType', 'params']),
    );
  });
});

describe('GDPR', () => {
  it('exports all of a workspace as JSON, secrets by name only', async () => {
    const probe = await startHttpServer((_req, res) => res.end('ok'));
    try {
      const ws = await newWorkspace(platform, { probeUrl: probe.url });
      const runner = await startRunner(platform, ws);
      try {
        const run = await runTaskViaApi(platform, ws, ws.taskId);
        expect(run['status']).toBe('succeeded');
      } finally {
        await runner.stop();
      }
      const secretValue = `canary-${randomUUID()}`;
      expect(
        (
          await api(platform.baseUrl, 'PUT', `/v1/workspaces/${ws.workspaceId}/secrets/db-password`, {
            token: ws.token,
            body: { value: secretValue },
          })
        ).status,
      ).toBe(200);
      const operator = await inviteAndLogIn(platform.baseUrl, ws.workspaceId, ws.token, 'operator');
      expect(
        (await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/export`, { headers: { cookie: operator.cookie } })).status,
      ).toBe(403);

      const res = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/export`, { token: ws.token });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-disposition')).toMatch(/attachment/);
      const body = res.body as Record<string, unknown[]> & { workspace: { id: string } };
      expect(body.workspace.id).toBe(ws.workspaceId);
      expect(body['tasks']).toEqual([expect.objectContaining({ id: ws.taskId, params: expect.objectContaining({ url: probe.url }) })]);
      expect(body['runs']).toHaveLength(1);
      expect(body['results']).toEqual([expect.objectContaining({ status: 'ok' })]);
      expect(body['members']).toHaveLength(2);
      expect(body['secrets']).toEqual([expect.objectContaining({ name: 'db-password' })]);
      expect((body['audit'] as unknown[]).length).toBeGreaterThan(5);
      expect(JSON.stringify(res.body)).not.toContain(secretValue);
      expect(JSON.stringify(res.body)).not.toContain(ws.token);
    } finally {
      await probe.stop();
    }
  });

  it('erases a workspace: rows, audit chain, keys, Temporal workflows and schedules, secrets; recorded in the system chain', async () => {
    const probe = await startHttpServer((_req, res) => res.end('ok'));
    try {
      const ws = await newWorkspace(platform, { probeUrl: probe.url });
      const runner = await startRunner(platform, ws);
      try {
        expect((await runTaskViaApi(platform, ws, ws.taskId))['status']).toBe('succeeded');
      } finally {
        await runner.stop();
      }
      const schedule = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules`, {
        token: ws.token,
        body: { taskId: ws.taskId, spec: { intervalSeconds: 3600 } },
      });
      expect(schedule.status).toBe(201);
      expect(
        (
          await api(platform.baseUrl, 'PUT', `/v1/workspaces/${ws.workspaceId}/secrets/api-key`, {
            token: ws.token,
            body: { value: 'erase-me-please' },
          })
        ).status,
      ).toBe(200);

      const viewer = await inviteAndLogIn(platform.baseUrl, ws.workspaceId, ws.token, 'viewer');
      expect((await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${ws.workspaceId}`, { headers: viewer.headers })).status).toBe(403);
      const res = await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${ws.workspaceId}`, { token: ws.token });
      expect(res.status).toBe(200);
      expect(res.body['counts']).toMatchObject({
        runs: 1,
        tasks: 1,
        schedules: 1,
        secretsInStore: 1,
        workspaces: 1,
        temporalWorkflows: expect.any(Number),
        temporalNamespaceDeleted: true,
      });

      for (const table of [
        'workspaces',
        'runs',
        'results',
        'tasks',
        'schedules',
        'api_tokens',
        'memberships',
        'secrets',
        'workspace_keys',
        'audit_events',
      ]) {
        const column = table === 'workspaces' ? 'id' : 'workspace_id';
        const { rows } = await platform.pool.query(`select count(*)::int as n from ${table} where ${column} = $1`, [ws.workspaceId]);
        expect({ table, n: rows[0].n }).toEqual({ table, n: 0 });
      }
      // The workspace's own Temporal namespace is deleted with everything in it (Temporal removes
      // what is left asynchronously; the namespace itself is gone at once).
      const namespaceGone = await platform.client.workflowService.describeNamespace({ namespace: ws.temporalNamespace! }).then(
        () => false,
        (err: { code?: number }) => err.code === 5,
      );
      expect(namespaceGone).toBe(true);
      const system = await platform.pool.query(
        "select actor, details from audit_events where workspace_id is null and action = 'workspace.erased' and target = $1",
        [`workspace:${ws.workspaceId}`],
      );
      expect(system.rows).toHaveLength(1);
      expect(system.rows[0].actor).toBe(`token:${ws.tokenId}`);
      expect(await verifyAuditChain(platform.pool, null)).toMatchObject({ ok: true });
      // The token went with the workspace.
      expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, { token: ws.token })).status).toBe(401);
    } finally {
      await probe.stop();
    }
  });
});
