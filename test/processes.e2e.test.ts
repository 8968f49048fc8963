/**
 * The real entry points as separate processes: the CLI, the quick start (API, platform worker and
 * Runner processes), and a Runner killed mid-check whose work is retried and then fails.
 */
import { loopbackPolicyInput, testPlatformPublicKey, writePolicyFile } from './harness/policy';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash, createPublicKey, randomBytes, verify, type JsonWebKey } from 'node:crypto';
import { Client } from 'pg';
import { adminClients, containerStatus, pod as kubePod } from './harness/kube-fixtures';
import { freePort } from '../platform/db/embedded';
import { createTemporalTokenIssuer } from '../platform/crypto/temporal-tokens';
import { createEmptyDatabase } from './harness/databases';
import {
  api,
  env,
  newWorkspace,
  patchTaskParams,
  startHttpServer,
  startPlatform,
  waitForRun,
  writeRunnerKeyFile,
  runnerAttestationEnv,
  type TestPlatform,
} from './harness/env';

const dist = path.resolve(__dirname, '..', 'dist');
const baseEnv = () => ({ PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/', LOOKOUT_LOG_LEVEL: 'warn' });

describe('lookout CLI', () => {
  it('makes a task-signing key and tells the public key the Platform signs with', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-signing-'));
    const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
      spawnSync(process.execPath, [path.join(dist, 'platform-api', 'cli.js'), 'keys', ...args], {
        env: { ...baseEnv(), ...extra },
        encoding: 'utf8',
      });
    const made = cli(['signing-keygen', '--out', path.join(dir, 'signing.key')]);
    expect(made.status).toBe(0);
    const publicKey = /public key \(pin it in Runner policies' platformKeys\): (\S+)/.exec(made.stdout)?.[1];
    expect(publicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(made.stdout).not.toContain(readFileSync(path.join(dir, 'signing.key'), 'utf8').trim());
    const configured = cli(['signing-public'], {
      LOOKOUT_MASTER_KEY: env.masterKey,
      LOOKOUT_PLATFORM_SIGNING_KEY: readFileSync(path.join(dir, 'signing.key'), 'utf8').trim(),
    });
    expect(configured.stdout.trim()).toBe(publicKey);
    // Without one configured, the key derived from the master key: the one the test Platform signs with.
    expect(cli(['signing-public'], { LOOKOUT_MASTER_KEY: env.masterKey }).stdout.trim()).toBe(testPlatformPublicKey());
  });

  it('makes a Temporal token key and mints tokens that verify against the JWKS the API publishes for it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-temporal-token-'));
    const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
      spawnSync(process.execPath, [path.join(dist, 'platform-api', 'cli.js'), 'temporal', ...args], {
        env: { ...baseEnv(), ...extra },
        encoding: 'utf8',
      });
    const keyFile = path.join(dir, 'temporal-token.pem');
    expect(cli(['keygen', '--out', keyFile]).status).toBe(0);
    const made = cli(['token', '--out', path.join(dir, 'platform.token')], { LOOKOUT_TEMPORAL_TOKEN_KEY_FILE: keyFile });
    expect(made.stderr).toBe('');
    expect(made.status).toBe(0);
    const token = readFileSync(path.join(dir, 'platform.token'), 'utf8').trim();
    expect(made.stdout).not.toContain(token);
    const [header, claims, signature] = token.split('.') as [string, string, string];
    expect(JSON.parse(Buffer.from(claims, 'base64url').toString())).toMatchObject({
      sub: 'lookout-platform',
      permissions: ['temporal-system:admin'],
    });
    const [jwk] = createTemporalTokenIssuer(readFileSync(keyFile, 'utf8')).jwks().keys;
    expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual({ alg: 'ES256', typ: 'JWT', kid: jwk!['kid'] });
    const publicKey = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    expect(
      verify(
        'sha256',
        Buffer.from(`${header}.${claims}`),
        { key: publicKey, dsaEncoding: 'ieee-p1363' },
        Buffer.from(signature, 'base64url'),
      ),
    ).toBe(true);
    // A permission that is not "<namespace>:<role>" is refused, and nothing is written.
    const bad = cli(['token', '--out', path.join(dir, 'bad.token'), '--permission', 'everything'], {
      LOOKOUT_TEMPORAL_TOKEN_KEY_FILE: keyFile,
    });
    expect(bad.status).not.toBe(0);
  });

  it('bootstraps a workspace with a working owner token and verifies the audit chain', async () => {
    const db = await createEmptyDatabase();
    try {
      const cliEnv = {
        ...baseEnv(),
        DATABASE_URL: db.url,
        LOOKOUT_MASTER_KEY: env.masterKey,
        LOOKOUT_TEMPORAL_ADDRESS: env.temporalAddress,
      };
      const out = spawnSync(
        process.execPath,
        [
          path.join(dist, 'platform-api', 'cli.js'),
          'admin',
          'bootstrap',
          '--workspace',
          'acme',
          '--owner',
          'ops@acme.test',
          '--probe-url',
          'http://127.0.0.1:9/',
          '--json',
        ],
        { env: cliEnv, encoding: 'utf8' },
      );
      expect(out.stderr).toBe('');
      expect(out.status).toBe(0);
      const created = JSON.parse(out.stdout) as { workspaceId: string; token: string; taskQueue: string; runnerId: string };
      expect(created.token).toMatch(/^lk_[A-Za-z0-9_-]{43}$/);
      expect(created.taskQueue).toBe(`runner-${created.runnerId}`);

      const verify = spawnSync(
        process.execPath,
        [path.join(dist, 'platform-api', 'cli.js'), 'audit', 'verify', '--workspace', created.workspaceId],
        { env: cliEnv, encoding: 'utf8' },
      );
      expect(verify.status).toBe(0);
      expect(verify.stdout).toBe('audit chain intact: 6 events\n');

      const bad = spawnSync(
        process.execPath,
        [
          path.join(dist, 'platform-api', 'cli.js'),
          'admin',
          'bootstrap',
          '--workspace',
          'x',
          '--owner',
          'not-an-email',
          '--probe-url',
          'http://127.0.0.1:9/',
        ],
        { env: cliEnv, encoding: 'utf8' },
      );
      expect(bad.status).not.toBe(0);
      expect(bad.stderr).toMatch(/ownerEmail/);
    } finally {
      await db.drop();
    }
  });
});

