/**
 * Broken (and healthy) cluster states for the check tests, written through the real API server as
 * envtest does: objects are created, then their `status` is written through the status subresource,
 * since no controller or kubelet runs.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
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
