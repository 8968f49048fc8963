/**
 * Platform-signed task envelopes, played by a hostile Temporal: it holds the workspace's payload
 * keys (so the codec lets it through) but not the Platform's signing key, and schedules
 * `executeCheck` straight on a real Runner process's queue. The Runner must refuse every task the
 * Platform did not sign for exactly this Runner, workflow, task and parameters, before it contacts
 * anything, and write each decision to its own audit trail on stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { lookoutDataConverter } from '../common/data-converter';
import { runnerTaskQueue, runWorkflowId } from '../common/ids';
import { StaticKeyring } from '../common/keyring';
import { paramsDigest, rawPublicKey, signTaskEnvelope, type TaskClaims } from '../common/task-envelope';
import { exportRunnerKeyFile } from '../platform/crypto/platform-keyring';
import { signingKeyFromSeed, generateSigningSeed } from '../platform/crypto/signing-key';
import type { BootstrapOutput } from '../platform-api/services/bootstrap.service';
import { env, newWorkspace, startPlatform, type TestPlatform, runnerProcessEnv } from './harness/env';
import { loopbackPolicyInput, testPlatformPublicKey, writePolicyFile } from './harness/policy';

const dist = path.resolve(__dirname, '..', 'dist');

let platform: TestPlatform;
let ws: BootstrapOutput;
let runner: ChildProcess;
let runnerOut = '';
let hostile: { client: Client; worker: Worker; running: Promise<void>; connection: NativeConnection; clientConnection: Connection };
let collector: net.Server;
let connections = 0;
let targetUrl: string;
const HOSTILE_QUEUE = `hostile-${randomUUID()}`;
/** The key the Platform rotates to: pinned by the Runner beside the current one. */
const rotated = signingKeyFromSeed(Buffer.from(generateSigningSeed(), 'base64'));