/** The command lines of running processes that name `dir` (Linux /proc). */
function processesUnder(dir: string): string[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
        return cmd.includes(dir) ? [cmd.slice(0, 200)] : [];
      } catch {
        return [];
      }
    });
}

describe('quick start', () => {
  it('starts the API, the platform worker and a Runner as processes, runs a probe end to end, shows an issue and its notifications, and discovers a demo cluster', async () => {
    const db = await createEmptyDatabase();
    const home = mkdtempSync(path.join(os.tmpdir(), 'lookout-home-'));
    try {
      const apiPort = await freePort();
      const child = spawn(process.execPath, [path.join(dist, 'scripts', 'quickstart.js'), '--once'], {
        env: {
          ...baseEnv(),
          DATABASE_URL: db.url,
          LOOKOUT_TEMPORAL_ADDRESS: env.temporalAddress,
          LOOKOUT_API_PORT: String(apiPort),
          LOOKOUT_QUICKSTART_CODEC_PORT: String(await freePort()),
          LOOKOUT_QUICKSTART_DEMO_PORT: String(await freePort()),
          LOOKOUT_QUICKSTART_BAO_PORT: String(await freePort()),
          LOOKOUT_HOME: home,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(output).toMatch(/run [0-9a-f-]{36}: succeeded/);
      expect(output).toContain(`result: ok: http://127.0.0.1:${apiPort}/healthz answered 200`);
      // The second act: an issue opens, its notification arrives signed, and the mend resolves it.
      expect(output).toMatch(/Issue {9}[0-9a-f-]{36}: "Unexpected HTTP status" \(open; seen 1×, reopened 0×\)/);
      expect(output).toMatch(
        /Notification {2}new · sev1 · "Unexpected HTTP status" · Endpoint http:\/\/127\.0\.0\.1:\d+\/demo\/health · status 503 {2}\(signature verified\)/,
      );
      expect(output).toMatch(/Notification {2}resolved · sev1 · "Unexpected HTTP status"/);
      // The third act: the demo cluster is discovered, its checks made, and a first sweep scores it.
      expect(output).toMatch(/cluster: \d+ namespaces, 2 workloads, 1 pods, 0 nodes \(names: clear\)/);
      expect(output).toMatch(/applied: \d+ created, 0 updated, 0 removed/);
      expect(output).toContain('(k8s.namespace-health)');
      expect(output).toMatch(/Sweep {9}[0-9a-f-]{36}: completed, \d+ runs, score 0\.\d\d/);
      // Each broken namespace scores below 1, its findings counted once (payments: its service has no endpoint).
      expect(output).toMatch(/namespace shop +score 0\.\d\d {2}[1-9]\d* issues/);
      expect(output).toMatch(/namespace batch +score 0\.\d\d {2}[1-9]\d* issues/);
      expect(output).toMatch(/namespace payments +score 0\.\d\d {2}[1-9]\d* issues/);
      expect(code).toBe(0);
      // The console's one-time login for the owner it made: an open claim code for that account, in the fragment (never sent to a server log).
      const login = new RegExp(
        `Console {7}http://127\\.0\\.0\\.1:${apiPort}/#/claim\\?code=([A-Za-z0-9_-]{43}) +\\(one-time login for owner@lookout\\.localhost`,
      ).exec(output);
      expect(login).not.toBeNull();
      const claims = new Client({ connectionString: db.url });
      await claims.connect();
      try {
        const { rows } = await claims.query<{ email: string; workspace_id: string | null }>(
          'select email, workspace_id from invitations where token_hash = $1 and accepted_at is null and revoked_at is null and expires_at > now()',
          [createHash('sha256').update(login![1]!).digest()],
        );
        expect(rows).toEqual([{ email: 'owner@lookout.localhost', workspace_id: null }]);
      } finally {
        await claims.end();
      }
      // Nothing it started outlives it: the demo control plane (kube-apiserver stopped before etcd) is gone too.
      expect(processesUnder(home)).toEqual([]);
    } finally {
      await db.drop();
    }
  });

  it("given LOOKOUT_KUBECONFIG, discovers that cluster instead of a demo one and prints its first sweep's scores", async () => {
    const admin = adminClients();
    const ns = `qs-${randomBytes(4).toString('hex')}`;
    await admin.core.createNamespace({ body: { metadata: { name: ns } } });
    await kubePod(admin, ns, 'api-0', {
      phase: 'Running',
      containerStatuses: [containerStatus({ restartCount: 8, state: { waiting: { reason: 'CrashLoopBackOff' } } })],
    });
    const db = await createEmptyDatabase();
    const home = mkdtempSync(path.join(os.tmpdir(), 'lookout-home-'));
    try {
      const child = spawn(process.execPath, [path.join(dist, 'scripts', 'quickstart.js'), '--once'], {
        env: {
          ...baseEnv(),
          DATABASE_URL: db.url,
          LOOKOUT_TEMPORAL_ADDRESS: env.temporalAddress,
          LOOKOUT_API_PORT: String(await freePort()),
          LOOKOUT_QUICKSTART_CODEC_PORT: String(await freePort()),
          LOOKOUT_QUICKSTART_DEMO_PORT: String(await freePort()),
          LOOKOUT_QUICKSTART_BAO_PORT: String(await freePort()),
          LOOKOUT_KUBECONFIG: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '',
          LOOKOUT_HOME: home,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(output).toContain('Kubernetes    from LOOKOUT_KUBECONFIG');
      expect(output).not.toContain('demo control plane');
      expect(output).toContain(`  + default ${ns} namespace-health (k8s.namespace-health)`);
      expect(output).toMatch(/Sweep {9}[0-9a-f-]{36}: completed, \d+ runs, score \d\.\d\d/);
      expect(output).toMatch(new RegExp(`namespace ${ns} +score 0\\.\\d\\d {2}[1-9]\\d* issues`));
      expect(code).toBe(0);
    } finally {
      await db.drop();
    }
  }, 300_000);
});

describe('a Runner killed mid-check', () => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startPlatform();
  });
  afterAll(async () => {
    await platform?.stop();
  });

  function startRunnerProcess(runnerId: string, workspaceId: string, keysFile: string, namespace: string): ChildProcess {
    return spawn(process.execPath, [path.join(dist, 'workers', 'runner.js')], {
      env: {
        ...baseEnv(),
        LOOKOUT_TEMPORAL_ADDRESS: env.temporalAddress,
        LOOKOUT_TEMPORAL_NAMESPACE: namespace,
        LOOKOUT_RUNNER_ID: runnerId,
        LOOKOUT_WORKSPACE_ID: workspaceId,
        LOOKOUT_RUNNER_KEYS_FILE: keysFile,
        ...runnerAttestationEnv(runnerId),
        LOOKOUT_RUNNER_POLICY_FILE: writePolicyFile(loopbackPolicyInput(['http.probe'])),
      },
      stdio: 'ignore',
    });
  }

  it('is retried after its heartbeat times out, and the run fails once the attempts are spent', async () => {
    let connections = 0;
    const waiters: (() => void)[] = [];
    // A target that accepts the request and never answers: the check is busy until the Runner dies.
    const target = await startHttpServer(() => {
      connections += 1;
      waiters.splice(0).forEach((w) => w());
    });
    const nextConnection = (n: number) =>
      new Promise<void>((resolve) => (connections >= n ? resolve() : waiters.push(() => connections >= n && resolve())));
    const ws = await newWorkspace(platform, {
      probeUrl: `${target.url}/hang`,
      policy: { heartbeatMs: 2_000, maxAttempts: 2, initialRetryIntervalMs: 100, scheduleToStartMs: 60_000 },
    });
    await patchTaskParams(platform, ws, { timeoutMs: 120_000 });
    const keysFile = await writeRunnerKeyFile(platform, ws.workspaceId);
    const runners: ChildProcess[] = [];
    try {
      const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, {
        token: ws.token,
        body: { taskId: ws.taskId },
      });
      expect(created.status).toBe(202);
      for (const attempt of [1, 2]) {
        const runner = startRunnerProcess(ws.runnerId, ws.workspaceId, keysFile, ws.temporalNamespace!);
        runners.push(runner);
        await nextConnection(attempt);
        runner.kill('SIGKILL');
      }
      const run = await waitForRun(platform.baseUrl, ws.token, String(created.body['id']), 60_000);
      expect(run['status']).toBe('failed');
      expect(run['error']).toEqual({ type: 'CheckTimedOut', message: 'the check timed out (HEARTBEAT) on its last attempt' });
      expect(run['result']).toBeNull();
      expect(connections).toBe(2);
    } finally {
      runners.forEach((r) => r.kill('SIGKILL'));
      await target.stop();
    }
  });
});
