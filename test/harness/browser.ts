/**
 * Browser tests of the web console: playwright-core driving Debian's Chromium (scripts/tools.ts,
 * ensureChromium), headless, against a real API server. The page keeps the API's strict CSP (no
 * `bypassCSP`): the harness reaches into it only through the DevTools protocol (init scripts,
 * `page.evaluate`, bindings), which the page's CSP does not govern, never through a script element.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { ensureChromium, repoRoot } from '../../scripts/tools';

/** Headless Chromium (Playwright adds --no-sandbox when it runs as root). Close it in afterAll. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: ensureChromium(), headless: true });
}

/** One `securitypolicyviolation` event of a page (or of a frame in it). */
export interface CspViolation {
  /** The directive that refused, e.g. `script-src-elem`, `script-src-attr`, `style-src-attr`. */
  directive: string;
  /** What was refused: a URL, or `inline` / `eval`. */
  blocked: string;
  /** The document the violation happened in. */
  document: string;
  /** The first characters of the refused inline code, when the policy reports them (it does not here: no 'report-sample'). */
  sample: string;
}

export interface ConsolePage {
  page: Page;
  context: BrowserContext;
  /**
   * Uncaught exceptions and console errors of the page's scripts, as "<text> (<url>:<line>)". The
   * browser's own reports of failed loads and CSP refusals are not here: see httpErrors and cspViolations.
   */
  errors: string[];
  /** Content-Security-Policy violations, as the pages themselves saw them (securitypolicyviolation events). */
  cspViolations: CspViolation[];
  /** Answers of 400 and above the page got, as "401 GET /v1/me" (paths of the console's origin, full URLs of others). */
  httpErrors: string[];
  /** Every console message, as "<type>: <text>", for a failure message. */
  messages: string[];
  close(): Promise<void>;
}

/**
 * A fresh browser context (its own cookies) on a 1366×768 laptop screen in en-US, with a page that
 * records errors and CSP violations for the test to assert none (or exactly the expected ones) happened.
 */
export async function newConsolePage(browser: Browser, baseUrl: string, options: BrowserContextOptions = {}): Promise<ConsolePage> {
  const context = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1366, height: 768 }, locale: 'en-US', ...options });
  const origin = new URL(baseUrl).origin;
  const result: ConsolePage = {
    page: undefined as unknown as Page,
    context,
    errors: [],
    cspViolations: [],
    httpErrors: [],
    messages: [],
    close: () => context.close(),
  };
  // A binding (a DevTools-protocol channel, not a script of the page) that every frame's listener
  // reports to; the listener is installed before any script of the document runs.
  await context.exposeBinding('__lookoutCspViolation', (_source, violation: CspViolation) => void result.cspViolations.push(violation));
  await context.addInitScript(() => {
    const w = globalThis as any;
    w.addEventListener(
      'securitypolicyviolation',
      (e: any) =>
        void w.__lookoutCspViolation({
          directive: String(e.effectiveDirective),
          blocked: String(e.blockedURI),
          document: String(e.documentURI),
          sample: String(e.sample ?? ''),
        }),
      true,
    );
  });
  const page = await context.newPage();
  result.page = page;
  page.on('pageerror', (err) => result.errors.push(`uncaught ${err.name}: ${err.message}`));
  page.on('console', (msg) => {
    result.messages.push(`${msg.type()}: ${msg.text()}`);
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // Chromium's own reports (the wording changes between versions; "Refused to …" before 14x).
    if (text.startsWith('Failed to load resource:') || text.includes('Content Security Policy')) return;
    const { url, lineNumber } = msg.location();
    result.errors.push(url ? `${text} (${url}:${lineNumber})` : text);
  });
  page.on('response', (res) => {
    if (res.status() < 400) return;
    const url = new URL(res.url());
    const where = url.origin === origin ? `${url.pathname}${url.search}` : res.url();
    result.httpErrors.push(`${res.status()} ${res.request().method()} ${where}`);
  });
  return result;
}

let axeSource: string | undefined;

/**
 * An axe-core scan of the whole document as it is now: the violations of impact serious or critical,
 * one readable line each ("<rule> (<impact>): <help> [<selectors of the offending elements>] <help url>"),
 * so that `expect(await scanAccessibility(page)).toEqual([])` says what is wrong. axe is evaluated
 * through the DevTools protocol: a script element would be refused by the console's CSP.
 */
export async function scanAccessibility(page: Page): Promise<string[]> {
  axeSource ??= readFileSync(path.join(path.dirname(require.resolve('axe-core')), 'axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => typeof (globalThis as any).axe === 'object'))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const w = globalThis as any;
    const results = await w.axe.run(w.document, { resultTypes: ['violations'] });
    return (results.violations as any[]).map((v) => ({
      id: String(v.id),
      impact: String(v.impact),
      help: String(v.help),
      helpUrl: String(v.helpUrl),
      nodes: (v.nodes as any[]).map((n) => ({
        target: (n.target as unknown[]).map(String).join(' '),
        summary: String(n.failureSummary ?? ''),
      })),
    }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help} [${v.nodes
          .slice(0, 5)
          .map((n) => `${n.target}: ${n.summary.replace(/\s+/g, ' ').trim()}`)
          .join('; ')}${v.nodes.length > 5 ? `; and ${v.nodes.length - 5} more` : ''}] ${v.helpUrl}`,
    );
}

/** A full-page screenshot in test-artifacts/console/<name>.png (outside git), for a person to look at; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = path.join(repoRoot(), 'test-artifacts', 'console');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
