/**
 * Broken (and healthy) cluster states for the check tests, written through the real API server as
 * envtest does: objects are created, then their `status` is written through the status subresource,
 * since no controller or kubelet runs.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type {
  KubernetesObject,
  V1ContainerStatus,
  V1DaemonSetStatus,
  V1DaemonSetUpdateStrategy,
  V1DeploymentStatus,
  V1Pod,
  V1StatefulSetStatus,
  V1StatefulSetUpdateStrategy,
} from '@kubernetes/client-node';
import { loadKubeClients, type KubeClients } from '../../activities/runner/kube';
import { renderRunnerRbac } from '../../scripts/kube-cluster';

/** Clients with the test cluster's administrator identity (fixtures only; checks run as the Runner). */
export function adminClients(): KubeClients {
  const kube = loadKubeClients({ kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_ADMIN'] ?? '' });
  if (!kube) throw new Error('LOOKOUT_TEST_KUBECONFIG_ADMIN is not set');
  return kube;
}

export type Admin = ReturnType<typeof adminClients>;

/**
 * Applies, for real, the Roles the Runner chart renders from a policy's `secretBindings` and
 * `tlsSecrets` (the Runner has no other access to Secrets): the same template production uses.
 */
export async function grantPolicyRbac(policy: {
  secretBindings?: unknown[];
  tlsSecrets?: { namespaces: string[] };
  packs?: unknown[];
}): Promise<void> {
  const args = [
    ...(policy.secretBindings ? ['--set-json', `policy.secretBindings=${JSON.stringify(policy.secretBindings)}`] : []),
    ...(policy.tlsSecrets ? ['--set-json', `policy.tlsSecrets=${JSON.stringify(policy.tlsSecrets)}`] : []),
    ...(policy.packs ? ['--set-json', `policy.packs=${JSON.stringify(policy.packs)}`] : []),
  ];
  const { KubeConfig, KubernetesObjectApi } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(process.env['LOOKOUT_TEST_KUBECONFIG_ADMIN'] ?? '');
  const objects = KubernetesObjectApi.makeApiClient(kc);
  for (const manifest of renderRunnerRbac(args)) {
    const name = manifest.metadata?.name ?? '';
    if (name.endsWith('-secrets')) await objects.create(manifest);
    // The packs' ClusterRole is one per release: a later grant replaces the earlier one's rules.
    if (name.endsWith('-packs')) await objects.create(manifest).catch(async () => objects.replace(manifest));
  }
}

export async function namespace(admin: Admin, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await admin.core.createNamespace({ body: { metadata: { name } } });
  return name;
}

const labels = { app: 'web' };
const podSpec = (extra: Partial<V1Pod['spec']> = {}) => ({ containers: [{ name: 'app', image: 'registry.example/web:1.2.3' }], ...extra });

export function containerStatus(s: Partial<V1ContainerStatus>): V1ContainerStatus {
  return { name: 'app', image: 'registry.example/web:1.2.3', imageID: '', ready: false, restartCount: 0, ...s };
}

export async function pod(
  admin: Admin,
  ns: string,
  name: string,
  status: V1Pod['status'],
  spec: Partial<V1Pod['spec']> = {},
): Promise<void> {
  const created = await admin.core.createNamespacedPod({ namespace: ns, body: { metadata: { name, labels }, spec: podSpec(spec) } });
  await admin.core.replaceNamespacedPodStatus({ name, namespace: ns, body: { ...created, status } });
}

export async function deployment(admin: Admin, ns: string, name: string, replicas: number, available: number): Promise<void> {
  const created = await admin.apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name },
      spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: podSpec() } },
    },
  });
  await admin.apps.replaceNamespacedDeploymentStatus({
    name,
    namespace: ns,
    body: {
      ...created,
      status: { replicas, availableReplicas: available, readyReplicas: available, updatedReplicas: replicas, observedGeneration: 1 },
    },
  });
}

