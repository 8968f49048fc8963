/**
 * The web console's Content-Security-Policy (platform-api/console-assets.ts, CONSOLE_CSP, set for
 * every answer in platform-api/app.ts): the header on each kind of answer, the console's files as
 * served, and in Chromium that the console's own script runs while injected script (an inline
 * element, an event handler attribute, a `javascript:` URL, eval) does not, that no other site can
 * frame the console, and that the login page passes an axe-core scan. Needs the built console
 * (`npm run build`, or `node dist/scripts/build-console.js` after tsc).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { defaultConsoleDir } from '../platform-api/console-assets';
import { launchBrowser, newConsolePage, scanAccessibility, screenshot, type ConsolePage } from './harness/browser';
import { send } from './harness/principals';
import { startHttpServer, startPlatform, type TestPlatform } from './harness/env';

const CONSOLE_DIR = defaultConsoleDir();

let platform: TestPlatform;
let browser: Browser;
beforeAll(async () => {
  if (!existsSync(path.join(CONSOLE_DIR, 'index.html')))
    throw new Error(`the console is not built in ${CONSOLE_DIR}: run \`npm run build\` (or node dist/scripts/build-console.js)`);
  platform = await startPlatform();
  browser = await launchBrowser();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await platform?.stop();
});

/** The directives of a policy header, by name. */
function directivesOf(header: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of header.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out.set(name.toLowerCase(), values);
  }
  return out;
}