beforeAll(async () => {
  platform = await startPlatform();
  ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
  collector = net.createServer((s) => {
    connections += 1;
    s.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  targetUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/`;
  runner = spawn(process.execPath, [path.join(dist, 'workers', 'runner.js')], {
    env: await runnerProcessEnv(
      platform,
      ws,
      writePolicyFile(loopbackPolicyInput(['http.probe'], { platformKeys: [testPlatformPublicKey(), rotated.publicKey] })),
    ),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runner.stdout!.on('data', (d: Buffer) => (runnerOut += d.toString()));
  runner.stderr!.on('data', (d: Buffer) => (runnerOut += d.toString()));
  const until = Date.now() + 30_000;
  while (!runnerOut.includes('runner polling')) {
    if (Date.now() > until || runner.exitCode !== null) throw new Error(`runner did not start: ${runnerOut}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The hostile side: the workspace's payload keys, its own worker and workflow code, no signing key.
  const keys = new StaticKeyring(await exportRunnerKeyFile(platform.pool, platform.crypto.master, ws.workspaceId));
  const connection = await NativeConnection.connect({ address: env.temporalAddress });
  const clientConnection = await Connection.connect({ address: env.temporalAddress });
  // It writes into the workspace's own namespace (a hostile Temporal service can).
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

/** Schedules executeCheck on the Runner's queue from a workflow of the hostile side; answers the outcome. */
async function schedule(
  build: (workflowId: string, runId: string) => Record<string, unknown>,
): Promise<{ ok: boolean; type?: string; message?: string }> {
  const runId = randomUUID();
  const workflowId = runWorkflowId(ws.workspaceId, runId);
  const handle = await hostile.client.workflow.start('scheduleOnRunner', {
    taskQueue: HOSTILE_QUEUE,
    workflowId,
    args: [runnerTaskQueue(ws.runnerId), build(workflowId, runId)],
  });
  try {
    await handle.result();
    return { ok: true };
  } catch (err) {
    let cause: unknown = err;
    while ((cause as { cause?: unknown }).cause) cause = (cause as { cause: unknown }).cause;
    return { ok: false, type: (cause as { type?: string }).type, message: (cause as Error).message };
  }
}

const params = () => ({ url: targetUrl, method: 'GET', maxLatencyMs: 1000, timeoutMs: 2000 });
function request(workflowId: string, runId: string, sign?: { key: KeyObject; claims?: Partial<TaskClaims>; signedParams?: unknown }) {
  const p = params();
  const base = { runId, workspaceId: ws.workspaceId, taskId: ws.taskId, checkType: 'http.probe', params: p };
  if (!sign) return base;
  const now = Date.now();
  const claims: TaskClaims = {
    v: 1,
    workspaceId: ws.workspaceId,
    runnerId: ws.runnerId,
    runId,
    workflowId,
    taskId: ws.taskId,
    checkType: 'http.probe',
    paramsDigest: paramsDigest(sign.signedParams ?? p),
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 60_000).toISOString(),
    ...sign.claims,
  };
  return { ...base, envelope: signTaskEnvelope(sign.key, claims) };
}

const platformKey = () => platform.crypto.signing.privateKey;

describe('the Runner runs only what the Platform signed', () => {
  it.each([
    ['an unsigned task', () => schedule((w, r) => request(w, r)), /carries no Platform signature/],
    [
      'a task signed by a key the Runner does not pin',
      () => schedule((w, r) => request(w, r, { key: generateKeyPairSync('ed25519').privateKey })),
      /which this Runner does not pin/,
    ],
    [
      'an expired envelope',
      () =>
        schedule((w, r) =>
          request(w, r, {
            key: platformKey(),
            claims: { issuedAt: new Date(Date.now() - 7_200_000).toISOString(), expiresAt: new Date(Date.now() - 3_600_000).toISOString() },
          }),
        ),
      /has expired/,
    ],
    [
      'tampered parameters',
      () => schedule((w, r) => request(w, r, { key: platformKey(), signedParams: { url: 'https://allowed.example/' } })),
      /not those the Platform signed/,
    ],
    [
      'an envelope of another workflow',
      () => schedule((w, r) => request(w, r, { key: platformKey(), claims: { workflowId: `${w}-copied` } })),
      /signed for another workflowId/,
    ],
    [
      'an envelope of another Runner',
      () => schedule((w, r) => request(w, r, { key: platformKey(), claims: { runnerId: randomUUID() } })),
      /signed for another runnerId/,
    ],
    [
      'an envelope of another workspace',
      () => schedule((w, r) => request(w, r, { key: platformKey(), claims: { workspaceId: randomUUID() } })),
      /signed for another workspaceId/,
    ],
  ])('refuses %s before contacting anything', async (_name, attempt, reason) => {
    const outcome = await attempt();
    expect(outcome).toMatchObject({ ok: false, type: 'PolicyDenied' });
    expect(outcome.message).toMatch(reason);
    expect(connections).toBe(0);
  });

  it('runs a task signed by the Platform, and one signed by a rotated key once the Runner pins it', async () => {
    expect(await schedule((w, r) => request(w, r, { key: platformKey() }))).toEqual({ ok: true });
    expect(connections).toBe(1);
    expect(rawPublicKey(rotated.privateKey).toString('base64')).toBe(rotated.publicKey);
    expect(await schedule((w, r) => request(w, r, { key: rotated.privateKey }))).toEqual({ ok: true });
    expect(connections).toBe(2);
  });

  it("keeps its own audit trail of every task it accepted or refused, with the envelope's digest and the decision", () => {
    const entries = runnerOut
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map(
        (l) =>
          JSON.parse(l) as { audit?: { decision: string; reason?: string; envelopeDigest: string; policyDigest: string; runId: string } },
      )
      .flatMap((l) => (l.audit ? [l.audit] : []));
    expect(entries.filter((e) => e.decision === 'refused')).toHaveLength(7);
    expect(entries.filter((e) => e.decision === 'accepted')).toHaveLength(2);
    for (const e of entries) {
      expect(e.envelopeDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(e.policyDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
    expect(entries.find((e) => e.decision === 'refused')?.reason).toMatch(/refused by the Runner policy/);
  });
});
