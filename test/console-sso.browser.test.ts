/**
 * External sign-in through the web console in a real browser: the login page offers OpenID Connect
 * and SAML when they are configured, and each goes through the API's existing routes to a real
 * identity provider (oidc-provider's own login and consent pages; the test SAML IdP's signed
 * response posted by a page of the IdP's origin) and back to the console with a session.
 *
 * The Platform's public URL is https://lookout.example.test (the callback URLs the providers know);
 * the browser reaches it through a route that forwards each request to the test API unchanged,
 * cookies and all, so that the browser sees exactly the origin a deployment would have.
 */
import { randomUUID } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import type { Browser, BrowserContext } from 'playwright-core';
import { launchBrowser, newConsolePage, scanAccessibility, type ConsolePage } from './harness/browser';
import { newWorkspace, startPlatform, type TestPlatform } from './harness/env';
import { ACS_URL, PUBLIC_URL, REDIRECT_URI, SP_ENTITY_ID, startSsoFixtures, type SsoFixtures } from './harness/sso';
import { inviteAndAccept } from './harness/users';

let platform: TestPlatform;
let sso: SsoFixtures;
let browser: Browser;
let ws: Awaited<ReturnType<typeof newWorkspace>>;

beforeAll(async () => {
  sso = await startSsoFixtures();
  platform = await startPlatform({
    app: { sso: { oidc: { login: sso.oidc, redirectUri: REDIRECT_URI }, saml: sso.saml, samlEmailVerified: true } },
  });
  ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await platform?.stop();
  await sso?.provider.stop();
});

/** Requests to the public URL go to the test API as they are (method, headers with cookies, body); redirects come back to the browser. */
async function servePublicUrl(context: BrowserContext): Promise<void> {
  await context.route(`${PUBLIC_URL}/**`, async (route) => {
    const request = route.request();
    const url = new URL(request.url());
    const response = await route.fetch({
      url: `${platform.baseUrl}${url.pathname}${url.search}`,
      headers: await request.allHeaders(),
      maxRedirects: 0,
    });
    await route.fulfill({ response });
  });
}

async function consoleAtPublicUrl(): Promise<ConsolePage> {
  const p = await newConsolePage(browser, PUBLIC_URL, { ignoreHTTPSErrors: true });
  await servePublicUrl(p.context);
  return p;
}

/** A member of the workspace (joined from the mailbox) whose address the identity providers assert. */
async function member(role: 'viewer' | 'operator'): Promise<string> {
  const email = `sso-${randomUUID()}@example.test`;
  await inviteAndAccept(platform.baseUrl, ws.workspaceId, ws.token, email, role, `correct horse ${randomUUID()}`);
  return email;
}

describe('external sign-in through the console', () => {
  it('signs in with OpenID Connect through the provider and lands on Issues with a session', async () => {
    const email = await member('operator');
    const sub = `sub-${randomUUID()}`;
    sso.provider.addAccount({ sub, email });
    const p = await consoleAtPublicUrl();
    try {
      const { page } = p;
      await page.goto('/');
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      expect(await scanAccessibility(page)).toEqual([]);
      await page.getByRole('link', { name: 'Sign in with OpenID Connect' }).click();
      // The provider's own pages (its origin, its markup): log in as `sub`, then consent.
      await page.waitForURL((u) => u.origin === new URL(sso.provider.issuer).origin);
      await page.locator('input[name="login"]').fill(sub);
      await page.locator('input[name="password"]').fill('any');
      await page.getByRole('button', { name: 'Sign-in' }).click();
      await page.getByRole('button', { name: 'Continue' }).click();
      // Back at the console, signed in by the callback's session cookie.
      await page.getByRole('heading', { level: 1, name: 'Issues' }).waitFor();
      expect(new URL(page.url()).origin).toBe(PUBLIC_URL);
      await page.getByText(email).waitFor();
      const me = await page.evaluate(async () => (await fetch('/v1/me')).json());
      expect(me).toMatchObject({ session: { method: 'oidc' }, user: { email }, workspaces: [{ id: ws.workspaceId, role: 'operator' }] });
      expect(p.errors).toEqual([]);
      expect(p.cspViolations).toEqual([]);
    } finally {
      await p.close();
    }
  });

  it("signs in with SAML through the IdP's signed response and lands on Issues with a session", async () => {
    const email = await member('viewer');
    const p = await consoleAtPublicUrl();
    try {
      const { page } = p;
      // The IdP: its sign-in page answers the AuthnRequest with a signed response, posted by the person.
      await p.context.route(`${new URL(sso.idp.ssoUrl).origin}/**`, async (route) => {
        const url = new URL(route.request().url());
        const request = inflateRawSync(Buffer.from(url.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
        const response = sso.idp.response({
          nameId: `name-${randomUUID()}`,
          email,
          audience: SP_ENTITY_ID,
          recipient: ACS_URL,
          destination: ACS_URL,
          inResponseTo: /\sID="([^"]+)"/.exec(request)![1]!,
        });
        const field = (name: string, value: string) => `<input type="hidden" name="${name}" value="${value.replace(/"/g, '&quot;')}">`;
        await route.fulfill({
          contentType: 'text/html',
          body: `<!doctype html><title>IdP</title><form method="post" action="${ACS_URL}">${field('SAMLResponse', response)}${field(
            'RelayState',
            url.searchParams.get('RelayState')!,
          )}<button type="submit">Continue to Lookout</button></form>`,
        });
      });
      await page.goto('/');
      await page.getByRole('link', { name: 'Sign in with SAML' }).click();
      await page.getByRole('button', { name: 'Continue to Lookout' }).click();
      await page.getByRole('heading', { level: 1, name: 'Issues' }).waitFor();
      expect(new URL(page.url()).origin).toBe(PUBLIC_URL);
      const me = await page.evaluate(async () => (await fetch('/v1/me')).json());
      expect(me).toMatchObject({ session: { method: 'saml' }, user: { email }, workspaces: [{ id: ws.workspaceId, role: 'viewer' }] });
      expect(p.errors).toEqual([]);
      expect(p.cspViolations).toEqual([]);
    } finally {
      await p.close();
    }
  });
});
