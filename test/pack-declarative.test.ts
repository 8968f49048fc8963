/**
 * The declarative executor of check packs against the real kube-apiserver of the global setup: each
 * test writes a cluster state into its own namespace with the administrator's identity, then runs a
 * CEL check with the Runner's restricted identity (the chart's ClusterRole) unless the test says why
 * not, and asserts the issues, the summary and the failures a pack author would see.
 */
import { randomBytes } from 'node:crypto';
import { KubeConfig, PolicyV1Api } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/activity';
import { compileDeclarative, runDeclarative } from '../activities/runner/packs/declarative';
import { loadKubeClients, type KubeClients } from '../activities/runner/kube';
import { DeclarativeSpec, type KubernetesRule } from '../common/packs';
import * as fx from './harness/kube-fixtures';

let admin: fx.Admin;
let runner: KubeClients;

function runnerClients(pageSize?: number): KubeClients {
  const kube = loadKubeClients({ kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '', ...(pageSize ? { pageSize } : {}) });
  if (!kube) throw new Error('LOOKOUT_TEST_KUBECONFIG_RUNNER is not set');
  return kube;
}

beforeAll(() => {
  admin = fx.adminClients();
  runner = runnerClients();
});

afterAll(async () => {
  await runner?.close();
  await admin?.close();
});

/** A spec as the manifest parser gives it (defaults applied); `issue` fields default to simple ones. */
function spec(s: {
  read: Record<string, unknown>;
  predicate: string;
  context?: Record<string, unknown>;
  issue?: Record<string, unknown>;
  okSummary?: string;
}) {
  return DeclarativeSpec.parse({
    ...s,
    issue: { severity: 3, title: '"found"', expected: '"nothing"', actual: '"something"', ...s.issue },
  });
}

const deployments = (namespaces = 'params.namespaces') => ({ apiVersion: 'apps/v1', kind: 'Deployment', namespaces });

/** What the checks of these tests declare: the kinds they list. */
const READS: KubernetesRule[] = [
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list'] },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['list'] },
  { apiGroups: [''], resources: ['pods', 'configmaps', 'namespaces'], verbs: ['list'] },
];

async function run(kube: KubeClients, s: DeclarativeSpec, params: Record<string, unknown> = {}, rules: readonly KubernetesRule[] = READS) {
  let beats = 0;
  const outcome = await runDeclarative(
    { spec: s, params, kube, rules, signal: new AbortController().signal, heartbeat: () => beats++ },
    compileDeclarative(s),
  );
  return { ...outcome, beats };
}

async function deploymentWithRequests(ns: string, name: string): Promise<void> {
  await admin.apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name },
      spec: {
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: 'app', image: 'registry.example/web:1.2.3', resources: { requests: { cpu: '100m' } } }] },
        },
      },
    },
  });
}

async function podWith(ns: string, name: string, image: string, labels: Record<string, string>): Promise<void> {
  await admin.core.createNamespacedPod({
    namespace: ns,
    body: { metadata: { name, labels }, spec: { containers: [{ name: 'app', image }] } },
  });
}

