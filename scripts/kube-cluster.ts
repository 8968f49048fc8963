/**
 * A real Kubernetes control plane for tests, as envtest runs one: etcd and kube-apiserver (built
 * from the Go module proxy) on free loopback ports, with certificates, a service-account signing key
 * and an admin token made here. The Runner's ServiceAccount is bound to the exact ClusterRole the
 * Helm chart ships (charts/runner/rbac/clusterrole.yaml); checks run with that identity only.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { freePort } from '../platform/db/embedded';
import { loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { ensureEtcd, ensureHelm, ensureKubeApiserver, repoRoot } from './tools';

export const RUNNER_NAMESPACE = 'lookout-system';
export const RUNNER_SERVICE_ACCOUNT = 'lookout-runner';

export interface KubeCluster {
  server: string;
  adminKubeconfig: string;
  runnerKubeconfig: string;
  pids: number[];
}

function kubeconfig(server: string, caFile: string, user: string, token: string): string {
  const ca = readFileSync(caFile).toString('base64');
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': ca } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user } }],
    'current-context': 'test',
  });
}

function request(
  server: string,
  caFile: string,
  token: string,
  method: string,
  urlPath: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${server}${urlPath}`,
      {
        method,
        ca: readFileSync(caFile),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        timeout: 5_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> = {};
          try {
            json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            json = { text };
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/**
 * The Runner chart's ServiceAccount and RBAC (rendered by helm from charts/runner, whose rules come
 * from rbac/clusterrole.yaml), for release `lookout-runner` in RUNNER_NAMESPACE. `extraArgs` are
 * more helm arguments, e.g. `--set-json policy.secretBindings=[…]` for the Roles a policy adds.
 */
export function renderRunnerRbac(extraArgs: string[] = []): KubernetesObject[] {
  const out = execFileSync(
    ensureHelm(),
    [
      'template',
      'lookout-runner',
      path.join(repoRoot(), 'charts', 'runner'),
      '--namespace',
      RUNNER_NAMESPACE,
      '--show-only',
      'templates/serviceaccount.yaml',
      '--show-only',
      'templates/rbac.yaml',
      '--set',
      'runner.id=00000000-0000-4000-8000-000000000001',
      '--set',
      'runner.workspaceId=00000000-0000-4000-8000-000000000002',
      '--set',
      'temporal.address=temporal.invalid:7233',
      '--set',
      'existingSecret=lookout-runner-keys',
      ...extraArgs,
    ],
    { encoding: 'utf8' },
  );
  return loadAllYaml(out).filter((o): o is KubernetesObject => Boolean(o && typeof o === 'object' && 'kind' in o));
}

