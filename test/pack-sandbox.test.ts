/**
 * The script sandbox of check packs, for real: bubblewrap, rlimits, the egress and Kubernetes proxies
 * and the test cluster's API server. Each hostile script (test/fixtures/packs/hostile/checks) tries
 * one way out and reports what it saw; the tests assert it failed while the Runner (this process)
 * carries on. The uid-per-sandbox assertions need root, as the Runner's image runs here.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadKubeClients, type KubeClients } from '../activities/runner/kube';
import { egressDecision, KUBE_CONCURRENCY, kubeDecision, MAX_CONNECTIONS, startKubeProxy } from '../activities/runner/packs/egress-proxy';
import {
  MAX_SANDBOXES,
  processesOf,
  runScript,
  SANDBOX_NPROC,
  SANDBOX_UID_BASE,
  ScriptError,
  sweepStaleSandboxes,
  tmpfsBytes,
} from '../activities/runner/packs/sandbox';
import type { SandboxDestination, ScriptRun } from '../activities/runner/packs/types';
import type { CheckOutcome } from '../activities/runner/checks/check';
import { PackDestination, ScriptSpec, type KubernetesRule } from '../common/packs';
import { Destination } from '../common/runner-policy';
import { ensureBubblewrap } from '../scripts/tools';
import { adminClients, namespace, pod, type Admin } from './harness/kube-fixtures';

const FIXTURE = path.join(__dirname, 'fixtures', 'packs', 'hostile');
/**
 * The fixture pack where a Runner keeps packs: in a folder the sandbox's user can read (the Runner's
 * pack cache is 0711 with 0755 packs). The checkout itself may be under a private folder (CI clones
 * into a 0700 temporary directory), which that user cannot enter.
 */
const PACK = path.join(mkdtempSync(path.join(os.tmpdir(), 'lookout-pack-fixture-')), 'hostile');
chmodSync(path.dirname(PACK), 0o755);
cpSync(FIXTURE, PACK, { recursive: true });

function scriptRun(
  file: string,
  params: Record<string, unknown>,
  extra: Partial<Omit<ScriptRun, 'spec'>> & { spec?: Partial<ScriptSpec> } = {},
): ScriptRun {
  const { spec, ...rest } = extra;
  return {
    packDir: PACK,
    spec: ScriptSpec.parse({ run: `checks/${file}`, interpreter: file.endsWith('.py') ? 'python3' : 'bash', timeoutSeconds: 10, ...spec }),
    params,
    secrets: [],
    destinations: [],
    signal: new AbortController().signal,
    heartbeat: () => undefined,
    ...rest,
  };
}

function destination(host: string, port: number, scheme: 'http' | 'https', allowAddresses: string[] = []): SandboxDestination {
  return {
    declared: PackDestination.parse({ host, port, scheme }),
    policy: Destination.parse({ name: 'granted', host, port, scheme, allowAddresses }),
  };
}

/** Live processes of any sandbox uid. */
function sandboxProcesses(): number[] {
  const pids: number[] = [];
  for (let slot = 0; slot < MAX_SANDBOXES; slot++) pids.push(...processesOf(SANDBOX_UID_BASE + slot).map((p) => p.pid));
  return pids;
}

function metric(outcome: CheckOutcome, name: string): number | undefined {
  return outcome.metrics[name];
}

let server: http.Server;
let serverPort: number;

beforeAll(async () => {
  ensureBubblewrap();
  server = http.createServer((_req, res) => res.end('hello from the test\n'));
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  serverPort = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(path.dirname(PACK), { recursive: true, force: true });
});

afterEach(() => {
  // Whatever a test did, no process of a sandbox outlives its run.
  expect(sandboxProcesses()).toEqual([]);
});