describe('the declarative executor', () => {
  it('reports Deployments whose containers request no resources, with the issue template evaluated per object', async () => {
    const ns = await fx.namespace(admin, 'decl-requests');
    await fx.deployment(admin, ns, 'bare', 1, 1);
    await deploymentWithRequests(ns, 'sized');
    const s = spec({
      read: deployments(),
      predicate: 'object.spec.template.spec.containers.exists(c, !has(c.resources.requests))',
      issue: {
        title: '"Container without resource requests"',
        expected: '"every container requests cpu and memory"',
        actual: 'object.spec.template.spec.containers.filter(c, !has(c.resources.requests)).map(c, c.name).join(", ") + " request nothing"',
        nextSteps: [
          '"kubectl describe deployment " + object.metadata.name + " -n " + object.metadata.namespace',
          'object.spec.replicas > 1 ? "scale down first" : ""',
        ],
      },
    });
    const result = await run(runner, s, { namespaces: [ns] });
    expect(result.status).toBe('issues');
    expect(result.issues).toEqual([
      {
        severity: 3,
        title: 'Container without resource requests',
        resource: { kind: 'Deployment', namespace: ns, name: 'bare' },
        expected: 'every container requests cpu and memory',
        actual: 'app request nothing',
        nextSteps: [`kubectl describe deployment bare -n ${ns}`],
      },
    ]);
    expect(result.summary).toBe('1 of 2 Deployments: Container without resource requests');
    expect(result.score).toBe(0.5);
    expect(result.metrics).toMatchObject({ 'objects.read': 2, 'objects.matched': 1, 'issues.total': 1 });
  });

  it('reads pods by a labelSelector built from params and evaluates the severity expression', async () => {
    const ns = await fx.namespace(admin, 'decl-latest');
    await podWith(ns, 'latest', 'nginx:latest', { app: 'web' });
    await podWith(ns, 'untagged', 'nginx', { app: 'web' });
    await podWith(ns, 'pinned', 'nginx:1.27.0', { app: 'web' });
    await podWith(ns, 'batch-latest', 'nginx:latest', { app: 'batch' });
    const s = spec({
      read: { apiVersion: 'v1', kind: 'Pod', namespaces: '[params.namespace]', labelSelector: 'app=${params.app}' },
      predicate: 'object.spec.containers.exists(c, c.image.endsWith(":latest") || !c.image.matches(":[^/]+$"))',
      issue: {
        severity: 'object.spec.containers.exists(c, c.image.endsWith(":latest")) ? 2 : 4',
        title: '"Image without a pinned tag"',
        actual: 'object.spec.containers.map(c, c.image).join(", ")',
      },
    });
    const result = await run(runner, s, { namespace: ns, app: 'web' });
    expect(result.issues.map((i) => [i.resource.name, i.severity, i.actual])).toEqual([
      ['latest', 2, 'nginx:latest'],
      ['untagged', 4, 'nginx'],
    ]);
    expect(result.metrics).toMatchObject({ 'objects.read': 3, 'objects.matched': 2 });
    expect(result.summary).toBe('2 of 3 Pods: Image without a pinned tag');
  });

  it('finds Deployments that no PodDisruptionBudget covers, through a pdbs context list', async () => {
    const ns = await fx.namespace(admin, 'decl-pdb');
    await fx.deployment(admin, ns, 'covered', 2, 2);
    await fx.deployment(admin, ns, 'uncovered', 2, 2);
    const kc = new KubeConfig();
    kc.loadFromFile(process.env['LOOKOUT_TEST_KUBECONFIG_ADMIN'] ?? '');
    await kc.makeApiClient(PolicyV1Api).createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: { metadata: { name: 'covered' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'covered' } } } },
    });
    const s = spec({
      read: deployments(),
      context: { pdbs: { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' } },
      predicate: `object.spec.replicas > 1 && !pdbs.exists(p, p.metadata.namespace == object.metadata.namespace
        && has(p.spec.selector.matchLabels)
        && p.spec.selector.matchLabels.all(k, k in object.spec.template.metadata.labels
             && object.spec.template.metadata.labels[k] == p.spec.selector.matchLabels[k]))`,
      issue: { title: '"No PodDisruptionBudget"', actual: 'string(size(pdbs)) + " budgets in the namespace, none selects it"' },
    });
    // The chart's ClusterRole does not grant PodDisruptionBudgets (a pack's policy grant would): the
    // administrator's identity reads them here; the next test shows what the Runner's own gets.
    const result = await run(admin, s, { namespaces: [ns] });
    expect(result.issues.map((i) => [i.resource.name, i.actual])).toEqual([['uncovered', '1 budgets in the namespace, none selects it']]);
    expect(result.metrics).toMatchObject({ 'objects.read': 2, 'objects.matched': 1, 'objects.context': 1 });
  });

  it("answers an error result naming the status and the path when the Runner's role refuses a list", async () => {
    const ns = await fx.namespace(admin, 'decl-forbidden');
    // RoleBindings: declared by the check, but neither the chart's role nor any pack grant gives the Runner them.
    const s = spec({
      read: deployments(),
      context: { bindings: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' } },
      predicate: 'size(bindings) == 0',
    });
    const result = await run(runner, s, { namespaces: [ns] }, [
      ...READS,
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: ['list'] },
    ]);
    expect(result.status).toBe('error');
    expect(result.summary).toContain(`GET /apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`);
    expect(result.summary).toContain('forbidden (403)');
    expect(result.summary).toMatch(/the API server said: .*rolebindings/);
    expect(result.metrics['kube.error_status']).toBe(403);
  });

  it('pages through a list with continue tokens, heartbeating per page, and types whole numbers as ints', async () => {
    const ns = await fx.namespace(admin, 'decl-paging');
    for (const [i, replicas] of [1, 2, 3, 1, 2].entries()) await fx.deployment(admin, ns, `d${i}`, replicas, replicas);
    const paged = runnerClients(2);
    const paths: string[] = [];
    const spy: KubeClients = {
      ...paged,
      get: (path, options) => {
        paths.push(path);
        return paged.get(path, options);
      },
    };
    try {
      const s = spec({ read: deployments(), predicate: 'object.spec.replicas + 1 > 2' });
      const result = await run(spy, s, { namespaces: [ns] });
      const lists = paths.filter((p) => p.startsWith(`/apis/apps/v1/namespaces/${ns}/deployments?`));
      expect(lists).toHaveLength(3);
      expect(lists.every((p) => p.includes('limit=2'))).toBe(true);
      expect(lists.slice(1).every((p) => /[?&]continue=[^&]+/.test(p))).toBe(true);
      expect(paths).toContain('/apis/apps/v1');
      expect(result.beats).toBeGreaterThanOrEqual(3);
      expect(result.issues.map((i) => i.resource.name).sort()).toEqual(['d1', 'd2', 'd4']);
      expect(result.score).toBe(0.4);
      expect(result.metrics).toMatchObject({ 'objects.read': 5, 'objects.matched': 3, 'api.requests': paths.length });
    } finally {
      await paged.close();
    }
  });

  it('reads a cluster-scoped kind cluster-wide and reports it without a namespace', async () => {
    const ns = await fx.namespace(admin, 'decl-cluster');
    const s = spec({
      read: { apiVersion: 'v1', kind: 'Namespace', namespaces: '["ignored"]' },
      predicate: 'object.metadata.name == params.target',
      okSummary: 'no such namespace',
    });
    const found = await run(runner, s, { target: ns });
    expect(found.issues.map((i) => i.resource)).toEqual([{ kind: 'Namespace', name: ns }]);
    const none = await run(runner, s, { target: 'nothing-has-this-name' });
    expect({ status: none.status, summary: none.summary, score: none.score }).toEqual({
      status: 'ok',
      summary: 'no such namespace',
      score: 1,
    });
  });

  it('keeps the 200 most severe issues, says how many more there are, and clips fields to the issue limits', async () => {
    const ns = await fx.namespace(admin, 'decl-cap');
    const names = Array.from({ length: 205 }, (_, i) => `cm${i}`);
    for (let i = 0; i < names.length; i += 25)
      await Promise.all(
        names
          .slice(i, i + 25)
          .map((name) => admin.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels: { cap: 'yes' } } } })),
      );
    const s = spec({
      read: { apiVersion: 'v1', kind: 'ConfigMap', namespaces: '[params.ns]', labelSelector: 'cap=yes' },
      predicate: 'object.metadata.name.startsWith("cm")',
      issue: { severity: 'object.metadata.name == "cm204" ? 1 : 4', title: 'params.long', expected: 'params.long + params.long' },
    });
    const long = 'x'.repeat(300);
    // ConfigMaps are outside the chart's ClusterRole: the administrator's identity reads them.
    const result = await run(admin, s, { ns, long });
    expect(result.issues).toHaveLength(200);
    expect(result.issues[0]?.resource.name).toBe('cm204');
    expect(result.issues[0]?.severity).toBe(1);
    expect(result.issues.slice(1).every((i) => i.severity === 4)).toBe(true);
    expect(result.issues[0]?.title).toHaveLength(200);
    expect(result.issues[0]?.expected).toHaveLength(500);
    expect(result.summary).toMatch(/^205 of 205 ConfigMaps: x{199}…; the 200 most severe are listed, and 5 more$/);
    expect(result.score).toBe(0);
    expect(result.metrics).toMatchObject({ 'objects.read': 205, 'objects.matched': 205 });
  });
});

