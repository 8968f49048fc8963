/**
 * Kubernetes checks against a real kube-apiserver: each test creates a broken state, runs the check
 * through the API, Temporal and a real Runner that uses the restricted ServiceAccount bound to the
 * chart's ClusterRole, and asserts the issues, severities and next steps.
 */
import { loopbackPolicy } from './harness/policy';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { getEventListeners } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { lazyKubeClients, listAll, loadKubeClients } from '../activities/runner/kube';
import { namespaceHealth } from '../activities/runner/checks/k8s/namespace-health';
import { podRestarts } from '../activities/runner/checks/k8s/pod-restarts';
import { CHECK_TYPES, NamespaceHealthParams, PodRestartsParams, type CheckType } from '../common/checks';
import { newWorkspace, runCheck, startPlatform, startRunner, type RunResult, type TestPlatform } from './harness/env';
import * as fx from './harness/kube-fixtures';

let platform: TestPlatform;
let ws: Awaited<ReturnType<typeof newWorkspace>>;
let runner: Awaited<ReturnType<typeof startRunner>>;
let admin: fx.Admin;

beforeAll(async () => {
  platform = await startPlatform();
  ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
  runner = await startRunner(platform, ws, { kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '', allowedChecks: CHECK_TYPES });
  admin = fx.adminClients();
});

afterAll(async () => {
  await runner?.stop();
  await platform?.stop();
});

const check = (type: CheckType, params: Record<string, unknown>) => runCheck(platform, ws, type, params);

const byName = (r: RunResult, name: string) => r.issues.filter((i) => i.resource.name === name);