describe('what a script can see', () => {
  it("finds no value of the Runner's environment: not in its own, /proc/1, its parent or any process", async () => {
    const needle = `canary-${randomBytes(12).toString('hex')}`;
    process.env['LOOKOUT_SANDBOX_CANARY'] = needle;
    try {
      const outcome = await runScript(scriptRun('env.py', { needle }));
      expect(outcome.metrics).toMatchObject({ 'found.env': 0, 'found.proc1': 0, 'found.parent': 0, 'found.any': 0 });
      // The probe could read environments (its own holds the proxy variables; /proc/1 is readable).
      expect(outcome.metrics).toMatchObject({ 'control.self': 1, 'control.proc1': 1 });
    } finally {
      delete process.env['LOOKOUT_SANDBOX_CANARY'];
    }
  });

  it("reads its bound secret at /run/secrets/<name>, and neither the Runner's key file, policy nor another secret", async () => {
    const runnerDir = mkdtempSync(path.join(os.tmpdir(), 'lookout-runner-files-'));
    const files = {
      key: path.join(runnerDir, 'runner.key'),
      policy: path.join(runnerDir, 'policy.yaml'),
      other: path.join(runnerDir, 'other-secret'),
    };
    // World-readable on purpose: only not being bound keeps them out.
    for (const file of Object.values(files)) writeFileSync(file, 'runner-only', { mode: 0o644 });
    process.env['LOOKOUT_OTHER_SECRET'] = 'other-secret-value';
    const value = `token-${randomBytes(8).toString('hex')}`;
    const before = readdirSync(os.tmpdir()).filter((d) => d.startsWith('lookout-sandbox-'));
    try {
      const outcome = await runScript(scriptRun('files.py', { paths: files, runnerDir }, { secrets: [{ name: 'token', value }] }));
      expect(outcome.metrics).toMatchObject({ 'found.key': 0, 'found.policy': 0, 'found.other': 0, 'runner.dir': 0 });
      expect(outcome.metrics).toMatchObject({
        'secrets.count': 1,
        'secrets.other': 0,
        'secret.mode': 0o400,
        'secret.owner': 65534,
        uid: 65534,
      });
      expect(outcome.summary).toBe(`token sha256 ${createHash('sha256').update(value).digest('hex')}`);
      // The run's folder (secrets included) is gone.
      expect(readdirSync(os.tmpdir()).filter((d) => d.startsWith('lookout-sandbox-'))).toEqual(before);
    } finally {
      delete process.env['LOOKOUT_OTHER_SECRET'];
    }
  });
});

describe('what a script cannot do to the sandbox', () => {
  it('cannot create a user namespace, so gets no capabilities and mounts nothing', async () => {
    const outcome = await runScript(scriptRun('userns.sh', {}));
    // The probe could run unshare at all.
    expect(metric(outcome, 'control.unshare')).toBe(1);
    expect(outcome.metrics).toMatchObject({ 'unshare.user': 0, 'unshare.mount': 0 });
  });

  it('writes nowhere but /tmp and /dev/shm, and there at most a quarter of memoryMiB each', async () => {
    const outcome = await runScript(scriptRun('fill.py', { mib: 80 }, { spec: { memoryMiB: 64, timeoutSeconds: 30 } }));
    const quarter = tmpfsBytes(64) / 1024 / 1024;
    expect(quarter).toBe(16);
    expect(outcome.metrics).toMatchObject({ 'mib.root': 0, 'mib.etc': 0, 'mib.run': 0, 'mib.dev': 0 });
    expect(metric(outcome, 'mib.shm')).toBeLessThanOrEqual(quarter);
    expect(metric(outcome, 'mib.tmp')).toBeLessThanOrEqual(quarter);
    // Positive control: the probe could write where it may.
    expect(metric(outcome, 'mib.tmp')).toBeGreaterThanOrEqual(quarter / 2);
    expect(metric(outcome, 'mib.shm')).toBeGreaterThanOrEqual(quarter / 2);
  });

  it("cannot send the relay's start signal: fd 3 is closed before the script starts", async () => {
    const outcome = await runScript(scriptRun('fd3.sh', {}));
    expect(outcome.metrics).toEqual({ 'fd3.open': 0, 'fd3.wrote': 0 });
  });
});

