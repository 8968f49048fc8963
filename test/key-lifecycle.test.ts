/**
 * Key states (issue 16): an active key encrypts and attests; a retired key decrypts history and
 * attests nothing; a revoked key (`lookout keys revoke`, audited) is refused everywhere: by the
 * Platform's keyring and its attestation check, by a Runner's key file (which carries the states
 * and lists revoked ids, even against an older file that still held the key) and by the codec server.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import pino from 'pino';
import { attest, verifyAttestation } from '../common/attestation';
import { WorkspaceCodec } from '../common/codec';
import { runWorkflowId } from '../common/ids';
import { keyId, StaticKeyring, type KeyFile } from '../common/keyring';
import { exportRunnerKeyFile, PlatformKeyring, rotateWorkspaceKey } from '../platform/crypto/platform-keyring';
import { createCodecApp } from '../workers/codec-server';
import { newWorkspace, startPlatform, type TestPlatform } from './harness/env';

let platform: TestPlatform;
let ws: Awaited<ReturnType<typeof newWorkspace>>;
const runId = randomUUID();
const body = { status: 'ok', summary: 'all good', issues: [] };
let fileV1: KeyFile;
let sealedV1: Payload[];
let attestedV2: string;

beforeAll(async () => {
  platform = await startPlatform();
  ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/healthz' });
});
afterAll(async () => {
  await platform?.stop();
});

/** A keyring as a Platform process that starts now sees the keys (no cached states). */
const freshPlatformKeys = () => new PlatformKeyring(platform.pool, platform.crypto.master, 'payload');
const context = () => ({ type: 'workflow' as const, namespace: ws.temporalNamespace!, workflowId: runWorkflowId(ws.workspaceId, runId) });

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['dist/platform-api/cli.js', ...args], {
    env: {
      ...process.env,
      DATABASE_URL: process.env['LOOKOUT_TEST_DATABASE_URL'],
      LOOKOUT_MASTER_KEY: process.env['LOOKOUT_TEST_MASTER_KEY'],
    },
    encoding: 'utf8',
  });
}