export async function statefulSet(admin: Admin, ns: string, name: string, replicas: number, available: number): Promise<void> {
  const created = await admin.apps.createNamespacedStatefulSet({
    namespace: ns,
    body: {
      metadata: { name },
      spec: {
        replicas,
        serviceName: name,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: podSpec() },
      },
    },
  });
  await admin.apps.replaceNamespacedStatefulSetStatus({
    name,
    namespace: ns,
    body: { ...created, status: { replicas, availableReplicas: available, readyReplicas: available } },
  });
}

export async function daemonSet(admin: Admin, ns: string, name: string, desired: number, available: number): Promise<void> {
  const created = await admin.apps.createNamespacedDaemonSet({
    namespace: ns,
    body: {
      metadata: { name },
      spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: podSpec() } },
    },
  });
  await admin.apps.replaceNamespacedDaemonSetStatus({
    name,
    namespace: ns,
    body: {
      ...created,
      status: {
        desiredNumberScheduled: desired,
        currentNumberScheduled: desired,
        numberAvailable: available,
        numberReady: available,
        numberMisscheduled: 0,
      },
    },
  });
}

export async function warningEvent(admin: Admin, ns: string, objectName: string, reason: string, count: number): Promise<void> {
  const now = new Date();
  await admin.core.createNamespacedEvent({
    namespace: ns,
    body: {
      metadata: { name: `${objectName}.${randomBytes(4).toString('hex')}` },
      involvedObject: { kind: 'Pod', name: objectName, namespace: ns, apiVersion: 'v1' },
      reason,
      message: `${reason} happened`,
      type: 'Warning',
      count,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: 'kubelet' },
    },
  });
}

export async function node(
  admin: Admin,
  name: string,
  testLabel: string,
  conditions: { type: string; status: string; reason?: string; message?: string }[],
  unschedulable = false,
): Promise<void> {
  const created = await admin.core.createNode({
    body: { metadata: { name, labels: { 'lookout-test': testLabel } }, spec: { unschedulable } },
  });
  const now = new Date();
  await admin.core.replaceNodeStatus({
    name,
    body: { ...created, status: { conditions: conditions.map((c) => ({ ...c, lastHeartbeatTime: now, lastTransitionTime: now })) } },
  });
}

export async function pvc(admin: Admin, ns: string, name: string, phase: 'Pending' | 'Bound' | 'Lost'): Promise<void> {
  const created = await admin.core.createNamespacedPersistentVolumeClaim({
    namespace: ns,
    body: {
      metadata: { name },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'fast' },
    },
  });
  await admin.core.replaceNamespacedPersistentVolumeClaimStatus({ name, namespace: ns, body: { ...created, status: { phase } } });
}

export async function failedJob(admin: Admin, ns: string, name: string): Promise<void> {
  const created = await admin.batch.createNamespacedJob({
    namespace: ns,
    body: { metadata: { name }, spec: { backoffLimit: 1, template: { spec: { ...podSpec(), restartPolicy: 'Never' } } } },
  });
  const now = new Date();
  const start = new Date(now.getTime() - 60_000);
  await admin.batch.replaceNamespacedJobStatus({
    name,
    namespace: ns,
    body: {
      ...created,
      status: {
        startTime: start,
        failed: 2,
        conditions: [
          {
            type: 'FailureTarget',
            status: 'True',
            reason: 'BackoffLimitExceeded',
            message: 'Job has reached the specified backoff limit',
            lastTransitionTime: now,
            lastProbeTime: now,
          },
          {
            type: 'Failed',
            status: 'True',
            reason: 'BackoffLimitExceeded',
            message: 'Job has reached the specified backoff limit',
            lastTransitionTime: now,
            lastProbeTime: now,
          },
        ],
      },
    },
  });
}

export async function cronJob(
  admin: Admin,
  ns: string,
  name: string,
  opts: { suspend?: boolean; lastSuccessHoursAgo?: number },
): Promise<void> {
  const created = await admin.batch.createNamespacedCronJob({
    namespace: ns,
    body: {
      metadata: { name },
      spec: {
        schedule: '0 * * * *',
        suspend: opts.suspend ?? false,
        jobTemplate: { spec: { template: { spec: { ...podSpec(), restartPolicy: 'OnFailure' } } } },
      },
    },
  });
  if (opts.lastSuccessHoursAgo !== undefined) {
    const t = new Date(Date.now() - opts.lastSuccessHoursAgo * 3_600_000);
    await admin.batch.replaceNamespacedCronJobStatus({
      name,
      namespace: ns,
      body: { ...created, status: { lastScheduleTime: t, lastSuccessfulTime: t } },
    });
  }
}

