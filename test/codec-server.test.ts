/**
 * The customer-hosted codec server: the Temporal CLI (the same contract as the Web UI) shows
 * decrypted payloads through it, while it refuses unauthenticated callers, foreign origins and
 * payloads of another workspace, and audits every decode.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { WorkspaceCodec } from '../common/codec';
import { StaticKeyring } from '../common/keyring';
import { ApiConfig, CodecServerConfig, ConfigError, parseConfig } from '../common/config';
import { runWorkflowId } from '../common/ids';
import { exportRunnerKeyFile } from '../platform/crypto/platform-keyring';
import { findTemporalCli } from '../scripts/tools';
import { createCodecApp } from '../workers/codec-server';
import { collectPayloads } from './harness/history';
import { discoverBearerVerifier } from '../common/oidc-bearer';
import { startOidcProvider, type TestOidcProvider } from './harness/oidc-provider';
import { api, env, newWorkspace, startHttpServer, startPlatform, startRunner, waitForRun, type TestPlatform } from './harness/env';

const ORIGIN = 'http://127.0.0.1:8233';
const TOKEN = randomBytes(24).toString('base64url');
const ENCODE_TOKEN = randomBytes(24).toString('base64url');

let platform: TestPlatform;
let target: Awaited<ReturnType<typeof startHttpServer>>;
let codecUrl: string;
let server: http.Server;
const auditLines: string[] = [];
let wsA: Awaited<ReturnType<typeof newWorkspace>>;
let wsB: Awaited<ReturnType<typeof newWorkspace>>;
let runIdA: string;
let runIdB: string;

async function runOnce(ws: typeof wsA): Promise<string> {
  const runner = await startRunner(platform, ws);
  try {
    const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, {
      token: ws.token,
      body: { taskId: ws.taskId },
    });
    expect((await waitForRun(platform.baseUrl, ws.token, String(created.body['id'])))['status']).toBe('succeeded');
    return String(created.body['id']);
  } finally {
    await runner.stop();
  }
}

beforeAll(async () => {
  platform = await startPlatform();
  target = await startHttpServer((_req, res) => res.writeHead(200).end('ok'));
  wsA = await newWorkspace(platform, { probeUrl: `${target.url}/workspace-a-endpoint` });
  wsB = await newWorkspace(platform, { probeUrl: `${target.url}/workspace-b-endpoint` });
  runIdA = await runOnce(wsA);
  runIdB = await runOnce(wsB);
  const keyring = new StaticKeyring(await exportRunnerKeyFile(platform.pool, platform.crypto.master, wsA.workspaceId));
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, cb) => (auditLines.push(chunk.toString()), cb()) }));
  server = http.createServer(
    createCodecApp({
      keyring,
      logger,
      token: TOKEN,
      encodeToken: ENCODE_TOKEN,
      allowedOrigins: [ORIGIN],
      namespaces: [wsA.temporalNamespace!],
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  codecUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.close();
  await target?.stop();
  await platform?.stop();
});

async function rawPayloads(workspaceId: string, runId: string) {
  const history = await (await platform.clientFor(workspaceId)).workflow.getHandle(runWorkflowId(workspaceId, runId)).fetchHistory();
  // Search attributes are never encoded (the SDK's change versions among them): the UI sends the codec only payloads.
  return collectPayloads(history, [], new Set(), new Set(['searchAttributes'])).map((p) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  }));
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${codecUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': wsA.temporalNamespace!, ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

describe('codec server', () => {
  it('lets the Temporal CLI show decrypted payloads of its workspace, which the server stores encrypted', async () => {
    const cli = findTemporalCli();
    if (!cli) throw new Error('no Temporal CLI');
    // Asynchronously: the codec server answers from this very process.
    const run = async (args: string[]) => (await promisify(execFile)(cli, args, { encoding: 'utf8', timeout: 30_000 })).stdout;
    const args = [
      'workflow',
      'show',
      '--address',
      env.temporalAddress,
      '--namespace',
      wsA.temporalNamespace!,
      '-w',
      runWorkflowId(wsA.workspaceId, runIdA),
      '--output',
      'json',
    ];
    const encrypted = await run(args);
    expect(encrypted).not.toContain('workspace-a-endpoint');
    const decrypted = await run([...args, '--codec-endpoint', codecUrl, '--codec-auth', `Bearer ${TOKEN}`]);
    // JSON output shows payload data in base64: decode what the codec server returned.
    const shown = collectPayloads(JSON.parse(decrypted) as unknown).map((p) =>
      Buffer.from(String(p.data as unknown), 'base64').toString('utf8'),
    );
    expect(shown.join('\n')).toContain('workspace-a-endpoint');
    const stored = collectPayloads(JSON.parse(encrypted) as unknown).map((p) =>
      Buffer.from(String(p.data as unknown), 'base64').toString('utf8'),
    );
    expect(stored.join('\n')).not.toContain('workspace-a-endpoint');
    expect(auditLines.some((l) => l.includes('"audit":"codec.decode"') && l.includes('"outcome":"success"'))).toBe(true);
  });

  it('decodes with a valid token from an allowed origin', async () => {
    const res = await post(
      '/decode',
      { payloads: await rawPayloads(wsA.workspaceId, runIdA) },
      { authorization: `Bearer ${TOKEN}`, origin: ORIGIN },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(Buffer.from(String((res.body['payloads'] as { data: string }[])[0]!.data), 'base64').toString()).toContain(
      'workspace-a-endpoint',
    );
  });

  it.each([
    ['no token', {}],
    ['a wrong token', { authorization: `Bearer ${randomBytes(24).toString('base64url')}` }],
  ])('refuses a request with %s', async (_label, headers) => {
    const res = await post('/decode', { payloads: await rawPayloads(wsA.workspaceId, runIdA) }, headers);
    expect(res.status).toBe(401);
    expect(JSON.stringify(res.body)).not.toContain('workspace-a-endpoint');
  });

  it('refuses a foreign origin, and answers preflights from an allowed one without credentials', async () => {
    const foreign = await post(
      '/decode',
      { payloads: await rawPayloads(wsA.workspaceId, runIdA) },
      { authorization: `Bearer ${TOKEN}`, origin: 'https://evil.example' },
    );
    expect(foreign.status).toBe(403);
    const preflight = await fetch(`${codecUrl}/decode`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('X-Namespace');
    const badPreflight = await fetch(`${codecUrl}/decode`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(badPreflight.status).toBe(403);
    expect(badPreflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("refuses to decode another workspace's payloads", async () => {
    const res = await post('/decode', { payloads: await rawPayloads(wsB.workspaceId, runIdB) }, { authorization: `Bearer ${TOKEN}` });
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.body)).not.toContain('workspace-b-endpoint');
    expect(auditLines.some((l) => l.includes('"outcome":"refused"'))).toBe(true);
  });

  it('refuses plaintext, malformed bodies and other namespaces', async () => {
    const plain = await post(
      '/decode',
      { payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('{}').toString('base64') }] },
      { authorization: `Bearer ${TOKEN}` },
    );
    expect(plain.status).toBe(400);
    // The SDK's patch marker, which Temporal keeps in clear, is shown as it is.
    const marker = {
      metadata: { encoding: Buffer.from('json/plain').toString('base64') },
      data: Buffer.from('{"id":"signed-envelope","deprecated":false}').toString('base64'),
    };
    const shown = await post('/decode', { payloads: [marker] }, { authorization: `Bearer ${TOKEN}` });
    expect(shown.status).toBe(200);
    expect(shown.body['payloads']).toEqual([marker]);
    expect((await post('/decode', { nope: 1 }, { authorization: `Bearer ${TOKEN}` })).status).toBe(400);
    expect((await post('/decode', { payloads: [] }, { authorization: `Bearer ${TOKEN}`, 'x-namespace': 'other' })).status).toBe(403);
  });

  it('does not encode unless configured with an encode token of its own, and never with the decode token', async () => {
    const hello = {
      payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"hello"').toString('base64') }],
    };
    // A codec server without an encode token: /encode is off, whatever token comes.
    const off = http.createServer(
      createCodecApp({
        keyring: new StaticKeyring(await exportRunnerKeyFile(platform.pool, platform.crypto.master, wsA.workspaceId)),
        logger: pino({ level: 'silent' }),
        token: TOKEN,
        allowedOrigins: [ORIGIN],
        namespaces: [wsA.temporalNamespace!],
      }),
    );
    await new Promise<void>((resolve) => off.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(off.address() as AddressInfo).port}/encode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(hello),
      });
      expect(res.status).toBe(403);
    } finally {
      off.close();
    }
    // Configured: the decode token does not encode.
    expect((await post('/encode', hello, { authorization: `Bearer ${TOKEN}` })).status).toBe(401);
  });

  it('encodes for its own workspace so that the Platform can decode', async () => {
    const res = await post(
      '/encode',
      {
        payloads: [
          { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"hello"').toString('base64') },
        ],
      },
      { authorization: `Bearer ${ENCODE_TOKEN}` },
    );
    expect(res.status).toBe(200);
    const [payload] = res.body['payloads'] as { metadata: Record<string, string>; data: string }[];
    const decoded = await new WorkspaceCodec(platform.crypto.payloadKeys).decode([
      {
        metadata: Object.fromEntries(Object.entries(payload!.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
        data: Buffer.from(payload!.data, 'base64'),
      },
    ]);
    expect(Buffer.from(decoded[0]!.data!).toString()).toBe('"hello"');
  });

  it('accepts no authentication only on loopback', () => {
    expect(() =>
      parseConfig('codec-server', CodecServerConfig, {
        LOOKOUT_CODEC_KEYS_FILE: '/k',
        LOOKOUT_CODEC_AUTH: 'none',
        LOOKOUT_CODEC_HOST: '0.0.0.0',
      }),
    ).toThrow('LOOKOUT_CODEC_AUTH: none is allowed only when listening on loopback');
    expect(() => parseConfig('codec-server', CodecServerConfig, { LOOKOUT_CODEC_KEYS_FILE: '/k' })).toThrow(ConfigError);
    expect(
      parseConfig('codec-server', CodecServerConfig, { LOOKOUT_CODEC_KEYS_FILE: '/k', LOOKOUT_CODEC_AUTH: 'none' }).LOOKOUT_CODEC_HOST,
    ).toBe('127.0.0.1');
    expect(ApiConfig).toBeDefined();
  });
});

describe('codec server: the payload decides the workspace, not the header', () => {
  const wire = (p: { metadata?: Record<string, Uint8Array | null | undefined> | null; data?: Uint8Array | null }) => ({
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  });
  const plain = (text: string) => ({ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(text)) });

  it("refuses a payload bound to another workspace's workflow, whatever X-Namespace says", async () => {
    const aKeys = new StaticKeyring(await exportRunnerKeyFile(platform.pool, platform.crypto.master, wsA.workspaceId));
    const aCodec = new WorkspaceCodec(aKeys);
    // Someone with A's key writes a payload under it for a workflow of B (e.g. into B's namespace).
    const hostile = new WorkspaceCodec({ activeKey: () => aKeys.activeKey(wsA.workspaceId), keyById: (id) => aKeys.keyById(id) });
    const forB = await hostile.encode([plain('written by A for B')], {
      type: 'workflow',
      namespace: wsB.temporalNamespace!,
      workflowId: runWorkflowId(wsB.workspaceId, runIdB),
    });
    for (const namespace of [wsA.temporalNamespace!, '']) {
      const res = await post('/decode', { payloads: forB.map(wire) }, { authorization: `Bearer ${TOKEN}`, 'x-namespace': namespace });
      expect(res.status).toBe(403);
      expect(JSON.stringify(res.body)).not.toContain('written by A');
    }
    // A genuine payload of A relabelled to B's workflow: refused the same (and its AAD would not verify).
    const genuine = await rawPayloads(wsA.workspaceId, runIdA);
    const relabelled = genuine.map((p) => ({
      ...p,
      metadata: { ...p.metadata, 'encryption-binding': Buffer.from(runWorkflowId(wsB.workspaceId, runIdB)).toString('base64') },
    }));
    expect((await post('/decode', { payloads: relabelled }, { authorization: `Bearer ${TOKEN}` })).status).toBe(403);
    // Bound to A's own workflow, with or without the header, it decodes.
    const forA = await aCodec.encode([plain('written by A for A')], {
      type: 'workflow',
      namespace: wsA.temporalNamespace!,
      workflowId: runWorkflowId(wsA.workspaceId, runIdA),
    });
    const ok = await post('/decode', { payloads: forA.map(wire) }, { authorization: `Bearer ${TOKEN}`, 'x-namespace': '' });
    expect(ok.status).toBe(200);
    expect(Buffer.from((ok.body['payloads'] as { data: string }[])[0]!.data, 'base64').toString()).toBe('"written by A for A"');
    expect(auditLines.filter((l) => l.includes('another workspace')).length).toBeGreaterThanOrEqual(3);
  });
});

describe("codec server: per-user access with the signed-in user's OIDC token", () => {
  const AUDIENCE = 'https://temporal-ui.acme.example';
  let provider: TestOidcProvider;
  let userServer: http.Server;
  let userUrl: string;
  const userAudit: Record<string, unknown>[] = [];
  const alice = { sub: `alice-${randomBytes(4).toString('hex')}`, email: `alice-${randomBytes(4).toString('hex')}@acme.example` };
  const mallory = { sub: `mallory-${randomBytes(4).toString('hex')}`, email: `mallory-${randomBytes(4).toString('hex')}@acme.example` };
  const bob = { sub: `bob-${randomBytes(4).toString('hex')}`, email: `bob-${randomBytes(4).toString('hex')}@acme.example` };

  beforeAll(async () => {
    provider = await startOidcProvider({ redirectUris: ['https://lookout.example.test/cb'] });
    for (const account of [alice, mallory, bob]) provider.addAccount(account);
    const verifier = await discoverBearerVerifier({ issuer: provider.issuer, audiences: [AUDIENCE], ca: provider.caPem });
    const logger = pino(
      { level: 'info' },
      new Writable({ write: (chunk: Buffer, _enc, cb) => (userAudit.push(JSON.parse(chunk.toString()) as Record<string, unknown>), cb()) }),
    );
    userServer = http.createServer(
      createCodecApp({
        keyring: new StaticKeyring(await exportRunnerKeyFile(platform.pool, platform.crypto.master, wsA.workspaceId)),
        logger,
        token: undefined,
        users: { verifier, allowed: [alice.email.toUpperCase(), `sub:${bob.sub}`] },
        allowedOrigins: [ORIGIN],
        namespaces: [wsA.temporalNamespace!],
      }),
    );
    await new Promise<void>((resolve) => userServer.listen(0, '127.0.0.1', resolve));
    userUrl = `http://127.0.0.1:${(userServer.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    userServer?.close();
    await provider?.stop();
  });

  const decode = async (authorization: string | undefined) => {
    const res = await fetch(`${userUrl}/decode`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-namespace': wsA.temporalNamespace!,
        origin: ORIGIN,
        ...(authorization ? { authorization } : {}),
      },
      body: JSON.stringify({ payloads: await rawPayloads(wsA.workspaceId, runIdA) }),
    });
    return { status: res.status, text: await res.text() };
  };

  it('decodes for an allowed user and audits the decode under that user', async () => {
    for (const who of [alice, bob]) {
      const res = await decode(`Bearer ${await provider.issueAccessToken(who.sub, AUDIENCE)}`);
      expect(res.status).toBe(200);
      const shown = (JSON.parse(res.text) as { payloads: { data: string }[] }).payloads.map((p) =>
        Buffer.from(p.data, 'base64').toString(),
      );
      expect(shown.join('\n')).toContain('workspace-a-endpoint');
      expect(userAudit).toContainEqual(
        expect.objectContaining({ audit: 'codec.decode', outcome: 'success', user: `${provider.issuer}#${who.sub}`, email: who.email }),
      );
    }
  });

  it('refuses a user the codec server does not list, the shared token, another audience and a forged token', async () => {
    const refused = await decode(`Bearer ${await provider.issueAccessToken(mallory.sub, AUDIENCE)}`);
    expect(refused.status).toBe(403);
    expect(userAudit).toContainEqual(
      expect.objectContaining({
        audit: 'codec.decode',
        outcome: 'refused',
        user: `${provider.issuer}#${mallory.sub}`,
        reason: 'user_not_allowed',
      }),
    );
    expect((await decode(`Bearer ${TOKEN}`)).status).toBe(401);
    expect((await decode(undefined)).status).toBe(401);
    expect((await decode(`Bearer ${await provider.issueAccessToken(alice.sub, 'https://another.example')}`)).status).toBe(401);
    const forged = await provider.signWithForeignKey({
      iss: provider.issuer,
      sub: alice.sub,
      aud: AUDIENCE,
      exp: Math.floor(Date.now() / 1000) + 300,
      email: alice.email,
      email_verified: true,
    });
    const res = await decode(`Bearer ${forged}`);
    expect(res.status).toBe(401);
    expect(res.text).not.toContain('workspace-a-endpoint');
    expect(userAudit).toContainEqual(expect.objectContaining({ outcome: 'refused', reason: 'signature' }));
  });

  it('requires the issuer and audiences with LOOKOUT_CODEC_AUTH=oidc', () => {
    expect(() =>
      parseConfig('codec-server', CodecServerConfig, {
        LOOKOUT_CODEC_KEYS_FILE: '/k',
        LOOKOUT_CODEC_AUTH: 'oidc',
        LOOKOUT_CODEC_HOST: '0.0.0.0',
      }),
    ).toThrow(/LOOKOUT_CODEC_OIDC_ISSUER: required when LOOKOUT_CODEC_AUTH=oidc/);
    const parsed = parseConfig('codec-server', CodecServerConfig, {
      LOOKOUT_CODEC_KEYS_FILE: '/k',
      LOOKOUT_CODEC_AUTH: 'oidc',
      LOOKOUT_CODEC_OIDC_ISSUER: 'https://login.acme.example',
      LOOKOUT_CODEC_OIDC_AUDIENCES: 'a, b',
      LOOKOUT_CODEC_ALLOWED_USERS: 'alice@acme.example,sub:123',
    });
    expect(parsed.LOOKOUT_CODEC_OIDC_AUDIENCES).toEqual(['a', 'b']);
    expect(parsed.LOOKOUT_CODEC_ALLOWED_USERS).toEqual(['alice@acme.example', 'sub:123']);
  });
});
