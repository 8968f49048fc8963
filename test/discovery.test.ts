/**
 * Discovery through the API, Temporal and a real Runner with the chart's restricted ClusterRole, on
 * the test kube-apiserver: the inventory counts what is there, the plan is what the generation rules
 * make of it, apply creates the tasks and schedules, rediscovery follows namespaces that come and go
 * (by hand and by its schedule) and never touches a hand-made task; a Runner whose policy hashes
 * names lets no clear name reach the Platform.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { CHECK_TYPES } from '../common/checks';
import { HASHED_NAME, type Inventory } from '../common/discovery';
import { DEFAULT_RULES } from '../platform/discovery/rules';
import { addTask, api, env, newWorkspace, startPlatform, startRunner, type TestPlatform } from './harness/env';
import * as fx from './harness/kube-fixtures';
import { needles } from './harness/needles';

interface Plan {
  create: { key: string; name: string; checkType: string; params: Record<string, unknown>; group: string | null }[];
  update: unknown[];
  remove: { id: string; key: string; name: string }[];
  keep: number;
  skipped: { rule: string; reason: string }[];
  groups: string[];
}
interface Answer {
  runId: string;
  status: string;
  inventory: Inventory;
  plan: Plan;
  applied?: {
    created: number;
    updated: number;
    removed: number;
    conflicts: string[];
    schedules: { rediscovery: string | null; sweep: string | null; groups: Record<string, string> };
  };
}

let platform: TestPlatform;
let admin: fx.Admin;
const kubeconfig = () => process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '';

beforeAll(async () => {
  platform = await startPlatform();
  admin = fx.adminClients();
});

afterAll(async () => {
  await platform?.stop();
});

type Ws = Awaited<ReturnType<typeof newWorkspace>>;

/** Waits until the Runner is polling and the Platform has its policy (listing Runners asks an online Runner for it). */
async function reportPolicy(ws: Ws): Promise<void> {
  await waitFor('the Runner to report its policy', async () => {
    const res = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners`, { token: ws.token });
    const runner = (res.body as { items?: { id: string; policy: unknown }[] }).items?.find((r) => r.id === ws.runnerId);
    return runner?.policy ? true : undefined;
  });
}

async function discover(ws: Ws, query = '', body: Record<string, unknown> = {}): Promise<Answer> {
  const res = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runners/${ws.runnerId}/discover${query}`, {
    token: ws.token,
    body: { waitSeconds: 120, ...body },
  });
  expect({ status: res.status, run: (res.body as { status?: string }).status, detail: res.body['detail'] }).toEqual({
    status: 200,
    run: 'succeeded',
    detail: undefined,
  });
  return res.body as unknown as Answer;
}

async function tasksOf(ws: Ws): Promise<{ id: string; name: string; checkType: string }[]> {
  const res = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/tasks?limit=500`, { token: ws.token });
  return (res.body as { items: { id: string; name: string; checkType: string }[] }).items;
}

/** The `lookout` CLI as the workspace's owner (the API answering it runs in this process). */
const cli = (ws: Ws, args: string[]) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [path.resolve(__dirname, '..', 'dist', 'platform-api', 'cli.js'), ...args],
      {
        env: { PATH: process.env['PATH'] ?? '', LOOKOUT_API_URL: platform.baseUrl, LOOKOUT_TOKEN: ws.token },
        encoding: 'utf8',
        timeout: 150_000,
      },
      (err, stdout, stderr) => resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });

/** The keys the built-in rules must plan for this inventory, worked out here independently of the planner. */
function expectedKeys(inventory: Inventory, allowed: readonly string[]): string[] {
  const keys: string[] = [];
  const has = (t: string) => allowed.includes(t);
  for (const ns of inventory.namespaces) {
    if (has('k8s.namespace-health') && ns.pods + ns.deployments + ns.statefulsets + ns.daemonsets > 0)
      keys.push(`namespace-health:${ns.name}`);
    if (has('k8s.jobs') && ns.cronjobs + ns.jobs > 0) keys.push(`jobs:${ns.name}`);
    if (has('k8s.pvc-binding') && ns.pvcs > 0) keys.push(`volumes:${ns.name}`);
    if (has('k8s.service-endpoints') && ns.services > 0) keys.push(`service-endpoints:${ns.name}`);
  }
  for (const [rule, type] of [
    ['nodes', 'k8s.node-conditions'],
    ['autoscalers', 'k8s.hpa-limits'],
    ['quotas', 'k8s.quota-usage'],
    ['rollouts', 'k8s.rollout-stuck'],
  ] as const)
    if (has(type)) keys.push(`${rule}:*`);
  const systems = inventory.cluster.capabilities;
  if (has('k8s.cert-manager') && systems.includes('cert-manager')) keys.push('certificates:*');
  if (has('k8s.gitops') && (systems.includes('argocd') || systems.includes('flux'))) keys.push('gitops:*');
  return keys.sort();
}

/** A CRD of a real group, so that discovery sees the system it stands for (already there when another test made it). */
async function crd(group: string, plural: string, kind: string): Promise<void> {
  await fx
    .createObjects([
      {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: `${plural}.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            },
          ],
        },
      },
    ])
    .catch((err: unknown) => {
      if (!String((err as { code?: number }).code ?? err).includes('409')) throw err;
    });
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('discovery of a cluster with its namespaces, workloads and systems', () => {
  let ws: Ws;
  let runner: Awaited<ReturnType<typeof startRunner>>;
  const prefix = `disc-${randomBytes(3).toString('hex')}`;
  const made: string[] = [];

  beforeAll(async () => {
    ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    runner = await startRunner(platform, ws, { kubeconfig: kubeconfig(), allowedChecks: CHECK_TYPES });
    await reportPolicy(ws);
    await crd('monitoring.coreos.com', 'servicemonitors', 'ServiceMonitor');
    // Two dozen namespaces of four shapes: workloads; jobs only; volumes and services; empty.
    for (let i = 0; i < 24; i++) {
      const ns = `${prefix}-${String(i).padStart(2, '0')}`;
      await admin.core.createNamespace({ body: { metadata: { name: ns } } });
      made.push(ns);
      if (i % 4 === 0) await fx.deployment(admin, ns, 'web', 2, 2);
      if (i % 4 === 1) await fx.cronJob(admin, ns, 'nightly', {});
      if (i % 4 === 2) {
        await fx.pvc(admin, ns, 'data', 'Bound');
        await fx.service(admin, ns, 'api', 1);
      }
    }
  }, 180_000);

  afterAll(async () => {
    await runner?.stop();
  });

  it('counts what each namespace holds, sees the systems its API groups reveal, and plans what the rules make of it', async () => {
    const before = await tasksOf(ws);
    const answer = await discover(ws);
    const { inventory, plan } = answer;
    expect(inventory.names).toBe('clear');
    expect(inventory.cluster.capabilities).toContain('prometheus-operator');
    expect(inventory.namespaces.map((n) => n.name)).not.toContain('kube-system'); // excluded by default
    const mine = inventory.namespaces.filter((n) => n.name.startsWith(prefix));
    expect(mine.map((n) => n.name)).toEqual(made);
    for (const [i, ns] of mine.entries()) {
      expect({ ns: ns.name, deployments: ns.deployments, cronjobs: ns.cronjobs, pvcs: ns.pvcs, services: ns.services }).toEqual({
        ns: ns.name,
        deployments: i % 4 === 0 ? 1 : 0,
        cronjobs: i % 4 === 1 ? 1 : 0,
        pvcs: i % 4 === 2 ? 1 : 0,
        services: i % 4 === 2 ? 1 : 0,
      });
    }
    expect(inventory.cluster.namespaces).toBe(inventory.namespaces.length);
    expect(inventory.totals.deployments).toBe(inventory.namespaces.reduce((n, ns) => n + ns.deployments, 0));
    // The plan is exactly what the rules make of this inventory, for every namespace of the cluster.
    expect(plan.create.map((t) => t.key).sort()).toEqual(expectedKeys(inventory, CHECK_TYPES));
    expect(plan.remove).toEqual([]);
    expect(plan.create.find((t) => t.key === `namespace-health:${made[0]}`)).toMatchObject({
      checkType: 'k8s.namespace-health',
      params: { namespace: made[0] },
    });
    expect(plan.create.find((t) => t.key === `jobs:${made[1]}`)).toMatchObject({
      checkType: 'k8s.jobs',
      params: { namespaces: [made[1]] },
    });
    // The CLI says the same in a few lines.
    const said = await cli(ws, ['discover', '--workspace', ws.workspaceId, ws.runnerId]);
    expect(said).toMatchObject({ status: 0, stderr: '' });
    expect(said.stdout).toContain(`plan: ${plan.create.length} to create, 0 to update, 0 to remove, 0 unchanged`);
    expect(said.stdout).toContain(`  + ${plan.create.find((t) => t.key === `namespace-health:${made[0]}`)!.name} (k8s.namespace-health)`);
    expect(said.stdout).toContain('nothing created: run again with --apply');
    // Without apply nothing but the discovery task itself was made.
    const after = await tasksOf(ws);
    expect(after.length).toBe(before.length + 1);
    expect(after.filter((t) => t.checkType === 'k8s.discover')).toHaveLength(1);
  });

  it('apply creates the tasks and schedules; rediscovery follows namespaces that come and go and never touches a hand-made task', async () => {
    const handMade = (await tasksOf(ws)).filter((t) => t.checkType === 'http.probe');
    expect(handMade).toHaveLength(1);
    const applied = await cli(ws, ['discover', '--workspace', ws.workspaceId, ws.runnerId, '--apply', '--json']);
    expect(applied).toMatchObject({ status: 0, stderr: '' });
    const first = JSON.parse(applied.stdout) as Answer;
    expect(first.applied).toMatchObject({ created: first.plan.create.length, updated: 0, removed: 0, conflicts: [] });
    expect(first.applied?.schedules.rediscovery).toEqual(expect.any(String));
    expect(first.applied?.schedules.sweep).toEqual(expect.any(String));
    const tasks = await tasksOf(ws);
    for (const t of first.plan.create) expect(tasks.map((x) => x.name)).toContain(t.name);

    // Again, unchanged: nothing to do, no second schedule.
    const again = await discover(ws, '?apply');
    expect(again.plan).toMatchObject({ create: [], update: [], remove: [] });
    expect(again.plan.keep).toBe(first.plan.create.length);
    expect(again.applied?.schedules).toEqual({ rediscovery: null, sweep: null, groups: {} });

    // A new namespace gains checks; a namespace being deleted loses them.
    const added = `${prefix}-new`;
    await admin.core.createNamespace({ body: { metadata: { name: added } } });
    await fx.deployment(admin, added, 'api', 1, 1);
    await admin.core.deleteNamespace({ name: made[0]! });
    const next = await discover(ws, '?apply');
    expect(next.plan.create.map((t) => t.key)).toEqual([`namespace-health:${added}`]);
    expect(next.plan.remove.map((t) => t.key)).toEqual([`namespace-health:${made[0]}`]);
    expect(next.applied).toMatchObject({ created: 1, removed: 1 });
    const names = (await tasksOf(ws)).map((t) => t.name);
    expect(names.some((n) => n.includes(added))).toBe(true);
    expect(names.some((n) => n.includes(made[0]!))).toBe(false);
    // The hand-made task is still there, whatever the rules.
    expect(names).toContain(handMade[0]!.name);

    // The rediscovery schedule applies by itself: a namespace added now gets its task when the schedule fires.
    const later = `${prefix}-later`;
    await admin.core.createNamespace({ body: { metadata: { name: later } } });
    await fx.deployment(admin, later, 'api', 1, 1);
    const trigger = await api(
      platform.baseUrl,
      'POST',
      `/v1/workspaces/${ws.workspaceId}/schedules/${first.applied!.schedules.rediscovery}/trigger`,
      {
        token: ws.token,
      },
    );
    expect(trigger.status).toBeLessThan(300);
    await waitFor('the scheduled rediscovery to add the task', async () =>
      (await tasksOf(ws)).some((t) => t.name.includes(later) && t.checkType === 'k8s.namespace-health') ? true : undefined,
    );
    const audit = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/audit?limit=1000`, { token: ws.token });
    const actions = (audit.body as { items: { action: string; actor: string }[] }).items.filter((e) => e.action === 'discovery.applied');
    expect(actions.some((e) => e.actor.startsWith('run:'))).toBe(true);
  }, 240_000);

  it("the workspace's own rules and namespace groups replace the defaults: the plan, a sweep schedule per group, a sweep of one group", async () => {
    const put = await api(platform.baseUrl, 'PUT', `/v1/workspaces/${ws.workspaceId}/discovery/rules`, {
      token: ws.token,
      body: {
        rules: [
          {
            id: 'team-health',
            checkType: 'k8s.namespace-health',
            scope: 'namespace',
            namespaces: [`${prefix}-*`],
            whenAny: ['deployments'],
          },
        ],
        groups: [{ name: 'team-a', namespaces: [`${prefix}-0*`] }],
      },
    });
    expect(put.status).toBe(200);
    const bad = await api(platform.baseUrl, 'PUT', `/v1/workspaces/${ws.workspaceId}/discovery/rules`, {
      token: ws.token,
      body: { rules: [{ id: 'x', checkType: 'k8s.nope', scope: 'namespace' }] },
    });
    expect(bad.status).toBe(400);
    const answer = await discover(ws, '?apply');
    const { plan } = answer;
    // Every generated task of the defaults goes; the one rule makes tasks for the namespaces with deployments.
    const keys = plan.create.map((t) => t.key).sort();
    expect(keys).toEqual(
      [
        `team-health:${made[4]}`,
        `team-health:${made[8]}`,
        `team-health:${made[12]}`,
        `team-health:${made[16]}`,
        `team-health:${made[20]}`,
        `team-health:${prefix}-new`,
        `team-health:${prefix}-later`,
      ].sort(),
    );
    expect(plan.remove.length).toBeGreaterThan(20);
    // Namespaces 04 and 08 match the group's pattern; the others are in no group.
    expect(plan.groups).toEqual(['team-a']);
    expect(Object.fromEntries(plan.create.map((t) => [t.key, t.group]))).toMatchObject({
      [`team-health:${made[4]}`]: 'team-a',
      [`team-health:${made[8]}`]: 'team-a',
      [`team-health:${made[12]}`]: null,
    });
    const groupSchedule = answer.applied!.schedules.groups['team-a']!;
    const schedule = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/schedules/${groupSchedule}`, { token: ws.token });
    expect(schedule.body).toMatchObject({ runnerId: ws.runnerId, group: 'team-a' });
    // A sweep of the group runs the group's tasks only.
    const started = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/sweeps`, {
      token: ws.token,
      body: { runnerId: ws.runnerId, group: 'team-a', nextChecks: { depth: 0 } },
    });
    expect(started.status).toBe(202);
    const sweep = await waitFor('the group sweep', async () => {
      const s = await api(platform.baseUrl, 'GET', `/v1/sweeps/${String(started.body['id'])}`, { token: ws.token });
      return s.status === 200 && s.body['status'] !== 'running' ? s.body : undefined;
    });
    expect(sweep).toMatchObject({ status: 'completed', group: 'team-a' });
    expect((sweep['runs'] as unknown[]).length).toBe(2);
    // Exactly the group's two tasks (healthy namespaces: nothing found, score 1).
    const groupTasks = (await tasksOf(ws)).filter(
      (t) => t.name.endsWith(`${made[4]} team-health`) || t.name.endsWith(`${made[8]} team-health`),
    );
    expect((sweep['runs'] as { taskId: string }[]).map((r) => r.taskId).sort()).toEqual(groupTasks.map((t) => t.id).sort());
    expect(sweep).toMatchObject({ score: 1, namespaces: {} });
    const reset = await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${ws.workspaceId}/discovery/rules`, { token: ws.token });
    expect(reset.body).toMatchObject({ custom: false, rules: DEFAULT_RULES, groups: [] });
  }, 180_000);
});