export async function service(admin: Admin, ns: string, name: string, readyEndpoints: number): Promise<void> {
  await admin.core.createNamespacedService({
    namespace: ns,
    body: { metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80 }] } },
  });
  if (readyEndpoints > 0) {
    await admin.discovery.createNamespacedEndpointSlice({
      namespace: ns,
      body: {
        metadata: { name: `${name}-abc`, labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4',
        endpoints: Array.from({ length: readyEndpoints }, (_, i) => ({ addresses: [`10.1.0.${i + 1}`], conditions: { ready: true } })),
        ports: [{ port: 80 }],
      },
    });
  }
}

/** A self-signed certificate valid for `days`, and its key with `keyCanary` in front of the PEM armor. */
export function certificate(days: number, cn: string, keyCanary: string): { crt: Buffer; key: Buffer } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-cert-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'k.pem',
      '-out',
      'c.pem',
      '-days',
      String(days),
      '-subj',
      `/CN=${cn}`,
    ],
    { cwd: dir, stdio: 'ignore' },
  );
  return {
    crt: readFileSync(path.join(dir, 'c.pem')),
    key: Buffer.concat([Buffer.from(`${keyCanary}\n`), readFileSync(path.join(dir, 'k.pem'))]),
  };
}

export async function tlsSecret(admin: Admin, ns: string, name: string, cert: { crt: Buffer; key: Buffer }): Promise<void> {
  await admin.core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': cert.crt.toString('base64'), 'tls.key': cert.key.toString('base64') },
    },
  });
}

export async function hpa(admin: Admin, ns: string, name: string, current: number, max: number): Promise<void> {
  const created = await admin.autoscaling.createNamespacedHorizontalPodAutoscaler({
    namespace: ns,
    body: {
      metadata: { name },
      spec: { minReplicas: 1, maxReplicas: max, scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name } },
    },
  });
  await admin.autoscaling.replaceNamespacedHorizontalPodAutoscalerStatus({
    name,
    namespace: ns,
    body: { ...created, status: { currentReplicas: current, desiredReplicas: current } },
  });
}

export async function quota(
  admin: Admin,
  ns: string,
  name: string,
  hard: Record<string, string>,
  used: Record<string, string>,
): Promise<void> {
  const created = await admin.core.createNamespacedResourceQuota({ namespace: ns, body: { metadata: { name }, spec: { hard } } });
  await admin.core.replaceNamespacedResourceQuotaStatus({ name, namespace: ns, body: { ...created, status: { hard, used } } });
}

/** Clients with the Runner's restricted identity (what checks run as). */
export function runnerClients(): KubeClients {
  const kube = loadKubeClients({ kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '' });
  if (!kube) throw new Error('LOOKOUT_TEST_KUBECONFIG_RUNNER is not set');
  return kube;
}

export async function configMap(admin: Admin, ns: string, name: string, data: Record<string, string>): Promise<void> {
  await admin.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data } });
}

/** Creates objects of any kind as the administrator, in order. */
export async function createObjects(objects: Record<string, unknown>[]): Promise<void> {
  const { KubeConfig, KubernetesObjectApi } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(process.env['LOOKOUT_TEST_KUBECONFIG_ADMIN'] ?? '');
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const o of objects) await api.create(o);
}

/** A Deployment manifest with or without resource requests and probes. */
export function deploymentObject(
  ns: string,
  name: string,
  o: { replicas: number; image: string; requests: boolean; probes: boolean },
): Record<string, unknown> {
  const probe = { httpGet: { path: '/healthz', port: 8080 } };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'app',
              image: o.image,
              ...(o.requests ? { resources: { requests: { cpu: '100m', memory: '64Mi' } } } : {}),
              ...(o.probes ? { readinessProbe: probe, livenessProbe: probe } : {}),
            },
          ],
        },
      },
    },
  };
}

