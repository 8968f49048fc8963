/**
 * Results signed by the Runner's own key (issue 16): each Runner has an Ed25519 key whose private
 * half only it holds (made by its owner, or made at registration and answered once); the Platform
 * keeps the public half, stores a result only with that Runner's signature, and keeps the
 * signature, so a stored result proves which Runner produced it. A result under the workspace key
 * (which the Platform and every Runner of the workspace hold) or another Runner's key is refused;
 * a replaced or revoked key stops the Runner at once. Through the real API, worker and Temporal.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { verifyRunnerAttestation } from '../common/attestation';
import { generateSigningSeed, signingKeyFromSeed } from '../common/ed25519';
import { api, env, newWorkspace, runTaskViaApi, startHttpServer, startPlatform, startRunner, type TestPlatform } from './harness/env';

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

/** One run of the workspace's task with a Runner holding `attestationKey` (undefined: its own, null: none). */
async function runWith(ws: Awaited<ReturnType<typeof newWorkspace>>, attestationKey?: string | null) {
  const runner = await startRunner(platform, ws, attestationKey === undefined ? {} : { attestationKey });
  try {
    return await runTaskViaApi(platform, ws, ws.taskId);
  } finally {
    await runner.stop();
  }
}

async function rejection(runId: string): Promise<unknown> {
  const { rows } = await platform.pool.query<{ details: { reason: string } }>(
    "select details from audit_events where action = 'run.result_rejected' and target = $1",
    [`run:${runId}`],
  );
  return rows[0]?.details.reason;
}

const publicKeyOf = async (runnerId: string) =>
  (await platform.pool.query<{ k: string }>('select attestation_public_key as k from runners where id = $1', [runnerId])).rows[0]!.k;