describe('a Runner whose policy says counts only', () => {
  it('tells the Platform how much there is but no namespace, and the plan covers the cluster with cluster-wide checks', async () => {
    const ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    const runner = await startRunner(platform, ws, {
      kubeconfig: kubeconfig(),
      allowedChecks: CHECK_TYPES,
      policy: { discovery: { names: 'counts' } },
    });
    try {
      await reportPolicy(ws);
      const secret = `countsns-${randomBytes(4).toString('hex')}`;
      await admin.core.createNamespace({ body: { metadata: { name: secret } } });
      await fx.deployment(admin, secret, 'web', 1, 1);
      const res = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runners/${ws.runnerId}/discover`, {
        token: ws.token,
        body: { waitSeconds: 120 },
      });
      expect(res.status).toBe(200);
      const { inventory, plan } = res.body as unknown as Answer;
      expect(inventory).toMatchObject({ names: 'counts', namespaces: [], truncated: false });
      expect(inventory.cluster.namespaces).toBeGreaterThan(1);
      expect(inventory.totals.deployments).toBeGreaterThanOrEqual(1);
      expect(JSON.stringify(res.body)).not.toContain(secret);
      const systems = inventory.cluster.capabilities;
      expect(plan.create.map((t) => t.key).sort()).toEqual(
        [
          'pods:*',
          'restarts:*',
          'workloads:*',
          'cluster-jobs:*',
          'cluster-volumes:*',
          'nodes:*',
          'autoscalers:*',
          'quotas:*',
          'rollouts:*',
          ...(systems.includes('cert-manager') ? ['certificates:*'] : []),
          ...(systems.includes('argocd') || systems.includes('flux') ? ['gitops:*'] : []),
        ].sort(),
      );
    } finally {
      await runner.stop();
    }
  }, 120_000);
});

describe('a Runner whose policy hashes names', () => {
  it('lets no clear namespace or resource name reach the Platform, and its tasks still reach the right namespace', async () => {
    const ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    const namesKey = randomBytes(32);
    const runner = await startRunner(platform, ws, {
      kubeconfig: kubeconfig(),
      allowedChecks: CHECK_TYPES,
      policy: { discovery: { names: 'hashed' } },
      namesKey,
    });
    try {
      await reportPolicy(ws);
      const canaryNs = `canaryns-${randomBytes(4).toString('hex')}`;
      const canaryPod = `canarypod-${randomBytes(4).toString('hex')}`;
      const canaryDeploy = `canarydeploy-${randomBytes(4).toString('hex')}`;
      await admin.core.createNamespace({ body: { metadata: { name: canaryNs } } });
      await fx.deployment(admin, canaryNs, canaryDeploy, 2, 0);
      await fx.pod(admin, canaryNs, canaryPod, {
        phase: 'Running',
        containerStatuses: [fx.containerStatus({ restartCount: 9, state: { waiting: { reason: 'CrashLoopBackOff' } } })],
      });
      const responses: Buffer[] = [];
      const call = async (method: string, path: string, body?: unknown) => {
        const res = await api(platform.baseUrl, method, path, { token: ws.token, ...(body === undefined ? {} : { body }) });
        responses.push(Buffer.from(JSON.stringify(res.body)));
        return res;
      };
      const answered = await call('POST', `/v1/workspaces/${ws.workspaceId}/runners/${ws.runnerId}/discover?apply`, { waitSeconds: 120 });
      expect(answered.status).toBe(200);
      const { inventory, plan } = answered.body as unknown as Answer;
      expect(inventory.names).toBe('hashed');
      for (const ns of inventory.namespaces) expect(ns.name).toMatch(HASHED_NAME);
      // The canary namespace is there, under its hash, with its deployment and pod counted.
      const hashed = inventory.namespaces.filter((n) => n.deployments === 1 && n.pods === 1);
      expect(hashed.length).toBeGreaterThanOrEqual(1);
      const healthTasks = plan.create.filter((t) => t.checkType === 'k8s.namespace-health');
      expect(healthTasks.length).toBeGreaterThan(0);
      // A sweep runs every generated task: the one for the canary namespace reaches it through its hash.
      const sweep = await call('POST', `/v1/workspaces/${ws.workspaceId}/sweeps`, { runnerId: ws.runnerId, concurrency: 4 });
      expect(sweep.status).toBe(202);
      const sweepId = (sweep.body as { id: string }).id;
      const done = await waitFor(
        'the sweep',
        async () => {
          const s = await call('GET', `/v1/sweeps/${sweepId}`);
          // 404 until the sweep's workflow has recorded it.
          return s.status === 404 || (s.body as { status: string }).status === 'running' ? undefined : s.body;
        },
        180_000,
      );
      expect(done).toMatchObject({ status: 'completed' });
      const issues = await call('GET', `/v1/workspaces/${ws.workspaceId}/issues?state=open`);
      const items = (issues.body as { items: { resource: { kind: string; namespace?: string; name: string } }[] }).items;
      const found = items.filter((i) => hashed.some((h) => h.name === i.resource.namespace));
      expect(found.length).toBeGreaterThanOrEqual(2); // the crash-looping pod and the unavailable deployment
      for (const i of found) expect(i.resource.name).toMatch(HASHED_NAME);
      // A Platform that names the canary namespace in clear, to learn its hash (and whether it exists),
      // is refused: by the API, and — a hostile Platform writing the task into its own database — by
      // the Runner, before it lists anything.
      const guessBody = { name: 'guess', runnerId: ws.runnerId, checkType: 'k8s.pod-restarts', params: { namespaces: [canaryNs] } };
      const byApi = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/tasks`, { token: ws.token, body: guessBody });
      responses.push(Buffer.from(JSON.stringify(byApi.body)));
      expect(byApi.status).toBe(400);
      expect(JSON.stringify(byApi.body)).toContain('hashes names');
      const guess = await addTask(platform, ws, 'k8s.pod-restarts', { namespaces: [canaryNs] });
      const guessed = await call('POST', `/v1/workspaces/${ws.workspaceId}/runs`, { taskId: guess });
      expect(guessed.status).toBe(202);
      const refused = await waitFor(
        'the refused run',
        async () => {
          const r = await call('GET', `/v1/runs/${(guessed.body as { id: string }).id}`);
          return ['queued', 'running'].includes((r.body as { status: string }).status) ? undefined : r.body;
        },
        60_000,
      );
      expect(refused).toMatchObject({
        status: 'failed',
        error: { type: 'PolicyDenied', message: expect.stringContaining('hashes names') },
        result: null,
      });
      // The guess is the hostile Platform's own writing, not something the Runner sent: out of the scan below.
      await platform.pool.query('delete from tasks where id = $1', [guess]);
      // Every run's result, every task, the sweep, the issues: read back through the API.
      await call('GET', `/v1/workspaces/${ws.workspaceId}/runs?limit=200`);
      const tasks = await call('GET', `/v1/workspaces/${ws.workspaceId}/tasks?limit=500`);
      for (const t of (tasks.body as { items: { id: string }[] }).items)
        await call('GET', `/v1/workspaces/${ws.workspaceId}/tasks/${t.id}`);
      // And every table of the Platform's database.
      const pg = new PgClient({ connectionString: env.databaseUrl });
      await pg.connect();
      const dump: Buffer[] = [];
      try {
        const tables = await pg.query<{ table_name: string }>(
          "select table_name from information_schema.tables where table_schema = 'public'",
        );
        for (const { table_name } of tables.rows) {
          const rows = await pg.query<{ row: string }>(`select t::text as row from "${table_name}" t`);
          dump.push(Buffer.from(rows.rows.map((r) => r.row).join('\n')));
        }
      } finally {
        await pg.end();
      }
      const hits: string[] = [];
      for (const [where, haystack] of [
        ['API responses', Buffer.concat(responses)],
        ['the database', Buffer.concat(dump)],
      ] as const) {
        for (const canary of [canaryNs, canaryPod, canaryDeploy])
          if (needles(canary).some((n) => haystack.indexOf(n) !== -1)) hits.push(`${canary} in ${where}`);
      }
      expect(hits).toEqual([]);
      // The same names in clear would have been found: the scan sees what the Runner hashed.
      expect(Buffer.concat(responses).includes(hashed[0]!.name)).toBe(true);
    } finally {
      await runner.stop();
    }
  }, 300_000);
});