/** A Pod manifest with extra volumes or envFrom on its one container. */
export function podObject(ns: string, name: string, o: { volumes?: unknown[]; envFrom?: unknown[] }): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'registry.example/web:1.2.3',
          ...(o.envFrom ? { envFrom: o.envFrom } : {}),
          ...(o.volumes ? { volumeMounts: o.volumes.map((v) => ({ name: (v as { name: string }).name, mountPath: '/cfg' })) } : {}),
        },
      ],
      ...(o.volumes ? { volumes: o.volumes } : {}),
    },
  };
}

/** An Ingress with one rule routing / to a Service port (by number or name). */
export function ingressObject(
  ns: string,
  name: string,
  service: string,
  port: { number: number } | { name: string },
): Record<string, unknown> {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: ns },
    spec: {
      rules: [
        {
          host: `${name}.example.com`,
          http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: service, port } } }] },
        },
      ],
    },
  };
}

/** A Deployment with the spec fields a rollout check reads and the status its controller would have written. */
export async function deploymentRollout(
  admin: Admin,
  ns: string,
  name: string,
  spec: { replicas: number; paused?: boolean; progressDeadlineSeconds?: number },
  status: V1DeploymentStatus,
): Promise<void> {
  const created = await admin.apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name },
      spec: { ...spec, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: podSpec() } },
    },
  });
  await admin.apps.replaceNamespacedDeploymentStatus({ name, namespace: ns, body: { ...created, status } });
}

/** A StatefulSet with an update strategy and the status its controller would have written. */
export async function statefulSetRollout(
  admin: Admin,
  ns: string,
  name: string,
  spec: { replicas: number; updateStrategy?: V1StatefulSetUpdateStrategy },
  status: Omit<V1StatefulSetStatus, 'replicas'> & { replicas?: number },
): Promise<void> {
  const created = await admin.apps.createNamespacedStatefulSet({
    namespace: ns,
    body: {
      metadata: { name },
      spec: {
        ...spec,
        serviceName: name,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: podSpec() },
      },
    },
  });
  await admin.apps.replaceNamespacedStatefulSetStatus({
    name,
    namespace: ns,
    body: { ...created, status: { replicas: spec.replicas, ...status } },
  });
}

/** A DaemonSet with an update strategy and the status its controller would have written. */
export async function daemonSetRollout(
  admin: Admin,
  ns: string,
  name: string,
  spec: { updateStrategy?: V1DaemonSetUpdateStrategy },
  status: Partial<V1DaemonSetStatus>,
): Promise<void> {
  const created = await admin.apps.createNamespacedDaemonSet({
    namespace: ns,
    body: {
      metadata: { name },
      spec: { ...spec, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: podSpec() } },
    },
  });
  await admin.apps.replaceNamespacedDaemonSetStatus({
    name,
    namespace: ns,
    body: {
      ...created,
      status: { currentNumberScheduled: 0, desiredNumberScheduled: 0, numberMisscheduled: 0, numberReady: 0, ...status },
    },
  });
}

/** A custom kind of the CRDs under test/fixtures/crds, and whether its status is a subresource (as upstream). */
export interface CrdFixture {
  file: string;
  group: string;
  version: string;
  plural: string;
  kind: string;
  statusSubresource: boolean;
}

export const CRDS = {
  certificate: {
    file: 'certificates.cert-manager.io.yaml',
    group: 'cert-manager.io',
    version: 'v1',
    plural: 'certificates',
    kind: 'Certificate',
    statusSubresource: true,
  },
  application: {
    file: 'applications.argoproj.io.yaml',
    group: 'argoproj.io',
    version: 'v1alpha1',
    plural: 'applications',
    kind: 'Application',
    statusSubresource: false,
  },
  kustomization: {
    file: 'kustomizations.kustomize.toolkit.fluxcd.io.yaml',
    group: 'kustomize.toolkit.fluxcd.io',
    version: 'v1',
    plural: 'kustomizations',
    kind: 'Kustomization',
    statusSubresource: true,
  },
  helmRelease: {
    file: 'helmreleases.helm.toolkit.fluxcd.io.yaml',
    group: 'helm.toolkit.fluxcd.io',
    version: 'v2',
    plural: 'helmreleases',
    kind: 'HelmRelease',
    statusSubresource: true,
  },
} as const satisfies Record<string, CrdFixture>;

