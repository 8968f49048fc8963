/**
 * The catalog's rollout, cert-manager and GitOps checks against a real kube-apiserver: each test
 * writes a broken or a healthy state (no controller runs, so the tests write status as the
 * controllers would), runs the check through the API, Temporal and a real Runner that uses the
 * restricted ServiceAccount bound to the chart's ClusterRole, and asserts issues, severities, next
 * steps and metrics. The CRDs (test/fixtures/crds) are installed part way through the file: the tests
 * before see a cluster without cert-manager, Argo CD or Flux. Jest runs a file's tests in order.
 */
import { randomBytes } from 'node:crypto';
import { CHECK_TYPES, type CheckType } from '../common/checks';
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

/** Runs a check on a Runner of its own workspace, started with `options`, and stops it. */
async function checkOnOtherRunner(
  options: Parameters<typeof startRunner>[2],
  type: CheckType,
  params: Record<string, unknown>,
): Promise<RunResult> {
  const other = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
  const otherRunner = await startRunner(platform, other, options);
  try {
    return await runCheck(platform, other, type, params);
  } finally {
    await otherRunner.stop();
  }
}

const byName = (r: RunResult, name: string) => r.issues.filter((i) => i.resource.name === name);
const iso = (msFromNow: number) => new Date(Date.now() + msFromNow).toISOString();
const DAY = 86_400_000;
const canary = () => `cnry${randomBytes(8).toString('hex')}`;