function expectStrictCsp(headers: Headers): void {
  const header = headers.get('content-security-policy');
  expect(header).toEqual(expect.any(String));
  // One policy: a second header (joined with a comma) could only add restrictions, but would mean
  // something else sets a policy of its own.
  expect(header).not.toContain(',');
  expect(headers.get('content-security-policy-report-only')).toBeNull();
  for (const loosening of ["'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "'wasm-unsafe-eval'", "'strict-dynamic'", '*', 'data:'])
    expect(header!.split(/[\s;]+/)).not.toContain(loosening);
  const directives = directivesOf(header!);
  expect(directives.get('default-src')).toEqual(["'none'"]);
  expect(directives.get('script-src')).toEqual(["'self'"]);
  expect(directives.get('style-src')).toEqual(["'self'"]);
  expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
  expect(directives.get('object-src')).toEqual(["'none'"]);
  expect(directives.get('base-uri')).toEqual(["'none'"]);
  expect(directives.has('script-src-elem') || directives.has('script-src-attr')).toBe(false);
}

describe('the Content-Security-Policy header', () => {
  it.each([
    ['the console page', '/', 200, /^text\/html; charset=utf-8$/],
    ["the console's script", '/console/app.js', 200, /^text\/javascript; charset=utf-8$/],
    ["the console's stylesheet", '/console/app.css', 200, /^text\/css; charset=utf-8$/],
    ['the favicon', '/favicon.ico', 204, null],
    ['an unknown path', '/no/such/page', 404, /^application\/problem\+json/],
    ['an API answer', '/v1/auth/methods', 200, /^application\/json/],
    ['an API refusal', '/v1/me', 401, /^application\/problem\+json/],
  ] as const)('is on %s (GET %s, %i)', async (_what, route, status, type) => {
    const res = await send(platform.baseUrl, 'GET', route);
    expect(res.status).toBe(status);
    if (type) expect(res.headers.get('content-type')).toMatch(type);
    else expect(res.text).toBe('');
    if (res.headers.get('content-type')?.startsWith('application/problem+json')) expect(res.json).toMatchObject({ status });
    expectStrictCsp(res.headers);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it.each([
    ['/console/app.js', 'app.js', 'text/javascript; charset=utf-8'],
    ['/console/app.css', 'app.css', 'text/css; charset=utf-8'],
    ['/', 'index.html', 'text/html; charset=utf-8'],
  ])('serves %s as built, with its type, nosniff and no-cache', async (route, file, type) => {
    const res = await send(platform.baseUrl, 'GET', route);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.text).toBe(readFileSync(path.join(CONSOLE_DIR, file), 'utf8'));
  });

  it('answers HEAD and conditional GETs of the script with the same ETag and policy', async () => {
    const url = `${platform.baseUrl}/console/app.js`;
    const get = await fetch(url);
    const body = Buffer.from(await get.arrayBuffer());
    const etag = get.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{20,}"$/);

    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBe(etag);
    expect(head.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    expectStrictCsp(head.headers);

    const unchanged = await fetch(url, { headers: { 'if-none-match': etag! } });
    expect(unchanged.status).toBe(304);
    expect((await unchanged.arrayBuffer()).byteLength).toBe(0);
    expect(unchanged.headers.get('etag')).toBe(etag);
    expectStrictCsp(unchanged.headers);

    const changed = await fetch(url, { headers: { 'if-none-match': '"an-older-build"' } });
    expect(changed.status).toBe(200);
    expect(Buffer.from(await changed.arrayBuffer()).equals(body)).toBe(true);
  });
});

/** Waits until `done()` holds (checked every 50 ms) or `ms` pass; the caller's assertions say what was missing. */
async function until(done: () => boolean, ms = 5_000): Promise<void> {
  for (const deadline = Date.now() + ms; !done() && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
}

function describePage(p: ConsolePage): string {
  return `errors: ${JSON.stringify(p.errors)}\nCSP violations: ${JSON.stringify(p.cspViolations)}\nconsole: ${JSON.stringify(p.messages)}`;
}

describe('the console in Chromium', () => {
  it("runs the console's own script, and no injected script", async () => {
    const cp = await newConsolePage(browser, platform.baseUrl);
    const { page } = cp;
    try {
      await page.goto('/');
      await page.waitForSelector('#app *');
      await page.waitForLoadState('networkidle');
      // The console itself keeps to the policy: nothing refused, no script error.
      expect({ errors: cp.errors, cspViolations: cp.cspViolations }).toEqual({ errors: [], cspViolations: [] });

      await page.evaluate(() => {
        const document = (globalThis as any).document;
        const script = document.createElement('script');
        script.textContent = 'window.__pwned = "inline script"';
        document.body.appendChild(script);
        document.body.insertAdjacentHTML('beforeend', '<img alt="" src="/no-such-image.png" onerror="window.__pwned = \'onerror\'">');
        const link = document.createElement('a');
        link.href = 'javascript:void (window.__pwned = "javascript: URL")';
        link.textContent = 'x';
        document.body.appendChild(link);
        link.click();
      });
      // Code run by page.evaluate itself may eval (the DevTools protocol allows it): these attempts
      // run later, from a timer of the page, as the page's own code would.
      await page.evaluate(() => {
        const w = globalThis as any;
        const attempt = (f: () => unknown) => {
          try {
            f();
            return 'ran';
          } catch (err) {
            return (err as Error).name;
          }
        };
        w.setTimeout('window.__pwned = "setTimeout string"', 0);
        w.setTimeout(() => {
          w.__evals = {
            eval: attempt(() => w.eval('window.__pwned = "eval"')),
            function: attempt(() => new w.Function('window.__pwned = "new Function"')()),
          };
        }, 0);
      });
      await page.waitForFunction(() => (globalThis as any).__evals !== undefined);
      expect(await page.evaluate(() => (globalThis as any).__evals)).toEqual({ eval: 'EvalError', function: 'EvalError' });

      const refused = () => cp.cspViolations.map((v) => `${v.directive} ${v.blocked}`).sort();
      // The inline element and the javascript: URL are both inline script (script-src-elem); the
      // image's handler is an attribute (script-src-attr); eval, new Function and a timer's string are eval.
      const expected = [
        'script-src eval',
        'script-src eval',
        'script-src eval',
        'script-src-attr inline',
        'script-src-elem inline',
        'script-src-elem inline',
      ];
      await until(() => refused().length >= expected.length);
      // Give anything that would run late (the image's error event, the timer) its chance.
      await page.waitForTimeout(500);
      expect(await page.evaluate(() => (globalThis as any).__pwned)).toBeUndefined();
      expect(refused()).toEqual(expected);
      expect(cp.cspViolations.every((v) => v.document === `${platform.baseUrl}/`)).toBe(true);
      expect(cp.errors).toEqual([]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${describePage(cp)}`, { cause: err });
    } finally {
      await cp.close();
    }
  });

  it('cannot be framed by another site', async () => {
    const framer = await startHttpServer((_req, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(`<!doctype html><html lang="en"><title>framer</title><iframe title="console" src="${platform.baseUrl}/"></iframe></html>`);
    });
    const cp = await newConsolePage(browser, framer.url);
    const { page } = cp;
    const requested: string[] = [];
    page.on('request', (r) => void requested.push(r.url()));
    try {
      const consoleLoaded = page.waitForResponse(`${platform.baseUrl}/`);
      await page.goto(framer.url);
      // The browser fetched the console into the frame, and refused to show it.
      expect((await consoleLoaded).status()).toBe(200);
      // Chromium's wording: "Framing '<url>' violates … "frame-ancestors 'none'"" (before 14x: "Refused to frame …").
      const url = `${platform.baseUrl}/`.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      const refusal = new RegExp(`(Framing|Refused to frame) '${url}'.* "frame-ancestors 'none'"`);
      await until(() => cp.messages.some((m) => refusal.test(m)));
      expect(cp.messages).toContainEqual(expect.stringMatching(refusal));
      // Nothing of the console ran: its script was never requested, and the frame holds no app.
      await page.waitForLoadState('networkidle');
      const frame = page.frames().find((f) => f !== page.mainFrame());
      expect(frame).toBeDefined();
      expect(frame!.url()).not.toBe(`${platform.baseUrl}/`);
      expect(await frame!.$('#app')).toBeNull();
      expect(requested.filter((u) => u.startsWith(platform.baseUrl))).toEqual([`${platform.baseUrl}/`]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${describePage(cp)}`, { cause: err });
    } finally {
      await cp.close();
      await framer.stop();
    }
  });

  it('shows a login page without serious or critical accessibility violations', async () => {
    const cp = await newConsolePage(browser, platform.baseUrl);
    const { page } = cp;
    try {
      await page.goto('/');
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      await page.waitForLoadState('networkidle');
      await screenshot(page, 'login');
      expect(await scanAccessibility(page)).toEqual([]);
      // axe ran in the page without tripping the policy (no eval, no injected element).
      expect(cp.cspViolations).toEqual([]);
      expect(cp.errors).toEqual([]);
    } finally {
      await cp.close();
    }
  });
});