describe('failures a pack author sees', () => {
  it('refuses a syntax error at load time, naming the field and the position', () => {
    expect(() => compileDeclarative(spec({ read: deployments(), predicate: 'object.spec.replicas >' }))).toThrow(
      /^predicate: syntax error at 1:\d+: /,
    );
    expect(() => compileDeclarative(spec({ read: deployments('[params.ns'), predicate: 'true' }))).toThrow(
      /^read\.namespaces: syntax error/,
    );
    expect(() => compileDeclarative(spec({ read: deployments(), predicate: 'true', issue: { nextSteps: ['"a"', '"b" +'] } }))).toThrow(
      /^issue\.nextSteps\[1\]: syntax error/,
    );
    // @bufbuild/cel has no optional types.
    expect(() => compileDeclarative(spec({ read: deployments(), predicate: 'object.metadata.?labels == null' }))).toThrow(
      /^predicate: syntax error/,
    );
  });

  it('refuses unknown variables and functions at load time', () => {
    expect(() => compileDeclarative(spec({ read: deployments(), predicate: 'objet.spec.replicas > 1' }))).toThrow(
      'predicate: unknown variable objet (there are object, params) at 1:1',
    );
    expect(() => compileDeclarative(spec({ read: deployments(), predicate: 'true', issue: { title: 'pdbs[0].metadata.name' } }))).toThrow(
      /^issue\.title: unknown variable pdbs/,
    );
    expect(() =>
      compileDeclarative(
        spec({ read: deployments(), predicate: 'object.spec.template.spec.containers.exists(c, c.image.endswith(":latest"))' }),
      ),
    ).toThrow(/^predicate: unknown function endswith at 1:\d+$/);
    expect(() => compileDeclarative(spec({ read: deployments('[object.metadata.namespace]'), predicate: 'true' }))).toThrow(
      /^read\.namespaces: unknown variable object/,
    );
    expect(() =>
      compileDeclarative(spec({ read: deployments(), context: { object: { apiVersion: 'v1', kind: 'Pod' } }, predicate: 'true' })),
    ).toThrow(/^context\.object: the name is taken/);
    // Comprehension variables, type names and namespaced functions are known.
    expect(() =>
      compileDeclarative(spec({ read: deployments(), predicate: '[1].all(x, type(x) == int) && strings.quote("a") != ""' })),
    ).not.toThrow();
  });

  it('fails with a non-retryable error naming the field and the object when an expression fails at run time', async () => {
    const ns = await fx.namespace(admin, 'decl-runtime');
    await fx.deployment(admin, ns, 'bare', 1, 1);
    const s = spec({ read: deployments(), predicate: 'object.spec.template.spec.containers.exists(c, c.resources.requests.cpu == "1")' });
    const failure = run(runner, s, { namespaces: [ns] });
    await expect(failure).rejects.toThrow(new RegExp(`^predicate on Deployment ${ns}/bare: field not found: requests \\(at 1:\\d+\\)$`));
    await expect(failure).rejects.toBeInstanceOf(ApplicationFailure);
    await expect(failure).rejects.toMatchObject({ nonRetryable: true, type: 'InvalidConfiguration' });

    const title = spec({ read: deployments(), predicate: 'true', issue: { title: 'object.status.nope' } });
    await expect(run(runner, title, { namespaces: [ns] })).rejects.toThrow(`issue.title on Deployment ${ns}/bare: field not found: nope`);
  });

  it('refuses a predicate that does not give a bool, and values of the wrong type', async () => {
    const ns = await fx.namespace(admin, 'decl-types');
    await fx.deployment(admin, ns, 'web', 1, 1);
    await expect(run(runner, spec({ read: deployments(), predicate: 'object.metadata.name' }), { namespaces: [ns] })).rejects.toThrow(
      `predicate on Deployment ${ns}/web: gave string, not a bool`,
    );
    await expect(
      run(runner, spec({ read: deployments(), predicate: 'true', issue: { severity: '7' } }), { namespaces: [ns] }),
    ).rejects.toThrow(`issue.severity on Deployment ${ns}/web: gave 7, not an int 1..4`);
    await expect(run(runner, spec({ read: deployments(), predicate: 'true' }), { namespaces: ns })).rejects.toThrow(
      'read.namespaces: gave string, not a list of strings',
    );
    await expect(run(runner, spec({ read: deployments(), predicate: 'true' }), { namespaces: ['../secrets'] })).rejects.toThrow(
      'read.namespaces: "../secrets" is not a namespace name',
    );
  });

  it('names an unknown kind and a group version the cluster does not serve', async () => {
    const unknownKind = spec({ read: { apiVersion: 'apps/v1', kind: 'Foo' }, predicate: 'true' });
    await expect(run(runner, unknownKind)).rejects.toThrow('apps/v1 has no kind Foo');
    const unknownGroup = spec({
      read: { apiVersion: `lookout-${randomBytes(3).toString('hex')}.example/v1`, kind: 'Foo' },
      predicate: 'true',
    });
    await expect(run(runner, unknownGroup)).rejects.toThrow(
      /^the cluster does not serve lookout-[0-9a-f]+\.example\/v1 \(GET \/apis\/.* answered 404\)$/,
    );
  });

  it('lists only kinds the check declares, whatever else the Runner may read, and never Secrets', async () => {
    // The Runner's own role lists pods (a built-in check needs them); a check that declares only Deployments may not.
    const pods = spec({ read: { apiVersion: 'v1', kind: 'Pod' }, predicate: 'true' });
    const onlyDeployments: KubernetesRule[] = [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['list'] }];
    await expect(run(runner, pods, {}, onlyDeployments)).rejects.toThrow(
      "v1 Pod (pods) is not covered by the check's needs.kubernetes: declare list on it (and have the policy grant it)",
    );
    // A context list is held to the same rules.
    const withContext = spec({ read: deployments("['default']"), context: { pods: { apiVersion: 'v1', kind: 'Pod' } }, predicate: 'true' });
    await expect(run(runner, withContext, {}, onlyDeployments)).rejects.toThrow('v1 Pod (pods) is not covered');
    // Secrets never, not even with a rule naming them (the manifest schema refuses one; this is the executor's own check).
    const secrets = spec({ read: { apiVersion: 'v1', kind: 'Secret' }, predicate: 'true' });
    await expect(run(admin, secrets, {}, [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }])).rejects.toThrow(
      'v1 Secret: Secrets are read through secret bindings only',
    );
  });
});