describe('k8s.rollout-stuck', () => {
  const progressing = (status: string, reason: string, message: string) => ({
    type: 'Progressing',
    status,
    reason,
    message,
    lastUpdateTime: new Date(),
    lastTransitionTime: new Date(),
  });

  it('reports a Deployment past its progress deadline, StatefulSet and DaemonSet updates that stopped, and paused or OnDelete updates as informational', async () => {
    const ns = await fx.namespace(admin, 'rollout');
    const secret = canary();
    await fx.deploymentRollout(
      admin,
      ns,
      'deadline',
      { replicas: 3, progressDeadlineSeconds: 300 },
      {
        replicas: 4,
        updatedReplicas: 1,
        availableReplicas: 2,
        readyReplicas: 2,
        observedGeneration: 1,
        conditions: [progressing('False', 'ProgressDeadlineExceeded', `ReplicaSet "deadline-7c9f" has timed out progressing. ${secret}`)],
      },
    );
    await fx.deploymentRollout(
      admin,
      ns,
      'down',
      { replicas: 2 },
      {
        replicas: 2,
        updatedReplicas: 2,
        observedGeneration: 1,
        conditions: [progressing('False', 'ProgressDeadlineExceeded', 'ReplicaSet "down-5d8b" has timed out progressing.')],
      },
    );
    await fx.deploymentRollout(
      admin,
      ns,
      'paused',
      { replicas: 3, paused: true },
      { replicas: 3, updatedReplicas: 1, availableReplicas: 3, readyReplicas: 3, observedGeneration: 1 },
    );
    await fx.deploymentRollout(
      admin,
      ns,
      'rolled',
      { replicas: 3 },
      {
        replicas: 3,
        updatedReplicas: 3,
        availableReplicas: 3,
        readyReplicas: 3,
        observedGeneration: 1,
        conditions: [progressing('True', 'NewReplicaSetAvailable', 'ReplicaSet "rolled-6f7d" has successfully progressed.')],
      },
    );
    // The pod on the new revision never became ready: the controller waits for it, for ever.
    await fx.statefulSetRollout(
      admin,
      ns,
      'db',
      { replicas: 3 },
      {
        currentRevision: 'db-6d9c',
        updateRevision: 'db-7f4b',
        updatedReplicas: 1,
        currentReplicas: 2,
        readyReplicas: 2,
        availableReplicas: 2,
        observedGeneration: 1,
      },
    );
    // A staged rollout that reached its partition is done.
    await fx.statefulSetRollout(
      admin,
      ns,
      'staged',
      { replicas: 3, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } },
      {
        currentRevision: 'staged-1',
        updateRevision: 'staged-2',
        updatedReplicas: 1,
        currentReplicas: 2,
        readyReplicas: 3,
        availableReplicas: 3,
        observedGeneration: 1,
      },
    );
    await fx.statefulSetRollout(
      admin,
      ns,
      'steady',
      { replicas: 2 },
      {
        currentRevision: 'steady-1',
        updateRevision: 'steady-1',
        updatedReplicas: 2,
        readyReplicas: 2,
        availableReplicas: 2,
        observedGeneration: 1,
      },
    );
    // No controller ever wrote observedGeneration: the latest spec was never acted on.
    await fx.statefulSetRollout(admin, ns, 'unobserved', { replicas: 1 }, { readyReplicas: 1, availableReplicas: 1 });
    await fx.daemonSetRollout(
      admin,
      ns,
      'agent',
      {},
      {
        desiredNumberScheduled: 4,
        currentNumberScheduled: 4,
        updatedNumberScheduled: 2,
        numberReady: 3,
        numberAvailable: 3,
        numberUnavailable: 1,
        observedGeneration: 1,
      },
    );
    await fx.daemonSetRollout(
      admin,
      ns,
      'manual',
      { updateStrategy: { type: 'OnDelete' } },
      {
        desiredNumberScheduled: 4,
        currentNumberScheduled: 4,
        updatedNumberScheduled: 1,
        numberReady: 4,
        numberAvailable: 4,
        observedGeneration: 1,
      },
    );
    await fx.daemonSetRollout(
      admin,
      ns,
      'agent-ok',
      {},
      {
        desiredNumberScheduled: 4,
        currentNumberScheduled: 4,
        updatedNumberScheduled: 4,
        numberReady: 4,
        numberAvailable: 4,
        observedGeneration: 1,
      },
    );

    const r = await check('k8s.rollout-stuck', { namespaces: [ns], progressMinutes: 0 });
    expect(r.status).toBe('issues');
    // The controller's message is raw data, denied by default: only the reason leaves the Runner.
    expect(JSON.stringify(r)).not.toContain(secret);
    expect(byName(r, 'deadline')).toEqual([
      expect.objectContaining({
        severity: 2,
        title: 'Deployment rollout exceeded its progress deadline',
        resource: { kind: 'Deployment', namespace: ns, name: 'deadline' },
        expected: '3 updated and available replicas within 300 seconds',
        actual: 'ProgressDeadlineExceeded: 1 of 3 replicas updated, 2 available',
      }),
    ]);
    expect(byName(r, 'deadline')[0]?.details).toBeUndefined();
    expect(byName(r, 'deadline')[0]?.nextSteps).toEqual([
      `kubectl rollout status deployment/deadline -n ${ns}`,
      `kubectl rollout history deployment/deadline -n ${ns}`,
      `kubectl get pods -n ${ns} -l app=deadline and look at the pods of the new revision that are not ready`,
      `kubectl rollout undo deployment/deadline -n ${ns} if the new revision is at fault`,
      `kubectl describe deployment deadline -n ${ns}`,
    ]);
    expect(byName(r, 'down')[0]).toMatchObject({ severity: 1, actual: 'ProgressDeadlineExceeded: 2 of 2 replicas updated, 0 available' });
    expect(byName(r, 'paused')[0]).toMatchObject({
      severity: 4,
      title: 'Deployment rollout is paused',
      actual: 'paused with 1 of 3 replicas updated',
    });
    expect(byName(r, 'paused')[0]?.nextSteps[0]).toBe(`kubectl rollout resume deployment/paused -n ${ns} if the pause is over`);
    expect(byName(r, 'db')[0]).toMatchObject({
      severity: 2,
      title: 'StatefulSet update has stopped',
      resource: { kind: 'StatefulSet', namespace: ns, name: 'db' },
      expected: '3 replicas on the update revision',
      actual: expect.stringMatching(
        /^1 of 3 replicas updated, 2 ready \(the update waits for a pod that is not ready\); no change for \d+ minutes$/,
      ),
    });
    expect(byName(r, 'db')[0]?.nextSteps).toContain(`kubectl rollout undo statefulset/db -n ${ns} if the new revision is at fault`);
    expect(byName(r, 'unobserved')[0]).toMatchObject({
      severity: 2,
      title: 'StatefulSet controller has not acted on its latest spec',
      actual: expect.stringMatching(/^observedGeneration 0 of generation 1; no change for \d+ minutes$/),
    });
    expect(byName(r, 'agent')[0]).toMatchObject({
      severity: 2,
      title: 'DaemonSet update has stopped',
      expected: '4 pods on the latest revision',
      actual: expect.stringMatching(/^2 of 4 pods updated, 1 unavailable; no change for \d+ minutes$/),
    });
    expect(byName(r, 'agent')[0]?.nextSteps[0]).toBe(`kubectl rollout status daemonset/agent -n ${ns}`);
    expect(byName(r, 'manual')[0]).toMatchObject({ severity: 4, title: 'DaemonSet update waits for its pods to be deleted' });
    for (const healthy of ['rolled', 'staged', 'steady', 'agent-ok']) expect(byName(r, healthy)).toEqual([]);
    expect(r.issues).toHaveLength(7);
    expect(r.issues.map((i) => i.severity)).toEqual([1, 2, 2, 2, 2, 4, 4]);
    expect(r.metrics).toMatchObject({ 'deployments.checked': 4, 'statefulsets.checked': 4, 'daemonsets.checked': 3, 'issues.total': 7 });
  });

  it('does not report StatefulSet and DaemonSet updates that changed within progressMinutes', async () => {
    const ns = await fx.namespace(admin, 'rolling');
    // The same states as above, written just now: a rollout in the middle of its work looks like this.
    await fx.statefulSetRollout(
      admin,
      ns,
      'db',
      { replicas: 3 },
      {
        currentRevision: 'db-1',
        updateRevision: 'db-2',
        updatedReplicas: 1,
        readyReplicas: 2,
        availableReplicas: 2,
        observedGeneration: 1,
      },
    );
    await fx.daemonSetRollout(
      admin,
      ns,
      'agent',
      {},
      { desiredNumberScheduled: 4, updatedNumberScheduled: 2, numberAvailable: 3, numberUnavailable: 1, observedGeneration: 1 },
    );
    const r = await check('k8s.rollout-stuck', { namespaces: [ns] });
    expect(r).toMatchObject({ status: 'ok', score: 1, issues: [], summary: '2 workloads, no rollout stopped' });
  });

  it('restarts the progress clock when a writer changes a status value it already owns, as a controller does at each step', async () => {
    // The check's premise: the API server moves the writer's managedFields time on every value change.
    const ns = await fx.namespace(admin, 'clock');
    const status = { currentRevision: 'db-1', updateRevision: 'db-2', readyReplicas: 2, availableReplicas: 2, observedGeneration: 1 };
    await fx.statefulSetRollout(admin, ns, 'db', { replicas: 3 }, { ...status, updatedReplicas: 1 });
    const statusTime = async () => {
      const s = await admin.apps.readNamespacedStatefulSet({ name: 'db', namespace: ns });
      const entry = s.metadata?.managedFields?.find((f) => f.subresource === 'status');
      return { s, time: entry?.time?.getTime() ?? Number.NaN };
    };
    const before = await statusTime();
    expect(before.time).toBeGreaterThan(0);
    // managedFields times have a resolution of one second.
    await new Promise((r) => setTimeout(r, 1_100));
    await admin.apps.replaceNamespacedStatefulSetStatus({
      name: 'db',
      namespace: ns,
      body: { ...before.s, status: { replicas: 3, ...status, updatedReplicas: 2 } },
    });
    expect((await statusTime()).time).toBeGreaterThan(before.time);
  });
});

