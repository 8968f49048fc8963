/**
 * Secrets on a real OpenBao and a real kube-apiserver: the Platform writes and lists but cannot read;
 * each workspace's Runner reads only its own workspace's secrets; checks resolve `vault:` and `k8s:`
 * references inside the Runner and the values never reach the Platform.
 */
import { randomBytes } from 'node:crypto';
import { createToken } from '../platform-api/services/tokens.service';
import { provisionRunnerAccess } from '../platform/vault/vault-bootstrap';
import { createVaultClient, kvPaths, vaultStatus } from '../platform/vault/vault-client';
import { createVaultProvider } from '../activities/runner/secrets/vault.provider';
import { addTask, api, newWorkspace, runTaskViaApi, startHttpServer, startPlatform, startRunner, type TestPlatform } from './harness/env';
import { adminClients, grantPolicyRbac, namespace } from './harness/kube-fixtures';

const vaultAddr = () => process.env['LOOKOUT_TEST_VAULT_ADDR'] ?? '';
const rootVault = () => createVaultClient({ endpoint: vaultAddr(), token: process.env['LOOKOUT_TEST_VAULT_ROOT_TOKEN'] ?? '' });
const platformVault = () => createVaultClient({ endpoint: vaultAddr(), token: process.env['LOOKOUT_TEST_VAULT_PLATFORM_TOKEN'] ?? '' });

let platform: TestPlatform;
let target: Awaited<ReturnType<typeof startHttpServer>>;
const seen: string[] = [];
beforeAll(async () => {
  platform = await startPlatform();
  target = await startHttpServer((req, res) => {
    seen.push(String(req.headers['authorization'] ?? ''));
    res.writeHead(200).end('ok');
  });
});
afterAll(async () => {
  await target?.stop();
  await platform?.stop();
});

async function putSecret(ws: { workspaceId: string; token: string }, name: string, value: string) {
  return api(platform.baseUrl, 'PUT', `/v1/workspaces/${ws.workspaceId}/secrets/${name}`, { token: ws.token, body: { value } });
}

