/**
 * The web console in a real browser (Debian's Chromium through playwright-core) against the real API,
 * Temporal, PostgreSQL and a Runner reading the test kube-apiserver, where one namespace has a
 * crash-looping pod. The owner claims the account with a one-time code (as the quick start prints
 * it), signs in with password + TOTP, makes a task from the check's parameter schema, runs it and
 * watches it finish, sees its finding as an issue and acknowledges it, sweeps the Runner and reads
 * the health history, and reads the audit log with its chain verified; a viewer is offered none of
 * the owner's pages and is refused them. Strings a result carries render as text. Every page is
 * scanned with axe-core (no serious or critical violation) and saved as a screenshot under
 * test-artifacts/console/.
 */
import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { CHECK_TYPES } from '../common/checks';
import { recordFindings } from '../platform/repos/issues.repo';
import { findUserByEmail } from '../platform/repos/users.repo';
import { issueClaimCode } from '../platform-api/services/invitations.service';
import { launchBrowser, newConsolePage, scanAccessibility, screenshot, type ConsolePage } from './harness/browser';
import { api, newWorkspace, runCheck, startPlatform, startRunner, type TestPlatform } from './harness/env';
import * as fx from './harness/kube-fixtures';
import { freshTotp, inviteAndAccept } from './harness/users';

const TEMPORAL_UI = 'http://127.0.0.1:8233';
const kubeconfig = () => process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '';

let platform: TestPlatform;
let browser: Browser;
let ws: Awaited<ReturnType<typeof newWorkspace>>;
let runner: Awaited<ReturnType<typeof startRunner>>;
let ns: string;
let owner: ConsolePage;
const ownerEmail = `owner-${randomUUID()}@example.test`;
const ownerPassword = `correct horse ${randomUUID()}`;

beforeAll(async () => {
  platform = await startPlatform({ app: { temporalUiUrl: TEMPORAL_UI } });
  const admin = fx.adminClients();
  ns = await fx.namespace(admin, 'console');
  await fx.pod(admin, ns, 'checkout', {
    phase: 'Running',
    containerStatuses: [fx.containerStatus({ restartCount: 9, state: { waiting: { reason: 'CrashLoopBackOff' } } })],
  });
  ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/', ownerEmail });
  runner = await startRunner(platform, ws, { kubeconfig: kubeconfig(), allowedChecks: CHECK_TYPES });
  await checksReported();
  browser = await launchBrowser();
  owner = await newConsolePage(browser, platform.baseUrl);
});

afterAll(async () => {
  await owner?.close();
  await browser?.close();
  await runner?.stop();
  await platform?.stop();
});