describe("Kubernetes checks with the Runner's restricted identity", () => {
  it('k8s.pod-restarts tells OOM kills, probe failures and crashes apart', async () => {
    const ns = await fx.namespace(admin, 'restarts');
    const terminated = (exitCode: number, reason: string) => ({
      terminated: { exitCode, reason, startedAt: new Date(), finishedAt: new Date() },
    });
    await fx.pod(
      admin,
      ns,
      'oom',
      {
        phase: 'Running',
        containerStatuses: [
          fx.containerStatus({
            restartCount: 7,
            state: { waiting: { reason: 'CrashLoopBackOff' } },
            lastState: terminated(137, 'OOMKilled'),
          }),
        ],
      },
      { containers: [{ name: 'app', image: 'registry.example/web:1.2.3', resources: { limits: { memory: '128Mi' } } }] },
    );
    await fx.pod(
      admin,
      ns,
      'probe',
      {
        phase: 'Running',
        containerStatuses: [
          fx.containerStatus({ restartCount: 4, state: { running: { startedAt: new Date() } }, lastState: terminated(137, 'Error') }),
        ],
      },
      { containers: [{ name: 'app', image: 'registry.example/web:1.2.3', livenessProbe: { httpGet: { path: '/healthz', port: 8080 } } }] },
    );
    await fx.pod(admin, ns, 'crash', {
      phase: 'Running',
      containerStatuses: [
        fx.containerStatus({ restartCount: 5, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: terminated(1, 'Error') }),
      ],
    });
    await fx.pod(admin, ns, 'fine', {
      phase: 'Running',
      containerStatuses: [fx.containerStatus({ ready: true, restartCount: 1, state: { running: { startedAt: new Date() } } })],
    });
    const r = await check('k8s.pod-restarts', { namespaces: [ns] });
    expect(r.status).toBe('issues');
    expect(byName(r, 'oom')[0]).toMatchObject({
      severity: 2,
      title: 'Container app is in CrashLoopBackOff',
      actual: '7 restarts, last killed for using more memory than its limit (128Mi) (OOMKilled)',
    });
    expect(byName(r, 'oom')[0]?.nextSteps).toContain(`kubectl top pod oom -n ${ns} --containers`);
    expect(byName(r, 'probe')[0]).toMatchObject({
      severity: 3,
      actual: '4 restarts, last killed after failing its liveness probe (exit code 137)',
    });
    expect(byName(r, 'crash')[0]).toMatchObject({ severity: 2, actual: '5 restarts, last exited with code 1 (Error)' });
    expect(byName(r, 'crash')[0]?.nextSteps[0]).toBe(`kubectl logs crash -n ${ns} -c app --previous`);
    expect(byName(r, 'fine')).toEqual([]);
    expect(r.issues).toHaveLength(3);
  });

  it('k8s.pod-status reports unschedulable and failed pods with their reasons', async () => {
    const ns = await fx.namespace(admin, 'status');
    await fx.pod(admin, ns, 'unschedulable', {
      phase: 'Pending',
      conditions: [
        { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient cpu.' },
      ],
    });
    await fx.pod(admin, ns, 'evicted', { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' });
    await fx.pod(admin, ns, 'running', { phase: 'Running' });
    const r = await check('k8s.pod-status', { namespaces: [ns], pendingMinutes: 0 });
    // Free text from the cluster is raw data, denied by default: it does not leave the Runner.
    expect(JSON.stringify(r)).not.toContain('Insufficient cpu');
    expect(byName(r, 'unschedulable')[0]).toMatchObject({
      severity: 2,
      title: 'Pod cannot be scheduled',
      // The scheduler's message is raw data: with raw data denied (the default) only the reason leaves.
      actual: expect.stringMatching(/^Unschedulable for \d+ minutes$/),
    });
    expect(byName(r, 'evicted')[0]).toMatchObject({
      severity: 3,
      title: 'Pod failed',
      actual: 'Evicted',
    });
    expect(r.issues).toHaveLength(2);
  });

  it('k8s.image-pull reports containers that cannot pull their image', async () => {
    const ns = await fx.namespace(admin, 'pull');
    await fx.pod(admin, ns, 'backoff', {
      phase: 'Pending',
      containerStatuses: [
        fx.containerStatus({
          state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "registry.example/web:1.2.3"' } },
        }),
      ],
    });
    const r = await check('k8s.image-pull', { namespaces: [ns] });
    // Free text from the cluster is raw data, denied by default: it does not leave the Runner.
    expect(JSON.stringify(r)).not.toContain('Back-off pulling');
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 2,
        title: 'Container app cannot pull its image',
        actual: 'ImagePullBackOff',
      }),
    ]);
  });

  it('k8s.workload-availability compares available with desired replicas', async () => {
    const ns = await fx.namespace(admin, 'workloads');
    await fx.deployment(admin, ns, 'down', 3, 0);
    await fx.deployment(admin, ns, 'degraded', 3, 1);
    await fx.deployment(admin, ns, 'healthy', 2, 2);
    await fx.statefulSet(admin, ns, 'db', 3, 2);
    await fx.daemonSet(admin, ns, 'agent', 5, 4);
    const r = await check('k8s.workload-availability', { namespaces: [ns] });
    expect(byName(r, 'down')[0]).toMatchObject({ severity: 1, resource: { kind: 'Deployment' }, actual: '0 available' });
    expect(byName(r, 'degraded')[0]).toMatchObject({ severity: 2, expected: '3 available replicas', actual: '1 available' });
    expect(byName(r, 'db')[0]).toMatchObject({ severity: 2, resource: { kind: 'StatefulSet' } });
    expect(byName(r, 'agent')[0]).toMatchObject({ severity: 2, resource: { kind: 'DaemonSet' }, actual: '4 available' });
    expect(byName(r, 'healthy')).toEqual([]);
    expect(byName(r, 'down')[0]?.nextSteps[0]).toBe(`kubectl rollout status deployment/down -n ${ns}`);
  });

  it('k8s.warning-events groups warnings by reason and object', async () => {
    const ns = await fx.namespace(admin, 'events');
    await fx.warningEvent(admin, ns, 'web-1', 'BackOff', 8);
    await fx.warningEvent(admin, ns, 'web-1', 'BackOff', 4);
    await fx.warningEvent(admin, ns, 'web-2', 'FailedMount', 1);
    const r = await check('k8s.warning-events', { namespaces: [ns] });
    expect(byName(r, 'web-1')).toEqual([expect.objectContaining({ severity: 2, title: 'Warning BackOff on Pod' })]);
    expect(byName(r, 'web-1')[0]?.actual).toMatch(/^12× BackOff/);
    expect(byName(r, 'web-2')).toEqual([expect.objectContaining({ severity: 3, title: 'Warning FailedMount on Pod' })]);
  });

  it('k8s.node-conditions reports nodes not ready or under pressure', async () => {
    const label = randomBytes(4).toString('hex');
    await fx.node(admin, `down-${label}`, label, [
      { type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'container runtime is down' },
    ]);
    await fx.node(admin, `pressure-${label}`, label, [
      { type: 'Ready', status: 'True' },
      { type: 'MemoryPressure', status: 'True', message: 'kubelet has insufficient memory available' },
    ]);
    await fx.node(admin, `ok-${label}`, label, [
      { type: 'Ready', status: 'True' },
      { type: 'DiskPressure', status: 'False' },
    ]);
    const r = await check('k8s.node-conditions', { labelSelector: `lookout-test=${label}` });
    // Free text from the cluster is raw data, denied by default: it does not leave the Runner.
    expect(JSON.stringify(r)).not.toContain('container runtime is down');
    expect(byName(r, `down-${label}`)[0]).toMatchObject({
      severity: 1,
      title: 'Node is not ready',
      actual: 'Ready=False (KubeletNotReady)',
    });
    expect(byName(r, `pressure-${label}`)[0]).toMatchObject({ severity: 2, title: 'Node is under memory pressure' });
    expect(byName(r, `ok-${label}`)).toEqual([]);
    expect(r.metrics['nodes.checked']).toBe(3);
  });

  it('k8s.pvc-binding reports claims that are not bound', async () => {
    const ns = await fx.namespace(admin, 'pvc');
    await fx.pvc(admin, ns, 'pending', 'Pending');
    await fx.pvc(admin, ns, 'bound', 'Bound');
    const r = await check('k8s.pvc-binding', { namespaces: [ns], pendingMinutes: 0 });
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 2,
        title: 'Claim is not bound',
        resource: { kind: 'PersistentVolumeClaim', namespace: ns, name: 'pending' },
        actual: 'phase Pending, storage class fast',
      }),
    ]);
  });

  it('k8s.jobs reports failed jobs and suspended or stale cronjobs', async () => {
    const ns = await fx.namespace(admin, 'jobs');
    await fx.failedJob(admin, ns, 'migrate');
    await fx.cronJob(admin, ns, 'paused', { suspend: true });
    await fx.cronJob(admin, ns, 'stale', { lastSuccessHoursAgo: 48 });
    await fx.cronJob(admin, ns, 'fresh', { lastSuccessHoursAgo: 1 });
    const r = await check('k8s.jobs', { namespaces: [ns] });
    expect(byName(r, 'migrate')[0]).toMatchObject({ severity: 2, title: 'Job failed' });
    expect(byName(r, 'migrate')[0]?.actual).toMatch(/^BackoffLimitExceeded/);
    expect(byName(r, 'paused')[0]).toMatchObject({ severity: 4, title: 'CronJob is suspended' });
    expect(byName(r, 'stale')[0]).toMatchObject({ severity: 3, actual: 'last success 48 hours ago' });
    expect(byName(r, 'fresh')).toEqual([]);
  });

  it('k8s.service-endpoints reports services without a ready endpoint', async () => {
    const ns = await fx.namespace(admin, 'svc');
    await fx.service(admin, ns, 'orphan', 0);
    await fx.service(admin, ns, 'served', 2);
    const r = await check('k8s.service-endpoints', { namespaces: [ns] });
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 2,
        resource: { kind: 'Service', namespace: ns, name: 'orphan' },
        actual: 'no ready pod matches selector app=orphan',
      }),
    ]);
  });

  it('k8s.tls-expiry reads no Secret in a namespace the Runner policy does not opt into', async () => {
    const ns = await fx.namespace(admin, 'tls-closed');
    await fx.tlsSecret(admin, ns, 'closed', fx.certificate(3, 'closed.example', 'x'));
    const r = await check('k8s.tls-expiry', { namespaces: [ns] });
    expect(r).toMatchObject({ status: 'error', issues: [], summary: expect.stringMatching(/none of these namespaces/) });
  });

  it('renders no cluster-wide Secret access: the Runner cannot read a Secret no binding names', async () => {
    const ns = await fx.namespace(admin, 'no-secrets');
    await admin.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'db' }, stringData: { password: 'x' } } });
    const runnerIdentity = loadKubeClients({ kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '' })!;
    await expect(runnerIdentity.core.readNamespacedSecret({ namespace: ns, name: 'db' })).rejects.toMatchObject({ code: 403 });
    await expect(runnerIdentity.core.listSecretForAllNamespaces({})).rejects.toMatchObject({ code: 403 });
  });

  it('k8s.tls-expiry reports certificates near expiry and never returns key or certificate bytes', async () => {
    const ns = await fx.namespace(admin, 'tls');
    const canary = `cnryK${randomBytes(12).toString('hex')}`;
    const soon = fx.certificate(3, 'soon.example', canary);
    const later = fx.certificate(20, 'later.example', canary);
    const fine = fx.certificate(400, 'fine.example', canary);
    await fx.tlsSecret(admin, ns, 'soon', soon);
    await fx.tlsSecret(admin, ns, 'later', later);
    await fx.tlsSecret(admin, ns, 'fine', fine);
    // Only a namespace the Runner policy opts into, with the Role the chart renders for it, is read.
    await fx.grantPolicyRbac({ tlsSecrets: { namespaces: [ns] } });
    const tlsWs = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    const tlsRunner = await startRunner(platform, tlsWs, {
      kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '',
      allowedChecks: ['k8s.tls-expiry'],
      policy: { tlsSecrets: { namespaces: [ns] } },
    });
    let r: RunResult;
    try {
      r = await runCheck(platform, tlsWs, 'k8s.tls-expiry', { namespaces: [ns] });
    } finally {
      await tlsRunner.stop();
    }
    expect(byName(r, 'soon')[0]).toMatchObject({ severity: 2, title: 'TLS certificate expires soon' });
    expect(byName(r, 'soon')[0]?.actual).toMatch(/in [23] days\); subject CN=soon\.example; issuer CN=soon\.example$/);
    expect(byName(r, 'later')[0]).toMatchObject({ severity: 3 });
    expect(byName(r, 'fine')).toEqual([]);
    const text = JSON.stringify(r);
    expect(text).not.toContain(canary);
    for (const cert of [soon, later, fine]) {
      const body = cert.crt
        .toString('utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('-----'))
        .join('');
      for (let i = 0; i + 24 <= body.length; i += 24) expect(text).not.toContain(body.slice(i, i + 24));
      expect(text).not.toContain(cert.key.toString('base64').slice(40, 80));
    }
  });

  it('k8s.hpa-limits reports autoscalers pinned at their maximum', async () => {
    const ns = await fx.namespace(admin, 'hpa');
    await fx.hpa(admin, ns, 'pinned', 5, 5);
    await fx.hpa(admin, ns, 'roomy', 2, 5);
    const r = await check('k8s.hpa-limits', { namespaces: [ns] });
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 3,
        resource: { kind: 'HorizontalPodAutoscaler', namespace: ns, name: 'pinned' },
        actual: '5 of at most 5 replicas (desired 5) for Deployment/pinned',
      }),
    ]);
  });

  it('k8s.quota-usage reports quotas near or at their limit', async () => {
    const ns = await fx.namespace(admin, 'quota');
    await fx.quota(
      admin,
      ns,
      'compute',
      { pods: '10', 'requests.cpu': '1', 'requests.memory': '4Gi' },
      { pods: '10', 'requests.cpu': '950m', 'requests.memory': '1Gi' },
    );
    const r = await check('k8s.quota-usage', { namespaces: [ns] });
    expect(r.issues).toEqual([
      expect.objectContaining({ severity: 2, title: 'Quota for pods is exhausted', actual: '10 of 10 used (100%)' }),
      expect.objectContaining({ severity: 3, title: 'Quota for requests.cpu is nearly used up', actual: '950m of 1 used (95%)' }),
    ]);
  });

  it('k8s.namespace-health scores a broken namespace below a healthy one, and a healthy namespace is ok', async () => {
    const broken = await fx.namespace(admin, 'broken');
    await fx.deployment(admin, broken, 'api', 2, 0);
    await fx.pod(admin, broken, 'api-1', {
      phase: 'Running',
      containerStatuses: [fx.containerStatus({ restartCount: 9, state: { waiting: { reason: 'CrashLoopBackOff' } } })],
    });
    await fx.service(admin, broken, 'api', 0);
    const healthy = await fx.namespace(admin, 'healthy');
    await fx.deployment(admin, healthy, 'api', 2, 2);
    await fx.service(admin, healthy, 'api', 2);
    const bad = await check('k8s.namespace-health', { namespace: broken });
    const good = await check('k8s.namespace-health', { namespace: healthy });
    expect(bad.status).toBe('issues');
    expect(bad.issues.map((i) => `${i.severity} ${i.resource.kind}/${i.resource.name}`).sort()).toEqual([
      '1 Deployment/api',
      '2 Pod/api-1',
      '2 Service/api',
    ]);
    expect(bad.score).toBeCloseTo(0.2, 5);
    expect(good).toMatchObject({ status: 'ok', score: 1, issues: [], summary: `namespace ${healthy} is healthy` });
  });

  it("answers an error result, not a crash, when the Runner's identity is forbidden", async () => {
    // A ServiceAccount without any role binding: every list is forbidden.
    const ns = await fx.namespace(admin, 'nobody');
    await admin.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'nobody' } } });
    const token = await admin.core.createNamespacedServiceAccountToken({
      name: 'nobody',
      namespace: ns,
      body: { spec: { audiences: ['https://kubernetes.default.svc'] } },
    });
    const kubeconfig = JSON.parse(readFileSync(process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '', 'utf8')) as {
      users: { user: { token: string } }[];
    };
    kubeconfig.users[0]!.user.token = token.status?.token ?? '';
    const path = `${process.env['LOOKOUT_TEST_DIR'] ?? '/tmp'}/nobody-${ns}.kubeconfig`;
    writeFileSync(path, JSON.stringify(kubeconfig));
    const other = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
    const forbidden = await startRunner(platform, other, { kubeconfig: path, allowedChecks: CHECK_TYPES });
    try {
      expect(await runCheck(platform, other, 'k8s.pod-restarts', {})).toMatchObject({
        status: 'error',
        issues: [],
        summary: "cannot list pods: forbidden (403); the Runner's role does not allow it",
      });
    } finally {
      await forbidden.stop();
    }
  });
});