describe('the network', () => {
  it('has only loopback: the host is unreachable without the proxy', async () => {
    const external = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && !a.internal && a.family === 'IPv4');
    const outcome = await runScript(scriptRun('net.py', { mode: 'direct', host: external?.address ?? '127.0.0.1', port: serverPort }));
    expect(metric(outcome, 'connected')).toBe(0);
    expect(metric(outcome, 'interfaces')).toBe(1);
  });

  it('refuses a host the check did not declare, for http and for CONNECT', async () => {
    const declared = [destination('api.example.com', 443, 'https')];
    const get = await runScript(scriptRun('net.py', { mode: 'get', url: 'http://example.org/' }, { destinations: declared }));
    expect(metric(get, 'status')).toBe(403);
    expect(get.summary).toContain('not a destination of this check');
    const tunnel = await runScript(scriptRun('net.py', { mode: 'connect', target: 'example.org:443' }, { destinations: declared }));
    expect(metric(tunnel, 'status')).toBe(403);
  });

  it('refuses 169.254.169.254 and metadata host names even when declared', async () => {
    const literal = await runScript(
      scriptRun(
        'net.py',
        { mode: 'get', url: 'http://169.254.169.254/latest/meta-data/' },
        { destinations: [destination('169.254.169.254', 80, 'http')] },
      ),
    );
    expect(metric(literal, 'status')).toBe(403);
    expect(literal.summary).toContain('linkLocal address');
    const wildcard: SandboxDestination = {
      declared: PackDestination.parse({ host: '*.google.internal', port: 80, scheme: 'http' }),
      policy: Destination.parse({ name: 'granted', host: '*.google.internal', port: 80, scheme: 'http' }),
    };
    const named = await runScript(
      scriptRun('net.py', { mode: 'get', url: 'http://metadata.google.internal/' }, { destinations: [wildcard] }),
    );
    expect(metric(named, 'status')).toBe(403);
    expect(named.summary).toContain('metadata');
  });

  it('refuses a declared host that resolves to loopback unless the policy allows loopback', async () => {
    const url = `http://localhost:${serverPort}/`;
    const refused = await runScript(
      scriptRun('net.py', { mode: 'get', url }, { destinations: [destination('localhost', serverPort, 'http')] }),
    );
    expect(metric(refused, 'status')).toBe(403);
    expect(refused.summary).toContain('loopback address');

    const allowed = [destination('localhost', serverPort, 'http', ['127.0.0.0/8', '::1/128'])];
    const reached = await runScript(scriptRun('net.py', { mode: 'get', url }, { destinations: allowed }));
    expect(reached.metrics).toMatchObject({ status: 200, 'body.hello': 1 });
  });

  it('tunnels CONNECT to a declared https host whose addresses the policy allows', async () => {
    const target = `localhost:${serverPort}`;
    const refused = await runScript(
      scriptRun('net.py', { mode: 'connect', target }, { destinations: [destination('localhost', serverPort, 'https')] }),
    );
    expect(metric(refused, 'status')).toBe(403);
    const tunnel = await runScript(
      scriptRun('net.py', { mode: 'connect', target }, { destinations: [destination('localhost', serverPort, 'https', ['127.0.0.0/8'])] }),
    );
    expect(tunnel.metrics).toMatchObject({ status: 200, 'body.hello': 1 });
  });
});

describe('limits', () => {
  it('bounds the processes a script can fork', async () => {
    const outcome = await runScript(scriptRun('forkcount.py', {}));
    expect(metric(outcome, 'refused')).toBe(1);
    expect(metric(outcome, 'forks')).toBeLessThan(SANDBOX_NPROC);
  });

  it('ends a fork bomb and leaves the Runner able to start processes', async () => {
    await expect(runScript(scriptRun('forkbomb.sh', {}, { spec: { timeoutSeconds: 2 } }))).rejects.toBeInstanceOf(ScriptError);
    expect(sandboxProcesses()).toEqual([]);
    expect(execFileSync('/usr/bin/echo', ['still fine']).toString()).toBe('still fine\n');
  });

  it('kills a script past its timeout with every process it started, setsid and nohup included', async () => {
    await expect(runScript(scriptRun('sleep.sh', {}, { spec: { timeoutSeconds: 1 } }))).rejects.toThrow(
      'script checks/sleep.sh ran past its 1 s timeout',
    );
    expect(sandboxProcesses()).toEqual([]);
  });

  it('kills the sandbox when the run is cancelled', async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled by the test');
    setTimeout(() => controller.abort(reason), 500);
    await expect(runScript(scriptRun('sleep.sh', {}, { signal: controller.signal }))).rejects.toBe(reason);
    expect(sandboxProcesses()).toEqual([]);
  });

  it('caps stdout', async () => {
    await expect(runScript(scriptRun('flood.sh', {}))).rejects.toThrow('script checks/flood.sh printed more than 1 MiB');
  });

  it('refuses memory beyond memoryMiB', async () => {
    await expect(runScript(scriptRun('alloc.py', { mib: 200 }, { spec: { memoryMiB: 64 } }))).rejects.toThrow(
      'script checks/alloc.py exited with status 7',
    );
    const within = await runScript(scriptRun('alloc.py', { mib: 16 }, { spec: { memoryMiB: 64 } }));
    expect(metric(within, 'mib')).toBe(16);
  });
});

