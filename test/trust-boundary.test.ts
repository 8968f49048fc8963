/**
 * The trust boundary on the real services: payloads are ciphertext under per-workspace keys, a
 * Runner of another workspace can neither read nor forge a run's work, and key rotation keeps old
 * runs readable.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { attestAsRunner } from '../common/attestation';
import { BINDING_METADATA, CodecError, ENCRYPTED_ENCODING, KEY_ID_METADATA, WorkspaceCodec } from '../common/codec';
import { runnerTaskQueue, runWorkflowId } from '../common/ids';
import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileKeyring, keyId, StaticKeyring } from '../common/keyring';
import { exportRunnerKeyFile, PlatformKeyring, rotateWorkspaceKey } from '../platform/crypto/platform-keyring';
import { collectPayloads, metadataText } from './harness/history';
import {
  api,
  newWorkspace,
  startHttpServer,
  startPlatform,
  startRunner,
  runnerAttestationKeyOf,
  waitForRun,
  type TestPlatform,
} from './harness/env';

const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');

function keyringFor(workspaceId: string, versions = 1) {
  const keys = Array.from({ length: versions }, (_, i) => ({ id: keyId(workspaceId, i + 1), key: randomBytes(32).toString('base64') }));
  return new StaticKeyring({ workspaceId, activeKeyId: keys.at(-1)!.id, keys });
}

describe('payload codec', () => {
  const ws = randomUUID();
  const keyring = keyringFor(ws, 2);
  const codec = new WorkspaceCodec(keyring);
  const context = { type: 'workflow' as const, namespace: 'default', workflowId: runWorkflowId(ws, randomUUID()) };
  const plain = defaultPayloadConverter.toPayload({ url: 'https://billing.internal/health', token: 'canary-xyz' });

  it('encrypts every payload under the active key with the key id in metadata', async () => {
    const [sealed] = await codec.encode([plain], context);
    expect(text(sealed!.metadata!['encoding'])).toBe(ENCRYPTED_ENCODING);
    expect(text(sealed!.metadata![KEY_ID_METADATA])).toBe(keyId(ws, 2));
    expect(Buffer.from(sealed!.data!).toString('latin1')).not.toContain('billing.internal');
    // Format v2: the workflow id (in clear in Temporal anyway) is bound too (tenant-isolation.test.ts).
    expect(Object.keys(sealed!.metadata!).sort()).toEqual(['encoding', BINDING_METADATA, KEY_ID_METADATA].sort());
    expect(text(sealed!.metadata![BINDING_METADATA])).toBe(context.workflowId);
    const [back] = await codec.decode([sealed!]);
    expect(defaultPayloadConverter.fromPayload(back!)).toEqual({ url: 'https://billing.internal/health', token: 'canary-xyz' });
  });

  it('uses a fresh nonce for every payload', async () => {
    const [a, b] = await codec.encode([plain, plain], context);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
  });

  it('refuses tampered ciphertext', async () => {
    const [sealed] = await codec.encode([plain], context);
    const data = Buffer.from(sealed!.data!);
    data[20] = data[20]! ^ 0x01;
    await expect(codec.decode([{ ...sealed!, data }])).rejects.toThrow(/failed authentication/);
  });

  it('refuses a payload relabelled to another key of the same workspace', async () => {
    const [sealed] = await codec.encode([plain], context);
    const relabelled: Payload = { ...sealed!, metadata: { ...sealed!.metadata, [KEY_ID_METADATA]: Buffer.from(keyId(ws, 1)) } };
    await expect(codec.decode([relabelled])).rejects.toThrow(/failed authentication/);
  });

  it('refuses an unknown key id and a key of another workspace', async () => {
    const other = new WorkspaceCodec(keyringFor(randomUUID()));
    const [foreign] = await other.encode([plain]);
    await expect(codec.decode([foreign!])).rejects.toThrow(CodecError);
    await expect(codec.decode([foreign!])).rejects.toThrow(/no key .* in this keyring/);
  });

  it('refuses a plaintext payload where ciphertext is required', async () => {
    await expect(codec.decode([plain])).rejects.toThrow('refusing a payload with encoding "json/plain" where ciphertext is required');
  });

  it('refuses to encrypt for a workflow id that names another workspace than the keyring holds', async () => {
    await expect(
      codec.encode([plain], { type: 'workflow', namespace: 'default', workflowId: runWorkflowId(randomUUID(), randomUUID()) }),
    ).rejects.toThrow('this keyring holds no key of that workspace');
  });
});

describe('on the real services', () => {
  let platform: TestPlatform;
  let target: Awaited<ReturnType<typeof startHttpServer>>;
  beforeAll(async () => {
    platform = await startPlatform();
    target = await startHttpServer((_req, res) => res.writeHead(200).end('ok'));
  });
  afterAll(async () => {
    await target?.stop();
    await platform?.stop();
  });

  it("rejects a result forged by a Runner holding another workspace's keys: the run ends rejected and nothing is stored", async () => {
    const a = await newWorkspace(platform, { probeUrl: `${target.url}/a` });
    const b = await newWorkspace(platform, { probeUrl: `${target.url}/b`, policy: { scheduleToStartMs: 30_000 } });
    const keysOfA = new StaticKeyring(await exportRunnerKeyFile(platform.pool, platform.crypto.master, a.workspaceId));
    const codecOfA = new WorkspaceCodec(keysOfA);

    const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${b.workspaceId}/runs`, {
      token: b.token,
      body: { taskId: b.taskId },
    });
    const runId = String(created.body['id']);
    // A task queue is no security boundary, and the dev server no authorizer: Runner A polls B's
    // queue in B's namespace directly over gRPC (the authorizing server refuses that: temporal-authz.test.ts).
    const task = await platform.client.connection.withDeadline(Date.now() + 20_000, () =>
      platform.client.workflowService.pollActivityTaskQueue({
        namespace: b.temporalNamespace!,
        taskQueue: { name: runnerTaskQueue(b.runnerId) },
        identity: `runner:${a.runnerId}:evil`,
      }),
    );
    expect(task.taskToken?.length).toBeGreaterThan(0);
    // It cannot read B's task: the input is sealed under B's key.
    await expect(codecOfA.decode(task.input!.payloads!)).rejects.toThrow(/no key .* in this keyring/);

    // It forges a clean result for B's run, attested and encrypted under A's keys.
    const now = new Date().toISOString();
    const body = {
      runId,
      workspaceId: b.workspaceId,
      checkType: 'http.probe',
      status: 'ok' as const,
      summary: 'all good (forged)',
      issues: [],
      metrics: {},
      startedAt: now,
      finishedAt: now,
      durationMs: 0,
      exitCode: 0,
    };
    // Signed with the strongest key A holds, its own Runner's, naming B's Runner.
    const forged = { ...body, attestation: attestAsRunner(runnerAttestationKeyOf(a.runnerId), b.runnerId, b.workspaceId, runId, body) };
    const payloads = await codecOfA.encode([defaultPayloadConverter.toPayload(forged)]);
    await platform.client.workflowService.respondActivityTaskCompleted({
      namespace: b.temporalNamespace!,
      taskToken: task.taskToken,
      result: { payloads },
      identity: `runner:${a.runnerId}:evil`,
    });

    const run = await waitForRun(platform.baseUrl, b.token, runId);
    expect(run['status']).toBe('rejected');
    expect(run['error']).toEqual({
      type: 'ResultRejected',
      message: "result rejected: attestation was made with a key that is not the Runner's",
    });
    expect(run['result']).toBeNull();
    const stored = await platform.pool.query('select count(*)::int as n from results where run_id = $1', [runId]);
    expect(stored.rows[0].n).toBe(0);
    const audit = await platform.pool.query(
      "select details from audit_events where workspace_id = $1 and action = 'run.result_rejected' and target = $2",
      [b.workspaceId, `run:${runId}`],
    );
    expect(audit.rows).toEqual([{ details: { reason: "attestation was made with a key that is not the Runner's" } }]);
  });

  it("destroys a workspace's keys with the workspace, so its history can no longer be decrypted", async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/deleted` });
    const runner = await startRunner(platform, ws);
    let runId: string;
    try {
      const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, {
        token: ws.token,
        body: { taskId: ws.taskId },
      });
      runId = String(created.body['id']);
      expect((await waitForRun(platform.baseUrl, ws.token, runId))['status']).toBe('succeeded');
    } finally {
      await runner.stop();
    }
    const history = await (
      await platform.clientFor(ws.workspaceId)
    ).workflow
      .getHandle(runWorkflowId(ws.workspaceId, runId))
      .fetchHistory();
    const sealed = collectPayloads(history);
    // A fresh Platform keyring (as after a restart) decrypts the history while the workspace exists…
    const fresh = () => new WorkspaceCodec(new PlatformKeyring(platform.pool, platform.crypto.master, 'payload'));
    await expect(fresh().decode(sealed.slice(0, 1))).resolves.toHaveLength(1);
    await platform.pool.query('delete from workspaces where id = $1', [ws.workspaceId]);
    const { rows } = await platform.pool.query('select count(*)::int as n from workspace_keys where workspace_id = $1', [ws.workspaceId]);
    expect(rows[0].n).toBe(0);
    // …and not after its deletion: the keys are gone, and so is every way to read its payloads.
    await expect(fresh().decode(sealed.slice(0, 1))).rejects.toThrow(/no key .* in this keyring/);
  });

  it('lets a running Runner pick up a rotated key from its key file without a restart', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/file` });
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'lookout-keys-')), 'keys.json');
    const write = async (content?: string) => {
      writeFileSync(file, content ?? JSON.stringify(await exportRunnerKeyFile(platform.pool, platform.crypto.master, ws.workspaceId)));
      utimesSync(file, new Date(), new Date(Date.now() + Math.random() * 10_000));
    };
    await write();
    const events: boolean[] = [];
    const keyring = new FileKeyring(file, 0, (e) => events.push(e.ok));
    expect((await keyring.activeKey(ws.workspaceId)).id).toBe(keyId(ws.workspaceId, 1));
    const v2 = await rotateWorkspaceKey(platform.pool, platform.crypto.master, ws.workspaceId, 'payload');
    await write();
    expect((await keyring.keyById(v2))?.id).toBe(v2);
    expect((await keyring.activeKey(ws.workspaceId)).id).toBe(v2);
    await write('{ not json');
    expect((await keyring.activeKey(ws.workspaceId)).id).toBe(v2);
    expect(await keyring.keyById(keyId(ws.workspaceId, 1))).toBeDefined();
    expect(events).toEqual([true, false]);
  });

  it('keeps old runs readable after the workspace keys are rotated', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/rotate` });
    const runOnce = async () => {
      const runner = await startRunner(platform, ws);
      try {
        const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, {
          token: ws.token,
          body: { taskId: ws.taskId },
        });
        const run = await waitForRun(platform.baseUrl, ws.token, String(created.body['id']));
        expect(run['status']).toBe('succeeded');
        return String(created.body['id']);
      } finally {
        await runner.stop();
      }
    };
    const before = await runOnce();
    await rotateWorkspaceKey(platform.pool, platform.crypto.master, ws.workspaceId, 'payload');
    await rotateWorkspaceKey(platform.pool, platform.crypto.master, ws.workspaceId, 'data');
    // A fresh Platform process sees the new active keys at once (a running one within its cache TTL).
    await platform.stop();
    platform = await startPlatform();
    const after = await runOnce();

    const keyIdsOf = async (runId: string) => {
      const history = await (
        await platform.clientFor(ws.workspaceId)
      ).workflow
        .getHandle(runWorkflowId(ws.workspaceId, runId))
        .fetchHistory();
      return new Set(collectPayloads(history).map((p) => metadataText(p, KEY_ID_METADATA)));
    };
    expect([...(await keyIdsOf(before))]).toEqual([keyId(ws.workspaceId, 1)]);
    expect(await keyIdsOf(after)).toContain(keyId(ws.workspaceId, 2));
    for (const runId of [before, after]) {
      const res = await api(platform.baseUrl, 'GET', `/v1/runs/${runId}`, { token: ws.token });
      expect(res.body['status']).toBe('succeeded');
      expect((res.body['result'] as { status: string }).status).toBe('ok');
      // The whole history of the old run still decodes through the codec.
      const result = await (await platform.clientFor(ws.workspaceId)).workflow.getHandle(runWorkflowId(ws.workspaceId, runId)).result();
      expect(result).toEqual({ status: 'succeeded' });
    }
  });
});