describe('Kubernetes access', () => {
  const context = (kube: ReturnType<typeof loadKubeClients>) => ({
    signal: new AbortController().signal,
    policy: loopbackPolicy([]).gate({ resolve: () => Promise.reject(new Error('no secrets')) }),
    tlsSecretNamespaces: [],
    heartbeat: () => undefined,
    kube,
  });

  it('pages through lists with limit and continue', async () => {
    const ns = await fx.namespace(admin, 'paging');
    for (let i = 0; i < 7; i++)
      await fx.pod(admin, ns, `p${i}`, { phase: 'Running', containerStatuses: [fx.containerStatus({ restartCount: 10 })] });
    const kube = loadKubeClients({ kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '', pageSize: 3 })!;
    const pages: number[] = [];
    const items = await listAll(
      'list pods',
      async (cont) => {
        const page = await kube.core.listNamespacedPod({ namespace: ns, limit: kube.pageSize, ...(cont ? { _continue: cont } : {}) });
        pages.push(page.items.length);
        return page;
      },
      { signal: new AbortController().signal, timeoutMs: 5_000 },
    );
    expect(items).toHaveLength(7);
    expect(pages).toEqual([3, 3, 1]);
    const r = await podRestarts.run(PodRestartsParams.parse({ namespaces: [ns] }), context(kube));
    expect(r.issues).toHaveLength(7);
  });

  it('lists the pods of a namespace once, page by page, for the three pod checks of namespace-health', async () => {
    const ns = await fx.namespace(admin, 'once');
    for (let i = 0; i < 5; i++)
      await fx.pod(admin, ns, `p${i}`, {
        phase: 'Running',
        containerStatuses: [fx.containerStatus({ restartCount: 10, state: { waiting: { reason: 'ImagePullBackOff' } } })],
      });
    const kube = loadKubeClients({ kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '', pageSize: 2 })!;
    // Counts the real API calls (the client is the real one, only observed).
    const list = kube.core.listNamespacedPod.bind(kube.core);
    const podPages: number[] = [];
    kube.core.listNamespacedPod = async (q) => {
      const page = await list(q);
      podPages.push(page.items.length);
      return page;
    };
    const signal = new AbortController().signal;
    try {
      const r = await namespaceHealth.run(NamespaceHealthParams.parse({ namespace: ns }), { ...context(kube), signal });
      expect(podPages).toEqual([2, 2, 1]);
      expect(r.metrics).toMatchObject({ 'pod_restarts.issues': 5, 'image_pull.issues': 5, 'pod_status.issues': 0, 'checks.errors': 0 });
      // No call leaves a listener (and with it its page) on the run's signal.
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    } finally {
      await kube.close();
    }
  });

  it('loads lazy clients once, on the first call, and then runs checks with them', async () => {
    const ns = await fx.namespace(admin, 'lazy');
    await fx.pod(admin, ns, 'p0', { phase: 'Running', containerStatuses: [fx.containerStatus({ restartCount: 10 })] });
    let loads = 0;
    const kube = lazyKubeClients(
      async () => {
        loads++;
        return loadKubeClients({ kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '' })!;
      },
      { timeoutMs: 15_000, pageSize: 500 },
    );
    try {
      expect(loads).toBe(0);
      const first = await podRestarts.run(PodRestartsParams.parse({ namespaces: [ns] }), context(kube));
      const second = await podRestarts.run(PodRestartsParams.parse({ namespaces: [ns] }), context(kube));
      expect(first.issues).toHaveLength(1);
      expect(second.issues).toHaveLength(1);
      expect(loads).toBe(1);
    } finally {
      await kube.close();
    }
  });

  it('reports an error result when the API server does not answer in time', async () => {
    // A TCP server that accepts connections and never answers.
    const sockets: Socket[] = [];
    const hang = createServer((s) => void sockets.push(s));
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    const kubeconfig = JSON.parse(readFileSync(process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '', 'utf8')) as {
      clusters: { cluster: { server: string } }[];
    };
    kubeconfig.clusters[0]!.cluster.server = `https://127.0.0.1:${(hang.address() as AddressInfo).port}`;
    const file = `${process.env['LOOKOUT_TEST_DIR'] ?? '/tmp'}/hang-${randomBytes(4).toString('hex')}.kubeconfig`;
    writeFileSync(file, JSON.stringify(kubeconfig));
    try {
      const kube = loadKubeClients({ kubeconfig: file, timeoutMs: 500 })!;
      const r = await podRestarts.run(PodRestartsParams.parse({}), context(kube));
      expect(r).toMatchObject({ status: 'error', issues: [], summary: 'cannot list pods: the Kubernetes API did not answer in time' });
    } finally {
      sockets.forEach((s) => s.destroy());
      hang.close();
    }
  });

  it('reports an error result when an API is not served (404)', async () => {
    const kube = loadKubeClients({ kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '' })!;
    const r = await podRestarts.run(PodRestartsParams.parse({ namespaces: ['does-not-exist'] }), context(kube));
    // Listing in a namespace that does not exist is an empty list, not an error…
    expect(r.status).toBe('ok');
    // …while a resource the server does not serve is a 404, reported clearly.
    await expect(
      listAll('list widgets', () => kube.core.readNamespacedPod({ name: 'nope', namespace: 'default' }).then(() => ({ items: [] })), {
        signal: new AbortController().signal,
        timeoutMs: 5_000,
      }),
    ).rejects.toThrow('cannot list widgets: not found (404); the API or resource does not exist in this cluster');
  });
});