describe('the result', () => {
  it("runs a node script with the Runner's own node", async () => {
    const outcome = await runScript(scriptRun('hello.js', { n: 4 }, { spec: { interpreter: 'node' } }));
    expect(outcome).toMatchObject({ status: 'ok', summary: `node ${process.version}`, metrics: { n: 4 } });
  });

  it('takes one JSON object from stdout, status issues when it holds issues', async () => {
    const outcome = await runScript(scriptRun('result.sh', { issue: true }));
    expect(outcome).toMatchObject({ status: 'issues', summary: 'one pod is down', metrics: { 'pods.down': 1 }, exitCode: 0 });
    expect(outcome.issues).toHaveLength(1);
  });

  it('fails on unknown fields, non-JSON and a non-zero exit without repeating what the script printed', async () => {
    const stderr: string[] = [];
    const failures = await Promise.allSettled([
      runScript(scriptRun('result.sh', { unknown: true })),
      runScript(scriptRun('result.sh', { garbage: true })),
      runScript(scriptRun('result.sh', { exit: true }), { onStderr: (chunk) => stderr.push(chunk) }),
    ]);
    const messages = failures.map((f) => (f.status === 'rejected' ? (f.reason as Error).message : 'fulfilled'));
    expect(messages).toEqual([
      'script checks/result.sh did not print a result: (root) (unrecognized_keys)',
      'script checks/result.sh did not print a result: its output is not one JSON object',
      'script checks/result.sh exited with status 3',
    ]);
    // stderr goes to onStderr only.
    expect(stderr.join('')).toContain('hunter2');
  });

  it('names an invalid field by its top-level name and code, never by a key or value the script chose', async () => {
    const failure = runScript(scriptRun('result.sh', { canary: true }));
    await expect(failure).rejects.toThrow(/^script checks\/result\.sh did not print a result: /);
    const message = await failure.catch((err: Error) => err.message);
    expect(message).toContain('metrics (');
    expect(message).toContain('issues.0 (');
    expect(message).not.toMatch(/CANARY/i);
  });
});

describe('left-over run folders', () => {
  function startTime(pid: number | string): string {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  }

  /** A run folder as a Runner leaves it: a secret in a read-only folder. */
  function folder(name: string): string {
    const top = path.join(os.tmpdir(), name);
    mkdirSync(path.join(top, 'secrets'), { recursive: true });
    writeFileSync(path.join(top, 'secrets', 'token'), 'secret', { mode: 0o400 });
    chmodSync(path.join(top, 'secrets'), 0o500);
    return top;
  }

  it('removes the folders of Runner processes that are gone, and keeps those of live ones', () => {
    const dead = spawnSync('/usr/bin/true').pid;
    const tag = randomBytes(4).toString('hex');
    const gone = folder(`lookout-sandbox-${dead}.12345-${tag}`);
    // The same pid as this process, but an earlier process that had it.
    const reused = folder(`lookout-sandbox-${process.pid}.1-${tag}`);
    const own = folder(`lookout-sandbox-${process.pid}.${startTime('self')}-${tag}`);
    const other = folder(`lookout-sandbox-${process.ppid}.${startTime(process.ppid)}-${tag}`);
    const unknown = folder(`lookout-sandbox-${tag}`);
    try {
      sweepStaleSandboxes();
      expect([gone, reused, own, other, unknown].map((f) => existsSync(f))).toEqual([false, false, true, true, true]);
    } finally {
      for (const f of [gone, reused, own, other, unknown]) rmSync(f, { recursive: true, force: true });
    }
  });
});