describe("results signed by the Runner's own key", () => {
  it('stores a result with the signature of the Runner that ran it, which proves its origin later', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/signed` });
    const run = await runWith(ws);
    expect(run['status']).toBe('succeeded');
    const { rows } = await platform.pool.query<{ attestation: string; attestation_key_id: string }>(
      'select attestation, attestation_key_id from results where run_id = $1',
      [run['id']],
    );
    const publicKey = await publicKeyOf(ws.runnerId);
    const keyId = signingKeyFromSeed(Buffer.from(ws.runnerAttestationKey, 'base64')).keyId;
    expect(rows[0]!.attestation_key_id).toBe(`runner:${ws.runnerId}:${keyId}`);
    expect(rows[0]!.attestation).toMatch(new RegExp(`^v2\\.${ws.runnerId}\\.${keyId}\\.`));
    // The stored result (as the API shows it) and its stored signature verify under the Runner's public key.
    const body: Record<string, unknown> = { ...(run['result'] as Record<string, unknown>), runId: run['id'], workspaceId: ws.workspaceId };
    delete body['storedAt'];
    expect(
      verifyRunnerAttestation({ id: ws.runnerId, publicKey }, rows[0]!.attestation, ws.workspaceId, String(run['id']), body),
    ).toBeUndefined();
    expect(
      verifyRunnerAttestation({ id: ws.runnerId, publicKey }, rows[0]!.attestation, ws.workspaceId, String(run['id']), {
        ...body,
        summary: 'something else',
      }),
    ).toBe("attestation does not verify under the Runner's key");
    // Not even the Platform holds the private half.
    const { rows: stored } = await platform.pool.query('select * from runners where id = $1', [ws.runnerId]);
    expect(JSON.stringify(stored)).not.toContain(ws.runnerAttestationKey);
  });

  it('refuses a result under the workspace key, or signed by another key, and stores nothing', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/forged` });
    // The workspace key: what the Platform, and every Runner of the workspace, could attest with.
    const underWorkspaceKey = await runWith(ws, null);
    expect(underWorkspaceKey['status']).toBe('rejected');
    expect(underWorkspaceKey['result']).toBeNull();
    expect(await rejection(String(underWorkspaceKey['id']))).toBe('the Runner must sign its results with its own key');
    // Another key (another Runner's, or one an attacker made).
    const otherKey = await runWith(ws, generateSigningSeed());
    expect(otherKey['status']).toBe('rejected');
    expect(await rejection(String(otherKey['id']))).toBe("attestation was made with a key that is not the Runner's");
  });

  it("stops a Runner at once when its key is replaced or revoked, and audits both; the owner's own key works", async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/rotated` });
    const path = `/v1/workspaces/${ws.workspaceId}/runners/${ws.runnerId}/attestation-key`;
    const rotated = await api(platform.baseUrl, 'POST', path, { token: ws.token, body: {} });
    expect(rotated.status).toBe(201);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    const newSeed = String(rotated.body['runnerKey']);
    expect(rotated.body['attestationKeyId']).toBe(signingKeyFromSeed(Buffer.from(newSeed, 'base64')).keyId);
    expect((await runWith(ws))['status']).toBe('rejected'); // the Runner still holds the old key
    expect((await runWith(ws, newSeed))['status']).toBe('succeeded');

    expect((await api(platform.baseUrl, 'DELETE', path, { token: ws.token })).status).toBe(204);
    const revoked = await runWith(ws, newSeed);
    expect(revoked['status']).toBe('rejected');
    expect(await rejection(String(revoked['id']))).toBe("the Runner's attestation key is revoked");

    // The owner makes the key where the Runner runs and hands the Platform only the public half.
    const ownSeed = generateSigningSeed();
    const own = await api(platform.baseUrl, 'POST', path, {
      token: ws.token,
      body: { publicKey: signingKeyFromSeed(Buffer.from(ownSeed, 'base64')).publicKey },
    });
    expect(own.status).toBe(201);
    expect(own.body).not.toHaveProperty('runnerKey');
    expect((await runWith(ws, ownSeed))['status']).toBe('succeeded');
    expect((await api(platform.baseUrl, 'POST', path, { token: ws.token, body: { publicKey: 'not a key' } })).status).toBe(400);
    expect(
      (
        await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runners/${randomUUID()}/attestation-key`, {
          token: ws.token,
          body: {},
        })
      ).status,
    ).toBe(404);

    const { rows } = await platform.pool.query<{ action: string; details: Record<string, unknown> | null }>(
      "select action, details from audit_events where workspace_id = $1 and action like 'runner.attestation_key_%' order by id",
      [ws.workspaceId],
    );
    expect(rows.map((r) => [r.action, r.details?.['attestationKeyMadeBy'] ?? null])).toEqual([
      ['runner.attestation_key_rotated', 'platform'],
      ['runner.attestation_key_revoked', null],
      ['runner.attestation_key_rotated', 'owner'],
    ]);
    expect(JSON.stringify(rows)).not.toContain(newSeed);
  });

  it('registers a Runner with a key pair answered once, or with the public half of its own', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/register` });
    const made = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runners`, {
      token: ws.token,
      body: { name: 'edge-a' },
    });
    expect(made.status).toBe(201);
    const seed = String(made.body['runnerKey']);
    expect(made.body['attestationKeyId']).toBe(signingKeyFromSeed(Buffer.from(seed, 'base64')).keyId);
    expect(made.body['helmValues']).toMatchObject({ runner: { attestationKey: true } });
    expect(JSON.stringify(made.body['install'])).toContain('--from-file=runner-key=./runner-key');
    expect(await publicKeyOf(String(made.body['id']))).toBe(signingKeyFromSeed(Buffer.from(seed, 'base64')).publicKey);

    // The owner makes the key where the Runner runs (`lookout runner keygen`) and registers its public half.
    const keyFile = path.join(env.dir, `runner-key-${randomUUID()}`);
    const keygen = spawnSync(
      process.execPath,
      [path.join(__dirname, '..', 'dist', 'platform-api', 'cli.js'), 'runner', 'keygen', '--out', keyFile],
      {
        encoding: 'utf8',
      },
    );
    expect(keygen.status).toBe(0);
    const ownPublic = /^attestationPublicKey \(give it at registration\): (\S+)$/m.exec(keygen.stdout)![1]!;
    expect(signingKeyFromSeed(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64')).publicKey).toBe(ownPublic);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const own = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runners`, {
      token: ws.token,
      body: { name: 'edge-b', attestationPublicKey: ownPublic },
    });
    expect(own.status).toBe(201);
    expect(own.body).not.toHaveProperty('runnerKey');
    expect(await publicKeyOf(String(own.body['id']))).toBe(ownPublic);
    const bad = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runners`, {
      token: ws.token,
      body: { name: 'edge-c', attestationPublicKey: Buffer.alloc(31).toString('base64') },
    });
    expect(bad.status).toBe(400);
  });
});