/** The Runner has reported what it can run (the task form lists those checks); listing Runners asks an online one. */
async function checksReported(): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners`, { token: ws.token });
    const listed = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners/${ws.runnerId}/checks`, {
      token: ws.token,
    });
    if (listed.status === 200 && (listed.body['items'] as { type: string }[]).some((c) => c.type === 'k8s.pod-restarts')) return;
    if (Date.now() > deadline) throw new Error(`the Runner did not report its checks: ${JSON.stringify(listed.body)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The page is accessible and has run into no script error and no CSP refusal; a screenshot is kept. */
async function checkPage(p: ConsolePage, name: string): Promise<void> {
  await p.page.locator('#page-title, h1').first().waitFor();
  expect(await scanAccessibility(p.page)).toEqual([]);
  expect(p.errors).toEqual([]);
  expect(p.cspViolations).toEqual([]);
  await screenshot(p.page, name);
}

const heading = (page: Page, name: string) => page.getByRole('heading', { level: 1, name });

/** Password, then TOTP (enrolling at the first sign-in), then the recovery codes, as a person would. */
async function signIn(p: ConsolePage, email: string, password: string, name: string): Promise<void> {
  const { page } = p;
  await page.goto('/');
  await heading(page, 'Sign in').waitFor();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Continue' }).click();
  const secret = (await page.locator('#totp-secret').textContent({ timeout: 15_000 }))!.trim();
  expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
  await checkPage(p, `${name}-enrol-totp`);
  await page.getByLabel('Authentication code').fill(await freshTotp(secret));
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Recovery codes' }).waitFor();
  await checkPage(p, `${name}-recovery-codes`);
  await page.getByRole('button', { name: 'Continue to the console' }).click();
  await heading(page, 'Issues').waitFor();
}

describe('the web console', () => {
  it('lets the owner claim the account with the one-time code, sign in with password and TOTP, and land on Issues', async () => {
    const { page } = owner;
    const user = (await findUserByEmail(platform.pool, ownerEmail))!;
    const { invitation } = await issueClaimCode(platform.pool, user, 'test:console');
    await page.goto(`/#/claim?code=${invitation}`);
    await heading(page, 'Set up your account').waitFor();
    expect(await page.getByLabel('Invitation code').inputValue()).toBe(invitation);
    expect(page.url()).not.toContain(invitation); // out of the address bar and the history
    await checkPage(owner, 'claim');
    await page.getByLabel('New password').fill(ownerPassword);
    await page.getByLabel('Repeat the password').fill(ownerPassword);
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByRole('link', { name: 'Sign in' }).waitFor();
    // A claim code sets up an account (its memberships are already made): no "joined as" without a role.
    await expect(page.locator('main .notice[role="status"]').textContent()).resolves.toBe(
      `Your password is set. Sign in as ${ownerEmail}; at the first sign-in you set up an authenticator app.`,
    );
    // The code worked once: the account is claimed and the code is spent.
    const again = await api(platform.baseUrl, 'POST', '/v1/auth/invitations/accept', { body: { invitation, password: ownerPassword } });
    expect(again.status).toBe(400);

    await signIn(owner, ownerEmail, ownerPassword, 'owner');
    await checkPage(owner, 'issues-empty');
    // The session is the browser's cookie pair; the console never holds an API token.
    const cookies = await owner.context.cookies();
    expect(cookies.map((c) => c.name).sort()).toEqual(['__Host-lookout_csrf', '__Host-lookout_session']);
    expect(cookies.find((c) => c.name === '__Host-lookout_session')).toMatchObject({ httpOnly: true, secure: true });
  });

  it("creates a task from the check's parameter schema, runs it and shows it finish live", async () => {
    const { page } = owner;
    await page.goto('/#/tasks');
    await heading(page, 'Tasks and schedules').waitFor();
    await page.getByRole('button', { name: 'New task' }).click();
    await page.getByLabel('Runner', { exact: true }).selectOption(ws.runnerId);
    await page.getByLabel('Check', { exact: true }).selectOption('k8s.pod-restarts');
    // The fields come from the check's JSON schema: an array of namespaces, an integer threshold.
    await page.getByLabel('namespaces', { exact: true }).fill(ns);
    await page.getByLabel('restartThreshold', { exact: true }).fill('5');
    await page.getByLabel('Task name').fill('checkout restarts');
    await checkPage(owner, 'task-form');
    await page.getByRole('button', { name: 'Create task' }).click();
    const row = page.getByRole('row').filter({ hasText: 'checkout restarts' });
    await row.waitFor();
    const created = (await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/tasks`, { token: ws.token })).body['items'] as {
      id: string;
      name: string;
      checkType: string;
    }[];
    const task = created.find((t) => t.name === 'checkout restarts')!;
    expect(task.checkType).toBe('k8s.pod-restarts');
    const stored = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/tasks/${task.id}`, { token: ws.token });
    expect(stored.body['params']).toMatchObject({ namespaces: [ns], restartThreshold: 5 });
    await checkPage(owner, 'tasks');

    await row.getByRole('button', { name: 'Run now' }).click();
    await page.waitForURL(/#\/run\/[0-9a-f-]{36}$/);
    const runId = page.url().split('/').pop()!;
    await heading(page, 'Run').waitFor();
    // Live: the page follows the run to its end without a reload.
    await page.locator('.badge', { hasText: 'succeeded' }).first().waitFor({ timeout: 90_000 });
    expect(await page.locator('progress').count()).toBe(0);
    const link = page.getByRole('link', { name: 'Open in Temporal Web UI' });
    expect(await link.getAttribute('href')).toContain(`${TEMPORAL_UI}/namespaces/`);
    expect(await link.getAttribute('href')).toContain(encodeURIComponent(runId));
    await expect(page.getByText('checkout').first().isVisible()).resolves.toBe(true);
    await checkPage(owner, 'run');
    const run = await api(platform.baseUrl, 'GET', `/v1/runs/${runId}`, { token: ws.token });
    expect(run.body).toMatchObject({ status: 'succeeded', taskId: task.id });

    await page.goto('/#/runs');
    await page.getByRole('table', { name: 'Runs' }).getByRole('link', { name: 'k8s.pod-restarts' }).first().waitFor();
    await checkPage(owner, 'runs');
  });

  it("shows the run's finding as an issue with its resource and next steps, and acknowledges it", async () => {
    const { page } = owner;
    await page.goto('/#/issues');
    const issue = page.getByRole('article').filter({ hasText: `${ns}/checkout` });
    await issue.waitFor();
    await expect(issue.getByText('k8s.pod-restarts').isVisible()).resolves.toBe(true);
    await expect(issue.getByRole('heading', { name: 'Next steps' }).isVisible()).resolves.toBe(true);
    await issue.getByRole('button', { name: 'Acknowledge' }).click();
    // The default filter shows open issues: the acknowledged one leaves the list.
    await issue.waitFor({ state: 'detached' });
    const listed = (await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/issues?state=acknowledged`, { token: ws.token }))
      .body['items'] as { id: string; state: string; resource: { name: string } }[];
    expect(listed.map((i) => i.resource.name)).toContain('checkout');
    await page.getByLabel('State').selectOption('acknowledged');
    await page
      .getByRole('article')
      .filter({ hasText: `${ns}/checkout` })
      .waitFor();
    await checkPage(owner, 'issues');
  });

  it('renders HTML and script in the strings of a result as text', async () => {
    const { page } = owner;
    const hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
    const run = (await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs?limit=1`, { token: ws.token })).body[
      'items'
    ] as { id: string; taskId: string }[];
    // What a hostile Runner's result could carry, stored as the Platform stores any finding.
    await recordFindings(
      platform.pool,
      platform.crypto.sealer,
      { id: run[0]!.id, workspaceId: ws.workspaceId, runnerId: ws.runnerId, taskId: run[0]!.taskId, checkType: 'k8s.pod-restarts' },
      [
        {
          severity: 2,
          title: `Title ${hostile}`,
          resource: { kind: 'Pod', namespace: ns, name: 'markup' },
          expected: `expected ${hostile}`,
          actual: `actual ${hostile}`,
          nextSteps: [`kubectl describe ${hostile}`],
        },
      ],
      { resolve: false },
    );
    await page.goto('/#/issues?state=open');
    const article = page.getByRole('article').filter({ hasText: `${ns}/markup` });
    await article.waitFor();
    expect(await article.getByRole('heading', { level: 2 }).textContent()).toBe(`Title ${hostile}`);
    await expect(article.getByText(`actual ${hostile}`).isVisible()).resolves.toBe(true);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('main script').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(owner.cspViolations).toEqual([]); // nothing even tried to run: the strings never became markup
  });

  it("sweeps the Runner from the Health page and shows the namespace's score and its history", async () => {
    const { page } = owner;
    await page.goto('/#/health');
    await heading(page, 'Health').waitFor();
    const section = page.locator('section.runner-health').first();
    await section.getByRole('button', { name: 'Sweep now' }).click();
    const table = page.getByRole('table', { name: /^Namespaces of / });
    await table.getByRole('row').filter({ hasText: ns }).waitFor({ timeout: 60_000 });
    const sweeps = (
      await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/sweeps?runner=${ws.runnerId}`, { token: ws.token })
    ).body['items'] as { status: string; namespaces: Record<string, { score: number; issues: number }> }[];
    expect(sweeps[0]).toMatchObject({ status: 'completed' });
    expect(sweeps[0]!.namespaces[ns]!.issues).toBeGreaterThan(0);
    // A second sweep makes a history of two points for the chart.
    await section.getByRole('button', { name: 'Sweep now' }).click();
    const deadline = Date.now() + 120_000;
    for (;;) {
      const done = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/sweeps?runner=${ws.runnerId}&status=completed`, {
        token: ws.token,
      });
      if ((done.body['items'] as unknown[]).length >= 2) break;
      if (Date.now() > deadline) throw new Error('the second sweep did not finish');
      await new Promise((r) => setTimeout(r, 250));
    }
    await page.reload();
    await page.getByText('Score of the last 2 sweeps').waitFor();
    // Each namespace's own history, as a line whose accessible name holds the numbers.
    const score = Math.round(sweeps[0]!.namespaces[ns]!.score * 100);
    await page.getByRole('img', { name: `Score of ${ns} over the last 2 sweeps: ${score}, ${score}` }).waitFor();
    await page.locator('.uplot canvas').first().waitFor();
    await checkPage(owner, 'health');
  });

  it('shows Runners and every settings page to the owner, and the audit log with its chain verified', async () => {
    const { page } = owner;
    await page.goto('/#/runners');
    await page.getByRole('table', { name: 'Runners' }).getByRole('row').nth(1).waitFor();
    await checkPage(owner, 'runners');
    for (const [tab, path] of [
      ['Members', 'members'],
      ['API tokens', 'tokens'],
      ['Secrets', 'secrets'],
      ['Sinks', 'sinks'],
      ['Hooks', 'hooks'],
    ] as const) {
      await page.goto(`/#/settings/${path}`);
      await expect(
        page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: tab }).getAttribute('aria-current'),
      ).resolves.toBe('page');
      await page.getByRole('heading', { level: 2 }).first().waitFor();
      await checkPage(owner, `settings-${path}`);
    }
    await page.goto('/#/settings/audit');
    await page.getByText(/^Chain verified: \d+ events?/).waitFor();
    await expect(page.getByRole('cell', { name: 'issue.acknowledged' }).first().isVisible()).resolves.toBe(true);
    await checkPage(owner, 'settings-audit');
  });

  it('makes, pauses and resumes a schedule, and Temporal holds it so', async () => {
    const { page } = owner;
    await page.goto('/#/tasks');
    await page.getByLabel('Task', { exact: true }).selectOption({ label: 'checkout restarts' });
    await page.getByLabel('Every (minutes)').fill('30');
    await page.getByRole('button', { name: 'Create schedule' }).click();
    const row = page.getByRole('table', { name: 'Schedules' }).getByRole('row').filter({ hasText: 'Task checkout restarts' });
    await row.getByText('every 30 min', { exact: true }).waitFor();
    await row.getByText('active', { exact: true }).waitFor();
    const paused = async () => {
      const listed = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/schedules`, { token: ws.token });
      return (listed.body['items'] as { paused: boolean }[]).map((s) => s.paused);
    };
    expect(await paused()).toEqual([false]);
    await row.getByRole('button', { name: 'Pause' }).click();
    await row.getByText('paused', { exact: true }).waitFor();
    expect(await paused()).toEqual([true]); // as Temporal's schedule describes itself
    await checkPage(owner, 'schedules');
    await row.getByRole('button', { name: 'Resume' }).click();
    await row.getByText('active', { exact: true }).waitFor();
    expect(await paused()).toEqual([false]);
  });

  it('shows a new API token once, and it works; the token is gone from the page once hidden', async () => {
    const { page } = owner;
    await page.goto('/#/settings/tokens');
    await page.getByLabel('Token name').fill('console-ci');
    await page.getByLabel('Role').selectOption('viewer');
    await page.getByRole('button', { name: 'Create token' }).click();
    const once = page.getByRole('region', { name: 'Token console-ci created' });
    const token = (await once.locator('code.secret-value').textContent())!.trim();
    expect(token.length).toBeGreaterThan(30);
    await checkPage(owner, 'settings-token-created');
    const me = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runs`, { token });
    expect(me.status).toBe(200);
    await once.getByRole('button', { name: 'I copied it: hide it' }).click();
    await once.waitFor({ state: 'detached' });
    await page.getByRole('table', { name: 'API tokens' }).getByRole('row').filter({ hasText: 'console-ci' }).waitFor();
    expect(await page.content()).not.toContain(token);
    await page.reload();
    await page.getByRole('table', { name: 'API tokens' }).getByRole('row').filter({ hasText: 'console-ci' }).waitFor();
    expect(await page.content()).not.toContain(token);
  });

  it('writes a secret it never shows back', async () => {
    const { page } = owner;
    const value = `s3cr3t-${randomUUID()}`;
    await page.goto('/#/settings/secrets');
    await page.getByLabel('Secret name').fill('console-db');
    await page.getByLabel('Value', { exact: true }).fill(value);
    await page.getByRole('button', { name: 'Save secret' }).click();
    await page.getByText(`vault:lookout/workspaces/${ws.workspaceId}/console-db#value`).first().waitFor();
    await page.getByRole('table', { name: 'Secrets' }).getByRole('row').filter({ hasText: 'console-db' }).waitFor();
    expect(await page.getByLabel('Value', { exact: true }).inputValue()).toBe('');
    expect(await page.content()).not.toContain(value);
    const listed = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/secrets`, { token: ws.token });
    expect(listed.body['items']).toEqual([expect.objectContaining({ name: 'console-db', version: 1 })]);
    expect(JSON.stringify(listed.body)).not.toContain(value);
    await checkPage(owner, 'settings-secret-written');
  });

  it('registers a Runner and shows its key files and Helm command once', async () => {
    const { page } = owner;
    await page.goto('/#/runners');
    await page.getByLabel('Runner name').fill('console-new');
    await page.getByRole('button', { name: 'Register' }).click();
    const once = page.getByRole('region', { name: 'Runner console-new registered' });
    await once.waitFor();
    const commands = (await once.locator('pre').filter({ hasText: 'helm install' }).textContent())!;
    expect(commands).toContain('helm install lookout-runner-console-new charts/runner -n lookout -f ./values.json');
    const runnerKey = (await once.locator('.secret-file').filter({ hasText: 'runner-key' }).locator('pre').textContent())!.trim();
    expect(runnerKey.length).toBeGreaterThan(20);
    await checkPage(owner, 'runner-registered');
    await once.getByRole('button', { name: 'I saved them: hide this' }).click();
    await once.waitFor({ state: 'detached' });
    await page.getByRole('table', { name: 'Runners' }).getByRole('row').filter({ hasText: 'console-new' }).waitFor();
    expect(await page.content()).not.toContain(runnerKey);
    const listed = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners?presence=false`, { token: ws.token });
    expect(JSON.stringify(listed.body)).not.toContain(runnerKey);
  });

  it('filters issues by namespace and Runner, copies a next step, and ignores an issue until a date with its reason', async () => {
    const { page, context } = owner;
    const admin = fx.adminClients();
    const ns2 = await fx.namespace(admin, 'console-filter');
    await fx.pod(admin, ns2, 'payments', {
      phase: 'Running',
      containerStatuses: [fx.containerStatus({ restartCount: 12, state: { waiting: { reason: 'CrashLoopBackOff' } } })],
    });
    const found = await runCheck(platform, ws, 'k8s.pod-restarts', { namespaces: [ns2] });
    expect(found.issues.map((i) => i.resource.name)).toEqual(['payments']);

    await page.goto('/#/issues');
    const payments = page.getByRole('article').filter({ hasText: `${ns2}/payments` });
    const others = page.getByRole('article').filter({ hasNotText: `${ns2}/` });
    await payments.waitFor();
    expect(await others.count()).toBeGreaterThan(0); // the markup issue of the first namespace
    await page.getByLabel('Namespace').fill(ns2);
    await page.getByLabel('Namespace').press('Enter');
    await others.first().waitFor({ state: 'detached' });
    await payments.waitFor();
    // The Runner filter: the Runner registered above has none; the default one has this one.
    await page.getByLabel('Runner').selectOption({ label: 'console-new' });
    await payments.waitFor({ state: 'detached' });
    await page.getByText('0 open issues.').waitFor();
    await page.getByLabel('Runner').selectOption({ label: 'default' });
    await payments.waitFor();

    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    const step = (await payments.locator('.next-steps code').first().textContent())!;
    await payments.getByRole('button', { name: 'Copy' }).first().click();
    await payments
      .getByRole('button', { name: /^Copied/ })
      .first()
      .waitFor();
    const clipboard = await page.evaluate(() =>
      (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText(),
    );
    expect(clipboard).toBe(step);

    await payments.getByRole('button', { name: 'Ignore', exact: true }).click();
    await payments.getByLabel('Reason (optional)').fill('payments moves to the new cluster');
    await payments.getByRole('button', { name: 'Ignore until this date' }).click();
    await payments.waitFor({ state: 'detached' });
    const ignored = (await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/issues?state=ignored`, { token: ws.token })).body[
      'items'
    ] as { resource: { namespace: string; name: string }; reason: string | null; ignoredUntil: string | null }[];
    const mine = ignored.find((i) => i.resource.namespace === ns2)!;
    expect(mine).toMatchObject({ resource: { name: 'payments' }, reason: 'payments moves to the new cluster' });
    expect(Date.parse(mine.ignoredUntil!)).toBeGreaterThan(Date.now());
    await page.getByLabel('State').selectOption('ignored');
    await payments.getByText('payments moves to the new cluster').waitFor();
    await checkPage(owner, 'issues-ignored');
  });

  it('is operable by keyboard: a skip link to the content, the navigation, and focus on the new page', async () => {
    const { page } = owner;
    const focused = () =>
      page.evaluate(() => {
        const active = (globalThis as unknown as { document: { activeElement: { textContent: string | null; id: string } | null } })
          .document.activeElement;
        return { text: active?.textContent?.trim(), id: active?.id };
      });
    /** Shift+Tab back from where the focus is until `text` has it (the navigation and the skip link come before the content). */
    const backTo = async (text: string) => {
      for (let i = 0; i < 15; i++) {
        if ((await focused()).text === text) return;
        await page.keyboard.press('Shift+Tab');
      }
      throw new Error(`"${text}" was not reached by keyboard`);
    };
    /** The focus moves to the page's heading once the page has rendered (an effect after the paint). */
    const titleFocused = () =>
      page.waitForFunction(
        () => (globalThis as unknown as { document: { activeElement: { id: string } | null } }).document.activeElement?.id === 'page-title',
        undefined,
        { timeout: 5_000 },
      );
    // From another page (a filter changed on the same page keeps the focus where it is).
    await page.goto('/#/runners');
    await heading(page, 'Runners').waitFor();
    await page.goto('/#/issues');
    await heading(page, 'Issues').waitFor();
    // A page starts with the focus on its heading, so a screen reader announces where it is.
    await titleFocused();
    await backTo('Runs');
    await page.keyboard.press('Enter');
    await heading(page, 'Runs').waitFor();
    await titleFocused();
    await backTo('Skip to content');
    await page.keyboard.press('Enter');
    await titleFocused();
  });

  it('offers a viewer none of the owner pages and refuses them when opened directly', async () => {
    const email = `viewer-${randomUUID()}@example.test`;
    const password = `correct horse ${randomUUID()}`;
    await inviteAndAccept(platform.baseUrl, ws.workspaceId, ws.token, email, 'viewer', password);
    const viewer = await newConsolePage(browser, platform.baseUrl);
    try {
      const { page } = viewer;
      await signIn(viewer, email, password, 'viewer');
      // Issues are readable, but not changeable.
      await page.getByLabel('State').selectOption('all');
      await page.getByRole('article').first().waitFor();
      expect(await page.getByRole('button', { name: 'Acknowledge' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Ignore' }).count()).toBe(0);
      await page.goto('/#/tasks');
      await page.getByRole('table', { name: 'Tasks' }).getByRole('row').filter({ hasText: 'checkout restarts' }).waitFor();
      expect(await page.getByRole('button', { name: 'New task' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Run now' }).count()).toBe(0);
      await page.goto('/#/settings/sinks');
      const tabs = page.getByRole('navigation', { name: 'Settings' }).getByRole('link');
      await tabs.first().waitFor();
      expect(await tabs.allTextContents()).toEqual(['Sinks', 'Hooks']);
      for (const path of ['members', 'tokens', 'secrets', 'audit']) {
        await page.goto(`/#/settings/${path}`);
        await page.getByRole('heading', { name: 'Not available to your role' }).waitFor();
      }
      await checkPage(viewer, 'viewer-refused');
      // And the API refuses the session what the page does not offer.
      const status = await page.evaluate(async (w) => (await fetch(`/v1/workspaces/${w}/audit`)).status, ws.workspaceId);
      expect(status).toBe(403);
    } finally {
      await viewer.close();
    }
  });
});