describe('sandbox ids across Runner processes', () => {
  it('skips a slot another live Runner process holds, and takes over one whose process is gone', async () => {
    const slots = path.join(os.tmpdir(), 'lookout-sandbox-slots');
    mkdirSync(slots, { recursive: true, mode: 0o700 });
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    const stat = readFileSync(`/proc/${other.pid}/stat`, 'utf8');
    writeFileSync(path.join(slots, '0'), `${other.pid}.${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`);
    writeFileSync(path.join(slots, '1'), `${spawnSync('/usr/bin/true').pid}.12345`);
    try {
      const controller = new AbortController();
      const running = runScript(scriptRun('sleep.sh', {}, { signal: controller.signal })).catch(() => undefined);
      const deadline = Date.now() + 5_000;
      while (processesOf(SANDBOX_UID_BASE + 1).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      // Slot 0 belongs to the other process: its uid runs nothing of ours; slot 1's holder is gone, so it is ours.
      expect(processesOf(SANDBOX_UID_BASE).length).toBe(0);
      expect(processesOf(SANDBOX_UID_BASE + 1).length).toBeGreaterThan(0);
      controller.abort(new Error('done'));
      await running;
      expect(existsSync(path.join(slots, '1'))).toBe(false);
      expect(existsSync(path.join(slots, '0'))).toBe(true);
    } finally {
      other.kill('SIGKILL');
      rmSync(path.join(slots, '0'), { force: true });
    }
  });
});

describe('the Kubernetes API', () => {
  let admin: Admin;
  let kube: KubeClients;
  const rules: KubernetesRule[] = [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }];

  beforeAll(() => {
    admin = adminClients();
    const runner = loadKubeClients({ kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '' });
    if (!runner) throw new Error('LOOKOUT_TEST_KUBECONFIG_RUNNER is not set');
    kube = runner;
  });

  afterAll(async () => {
    await kube.close();
    await admin.close();
  });

  it('lets kubectl list what the rules grant, and refuses other resources, secrets, watch, exec and writes', async () => {
    const ns = await namespace(admin, 'sandbox');
    await pod(admin, ns, 'web-1', { phase: 'Running' });
    await admin.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'settings' }, data: { a: 'b' } } });
    const outcome = await runScript(
      scriptRun('kube.py', { namespace: ns }, { kube: { clients: kube, rules }, spec: { timeoutSeconds: 30 } }),
    );
    expect(outcome.metrics).toEqual({
      'kubectl.pods.exit': 0,
      'kubectl.pods.count': 1,
      'kubectl.configmaps.exit': 1,
      'kubectl.configmaps.forbidden': 1,
      'get.pods': 200,
      'get.pod': 200,
      'get.discovery': 200,
      'get.configmaps': 403,
      'get.secrets': 403,
      'get.watch': 403,
      'get.exec': 403,
      'get.escaped': 403,
      'post.pods': 405,
    });
  });

  it('answers 20 requests at once, queued behind the proxy’s limit', async () => {
    const ns = await namespace(admin, 'sandbox-many');
    await pod(admin, ns, 'web-1', { phase: 'Running' });
    const outcome = await runScript(
      scriptRun('kube-many.py', { namespace: ns, requests: 20 }, { kube: { clients: kube, rules }, spec: { timeoutSeconds: 30 } }),
    );
    expect(outcome.metrics).toEqual({ requests: 20, ok: 20 });
  });
});