describe('workspace secrets', () => {
  it('lets the Platform write and list a secret but gets 403 when its identity reads the value', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/` });
    const value = `v-${randomBytes(12).toString('hex')}`;
    const put = await putSecret(ws, 'db-password', value);
    expect(put.status).toBe(200);
    expect(put.body).toEqual({
      name: 'db-password',
      reference: `vault:lookout/workspaces/${ws.workspaceId}/db-password#value`,
      version: 1,
    });
    expect(JSON.stringify(put.body)).not.toContain(value);
    expect((await putSecret(ws, 'db-password', `${value}-2`)).body['version']).toBe(2);

    const list = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/secrets`, { token: ws.token });
    expect(list.body['items']).toEqual([expect.objectContaining({ name: 'db-password', version: 2, updatedBy: `token:${ws.tokenId}` })]);
    expect(JSON.stringify(list.body)).not.toContain(value);

    // The Platform's own Vault identity cannot read what it wrote…
    const err = await platformVault()
      .read(kvPaths('lookout', ws.workspaceId, 'db-password').data)
      .catch((e: unknown) => e);
    expect(vaultStatus(err)).toBe(403);
    // …while the value is really there.
    const stored = (await rootVault().read(kvPaths('lookout', ws.workspaceId, 'db-password').data)) as {
      data: { data: { value: string } };
    };
    expect(stored.data.data.value).toBe(`${value}-2`);
    // There is no route that returns a value.
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/secrets/db-password`, { token: ws.token })).status).toBe(
      404,
    );

    expect(
      (await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${ws.workspaceId}/secrets/db-password`, { token: ws.token })).status,
    ).toBe(204);
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/secrets`, { token: ws.token })).body['items']).toEqual([]);
    const { rows } = await platform.pool.query(
      "select action from audit_events where workspace_id = $1 and action like 'secret.%' order by id",
      [ws.workspaceId],
    );
    expect(rows.map((r: { action: string }) => r.action)).toEqual([
      'secret.written',
      'secret.written',
      'secret.listed',
      'secret.deleted',
      'secret.listed',
    ]);
    const dump = await platform.pool.query(
      "select coalesce((select json_agg(a) from audit_events a)::text, '') || coalesce((select json_agg(s) from secrets s)::text, '') as t",
    );
    expect(dump.rows[0].t).toContain('secret.written');
    expect(dump.rows[0].t).not.toContain(value);
  });

  it('refuses writes from an operator and bad bodies, without echoing the value', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/` });
    const operator = await createToken(platform.pool, {
      workspaceId: ws.workspaceId,
      createdBy: ws.ownerId,
      name: 'op',
      role: 'operator',
      expiresAt: null,
    });
    expect(
      (await api(platform.baseUrl, 'PUT', `/v1/workspaces/${ws.workspaceId}/secrets/x`, { token: operator.token, body: { value: 'abc' } }))
        .status,
    ).toBe(403);
    const bad = await api(platform.baseUrl, 'PUT', `/v1/workspaces/${ws.workspaceId}/secrets/x`, {
      token: ws.token,
      body: { value: 'hunter2', extra: 'hunter2' },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).not.toContain('hunter2');
    expect(
      (
        await api(platform.baseUrl, 'PUT', `/v1/workspaces/${ws.workspaceId}/secrets/Not%20Valid`, {
          token: ws.token,
          body: { value: 'abc' },
        })
      ).status,
    ).toBe(400);
  });

  it("lets workspace A's Runner read its secret and refuses it workspace B's", async () => {
    const a = await newWorkspace(platform, { probeUrl: `${target.url}/` });
    const b = await newWorkspace(platform, { probeUrl: `${target.url}/` });
    await putSecret(a, 'token', 'secret-of-a');
    await putSecret(b, 'token', 'secret-of-b');
    const access = await provisionRunnerAccess(rootVault(), 'lookout', a.workspaceId);
    const provider = createVaultProvider({
      endpoint: vaultAddr(),
      auth: { method: 'approle', roleId: access.roleId, secretId: access.secretId },
    });
    await expect(provider.resolve(`lookout/workspaces/${a.workspaceId}/token#value`)).resolves.toBe('secret-of-a');
    await expect(provider.resolve(`lookout/workspaces/${b.workspaceId}/token#value`)).rejects.toThrow(
      "access denied by Vault: the Runner's policy does not allow reading it",
    );
    await expect(provider.resolve(`lookout/workspaces/${a.workspaceId}/missing#value`)).rejects.toThrow(/not found in Vault|access denied/);
  });

  it('runs checks whose credentials come from vault: and k8s: references, resolved inside the Runner only', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/` });
    const vaultValue = `vault-${randomBytes(8).toString('hex')}`;
    const k8sValue = `k8s-${randomBytes(8).toString('hex')}`;
    await putSecret(ws, 'probe-token', vaultValue);
    const admin = adminClients();
    const ns = await namespace(admin, 'creds');
    await admin.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'probe' }, data: { token: Buffer.from(k8sValue).toString('base64') } },
    });
    const access = await provisionRunnerAccess(rootVault(), 'lookout', ws.workspaceId);
    const bindings = [
      // Every secret the Platform writes for this workspace, sent only to the loopback target.
      {
        name: 'platform-secrets',
        ref: `vault:lookout/workspaces/${ws.workspaceId}/*#value`,
        destinations: ['loopback-http'],
        scheme: 'Bearer ',
      },
      { name: 'probe', ref: `k8s:${ns}/probe#token`, destinations: ['loopback-http'], scheme: 'Bearer ' },
      { name: 'missing', ref: `k8s:${ns}/nope#token`, destinations: ['loopback-http'], scheme: 'Bearer ' },
    ];
    // The Roles the chart renders for these bindings: get on exactly those Secrets, nothing else.
    await grantPolicyRbac({ secretBindings: bindings });
    const runner = await startRunner(platform, ws, {
      kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '',
      vault: { endpoint: vaultAddr(), auth: { method: 'approle', roleId: access.roleId, secretId: access.secretId } },
      policy: { secretBindings: bindings },
    });
    try {
      const viaVault = await addTask(platform, ws, 'http.probe', {
        url: `${target.url}/vault`,
        auth: { header: 'Authorization', scheme: 'Bearer ', secretRef: `vault:lookout/workspaces/${ws.workspaceId}/probe-token#value` },
      });
      const viaK8s = await addTask(platform, ws, 'http.probe', {
        url: `${target.url}/k8s`,
        auth: { header: 'Authorization', scheme: 'Bearer ', secretRef: `k8s:${ns}/probe#token` },
      });
      const missing = await addTask(platform, ws, 'http.probe', {
        url: `${target.url}/missing`,
        auth: { header: 'Authorization', scheme: 'Bearer ', secretRef: `k8s:${ns}/nope#token` },
      });
      const runs = [
        await runTaskViaApi(platform, ws, viaVault),
        await runTaskViaApi(platform, ws, viaK8s),
        await runTaskViaApi(platform, ws, missing),
      ];
      expect(runs.map((r) => r['status'])).toEqual(['succeeded', 'succeeded', 'failed']);
      expect(runs[2]!['error']).toEqual({ type: 'SecretUnavailable', message: `secret k8s:${ns}/nope#token: no such Secret` });
      expect(seen).toEqual(expect.arrayContaining([`Bearer ${vaultValue}`, `Bearer ${k8sValue}`]));
      const text = JSON.stringify(runs);
      expect(text).not.toContain(vaultValue);
      expect(text).not.toContain(k8sValue);
    } finally {
      await runner.stop();
    }
  });

  it('gives a clear error naming the reference for a bad reference, a revoked credential and an unreachable OpenBao', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/` });
    await putSecret(ws, 'token', 'value-1');
    const access = await provisionRunnerAccess(rootVault(), 'lookout', ws.workspaceId);
    const ref = `lookout/workspaces/${ws.workspaceId}/token#value`;

    // A reference of the wrong shape is refused when the task is saved.
    const bad = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/tasks`, {
      token: ws.token,
      body: {
        name: 'bad-ref',
        runnerId: ws.runnerId,
        checkType: 'http.probe',
        params: { url: `${target.url}/`, auth: { secretRef: 'vault:no-field' } },
      },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body['errors'])).toMatch(/params\.auth\.secretRef/);

    // A revoked AppRole secret id: the Runner cannot log in.
    await rootVault().write(`auth/approle/role/lookout-runner-${ws.workspaceId}/secret-id/destroy`, { secret_id: access.secretId });
    const revoked = createVaultProvider({
      endpoint: vaultAddr(),
      auth: { method: 'approle', roleId: access.roleId, secretId: access.secretId },
    });
    await expect(revoked.resolve(ref)).rejects.toThrow(
      /^secret vault:lookout\/workspaces\/.*#value: the Runner could not log in to Vault \((400|403)\)$/,
    );

    // An unreachable OpenBao, through a real run: the run fails and says what to fix.
    const runner = await startRunner(platform, ws, {
      vault: { endpoint: 'http://127.0.0.1:9', auth: { method: 'token', token: 'unused' } },
      policy: { secretBindings: [{ name: 'token', ref: `vault:${ref}`, destinations: ['loopback-http'], scheme: 'Bearer ' }] },
    });
    try {
      const taskId = await addTask(platform, ws, 'http.probe', {
        url: `${target.url}/`,
        auth: { header: 'Authorization', scheme: 'Bearer ', secretRef: `vault:${ref}` },
      });
      const run = await runTaskViaApi(platform, ws, taskId);
      expect(run).toMatchObject({
        status: 'failed',
        error: { type: 'SecretUnavailable', message: `secret vault:${ref}: Vault answered nothing (unreachable)` },
      });
    } finally {
      await runner.stop();
    }
  });
});
