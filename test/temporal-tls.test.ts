/**
 * Transport to Temporal: a Runner reaches the dev server through a real TLS terminator, with TLS,
 * with mTLS, and with a pinned CA; a certificate from another CA and a plaintext client fail clearly.
 */
import { NativeConnection } from '@temporalio/worker';
import { temporalConnectionOptions, connectTemporal } from '../common/temporal-connection';
import { api, env, newWorkspace, startHttpServer, startPlatform, startRunner, waitForRun, type TestPlatform } from './harness/env';
import { makePki, startTlsProxy, type Pki } from './harness/tls';

let platform: TestPlatform;
let target: Awaited<ReturnType<typeof startHttpServer>>;
let serverPki: Pki;
let clientPki: Pki;
let otherPki: Pki;
const proxies: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  platform = await startPlatform();
  target = await startHttpServer((_req, res) => res.writeHead(200).end('ok'));
  serverPki = makePki('server');
  clientPki = makePki('client');
  otherPki = makePki('other');
});

afterAll(async () => {
  for (const p of proxies) await p.stop();
  await target?.stop();
  await platform?.stop();
});

async function proxy(clientCa?: Pki): Promise<string> {
  const p = await startTlsProxy({ target: env.temporalAddress, server: serverPki, ...(clientCa ? { clientCa } : {}) });
  proxies.push(p);
  return p.address;
}

/** A run end to end whose Runner is connected with `connection`. */
async function runThrough(connection: NativeConnection): Promise<string> {
  const ws = await newWorkspace(platform, { probeUrl: `${target.url}/tls` });
  const runner = await startRunner({ ...platform, connection }, ws);
  try {
    const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, {
      token: ws.token,
      body: { taskId: ws.taskId },
    });
    return String((await waitForRun(platform.baseUrl, ws.token, String(created.body['id'])))['status']);
  } finally {
    await runner.stop();
  }
}

describe('Runner transport to Temporal', () => {
  it('runs a check over TLS with the server CA pinned', async () => {
    const address = await proxy();
    const options = temporalConnectionOptions({
      LOOKOUT_TEMPORAL_ADDRESS: address,
      LOOKOUT_TEMPORAL_TLS_CA_FILE: serverPki.caFile,
      LOOKOUT_TEMPORAL_TLS_SERVER_NAME: 'localhost',
    });
    expect(options.tls).toMatchObject({ serverNameOverride: 'localhost' });
    const connection = await connectTemporal(options, (o) => NativeConnection.connect(o));
    try {
      expect(await runThrough(connection)).toBe('succeeded');
    } finally {
      await connection.close();
    }
  });

  it('runs a check over mTLS with a client certificate, and is refused without one', async () => {
    const address = await proxy(clientPki);
    const settings = {
      LOOKOUT_TEMPORAL_ADDRESS: address,
      LOOKOUT_TEMPORAL_TLS_CA_FILE: serverPki.caFile,
      LOOKOUT_TEMPORAL_TLS_SERVER_NAME: 'localhost',
    };
    const connection = await connectTemporal(
      temporalConnectionOptions({
        ...settings,
        LOOKOUT_TEMPORAL_TLS_CERT_FILE: clientPki.certFile,
        LOOKOUT_TEMPORAL_TLS_KEY_FILE: clientPki.keyFile,
      }),
      (o) => NativeConnection.connect(o),
    );
    try {
      expect(await runThrough(connection)).toBe('succeeded');
    } finally {
      await connection.close();
    }
    await expect(connectTemporal(temporalConnectionOptions(settings), (o) => NativeConnection.connect(o))).rejects.toThrow(
      /^cannot connect to Temporal at 127\.0\.0\.1:\d+ over TLS trusting only the configured CA: /,
    );
  });

  it('refuses a server certificate from another CA than the pinned one', async () => {
    const address = await proxy();
    await expect(
      connectTemporal(
        temporalConnectionOptions({
          LOOKOUT_TEMPORAL_ADDRESS: address,
          LOOKOUT_TEMPORAL_TLS_CA_FILE: otherPki.caFile,
          LOOKOUT_TEMPORAL_TLS_SERVER_NAME: 'localhost',
        }),
        (o) => NativeConnection.connect(o),
      ),
    ).rejects.toThrow(/over TLS trusting only the configured CA: /);
  });

  it('fails with a clear error when a plaintext client dials the TLS port', async () => {
    const address = await proxy();
    await expect(
      connectTemporal(temporalConnectionOptions({ LOOKOUT_TEMPORAL_ADDRESS: address }), (o) => NativeConnection.connect(o)),
    ).rejects.toThrow(
      `cannot connect to Temporal at ${address} over plaintext (set LOOKOUT_TEMPORAL_TLS=true if the server requires TLS): `,
    );
  });
});