describe('the proxies’ limits', () => {
  let dir: string;
  const stop = new AbortController();
  let inFlight = 0;
  let most = 0;
  const clients = {
    get: async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight--;
      return { status: 200, contentType: 'application/json', body: Buffer.from('{}') };
    },
  } as unknown as KubeClients;

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-proxy-test-'));
  });

  afterAll(() => {
    stop.abort();
    rmSync(dir, { recursive: true, force: true });
  });

  function request(socketPath: string): Promise<number> {
    return new Promise((resolve, reject) => {
      http
        .get({ socketPath, path: '/api', agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
        .on('error', reject);
    });
  }

  it(`forwards at most ${KUBE_CONCURRENCY} Kubernetes requests at once and queues the rest`, async () => {
    const proxy = await startKubeProxy(path.join(dir, 'queue.sock'), { clients, rules: [] }, { signal: stop.signal });
    try {
      const statuses = await Promise.all(Array.from({ length: 20 }, () => request(proxy.socketPath)));
      expect(statuses).toEqual(Array(20).fill(200));
      expect(most).toBe(KUBE_CONCURRENCY);
    } finally {
      await proxy.close();
    }
  });

  it(`closes connections beyond ${MAX_CONNECTIONS} without answering them`, async () => {
    const proxy = await startKubeProxy(path.join(dir, 'conns.sock'), { clients, rules: [] }, { signal: stop.signal });
    const sockets: net.Socket[] = [];
    /** Opens a connection and sends one keep-alive request: what came back, once answered or closed. */
    const ask = () =>
      new Promise<string>((resolve) => {
        const socket = net.connect(proxy.socketPath);
        sockets.push(socket);
        let text = '';
        socket.on('error', () => undefined);
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes('\r\n\r\n')) resolve(text.split('\r\n')[0] ?? '');
        });
        socket.on('close', () => resolve(text ? (text.split('\r\n')[0] ?? '') : 'closed'));
        socket.write('GET /api HTTP/1.1\r\nHost: x\r\n\r\n');
      });
    try {
      // Each answered request proves the proxy holds its connection (kept alive).
      for (let i = 0; i < MAX_CONNECTIONS; i++) expect(await ask()).toBe('HTTP/1.1 200 OK');
      expect(await ask()).toBe('closed');
    } finally {
      for (const s of sockets) s.destroy();
      await proxy.close();
    }
  });
});

describe('the proxies’ decisions', () => {
  const rules: KubernetesRule[] = [
    { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list'] },
    { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list'] },
  ];
  it.each([
    ['GET', '/api', true],
    ['GET', '/apis/apps/v1', true],
    ['GET', '/openapi/v3/apis/apps/v1?hash=x', true],
    ['GET', '/api/v1/pods?limit=500', true],
    ['GET', '/api/v1/namespaces/a/pods/b/log', true],
    ['GET', '/apis/apps/v1/namespaces/a/deployments', true],
    ['GET', '/apis/apps/v1/namespaces/a/deployments/b', false],
    ['GET', '/api/v1/namespaces', false],
    ['GET', '/api/v1/namespaces/a', false],
    ['GET', '/api/v1/namespaces/a/secrets', false],
    ['GET', '/api/v1/namespaces/a/pods/b/exec', false],
    ['GET', '/api/v1/watch/pods', false],
    ['GET', '/api/v1/pods?watch=1', false],
    ['GET', '/api/v1/namespaces/a/pods/%2e%2e', false],
    ['GET', '//api/v1/pods', false],
    ['GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles', false],
    ['DELETE', '/api/v1/namespaces/a/pods/b', false],
  ])('%s %s is forwarded: %s', (method, url, forwarded) => {
    expect('forward' in kubeDecision(method, url, rules)).toBe(forwarded);
  });

  it('matches declared wildcards and ports, and never lets a wildcard reach a metadata host', () => {
    const wildcard: SandboxDestination = {
      declared: PackDestination.parse({ host: '*.example.com' }),
      policy: Destination.parse({ name: 'granted', host: '*.example.com' }),
    };
    expect('refused' in egressDecision({ scheme: 'https', host: 'api.example.com', port: 443 }, [wildcard])).toBe(false);
    expect('refused' in egressDecision({ scheme: 'https', host: 'example.com', port: 443 }, [wildcard])).toBe(true);
    expect('refused' in egressDecision({ scheme: 'https', host: 'api.example.com', port: 8443 }, [wildcard])).toBe(true);
    expect('refused' in egressDecision({ scheme: 'http', host: 'api.example.com', port: 443 }, [wildcard])).toBe(true);
    const internal: SandboxDestination = {
      declared: PackDestination.parse({ host: '*.google.internal' }),
      policy: Destination.parse({ name: 'granted', host: '*.google.internal' }),
    };
    expect(egressDecision({ scheme: 'https', host: 'metadata.google.internal', port: 443 }, [internal])).toEqual({
      refused: 'metadata.google.internal:443 is a cloud metadata service',
    });
  });
});