describe('key states', () => {
  it('lets a retired key decrypt history and attest nothing', async () => {
    fileV1 = await exportRunnerKeyFile(platform.pool, platform.crypto.master, ws.workspaceId);
    expect(fileV1.keys).toEqual([{ id: keyId(ws.workspaceId, 1), key: expect.any(String), state: 'active' }]);
    const runnerV1 = new StaticKeyring(fileV1);
    const v1 = await runnerV1.activeKey(ws.workspaceId);
    sealedV1 = await new WorkspaceCodec(runnerV1).encode([defaultPayloadConverter.toPayload('history under v1')], context());
    const attestedV1 = attest(v1, ws.workspaceId, runId, body);
    expect(await verifyAttestation(freshPlatformKeys(), attestedV1, ws.workspaceId, runId, body)).toBeUndefined();

    const v2 = await rotateWorkspaceKey(platform.pool, platform.crypto.master, ws.workspaceId, 'payload');
    const platformKeys = freshPlatformKeys();
    expect(await verifyAttestation(platformKeys, attestedV1, ws.workspaceId, runId, body)).toBe('attestation was made with a retired key');
    const [history] = await new WorkspaceCodec(platformKeys).decode(sealedV1, context());
    expect(defaultPayloadConverter.fromPayload(history!)).toBe('history under v1');

    // The Runner's new key file says which key is which; only the active one attests.
    const fileV2 = await exportRunnerKeyFile(platform.pool, platform.crypto.master, ws.workspaceId);
    expect(fileV2.keys.map((k) => [k.id, k.state])).toEqual([
      [keyId(ws.workspaceId, 1), 'retired'],
      [v2, 'active'],
    ]);
    const runnerV2 = new StaticKeyring(fileV2);
    expect((await runnerV2.keyById(keyId(ws.workspaceId, 1)))?.state).toBe('retired');
    attestedV2 = attest(await runnerV2.activeKey(ws.workspaceId), ws.workspaceId, runId, body);
    expect(await verifyAttestation(platformKeys, attestedV2, ws.workspaceId, runId, body)).toBeUndefined();
  });

  it('refuses a revoked key in the Platform, in attestations, in key files and in the codec server, and audits the revocation', async () => {
    const v1 = keyId(ws.workspaceId, 1);
    const v2 = keyId(ws.workspaceId, 2);
    const v3 = keyId(ws.workspaceId, 3);
    // A key file leaked: revoke both its keys. The active one is replaced first.
    const revokeActive = cli('keys', 'revoke', '--key', v2);
    expect(revokeActive.stderr).toBe('');
    expect(revokeActive.status).toBe(0);
    expect(revokeActive.stdout).toContain(`revoked payload key ${v2}; new active key ${v3}`);
    expect(cli('keys', 'revoke', '--key', v1).status).toBe(0);
    expect(cli('keys', 'revoke', '--key', keyId(ws.workspaceId, 9)).status).not.toBe(0);
    expect(cli('keys', 'revoke', '--key', 'not-a-key').status).not.toBe(0);

    const platformKeys = freshPlatformKeys();
    expect(await platformKeys.keyById(v1)).toBeUndefined();
    expect(await platformKeys.keyById(v2)).toBeUndefined();
    expect((await platformKeys.activeKey(ws.workspaceId)).id).toBe(v3);
    await expect(new WorkspaceCodec(platformKeys).decode(sealedV1, context())).rejects.toThrow(/no key .* in this keyring/);
    expect(await verifyAttestation(platformKeys, attestedV2, ws.workspaceId, runId, body)).toBe(
      'attestation names an unknown or revoked key',
    );
    // A running Platform process drops the revoked keys once their state is re-read (15 s).
    const { rows } = await platform.pool.query<{ version: number; state: string; revoked_at: Date | null }>(
      'select version, state, revoked_at from workspace_keys where workspace_id = $1 and purpose = $2 order by version',
      [ws.workspaceId, 'payload'],
    );
    expect(rows.map((r) => [r.version, r.state, r.revoked_at !== null])).toEqual([
      [1, 'revoked', true],
      [2, 'revoked', true],
      [3, 'active', false],
    ]);

    // The key file carries no revoked material, names the revoked ids, and beats an older file's keys.
    const file = await exportRunnerKeyFile(platform.pool, platform.crypto.master, ws.workspaceId);
    expect(file.keys.map((k) => [k.id, k.state])).toEqual([[v3, 'active']]);
    expect(file.revoked).toEqual([v1, v2]);
    const merged: KeyFile = { ...file, keys: [...file.keys, { ...fileV1.keys[0]!, state: 'retired' }] };
    const runnerKeys = new StaticKeyring(merged);
    expect(await runnerKeys.keyById(v1)).toBeUndefined();
    await expect(new WorkspaceCodec(runnerKeys).decode(sealedV1, context())).rejects.toThrow(/no key .* in this keyring/);
    expect(() => new StaticKeyring({ ...fileV1, revoked: [v1] })).toThrow(/active key it does not hold \(or revoked\)/);

    // The codec server with the new key file shows nothing under the revoked key.
    const lines: string[] = [];
    const server = http.createServer(
      createCodecApp({
        keyring: runnerKeys,
        logger: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }),
        token: undefined,
        allowedOrigins: [],
        namespaces: [ws.temporalNamespace!],
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-namespace': ws.temporalNamespace! },
        body: JSON.stringify({
          payloads: sealedV1.map((p) => ({
            metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
            data: Buffer.from(p.data!).toString('base64'),
          })),
        }),
      });
      expect(res.status).toBe(403);
      expect(await res.text()).not.toContain('history under v1');
      expect(lines.some((l) => l.includes('"outcome":"refused"'))).toBe(true);
    } finally {
      server.close();
    }

    const audit = await platform.pool.query<{ target: string; details: Record<string, unknown> }>(
      "select target, details from audit_events where workspace_id = $1 and action = 'keys.revoked' order by id",
      [ws.workspaceId],
    );
    expect(audit.rows).toEqual([
      { target: `key:payload:${v2}`, details: { rotatedTo: v3 } },
      { target: `key:payload:${v1}`, details: {} },
    ]);
  });
});
