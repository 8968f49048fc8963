/**
 * Runner registration and presence: registering returns, once, the values of the Runner's Helm
 * chart and its key file; a Runner started with exactly those is online and runs checks.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { StaticKeyring, type KeyFile } from '../common/keyring';
import { LOOKOUT_VERSION } from '../common/version';
import { createToken } from '../platform-api/services/tokens.service';
import { ensureHelm } from '../scripts/tools';
import { testPlatformPublicKey } from './harness/policy';
import {
  addTask,
  api,
  env,
  newWorkspace,
  runTaskViaApi,
  startHttpServer,
  startPlatform,
  startRunner,
  type TestPlatform,
  testTemporalTokens,
} from './harness/env';

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

describe('Runners', () => {
  it('registers a Runner whose Helm values and key file are enough to run checks, and shows it online', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/` });
    const res = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runners`, {
      token: ws.token,
      body: { name: 'prod-eu-1' },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const runner = res.body as {
      id: string;
      taskQueue: string;
      keyFile: KeyFile;
      runnerKey: string;
      helmValues: Record<string, any>;
      next: Record<string, string>;
      temporalApiKey: string;
      temporalApiKeyExpiresAt: string;
      install: string[];
    };
    expect(runner.taskQueue).toBe(`runner-${runner.id}`);
    // Its Temporal credential: its workspace's namespace, the worker role, nothing else.
    const [, claims] = runner.temporalApiKey.split('.');
    expect(JSON.parse(Buffer.from(claims!, 'base64url').toString())).toMatchObject({
      sub: `lookout-runner:${runner.id}`,
      permissions: [`${ws.temporalNamespace}:worker`],
    });
    expect(Date.parse(runner.temporalApiKeyExpiresAt)).toBeGreaterThan(Date.now() + 89 * 86_400_000);
    expect(runner.install.join('\n')).toContain('--from-file=temporal-api-key=./temporal-api-key');
    const audited = await platform.pool.query<{ details: Record<string, unknown> }>(
      "select details from audit_events where workspace_id = $1 and action = 'runner.temporal_token_issued' and target = $2",
      [ws.workspaceId, `runner:${runner.id}`],
    );
    expect(audited.rows[0]?.details).toMatchObject({ namespace: ws.temporalNamespace, role: 'worker' });
    expect(JSON.stringify(audited.rows)).not.toContain(runner.temporalApiKey);
    // The JWKS the Temporal server trusts holds the public key that verifies it.
    const jwks = await api(platform.baseUrl, 'GET', '/.well-known/lookout/temporal-jwks.json');
    expect(jwks.body).toEqual(testTemporalTokens.jwks());
    expect(runner.helmValues).toEqual({
      runner: { id: runner.id, workspaceId: ws.workspaceId, attestationKey: true },
      temporal: { address: env.temporalAddress, namespace: ws.temporalNamespace, apiKey: true },
      existingSecret: 'lookout-runner-prod-eu-1',
      // The Platform's task-signing key: the Runner runs only what it signs.
      policy: { platformKeys: [testPlatformPublicKey()] },
    });
    // Registering offers discovery, the next step (discovery.test.ts runs it).
    expect(runner.next).toEqual({
      discover: `POST /v1/workspaces/${ws.workspaceId}/runners/${runner.id}/discover`,
      apply: `POST /v1/workspaces/${ws.workspaceId}/runners/${runner.id}/discover?apply`,
      cli: `lookout discover --workspace ${ws.workspaceId} ${runner.id} --apply`,
    });

    // The chart renders with exactly these values.
    const values = path.join(env.dir, `values-${runner.id}.json`);
    writeFileSync(values, JSON.stringify(runner.helmValues));
    const rendered = execFileSync(
      ensureHelm(),
      ['template', 'lookout-runner-prod-eu-1', path.resolve(__dirname, '..', 'charts', 'runner'), '-f', values],
      { encoding: 'utf8' },
    );
    expect(rendered).toContain(`LOOKOUT_RUNNER_ID: "${runner.id}"`);
    expect(rendered).toContain(`LOOKOUT_TEMPORAL_NAMESPACE: "${ws.temporalNamespace}"`);
    // …and the Runner signs its results with its own key from the Secret's runner-key.
    expect(rendered).toContain('LOOKOUT_RUNNER_ATTESTATION_KEY_FILE: /etc/lookout/secret/runner-key');
    expect(rendered).toMatch(
      /name: LOOKOUT_TEMPORAL_API_KEY\s+valueFrom:\s+secretKeyRef:\s+name: lookout-runner-prod-eu-1\s+key: temporal-api-key/,
    );
    // …the policy it mounts pins the Platform's key, beside the chart's default checks.
    expect(rendered).toMatch(new RegExp(`platformKeys:\\s*- ${testPlatformPublicKey().replace(/[+/=]/g, '\\$&')}`));

    const before = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners`, { token: ws.token });
    expect(before.body['items']).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: runner.id, online: false, pollers: 0, lastPollAt: null })]),
    );

    const started = await startRunner(
      platform,
      // Exactly what the registration answered: its key file and its own attestation key.
      { runnerId: runner.id, workspaceId: ws.workspaceId, runnerAttestationKey: runner.runnerKey },
      { keyring: new StaticKeyring(runner.keyFile) },
    );
    try {
      const taskId = await addTask(platform, { workspaceId: ws.workspaceId, runnerId: runner.id }, 'http.probe', {
        url: `${target.url}/via-registered-runner`,
      });
      const run = await runTaskViaApi(platform, ws, taskId);
      expect(run).toMatchObject({ status: 'succeeded', runnerId: runner.id, result: { status: 'ok' } });
      const after = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners`, { token: ws.token });
      const items = after.body['items'] as {
        id: string;
        name: string;
        online: boolean;
        pollers: number;
        lastPollAt: string | null;
        version: string | null;
        enabledChecks: string[];
      }[];
      const mine = items.find((i) => i.id === runner.id)!;
      expect(mine.online).toBe(true);
      // The Runner describes itself on request: its version and its own allowlist.
      expect(mine).toMatchObject({ version: LOOKOUT_VERSION, enabledChecks: ['http.probe'] });
      expect(mine.pollers).toBeGreaterThanOrEqual(1);
      expect(Date.now() - Date.parse(mine.lastPollAt!)).toBeLessThan(120_000);
      expect(items.find((i) => i.id === ws.runnerId)).toMatchObject({ online: false, version: null, enabledChecks: [] });
      // Without presence: what the Platform stored (the version it was told), and no answer about who polls.
      const stored = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners?presence=false`, { token: ws.token });
      expect((stored.body['items'] as { id: string }[]).find((i) => i.id === runner.id)).toMatchObject({
        name: mine.name,
        version: LOOKOUT_VERSION,
        online: null,
        pollers: null,
        lastPollAt: null,
      });
      expect(
        (await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners?presence=maybe`, { token: ws.token })).status,
      ).toBe(400);
    } finally {
      await started.stop();
    }
  });

  it('refuses a bad name, a duplicate and a viewer, and audits the registration', async () => {
    const ws = await newWorkspace(platform, { probeUrl: `${target.url}/` });
    expect(
      (await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runners`, { token: ws.token, body: { name: 'Bad Name!' } }))
        .status,
    ).toBe(400);
    expect(
      (await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runners`, { token: ws.token, body: { name: 'edge' } })).status,
    ).toBe(201);
    expect(
      (await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runners`, { token: ws.token, body: { name: 'edge' } })).status,
    ).toBe(409);
    const viewer = await createToken(platform.pool, {
      workspaceId: ws.workspaceId,
      createdBy: ws.ownerId,
      name: 'v',
      role: 'viewer',
      expiresAt: null,
    });
    expect(
      (await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runners`, { token: viewer.token, body: { name: 'other' } }))
        .status,
    ).toBe(403);
    expect((await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners`, { token: viewer.token })).status).toBe(200);
    const { rows } = await platform.pool.query(
      "select action from audit_events where workspace_id = $1 and actor = $2 and action in ('runner.registered', 'keys.exported') order by id",
      [ws.workspaceId, `token:${ws.tokenId}`],
    );
    expect(rows.map((r: { action: string }) => r.action)).toEqual(['runner.registered', 'keys.exported']);
  });

  it('reports the version of package.json', () => {
    expect(LOOKOUT_VERSION).toBe(
      (JSON.parse(readFileSync(path.resolve(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version,
    );
  });
});