describe('k8s.cert-manager and k8s.gitops on a cluster without their CRDs', () => {
  it('k8s.cert-manager answers ok, saying cert-manager is not installed', async () => {
    const r = await check('k8s.cert-manager', {});
    expect(r).toMatchObject({
      status: 'ok',
      score: 1,
      issues: [],
      summary: expect.stringMatching(/^cert-manager is not installed: this cluster does not serve certificates\.cert-manager\.io\/v1/),
      metrics: { 'certificates.checked': 0, 'certmanager.installed': 0 },
    });
  });

  it('k8s.gitops answers ok with every kind skipped and counted as not installed', async () => {
    const r = await check('k8s.gitops', {});
    expect(r).toMatchObject({
      status: 'ok',
      score: 1,
      issues: [],
      summary: expect.stringMatching(/^neither Argo CD nor Flux is installed/),
      metrics: {
        'argocd.applications.installed': 0,
        'argocd.applications.checked': 0,
        'flux.kustomizations.installed': 0,
        'flux.kustomizations.checked': 0,
        'flux.helmreleases.installed': 0,
        'flux.helmreleases.checked': 0,
      },
    });
  });
});

describe('with the cert-manager, Argo CD and Flux Kustomization CRDs installed', () => {
  beforeAll(async () => {
    await fx.installCrds(admin, [fx.CRDS.certificate, fx.CRDS.application, fx.CRDS.kustomization]);
  });

  const ready = (status: string, reason: string, message: string) => ({
    type: 'Ready',
    status,
    reason,
    message,
    lastTransitionTime: iso(0),
  });
  const certSpec = (name: string) => ({
    secretName: `${name}-tls`,
    dnsNames: [`${name}.example.com`],
    issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer', group: 'cert-manager.io' },
  });

  it('k8s.cert-manager reports Certificates not ready, expired and expiring, from their status alone', async () => {
    const ns = await fx.namespace(admin, 'certs');
    const secret = canary();
    const cert = (name: string, status: Record<string, unknown>) =>
      fx.customObject(admin, fx.CRDS.certificate, ns, name, certSpec(name), status);
    await cert('failing', {
      conditions: [
        ready('False', 'DoesNotExist', 'Issuing certificate as Secret does not exist'),
        {
          type: 'Issuing',
          status: 'False',
          reason: 'Failed',
          message: `The certificate request has failed: ${secret}`,
          lastTransitionTime: iso(0),
        },
      ],
      failedIssuanceAttempts: 3,
    });
    await cert('expired', {
      conditions: [ready('False', 'Expired', `Certificate expired on ${secret}`)],
      notAfter: iso(-2.5 * DAY),
      renewalTime: iso(-32 * DAY),
    });
    await cert('soon', { conditions: [ready('True', 'Ready', 'Certificate is up to date and has not expired')], notAfter: iso(3.5 * DAY) });
    await cert('later', {
      conditions: [ready('True', 'Ready', 'Certificate is up to date and has not expired')],
      notAfter: iso(20.5 * DAY),
    });
    await cert('issuing', {
      conditions: [
        ready('False', 'DoesNotExist', 'Issuing certificate as Secret does not exist'),
        { type: 'Issuing', status: 'True', reason: 'DoesNotExist', message: 'Issuing certificate', lastTransitionTime: iso(0) },
      ],
    });
    await cert('fine', { conditions: [ready('True', 'Ready', 'Certificate is up to date and has not expired')], notAfter: iso(90 * DAY) });

    const r = await check('k8s.cert-manager', { namespaces: [ns] });
    expect(r.status).toBe('issues');
    expect(JSON.stringify(r)).not.toContain(secret);
    expect(byName(r, 'expired')[0]).toMatchObject({
      severity: 1,
      title: 'Certificate has expired',
      resource: { kind: 'Certificate', namespace: ns, name: 'expired' },
      expected: 'Ready=True and valid for at least 30 more days',
      actual: expect.stringMatching(/^Ready=False \(Expired\); expired \S+Z \(3 days ago\); renewal was due \S+Z$/),
    });
    expect(byName(r, 'failing')[0]).toMatchObject({
      severity: 2,
      title: 'Certificate is not ready',
      actual: 'Ready=False (DoesNotExist); 3 failed issuance attempts; no certificate issued yet',
    });
    expect(byName(r, 'failing')[0]?.nextSteps).toEqual([
      `kubectl describe certificate.cert-manager.io failing -n ${ns}`,
      `cmctl status certificate failing -n ${ns} (or kubectl get certificaterequests,orders,challenges -n ${ns})`,
      'kubectl describe clusterissuer letsencrypt',
      `cmctl renew failing -n ${ns} once the cause is fixed`,
    ]);
    expect(byName(r, 'soon')[0]).toMatchObject({
      severity: 2,
      title: 'Certificate expires soon',
      actual: expect.stringMatching(/^expires \S+Z \(in 3 days\)$/),
    });
    expect(byName(r, 'later')[0]).toMatchObject({ severity: 3, title: 'Certificate expires soon' });
    expect(byName(r, 'issuing')[0]).toMatchObject({
      severity: 3,
      title: 'Certificate is not ready',
      actual: 'Ready=False (DoesNotExist); issuance in progress; no certificate issued yet',
    });
    expect(byName(r, 'fine')).toEqual([]);
    expect(r.issues.map((i) => i.resource.name)).toEqual(['expired', 'failing', 'soon', 'issuing', 'later']);
    expect(r.metrics).toMatchObject({ 'certificates.checked': 6, 'certmanager.installed': 1, 'issues.total': 5 });
  });

  it('k8s.cert-manager is ok when every Certificate is Ready and valid past warnDays', async () => {
    const ns = await fx.namespace(admin, 'certs-ok');
    for (const name of ['api', 'www'])
      await fx.customObject(admin, fx.CRDS.certificate, ns, name, certSpec(name), {
        conditions: [ready('True', 'Ready', 'Certificate is up to date and has not expired')],
        notAfter: iso(60 * DAY),
      });
    const r = await check('k8s.cert-manager', { namespaces: [ns], warnDays: 45 });
    expect(r).toMatchObject({
      status: 'ok',
      score: 1,
      issues: [],
      summary: '2 cert-manager Certificates ready and valid for more than 45 days',
      metrics: { 'certificates.checked': 2, 'certmanager.installed': 1 },
    });
  });

  it("k8s.cert-manager answers an error, not 'not installed', when the Runner's role lacks the certificates rule", async () => {
    const ns = await fx.namespace(admin, 'certs-forbidden');
    const kubeconfig = await fx.runnerKubeconfigWithout(admin, (rule) => rule.apiGroups.includes('cert-manager.io'));
    const r = await checkOnOtherRunner({ kubeconfig, allowedChecks: CHECK_TYPES }, 'k8s.cert-manager', { namespaces: [ns] });
    expect(r).toMatchObject({
      status: 'error',
      issues: [],
      summary: `cannot list certificates.cert-manager.io/v1 in namespace ${ns}: forbidden (403); the Runner's role does not allow it`,
      metrics: { 'kube.error_status': 403 },
    });
  });

  it('k8s.gitops reads Argo CD Applications and Flux Kustomizations, and skips HelmReleases, whose CRD is absent', async () => {
    const ns = await fx.namespace(admin, 'gitops');
    const secret = canary();
    const app = (name: string, status: Record<string, unknown>) =>
      fx.customObject(
        admin,
        fx.CRDS.application,
        ns,
        name,
        { project: 'default', source: { repoURL: 'https://git.example/deploy.git', path: name }, destination: { namespace: name } },
        status,
      );
    await app('degraded', {
      sync: { status: 'Synced', revision: 'a1b2c3' },
      health: { status: 'Degraded', message: `Deployment "api" exceeded its progress deadline ${secret}` },
    });
    await app('drifted', { sync: { status: 'OutOfSync' }, health: { status: 'Healthy' } });
    await app('sync-failed', {
      sync: { status: 'OutOfSync' },
      health: { status: 'Healthy' },
      operationState: { phase: 'Failed', message: 'one or more objects failed to apply' },
    });
    await app('broken-spec', {
      sync: { status: 'Unknown' },
      health: { status: 'Unknown' },
      conditions: [{ type: 'ComparisonError', message: 'rpc error: repository not accessible', lastTransitionTime: iso(0) }],
    });
    await app('healthy', { sync: { status: 'Synced' }, health: { status: 'Healthy' } });
    await app('rolling', { sync: { status: 'Synced' }, health: { status: 'Progressing' } });
    const ks = (name: string, spec: Record<string, unknown>, status?: Record<string, unknown>) =>
      fx.customObject(
        admin,
        fx.CRDS.kustomization,
        ns,
        name,
        { interval: '10m', path: `./${name}`, prune: true, sourceRef: { kind: 'GitRepository', name: 'flux-system' }, ...spec },
        status,
      );
    await ks('failing', {}, { conditions: [ready('False', 'BuildFailed', `kustomize build failed: ${secret}`)] });
    await ks('paused', { suspend: true }, { conditions: [ready('False', 'BuildFailed', 'kustomize build failed')] });
    await ks(
      'slow',
      {},
      { conditions: [{ ...ready('Unknown', 'Progressing', 'Reconciliation in progress'), lastTransitionTime: iso(-30 * 60_000) }] },
    );
    // Reconciling, or not reconciled yet, for less than reconcilingMinutes (10): not reported.
    await ks('reconciling', {}, { conditions: [ready('Unknown', 'Progressing', 'Reconciliation in progress')] });
    await ks('new', {});
    await ks('applied', {}, { conditions: [ready('True', 'ReconciliationSucceeded', 'Applied revision: main@sha1:a1b2c3')] });

    const r = await check('k8s.gitops', { namespaces: [ns] });
    expect(r.status).toBe('issues');
    expect(JSON.stringify(r)).not.toContain(secret);
    expect(byName(r, 'degraded')[0]).toMatchObject({
      severity: 2,
      title: 'Application is degraded',
      resource: { kind: 'Application', namespace: ns, name: 'degraded' },
      expected: 'health Healthy, sync Synced',
      actual: 'health Degraded, sync Synced',
    });
    expect(byName(r, 'degraded')[0]?.nextSteps).toEqual([
      `argocd app get ${ns}/degraded --show-operation`,
      `kubectl describe application.argoproj.io degraded -n ${ns}`,
    ]);
    expect(byName(r, 'drifted')[0]).toMatchObject({
      severity: 3,
      title: 'Application is out of sync',
      actual: 'health Healthy, sync OutOfSync',
    });
    expect(byName(r, 'drifted')[0]?.nextSteps).toContain(`argocd app diff ${ns}/drifted`);
    expect(byName(r, 'sync-failed')[0]).toMatchObject({
      severity: 2,
      title: 'Application sync failed',
      actual: 'health Healthy, sync OutOfSync, last sync Failed',
    });
    expect(byName(r, 'broken-spec')[0]).toMatchObject({
      severity: 2,
      title: 'Argo CD cannot reconcile the Application',
      actual: 'health Unknown, sync Unknown, ComparisonError',
    });
    expect(byName(r, 'failing')[0]).toMatchObject({
      severity: 2,
      title: 'Kustomization is not ready',
      resource: { kind: 'Kustomization', namespace: ns, name: 'failing' },
      expected: 'Ready=True',
      actual: 'Ready=False (BuildFailed)',
    });
    expect(byName(r, 'failing')[0]?.nextSteps).toEqual([
      `flux get kustomizations failing -n ${ns}`,
      `kubectl describe kustomization.kustomize.toolkit.fluxcd.io failing -n ${ns}`,
      `flux logs --kind=Kustomization --name=failing -n ${ns}`,
      `flux reconcile kustomization failing -n ${ns} --with-source once the cause is fixed`,
    ]);
    // Suspended: its stale Ready=False is not judged.
    expect(byName(r, 'paused')).toEqual([
      expect.objectContaining({
        severity: 4,
        title: 'Kustomization is suspended',
        actual: 'spec.suspend=true: Flux does not reconcile it',
      }),
    ]);
    expect(byName(r, 'slow')[0]).toMatchObject({
      severity: 3,
      title: 'Kustomization has been reconciling for long',
      actual: expect.stringMatching(/^Ready=Unknown \(Progressing\) for 3\d minutes$/),
    });
    for (const fine of ['healthy', 'rolling', 'reconciling', 'new', 'applied']) expect(byName(r, fine)).toEqual([]);
    expect(r.issues).toHaveLength(7);
    expect(r.metrics).toMatchObject({
      'argocd.applications.installed': 1,
      'argocd.applications.checked': 6,
      'flux.kustomizations.installed': 1,
      'flux.kustomizations.checked': 6,
      'flux.helmreleases.installed': 0,
      'flux.helmreleases.checked': 0,
    });
    expect(r.summary).toBe('7 GitOps objects out of sync, not healthy, not ready or suspended; not installed: Flux HelmReleases');
  });

  describe('and the Flux HelmRelease CRD', () => {
    beforeAll(async () => {
      await fx.installCrds(admin, [fx.CRDS.helmRelease]);
    });

    const hr = (ns: string, name: string, spec: Record<string, unknown>, status?: Record<string, unknown>) =>
      fx.customObject(
        admin,
        fx.CRDS.helmRelease,
        ns,
        name,
        { interval: '10m', chart: { spec: { chart: name, sourceRef: { kind: 'HelmRepository', name: 'charts' } } }, ...spec },
        status,
      );

    it('k8s.gitops reports HelmReleases not ready, stalled, never reconciled or suspended', async () => {
      const ns = await fx.namespace(admin, 'helm');
      await hr(
        ns,
        'upgrade-failed',
        {},
        {
          conditions: [
            ready('False', 'UpgradeFailed', 'Helm upgrade failed for release api: context deadline exceeded'),
            { type: 'Released', status: 'False', reason: 'UpgradeFailed', message: 'Helm upgrade failed', lastTransitionTime: iso(0) },
          ],
          failures: 2,
          upgradeFailures: 2,
        },
      );
      await hr(
        ns,
        'stalled',
        {},
        {
          conditions: [
            ready('False', 'InstallFailed', 'Helm install failed'),
            {
              type: 'Stalled',
              status: 'True',
              reason: 'RetriesExceeded',
              message: 'Failed to install after 3 attempt(s)',
              lastTransitionTime: iso(0),
            },
          ],
          installFailures: 3,
        },
      );
      await hr(ns, 'suspended', { suspend: true });
      await hr(ns, 'new', {});
      await hr(ns, 'installed', {}, { conditions: [ready('True', 'UpgradeSucceeded', 'Helm upgrade succeeded')] });
      const r = await check('k8s.gitops', { namespaces: [ns], reconcilingMinutes: 0 });
      expect(byName(r, 'upgrade-failed')[0]).toMatchObject({
        severity: 2,
        title: 'HelmRelease is not ready',
        resource: { kind: 'HelmRelease', namespace: ns, name: 'upgrade-failed' },
        actual: 'Ready=False (UpgradeFailed); 2 failed upgrades',
      });
      expect(byName(r, 'upgrade-failed')[0]?.nextSteps[0]).toBe(`flux get helmreleases upgrade-failed -n ${ns}`);
      expect(byName(r, 'stalled')[0]).toMatchObject({
        severity: 2,
        title: 'HelmRelease has stalled',
        actual: 'Stalled (RetriesExceeded): Flux no longer retries; Ready=False (InstallFailed); 3 failed installs',
      });
      expect(byName(r, 'new')[0]).toMatchObject({
        severity: 3,
        title: 'HelmRelease has not been reconciled',
        actual: expect.stringMatching(/^no Ready condition \d+ minutes after it was created: is the Flux controller running\?$/),
      });
      expect(byName(r, 'suspended')[0]).toMatchObject({ severity: 4, title: 'HelmRelease is suspended' });
      expect(byName(r, 'suspended')[0]?.nextSteps).toEqual([`flux resume helmrelease suspended -n ${ns} if the suspension is over`]);
      expect(byName(r, 'installed')).toEqual([]);
      expect(r.issues.map((i) => i.severity)).toEqual([2, 2, 3, 4]);
      expect(r.metrics).toMatchObject({ 'flux.helmreleases.installed': 1, 'flux.helmreleases.checked': 5 });
    });

    it('k8s.gitops is ok when every Application is synced and healthy and every Flux object is ready', async () => {
      const ns = await fx.namespace(admin, 'gitops-ok');
      await fx.customObject(
        admin,
        fx.CRDS.application,
        ns,
        'web',
        { project: 'default' },
        { sync: { status: 'Synced' }, health: { status: 'Healthy' } },
      );
      await fx.customObject(
        admin,
        fx.CRDS.kustomization,
        ns,
        'apps',
        { interval: '10m' },
        {
          conditions: [ready('True', 'ReconciliationSucceeded', 'Applied revision: main@sha1:a1b2c3')],
        },
      );
      await hr(ns, 'db', {}, { conditions: [ready('True', 'InstallSucceeded', 'Helm install succeeded')] });
      const r = await check('k8s.gitops', { namespaces: [ns] });
      expect(r).toMatchObject({
        status: 'ok',
        score: 1,
        issues: [],
        summary: '1 Argo CD Applications, 1 Flux Kustomizations and 1 Flux HelmReleases, all synced, healthy and ready',
        metrics: { 'argocd.applications.checked': 1, 'flux.kustomizations.checked': 1, 'flux.helmreleases.checked': 1 },
      });
    });

    it('returns condition messages as raw details only where the Runner policy allows raw data for k8s.gitops', async () => {
      const ns = await fx.namespace(admin, 'gitops-raw');
      const secret = canary();
      await hr(ns, 'api', {}, { conditions: [ready('False', 'UpgradeFailed', `Helm upgrade failed: ${secret}`)] });
      const kubeconfig = process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '';
      const raw = await checkOnOtherRunner({ kubeconfig, allowedChecks: ['k8s.gitops'], rawLogs: 'allow' }, 'k8s.gitops', {
        namespaces: [ns],
      });
      expect(raw.issues).toEqual([
        expect.objectContaining({ actual: 'Ready=False (UpgradeFailed)', details: `Helm upgrade failed: ${secret}` }),
      ]);
      const denied = await check('k8s.gitops', { namespaces: [ns] });
      expect(denied.issues).toEqual([expect.objectContaining({ actual: 'Ready=False (UpgradeFailed)' })]);
      expect(JSON.stringify(denied)).not.toContain(secret);
    });
  });
});