async function adminObjects() {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(process.env['LOOKOUT_TEST_KUBECONFIG_ADMIN'] ?? '');
  return { k8s, api: k8s.KubernetesObjectApi.makeApiClient(kc) };
}

/**
 * Installs CRDs from test/fixtures/crds (cluster-wide: every later test of the run sees them) and
 * waits until each is Established and its kind is served: a list through the API answers.
 */
export async function installCrds(admin: Admin, crds: readonly CrdFixture[]): Promise<void> {
  const { k8s, api } = await adminObjects();
  for (const crd of crds) {
    const manifest = k8s.loadYaml<KubernetesObject>(readFileSync(path.join(__dirname, '..', 'fixtures', 'crds', crd.file), 'utf8'));
    await api.create(manifest);
  }
  const deadline = Date.now() + 30_000;
  for (const crd of crds) {
    for (;;) {
      const read = (await api.read({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: `${crd.plural}.${crd.group}` },
      })) as { status?: { conditions?: { type: string; status: string }[] } };
      const established = read.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      const served =
        established &&
        (await admin.custom.listCustomObjectForAllNamespaces({ group: crd.group, version: crd.version, resourcePlural: crd.plural }).then(
          () => true,
          () => false,
        ));
      if (served) break;
      if (Date.now() > deadline) throw new Error(`CRD ${crd.plural}.${crd.group} was not served within 30 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Creates a custom object as the administrator and gives it `status`: through the status
 * subresource where the CRD has one (as its controller would), else with the object.
 */
export async function customObject(
  admin: Admin,
  crd: CrdFixture,
  ns: string,
  name: string,
  spec: Record<string, unknown>,
  status?: Record<string, unknown>,
): Promise<void> {
  const { group, version, plural, kind } = crd;
  const body = { apiVersion: `${group}/${version}`, kind, metadata: { name, namespace: ns }, spec };
  if (!crd.statusSubresource || !status) {
    await admin.custom.createNamespacedCustomObject({ group, version, namespace: ns, plural, body: status ? { ...body, status } : body });
    return;
  }
  const created = (await admin.custom.createNamespacedCustomObject({ group, version, namespace: ns, plural, body })) as Record<
    string,
    unknown
  >;
  await admin.custom.replaceNamespacedCustomObjectStatus({ group, version, namespace: ns, plural, name, body: { ...created, status } });
}

/**
 * A kubeconfig for a new ServiceAccount bound cluster-wide to the Runner chart's rules
 * (charts/runner/rbac/clusterrole.yaml) minus those `drop` matches: what a Runner whose chart
 * lacks a rule would be. Answers the kubeconfig's path.
 */
export async function runnerKubeconfigWithout(
  admin: Admin,
  drop: (rule: { apiGroups: string[]; resources: string[] }) => boolean,
): Promise<string> {
  const { k8s, api } = await adminObjects();
  const source = k8s.loadYaml<{ rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }>(
    readFileSync(path.join(__dirname, '..', '..', 'charts', 'runner', 'rbac', 'clusterrole.yaml'), 'utf8'),
  );
  const ns = await namespace(admin, 'narrow-runner');
  await admin.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'runner' } } });
  await api.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: ns },
    rules: source.rules.filter((r) => !drop(r)),
  } as KubernetesObject);
  await api.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: ns },
    subjects: [{ kind: 'ServiceAccount', name: 'runner', namespace: ns }],
  } as KubernetesObject);
  const token = await admin.core.createNamespacedServiceAccountToken({
    name: 'runner',
    namespace: ns,
    body: { spec: { audiences: ['https://kubernetes.default.svc'] } },
  });
  const kubeconfig = JSON.parse(readFileSync(process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '', 'utf8')) as {
    users: { user: { token: string } }[];
  };
  kubeconfig.users[0]!.user.token = token.status?.token ?? '';
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'lookout-kubeconfig-')), 'runner.kubeconfig');
  writeFileSync(file, JSON.stringify(kubeconfig), { mode: 0o600 });
  return file;
}
