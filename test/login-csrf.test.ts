/**
 * Login CSRF (issue 16): a cross-site page can post a form (urlencoded, multipart or text/plain)
 * without a preflight, so an attacker could sign a victim's browser in as the attacker by posting
 * the attacker's own MFA challenge and code. Every auth route takes JSON only; the SAML assertion
 * consumer, a form by design, is bound to the browser by its RelayState cookie (sso.test.ts).
 */
import { declaredRoutes } from './harness/route-examples';
import { send } from './harness/principals';
import { freshTotp, inviteAndLogIn, mfaCookie } from './harness/users';
import { newWorkspace, startPlatform, type TestPlatform } from './harness/env';

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startPlatform();
}, 120_000);
afterAll(async () => {
  await platform?.stop();
});

const FORMS: [string, (json: Record<string, unknown>) => string][] = [
  [
    'application/x-www-form-urlencoded',
    (j) => new URLSearchParams(Object.entries(j).map(([k, v]): [string, string] => [k, String(v)])).toString(),
  ],
  ['text/plain', (j) => JSON.stringify(j)],
  [
    'multipart/form-data; boundary=lookout',
    (j) =>
      Object.entries(j)
        .map(([k, v]) => `--lookout\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${String(v)}\r\n`)
        .join('') + '--lookout--\r\n',
  ],
];

const authWrites = declaredRoutes().filter((r) => r.path.startsWith('/v1/auth/') && r.method !== 'get' && r.path !== '/v1/auth/saml/acs');

describe('auth routes take JSON only', () => {
  it('covers every auth route that takes a body or changes state', () => {
    expect(authWrites.map((r) => `${r.method.toUpperCase()} ${r.path}`).sort()).toEqual(
      expect.arrayContaining(['POST /v1/auth/password', 'POST /v1/auth/mfa', 'POST /v1/auth/invitations/accept', 'POST /v1/auth/logout']),
    );
  });

  it.each(authWrites.flatMap((r) => FORMS.map(([type, encode]) => [`${r.method.toUpperCase()} ${r.path}`, type, encode, r] as const)))(
    'refuses a cross-site form post to %s as %s',
    async (_name, type, encode, route) => {
      const res = await send(
        platform.baseUrl,
        route.method.toUpperCase(),
        route.path.replace(':id', '00000000-0000-4000-8000-000000000000'),
        {
          rawBody: encode({ email: 'victim@example.test', password: 'x', challenge: 'c', code: '123456' }),
          contentType: type,
          headers: { origin: 'https://attacker.example' },
        },
      );
      expect(res.status).toBe(415);
      expect(res.json).toMatchObject({ status: 415, title: 'Unsupported Media Type' });
      expect(res.headers.get('set-cookie')).toBeNull();
    },
  );

  it("does not let an attacker's own MFA challenge sign a victim's browser in through a form", async () => {
    const ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    const attacker = await inviteAndLogIn(platform.baseUrl, ws.workspaceId, ws.token, 'viewer');
    const first = await send(platform.baseUrl, 'POST', '/v1/auth/password', {
      body: { email: attacker.email, password: attacker.password },
    });
    expect(first.status).toBe(200);
    const body = { challenge: String(first.json?.['challenge']), code: await freshTotp(attacker.totpSecret) };
    for (const [type, encode] of FORMS) {
      const res = await send(platform.baseUrl, 'POST', '/v1/auth/mfa', {
        rawBody: encode(body),
        contentType: type,
        headers: { origin: 'https://attacker.example' },
      });
      expect(res.status).toBe(415);
      expect(res.headers.get('set-cookie')).toBeNull();
    }
    // As JSON from a browser without the attacker's pre-auth cookie (the victim's: a cross-site
    // page can neither read nor set a __Host- cookie of the API), the challenge is refused too.
    const elsewhere = await send(platform.baseUrl, 'POST', '/v1/auth/mfa', { body });
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.headers.getSetCookie().some((c) => c.startsWith('__Host-lookout_session='))).toBe(false);
    const { rows } = await platform.pool.query<{ details: Record<string, unknown> }>(
      "select details from audit_events where action = 'auth.mfa' and actor = $1 order by id desc limit 1",
      [`user:${attacker.userId}`],
    );
    expect(rows[0]?.details).toEqual({ reason: 'other_browser' });
    // A pre-auth cookie of another login does not fit either.
    const other = await send(platform.baseUrl, 'POST', '/v1/auth/password', {
      body: { email: attacker.email, password: attacker.password },
    });
    const fresh = { challenge: String(other.json?.['challenge']), code: body.code };
    expect((await send(platform.baseUrl, 'POST', '/v1/auth/mfa', { body: fresh, headers: mfaCookie(first.headers) })).status).toBe(401);
    // Only the browser that passed the password step, with its cookie, completes the login.
    const again = await send(platform.baseUrl, 'POST', '/v1/auth/password', {
      body: { email: attacker.email, password: attacker.password },
    });
    const json = await send(platform.baseUrl, 'POST', '/v1/auth/mfa', {
      // The code was never checked above (every attempt was refused before it): it is still unused.
      body: { challenge: String(again.json?.['challenge']), code: body.code },
      headers: mfaCookie(again.headers),
    });
    expect(json.status).toBe(200);
    expect(json.headers.get('set-cookie')).toMatch(/__Host-lookout_session=/);
  });
});