export async function startKubeCluster(dir: string): Promise<KubeCluster> {
  mkdirSync(dir, { recursive: true });
  const etcdBin = ensureEtcd();
  const apiserverBin = ensureKubeApiserver();
  const pki = path.join(dir, 'pki');
  mkdirSync(pki, { recursive: true });
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: pki, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=lookout-test-kube-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'apiserver.key',
    '-out',
    'apiserver.csr',
    '-subj',
    '/CN=kube-apiserver',
  ]);
  writeFileSync(
    path.join(pki, 'apiserver.ext'),
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.0.0.1\n',
  );
  openssl([
    'x509',
    '-req',
    '-in',
    'apiserver.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'apiserver.pem',
    '-days',
    '2',
    '-extfile',
    'apiserver.ext',
  ]);
  const sa = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  writeFileSync(path.join(pki, 'sa.pub'), sa.publicKey);
  writeFileSync(path.join(pki, 'sa.key'), sa.privateKey, { mode: 0o600 });
  const adminToken = randomBytes(24).toString('hex');
  writeFileSync(path.join(pki, 'tokens.csv'), `${adminToken},lookout-test-admin,lookout-test-admin,"system:masters"\n`, { mode: 0o600 });

  const log = openSync(path.join(dir, 'kube.log'), 'a');
  const children: ChildProcess[] = [];
  const etcdPort = await freePort();
  const etcdPeer = await freePort();
  children.push(
    spawn(
      etcdBin,
      [
        '--data-dir',
        path.join(dir, 'etcd'),
        '--listen-client-urls',
        `http://127.0.0.1:${etcdPort}`,
        '--advertise-client-urls',
        `http://127.0.0.1:${etcdPort}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${etcdPeer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${etcdPeer}`,
        '--initial-cluster',
        `default=http://127.0.0.1:${etcdPeer}`,
        '--unsafe-no-fsync',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', log, log], detached: true },
    ),
  );
  const port = await freePort();
  const server = `https://127.0.0.1:${port}`;
  children.push(
    spawn(
      apiserverBin,
      [
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        `--secure-port=${port}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        '--service-cluster-ip-range=10.0.0.0/24',
        '--authorization-mode=RBAC',
        '--disable-admission-plugins=ServiceAccount',
        `--cert-dir=${path.join(dir, 'certs')}`,
        `--tls-cert-file=${path.join(pki, 'apiserver.pem')}`,
        `--tls-private-key-file=${path.join(pki, 'apiserver.key')}`,
        `--token-auth-file=${path.join(pki, 'tokens.csv')}`,
        '--service-account-issuer=https://kubernetes.default.svc',
        `--service-account-key-file=${path.join(pki, 'sa.pub')}`,
        `--service-account-signing-key-file=${path.join(pki, 'sa.key')}`,
        '--api-audiences=https://kubernetes.default.svc',
        '--enable-priority-and-fairness=false',
        '--v=0',
      ],
      { stdio: ['ignore', log, log], detached: true },
    ),
  );
  const caFile = path.join(pki, 'ca.pem');
  const deadline = Date.now() + 90_000;
  for (;;) {
    const ready = await request(server, caFile, adminToken, 'GET', '/readyz').then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`kube-apiserver did not become ready; see ${path.join(dir, 'kube.log')}`);
    await new Promise((r) => setTimeout(r, 300));
  }

  // The Runner's identity: the ServiceAccount and RBAC the Runner chart renders, applied for real.
  const adminKubeconfig = path.join(dir, 'admin.kubeconfig');
  writeFileSync(adminKubeconfig, kubeconfig(server, caFile, 'lookout-test-admin', adminToken), { mode: 0o600 });
  const { KubeConfig, KubernetesObjectApi } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(adminKubeconfig);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: RUNNER_NAMESPACE } });
  for (const manifest of renderRunnerRbac()) await objects.create(manifest);
  const must = async (method: string, urlPath: string, body: unknown) => {
    const r = await request(server, caFile, adminToken, method, urlPath, body);
    if (r.status >= 300) throw new Error(`${method} ${urlPath}: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
    return r.json;
  };
  const tokenRequest = await must('POST', `/api/v1/namespaces/${RUNNER_NAMESPACE}/serviceaccounts/${RUNNER_SERVICE_ACCOUNT}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { audiences: ['https://kubernetes.default.svc'], expirationSeconds: 86_400 },
  });
  const runnerToken = (tokenRequest['status'] as { token: string }).token;
  const runnerKubeconfig = path.join(dir, 'runner.kubeconfig');
  writeFileSync(runnerKubeconfig, kubeconfig(server, caFile, 'lookout-runner', runnerToken), { mode: 0o600 });
  return { server, adminKubeconfig, runnerKubeconfig, pids: children.map((c) => c.pid!).filter(Boolean) };
}

/** SIGTERM to a process group, then SIGKILL after `graceMs`; resolves once its leader is gone. */
export async function stopProcessGroup(pid: number, graceMs = 10_000): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(-pid, 'SIGKILL');
}

/**
 * Stops a cluster of `startKubeCluster`: kube-apiserver before etcd (an apiserver whose etcd went
 * first keeps retrying instead of exiting).
 */
export async function stopKubeCluster(pids: readonly number[]): Promise<void> {
  for (const pid of [...pids].reverse()) await stopProcessGroup(pid);
}
