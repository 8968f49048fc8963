/**
 * The Helm charts: they lint, render for a set of values files, and every rendered object passes a
 * server-side dry run on the real kube-apiserver; their defaults are secure; bad values fail with a
 * clear message. (The Runner chart's RBAC is also applied for real by the test harness and is the
 * identity every Kubernetes check test runs with.)
 */
import { parsePolicy } from '../activities/runner/policy';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KubeConfig, KubernetesObjectApi, loadAllYaml, loadYaml, type KubernetesObject } from '@kubernetes/client-node';
import { ensureHelm } from '../scripts/tools';

const root = path.resolve(__dirname, '..');
const fixtures = path.join(__dirname, 'fixtures', 'charts');
const helm = ensureHelm();

function run(args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(helm, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

function render(chart: string, namespace: string, valuesFile?: string, set: string[] = []): KubernetesObject[] {
  const r = run([
    'template',
    'lookout',
    path.join(root, 'charts', chart),
    '--namespace',
    namespace,
    ...(valuesFile ? ['-f', path.join(fixtures, valuesFile)] : []),
    ...set.flatMap((s) => ['--set', s]),
  ]);
  if (!r.ok) throw new Error(r.out);
  return loadAllYaml(r.out).filter((o): o is KubernetesObject => Boolean(o && typeof o === 'object' && 'kind' in o));
}

type Obj = KubernetesObject & { spec?: Record<string, any>; rules?: unknown[] };
const byKind = (objs: KubernetesObject[], kind: string) => objs.filter((o) => o.kind === kind) as Obj[];
function podSpecs(objs: KubernetesObject[]): Record<string, any>[] {
  return [...byKind(objs, 'Deployment'), ...byKind(objs, 'Job')].map((o) => o.spec!['template'].spec);
}

const cases: [string, string][] = [
  ['runner', 'runner-minimal.yaml'],
  ['runner', 'runner-full.yaml'],
  ['platform', 'platform-minimal.yaml'],
  ['platform', 'platform-full.yaml'],
];

let objects: KubernetesObjectApi;
beforeAll(() => {
  const kc = new KubeConfig();
  kc.loadFromFile(process.env['LOOKOUT_TEST_KUBECONFIG_ADMIN'] ?? '');
  objects = KubernetesObjectApi.makeApiClient(kc);
});

describe('Helm charts', () => {
  it.each(cases)('%s chart lints with %s', (chart, values) => {
    const r = run(['lint', '--strict', path.join(root, 'charts', chart), '-f', path.join(fixtures, values)]);
    expect(r.out).toContain('0 chart(s) failed');
    expect(r.ok).toBe(true);
  });

  it.each(cases)('%s chart with %s renders objects the API server accepts (server-side dry run)', async (chart, values) => {
    const ns = `chart-${randomBytes(4).toString('hex')}`;
    await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const rendered = render(chart, ns, values);
    for (const extra of new Set(byKind(rendered, 'Role').map((r) => r.metadata?.namespace ?? ''))) {
      await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: extra } }).catch(() => undefined);
    }
    expect(rendered.length).toBeGreaterThan(3);
    for (const obj of rendered) {
      await expect(objects.create(obj, undefined, 'All')).resolves.toMatchObject({ kind: obj.kind });
    }
  });

  it.each(cases)('%s chart with %s has secure defaults', (chart, values) => {
    const rendered = render(chart, 'lookout', values);
    for (const pod of podSpecs(rendered)) {
      expect(pod['securityContext']).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      for (const c of pod['containers'] as Record<string, any>[]) {
        expect(c['securityContext']).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        expect(c['resources']).toBeDefined();
        // Secrets only by reference: a secret-bearing variable never has an inline value.
        for (const e of (c['env'] ?? []) as { name: string; value?: string }[]) {
          if (/(API_KEY|MASTER_KEY|TOKEN|DATABASE_URL|PASSWORD)$/.test(e.name))
            expect({ name: e.name, inline: e.value !== undefined }).toEqual({ name: e.name, inline: false });
        }
      }
    }
    const text = JSON.stringify(rendered);
    expect(text).not.toMatch(/hostNetwork|privileged":true|hostPath/);
  });

  it('renders the Runner as outbound only, with a config checksum and a grace period longer than its own', () => {
    const rendered = render('runner', 'lookout', 'runner-minimal.yaml');
    const [deployment] = byKind(rendered, 'Deployment');
    const pod = deployment!.spec!['template'];
    expect(pod.metadata.annotations['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
    expect(pod.spec.containers[0].ports).toBeUndefined();
    expect(byKind(rendered, 'Service')).toEqual([]);
    expect(byKind(rendered, 'NetworkPolicy')[0]!.spec).toMatchObject({ policyTypes: ['Ingress', 'Egress'], ingress: [] });
    const config = byKind(rendered, 'ConfigMap')[0] as unknown as { data: Record<string, string> };
    expect(Number(config.data['LOOKOUT_RUNNER_SHUTDOWN_GRACE_MS']) / 1000).toBeLessThan(pod.spec.terminationGracePeriodSeconds);
    expect(pod.spec.volumes).toContainEqual({ name: 'secret', secret: { secretName: 'lookout-runner', defaultMode: 0o400 } });
  });

  it("reads the names key from the Runner's Secret only when its policy hashes names", () => {
    const config = (set: string[]) =>
      (byKind(render('runner', 'lookout', 'runner-minimal.yaml', set), 'ConfigMap') as unknown as { data: Record<string, string> }[]).find(
        (c) => c.data['LOOKOUT_RUNNER_ID'] !== undefined,
      )!.data;
    expect(config([])['LOOKOUT_RUNNER_NAMES_KEY_FILE']).toBeUndefined();
    expect(config(['policy.discovery.names=counts'])['LOOKOUT_RUNNER_NAMES_KEY_FILE']).toBeUndefined();
    expect(config(['policy.discovery.names=hashed'])['LOOKOUT_RUNNER_NAMES_KEY_FILE']).toBe('/etc/lookout/secret/names-key');
    expect(
      run([
        'template',
        'lookout',
        path.join(root, 'charts', 'runner'),
        '-f',
        path.join(fixtures, 'runner-minimal.yaml'),
        '--set',
        'policy.discovery.names=secret',
      ]).ok,
    ).toBe(false);
  });

  it('keeps Runner metrics off or on loopback unless its owner exposes them, and then admits only the named scrapers', () => {
    const configOf = (objs: KubernetesObject[]) => (byKind(objs, 'ConfigMap')[0] as unknown as { data: Record<string, string> }).data;
    expect(configOf(render('runner', 'lookout', 'runner-minimal.yaml'))['LOOKOUT_METRICS_LISTEN']).toBe('off');
    const loopback = render('runner', 'lookout', 'runner-minimal.yaml', ['metrics.enabled=true']);
    expect(configOf(loopback)['LOOKOUT_METRICS_LISTEN']).toBe('127.0.0.1:9466');
    expect(byKind(loopback, 'Deployment')[0]!.spec!['template'].spec.containers[0].ports).toBeUndefined();
    expect(byKind(loopback, 'NetworkPolicy')[0]!.spec).toMatchObject({ ingress: [] });

    const exposed = render('runner', 'lookout', 'runner-minimal.yaml', [
      'metrics.enabled=true',
      'metrics.listen=0.0.0.0:9466',
      'metrics.tokenKey=metrics-token',
      'metrics.allowFrom[0].namespaceSelector.matchLabels.name=monitoring',
      'otlpEndpoint=http://otel-collector.monitoring:4318',
    ]);
    expect(configOf(exposed)).toMatchObject({
      LOOKOUT_METRICS_LISTEN: '0.0.0.0:9466',
      LOOKOUT_OTLP_ENDPOINT: 'http://otel-collector.monitoring:4318',
    });
    const pod = byKind(exposed, 'Deployment')[0]!.spec!['template'];
    expect(pod.spec.containers[0].ports).toEqual([{ name: 'metrics', containerPort: 9466, protocol: 'TCP' }]);
    expect(pod.spec.containers[0].env).toContainEqual({
      name: 'LOOKOUT_METRICS_TOKEN',
      valueFrom: { secretKeyRef: { name: 'lookout-runner', key: 'metrics-token' } },
    });
    expect(pod.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9466' });
    // The client's model classes keep `from` as `_from`.
    expect(JSON.parse(JSON.stringify(byKind(exposed, 'NetworkPolicy')[0]!.spec!['ingress']))).toEqual([
      { _from: [{ namespaceSelector: { matchLabels: { name: 'monitoring' } } }], ports: [{ port: 'metrics', protocol: 'TCP' }] },
    ]);
    // A bad listen address is refused by the values schema.
    expect(() => render('runner', 'lookout', 'runner-minimal.yaml', ['metrics.listen=everywhere'])).toThrow(/listen/);
  });

  it("serves Platform metrics on loopback by default and on the pods' metrics ports when enabled", () => {
    const envOf = (objs: KubernetesObject[], component: string) =>
      Object.fromEntries(
        (
          byKind(objs, 'Deployment').find((d) => d.metadata?.name?.endsWith(component))!.spec!['template'].spec.containers[0].env as {
            name: string;
            value?: string;
          }[]
        ).map((e) => [e.name, e.value]),
      );
    const plain = render('platform', 'lookout', 'platform-minimal.yaml');
    expect(envOf(plain, 'api')['LOOKOUT_METRICS_LISTEN']).toBe('127.0.0.1:9464');
    expect(envOf(plain, 'worker')['LOOKOUT_METRICS_LISTEN']).toBe('127.0.0.1:9465');
    const on = render('platform', 'lookout', 'platform-minimal.yaml', ['metrics.enabled=true', 'otlpEndpoint=http://otel:4318']);
    expect(envOf(on, 'api')).toMatchObject({ LOOKOUT_METRICS_LISTEN: '0.0.0.0:9464', LOOKOUT_OTLP_ENDPOINT: 'http://otel:4318' });
    expect(envOf(on, 'worker')).toMatchObject({ LOOKOUT_METRICS_LISTEN: '0.0.0.0:9465', LOOKOUT_OTLP_ENDPOINT: 'http://otel:4318' });
  });

  it('grants the Runner exactly the rules of rbac/clusterrole.yaml, and in namespace mode Roles without cluster-scoped resources', () => {
    const source = loadYaml<{ rules: unknown[] }>(readFileSync(path.join(root, 'charts', 'runner', 'rbac', 'clusterrole.yaml'), 'utf8'));
    const cluster = render('runner', 'lookout', 'runner-minimal.yaml');
    expect(byKind(cluster, 'ClusterRole')[0]!.rules).toEqual(source.rules);
    for (const rule of source.rules as { verbs: string[] }[])
      expect(rule.verbs.every((v) => ['get', 'list', 'watch'].includes(v))).toBe(true);
    const scoped = render('runner', 'lookout', 'runner-full.yaml');
    expect(byKind(scoped, 'ClusterRole')).toEqual([]);
    const roles = byKind(scoped, 'Role');
    const readRoles = roles.filter((r) => !r.metadata?.name?.endsWith('-secrets'));
    expect(readRoles.map((r) => r.metadata?.namespace)).toEqual(['payments', 'checkout']);
    expect(JSON.stringify(readRoles)).not.toMatch(/"nodes"|"namespaces"/);
    expect(JSON.stringify(readRoles)).not.toMatch(/"secrets"/);
  });

  it('renders no cluster-wide Secret rule, and from the policy get on exactly the bound Secrets and list of TLS Secrets where opted in', () => {
    for (const fixture of ['runner-minimal.yaml', 'runner-full.yaml']) {
      const rendered = render('runner', 'lookout', fixture);
      for (const role of byKind(rendered, 'ClusterRole')) expect(JSON.stringify(role.rules)).not.toMatch(/secrets/);
    }
    const rendered = render('runner', 'lookout', 'runner-full.yaml');
    const secretRoles = byKind(rendered, 'Role').filter((r) => r.metadata?.name?.endsWith('-secrets'));
    expect(secretRoles.map((r) => [r.metadata?.namespace, r.rules])).toEqual([
      ['ingress-nginx', [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }]],
      ['payments', [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['payments-api-token'], verbs: ['get'] }]],
    ]);
    expect(byKind(rendered, 'RoleBinding').filter((b) => b.metadata?.name?.endsWith('-secrets'))).toHaveLength(2);
    // The policy reaches the Runner as a file, mounted from its own ConfigMap, and rolls the pod when it changes.
    const policyMap = byKind(rendered, 'ConfigMap').find((c) => c.metadata?.name?.endsWith('-policy')) as unknown as {
      data: Record<string, string>;
    };
    // The Runner accepts what the chart renders, the default values' policy included.
    expect(parsePolicy(policyMap.data['policy.yaml']!).checks).toContain('k8s.tls-expiry');
    const defaults = byKind(render('runner', 'lookout', 'runner-minimal.yaml'), 'ConfigMap').find((c) =>
      c.metadata?.name?.endsWith('-policy'),
    ) as unknown as {
      data: Record<string, string>;
    };
    expect(parsePolicy(defaults.data['policy.yaml']!)).toMatchObject({ destinations: [], secretBindings: [] });
    expect(loadYaml<Record<string, unknown>>(policyMap.data['policy.yaml']!)).toMatchObject({
      secretBindings: [{ name: 'payments-token' }],
      tlsSecrets: { namespaces: ['ingress-nginx'] },
    });
    const pod = byKind(rendered, 'Deployment')[0]!.spec!['template'];
    expect(pod.spec.containers[0].volumeMounts).toContainEqual({ name: 'policy', mountPath: '/etc/lookout/policy', readOnly: true });
    const config = byKind(rendered, 'ConfigMap').find((c) => !c.metadata?.name?.endsWith('-policy')) as unknown as {
      data: Record<string, string>;
    };
    expect(config.data['LOOKOUT_RUNNER_POLICY_FILE']).toBe('/etc/lookout/policy/policy.yaml');
  });

  it("grants check packs exactly the read rules the policy grants them, and refuses a write verb, Secrets or '*'", () => {
    const pack = (kubernetes: unknown[]) =>
      `policy.packs=${JSON.stringify([{ name: 'hygiene', source: { dir: '/opt/packs/hygiene' }, kubernetes }])}`;
    const renderPacks = (json: string, extra: string[] = []) =>
      run([
        'template',
        'lookout',
        path.join(root, 'charts', 'runner'),
        '--namespace',
        'lookout',
        '-f',
        path.join(fixtures, 'runner-minimal.yaml'),
        '--set-json',
        json,
        ...extra,
      ]);
    const rules = [
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list'] },
      { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['get', 'list'] },
    ];
    const ok = renderPacks(pack(rules));
    expect(ok.ok).toBe(true);
    const objects = loadAllYaml(ok.out) as Obj[];
    const role = objects.find((o) => o.kind === 'ClusterRole' && o.metadata?.name?.endsWith('-packs'))!;
    expect(role.rules).toEqual(rules);
    const binding = objects.find((o) => o.kind === 'ClusterRoleBinding' && o.metadata?.name?.endsWith('-packs')) as unknown as {
      roleRef: { name: string };
    };
    expect(binding.roleRef.name).toBe(role.metadata?.name);
    // The schema refuses, and the template too when the schema is skipped: a pack only reads, and never Secrets.
    for (const [bad, message] of [
      [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['delete'] }, 'verb "delete" is not a read verb'],
      [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }, 'resource "secrets" is not allowed'],
      [{ apiGroups: [''], resources: ['*'], verbs: ['list'] }, 'resource "*" is not allowed'],
    ] as const) {
      const refused = renderPacks(pack([bad]), ['--skip-schema-validation']);
      expect(refused.ok).toBe(false);
      expect(refused.out).toContain(message);
    }
    expect(renderPacks(pack([{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['patch'] }])).ok).toBe(false);
    // Without packs, no such role.
    expect(
      byKind(render('runner', 'lookout', 'runner-minimal.yaml'), 'ClusterRole').filter((r) => r.metadata?.name?.endsWith('-packs')),
    ).toEqual([]);
  });

  it('passes HTTPS, OIDC, SAML and mail settings to the API, secrets by reference only', () => {
    const rendered = render('platform', 'lookout', 'platform-full.yaml');
    const api = byKind(rendered, 'Deployment').find((d) => d.metadata?.name?.endsWith('-api'))! as unknown as {
      spec: {
        template: {
          spec: {
            containers: { env: { name: string; value?: string; valueFrom?: unknown }[]; readinessProbe: { httpGet: { scheme: string } } }[];
          };
        };
      };
    };
    const container = api.spec.template.spec.containers[0]!;
    const env = Object.fromEntries(container.env.map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      LOOKOUT_PUBLIC_URL: 'https://lookout.acme.example',
      LOOKOUT_API_TLS_CERT_FILE: '/etc/lookout/api-tls/tls.crt',
      LOOKOUT_OIDC_ISSUER: 'https://login.acme.example/realms/acme',
      LOOKOUT_OIDC_CLIENT_SECRET: { secretKeyRef: { name: 'lookout-platform', key: 'oidc-client-secret' } },
      LOOKOUT_OIDC_CA_FILE: '/etc/lookout/oidc-ca/ca.crt',
      LOOKOUT_SAML_IDP_CERT_FILE: '/etc/lookout/saml-idp/idp.crt',
      LOOKOUT_SAML_EMAIL_VERIFIED: 'true',
      // Invitation mail: the SMTP URL (it may hold credentials) from the Secret only.
      LOOKOUT_SMTP_URL: { secretKeyRef: { name: 'lookout-platform', key: 'smtp-url' } },
      LOOKOUT_SMTP_FROM: 'Lookout <lookout@acme.example>',
      LOOKOUT_SMTP_CA_FILE: '/etc/lookout/smtp-ca/ca.crt',
      // A namespace per workspace, and Runner tokens signed with a key mounted from the Secret.
      LOOKOUT_TEMPORAL_NAMESPACES: 'per-workspace',
      LOOKOUT_TEMPORAL_NAMESPACE_PREFIX: 'acme-',
      LOOKOUT_TEMPORAL_TOKEN_KEY_FILE: '/etc/lookout/temporal-token/key.pem',
      LOOKOUT_TRUST_PROXY: '1',
    });
    expect(container.readinessProbe.httpGet.scheme).toBe('HTTPS');
    // The platform worker sends notifications: email through the same SMTP server, links to the
    // public URL, public https destinations only unless a value says otherwise.
    const worker = byKind(rendered, 'Deployment').find((d) => d.metadata?.name?.endsWith('-worker'))! as unknown as typeof api;
    const workerEnv = Object.fromEntries(worker.spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(workerEnv).toMatchObject({
      LOOKOUT_PUBLIC_URL: 'https://lookout.acme.example',
      LOOKOUT_SMTP_URL: { secretKeyRef: { name: 'lookout-platform', key: 'smtp-url' } },
      LOOKOUT_SMTP_CA_FILE: '/etc/lookout/smtp-ca/ca.crt',
      LOOKOUT_NOTIFY_ALLOW_PRIVATE: 'false',
      LOOKOUT_NOTIFY_MAX_ATTEMPTS: '8',
    });
    expect(env['LOOKOUT_NOTIFY_ALLOW_PRIVATE']).toBe('false');
    expect((worker.spec.template.spec as unknown as { volumes: unknown[] }).volumes).toContainEqual({
      name: 'smtp-ca',
      configMap: { name: 'acme-ca' },
    });
    expect((api.spec.template.spec as unknown as { volumes: unknown[] }).volumes).toContainEqual({
      name: 'temporal-token',
      secret: { secretName: 'lookout-platform', defaultMode: 256, items: [{ key: 'temporal-token-key', path: 'key.pem' }] },
    });
    expect((api.spec.template.spec as unknown as { volumes: unknown[] }).volumes).toContainEqual({
      name: 'smtp-ca',
      configMap: { name: 'acme-ca' },
    });
  });

  it('takes the master key wrapped by the KMS instead of in clear, in every Platform process', () => {
    const rendered = render('platform', 'lookout', 'platform-full.yaml');
    const pods = podSpecs(rendered).filter((p) =>
      (p['containers'] as Record<string, any>[]).some((c) => /platform-api|platform-worker|migrate/.test(JSON.stringify(c['command']))),
    );
    expect(pods.length).toBeGreaterThanOrEqual(3);
    for (const pod of pods) {
      const env = Object.fromEntries(
        ((pod['containers'] as Record<string, any>[])[0]!['env'] as { name: string; value?: string; valueFrom?: unknown }[]).map((e) => [
          e.name,
          e.value ?? e.valueFrom,
        ]),
      );
      expect(env).toMatchObject({
        LOOKOUT_MASTER_KEY_WRAPPED: { secretKeyRef: { name: 'lookout-platform', key: 'master-key-wrapped' } },
        LOOKOUT_KMS_TOKEN: { secretKeyRef: { name: 'lookout-platform', key: 'kms-token' } },
        LOOKOUT_KMS_ADDR: 'https://vault.acme.example:8200',
        LOOKOUT_KMS_TRANSIT_MOUNT: 'transit',
        LOOKOUT_KMS_TRANSIT_KEY: 'lookout-master',
        LOOKOUT_KMS_CA_FILE: '/etc/lookout/kms-ca/ca.crt',
      });
      expect(env).not.toHaveProperty('LOOKOUT_MASTER_KEY');
      expect(pod['volumes']).toContainEqual({ name: 'kms-ca', configMap: { name: 'acme-ca' } });
    }
    // Without the KMS, the key in clear from the Secret.
    const plain = podSpecs(render('platform', 'lookout', 'platform-minimal.yaml'));
    for (const pod of plain.filter((p) => /platform-api|platform-worker/.test(JSON.stringify(p['containers']))))
      expect((pod['containers'] as Record<string, any>[])[0]!['env']).toContainEqual({
        name: 'LOOKOUT_MASTER_KEY',
        valueFrom: { secretKeyRef: { name: 'lookout-platform', key: 'master-key' } },
      });
  });

  it("serves the codec server over HTTPS only, to users with their provider's tokens, behind an Ingress of its own", () => {
    const rendered = render('platform', 'lookout', 'platform-full.yaml');
    const codec = byKind(rendered, 'Deployment').find((d) => d.metadata?.name?.endsWith('-codec'))! as unknown as {
      spec: { template: { spec: { containers: Record<string, any>[]; volumes: unknown[] } } };
    };
    const container = codec.spec.template.spec.containers[0]!;
    const env = Object.fromEntries(
      (container['env'] as { name: string; value?: string; valueFrom?: unknown }[]).map((e) => [e.name, e.value ?? e.valueFrom]),
    );
    expect(env).toMatchObject({
      LOOKOUT_CODEC_TLS_CERT_FILE: '/etc/lookout/codec-tls/tls.crt',
      LOOKOUT_CODEC_TLS_KEY_FILE: '/etc/lookout/codec-tls/tls.key',
      LOOKOUT_CODEC_AUTH: 'oidc',
      LOOKOUT_CODEC_OIDC_ISSUER: 'https://login.acme.example/realms/acme',
      LOOKOUT_CODEC_OIDC_AUDIENCES: 'https://temporal-ui.acme.example',
      LOOKOUT_CODEC_ALLOWED_USERS: 'oncall@acme.example,sub:5f0c',
      LOOKOUT_CODEC_OIDC_CA_FILE: '/etc/lookout/codec-oidc-ca/ca.crt',
    });
    expect(env).not.toHaveProperty('LOOKOUT_CODEC_TOKEN');
    expect(container['readinessProbe']).toEqual({ httpGet: { path: '/healthz', port: 'http', scheme: 'HTTPS' } });
    expect(codec.spec.template.spec.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'lookout-codec-tls', defaultMode: 256 } });
    const ingress = byKind(rendered, 'Ingress').find((i) => i.metadata?.name?.endsWith('-codec'))! as unknown as {
      metadata: { annotations: Record<string, string> };
      spec: { tls: unknown[]; rules: { host: string }[] };
    };
    expect(ingress.metadata.annotations).toEqual({ 'nginx.ingress.kubernetes.io/backend-protocol': 'HTTPS' });
    expect(ingress.spec.tls).toEqual([{ hosts: ['codec.acme.example'], secretName: 'lookout-codec-ingress-tls' }]);
    expect(ingress.spec.rules.map((r) => r.host)).toEqual(['codec.acme.example']);
    // With the shared token instead, the token comes from the Secret.
    const tokenCodec = byKind(render('platform', 'lookout', 'platform-full.yaml', ['codecServer.auth=token']), 'Deployment').find((d) =>
      d.metadata?.name?.endsWith('-codec'),
    )! as unknown as { spec: { template: { spec: { containers: Record<string, any>[] } } } };
    expect(tokenCodec.spec.template.spec.containers[0]!['env']).toContainEqual({
      name: 'LOOKOUT_CODEC_TOKEN',
      valueFrom: { secretKeyRef: { name: 'lookout-codec', key: 'token' } },
    });
  });

  it.each([
    ['runner', 'an unknown key', ['runner.bogus=1'], /additional properties 'bogus' not allowed|bogus/],
    ['runner', 'a negative replica count', ['replicaCount=-1'], /replicaCount.*(minimum|must be >= 1)|minimum: got -1/],
    ['runner', 'no existing Secret', ['existingSecret='], /existingSecret is required: create a Secret holding keys\.json/],
    [
      'runner',
      "a grace period shorter than the Runner's",
      ['runner.shutdownGraceSeconds=120'],
      /terminationGracePeriodSeconds must be longer than runner\.shutdownGraceSeconds/,
    ],
    ['runner', 'namespace mode without namespaces', ['rbac.scope=namespaces'], /rbac\.namespaces must list at least one namespace/],
    ['platform', 'an unknown key', ['apii.replicaCount=2'], /apii/],
    ['platform', 'no existing Secret', ['existingSecret='], /existingSecret is required: a Secret with database-url and master-key/],
    ['platform', 'a codec server without its Secret', ['codecServer.enabled=true'], /codecServer\.existingSecret is required/],
    [
      'platform',
      'a codec server without TLS',
      ['codecServer.enabled=true', 'codecServer.existingSecret=c'],
      /codecServer\.tlsSecretName is required when codecServer\.enabled/,
    ],
    [
      'platform',
      'a codec server for users without their provider',
      ['codecServer.enabled=true', 'codecServer.existingSecret=c', 'codecServer.tlsSecretName=t', 'codecServer.auth=oidc'],
      /codecServer\.oidc\.issuer and codecServer\.oidc\.audiences are required/,
    ],
    ['platform', 'OIDC without a client id', ['auth.oidc.issuer=https://login.example'], /auth\.oidc\.clientId is required/],
    ['platform', 'an OIDC issuer over http', ['auth.oidc.issuer=http://login.example', 'auth.oidc.clientId=x'], /issuer/],
    [
      'platform',
      'SAML without the IdP certificate',
      ['auth.saml.entryPoint=https://sso.example', 'auth.saml.idpEntityId=x'],
      /auth\.saml\.idpCertConfigMapName is required/,
    ],
  ])('the %s chart refuses %s with a clear message', (chart, _label, set, message) => {
    const r = run([
      'template',
      'lookout',
      path.join(root, 'charts', chart),
      '-f',
      path.join(fixtures, `${chart}-minimal.yaml`),
      ...set.flatMap((s) => ['--set', s]),
    ]);
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(message);
  });

  it('documents every value of both charts', () => {
    const undocumented: string[] = [];
    for (const chart of ['runner', 'platform']) {
      const lines = readFileSync(path.join(root, 'charts', chart, 'values.yaml'), 'utf8').split('\n');
      // A key is documented by a "# --" comment right above it; only the entries of a value that is a
      // free-form map (resources) may lean on the comment of the map itself.
      const stack: { indent: number; documented: boolean; key: string }[] = [];
      lines.forEach((line, i) => {
        const m = /^(\s*)([A-Za-z][A-Za-z0-9]*):/.exec(line);
        if (!m) return;
        const indent = m[1]!.length;
        while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
        const own = Boolean(lines[i - 1]?.trim().startsWith('# --'));
        const documented = own || stack.some((s) => s.documented && s.key === 'resources');
        if (/:\s*$/.test(line)) stack.push({ indent, documented, key: m[2]! });
        else if (!documented) undocumented.push(`${chart}/values.yaml:${i + 1}: ${line.trim()}`);
      });
    }
    expect(undocumented).toEqual([]);
  });
});
