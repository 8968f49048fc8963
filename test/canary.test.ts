/**
 * The canary proof: unique values planted as secrets that the Runner resolves must appear nowhere
 * the Platform or Temporal keeps or shows anything. Successful, failing and retried runs go through
 * the real processes (API, platform worker, Runner); then the Temporal dev server's SQLite files, every
 * history fetched raw over gRPC without the codec, every PostgreSQL table, every process's log and
 * every API response are searched byte for byte for each canary and its encoded forms; so are every
 * process's /metrics output and every span exported to an in-test OTLP/HTTP receiver, which must
 * not name a host or a customer resource either. Notification sinks of every HTTP kind send the
 * findings to local receivers: no Runner-side canary and no raw data reaches them, and the sinks'
 * own secrets (a token in a URL, a PagerDuty routing key) appear nowhere but at their receivers.
 */
import { loopbackPolicyInput, writePolicyFile } from './harness/policy';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Client as PgClient } from 'pg';
import { ENCRYPTED_ENCODING } from '../common/codec';
import { TERMINAL_RUN_STATUSES } from '../common/contracts';
import { freePort } from '../platform/db/embedded';
import { collectPayloads, metadataText } from './harness/history';
import { provisionRunnerAccess } from '../platform/vault/vault-bootstrap';
import { createVaultClient, kvPaths } from '../platform/vault/vault-client';
import { adminClients, grantPolicyRbac, namespace } from './harness/kube-fixtures';
import { addTask, env, newWorkspace, patchTaskParams, startHttpServer, writeRunnerKeyFile, runnerAttestationEnv } from './harness/env';
import { createPlatformCrypto } from '../platform/crypto';
import { createPool } from '../platform/db/pool';
import { needles } from './harness/needles';
import { startOtlpReceiver } from './harness/otlp-receiver';

const dist = path.resolve(__dirname, '..', 'dist');

function findHits(where: string, haystack: Buffer, canaries: Record<string, string>): string[] {
  const hits: string[] = [];
  for (const [name, canary] of Object.entries(canaries)) {
    if (needles(canary).some((n) => haystack.indexOf(n) !== -1)) hits.push(`${name} in ${where}`);
  }
  return hits;
}

describe('canary proof', () => {
  const canaries = {
    envSecret: `cnryA${randomBytes(12).toString('hex')}`,
    echoedSecret: `cnryB${randomBytes(12).toString('hex')}`,
    errorSecret: `cnryC${randomBytes(12).toString('hex')}`,
    vaultSecret: `cnryV${randomBytes(12).toString('hex')}`,
    k8sSecret: `cnryS${randomBytes(12).toString('hex')}`,
  };
  // Secrets of the Platform side: where notification sinks send (a URL that holds a token, a
  // PagerDuty routing key). Only their receivers may see them; nothing the Platform keeps or shows.
  const sinkCanaries = {
    sinkUrlSecret: `cnryU${randomBytes(12).toString('hex')}`,
    routingKey: `cnryP${randomBytes(16).toString('hex').slice(0, 27)}`,
  };
  const allCanaries = { ...canaries, ...sinkCanaries };
  const logs: Record<string, Buffer[]> = {};
  const responses: Buffer[] = [];
  const children: ChildProcess[] = [];
  let stopReceiver: (() => Promise<void>) | undefined;

  function startProcess(name: string, file: string, processEnv: NodeJS.ProcessEnv): void {
    logs[name] = [];
    const child = spawn(process.execPath, [path.join(dist, file)], { env: processEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => logs[name]!.push(d));
    child.stderr.on('data', (d: Buffer) => logs[name]!.push(d));
    children.push(child);
  }

  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  it('finds no canary in Temporal, PostgreSQL, logs or API responses, and every stored payload is ciphertext', async () => {
    const pool = createPool(env.databaseUrl);
    const crypto = createPlatformCrypto(pool, env.masterKey);
    // The probed endpoint echoes what it receives, encoded several ways, with an error status.
    const target = await startHttpServer((req, res) => {
      const seen = `${req.headers['authorization'] ?? ''} ${String(req.headers['x-api-key'] ?? '')}`;
      if (req.url === '/ok') return void res.writeHead(200).end('fine');
      res
        .writeHead(500, { 'content-type': 'text/plain' })
        .end(`denied for ${seen} / ${Buffer.from(seen).toString('base64')} / ${encodeURIComponent(seen)}`);
    });
    // Where notifications go: every byte each sink's receiver is sent (request line, headers, body).
    const received: Buffer[] = [];
    const receiver = await startHttpServer((req, res) => {
      const chunks: Buffer[] = [Buffer.from(`${req.method ?? ''} ${req.url ?? ''}\n${JSON.stringify(req.headers)}\n`)];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(Buffer.concat(chunks));
        res.writeHead(req.url?.startsWith('/pd') ? 202 : 200).end('ok');
      });
    });
    try {
      const ok = await newWorkspace({ pool, crypto }, { probeUrl: `${target.url}/ok` });
      await patchTaskParams({ pool, crypto }, ok, { auth: { header: 'Authorization', scheme: 'Bearer ', secretRef: 'env:PROBE_TOKEN' } });
      // Two more tasks of the same workspace and Runner: an echoing endpoint, and a secret that breaks the request.
      const echoTask = await addTask({ pool, crypto }, ok, 'http.probe', {
        url: `${target.url}/echo`,
        auth: { header: 'X-Api-Key', scheme: '', secretRef: 'env:API_KEY' },
      });
      const errorTask = await addTask(
        { pool, crypto },
        ok,
        'http.probe',
        { url: `${target.url}/ok`, auth: { header: 'Authorization', scheme: 'Bearer ', secretRef: 'env:BROKEN_TOKEN' } },
        { maxAttempts: 2, initialRetryIntervalMs: 100 },
      );

      // Secrets stored through the other providers: OpenBao (written as the Platform writes them) and a Kubernetes Secret.
      const vaultAddr = process.env['LOOKOUT_TEST_VAULT_ADDR'] ?? '';
      const root = createVaultClient({ endpoint: vaultAddr, token: process.env['LOOKOUT_TEST_VAULT_ROOT_TOKEN'] ?? '' });
      await createVaultClient({ endpoint: vaultAddr, token: process.env['LOOKOUT_TEST_VAULT_PLATFORM_TOKEN'] ?? '' }).write(
        kvPaths('lookout', ok.workspaceId, 'probe').data,
        { data: { value: canaries.vaultSecret } },
      );
      const access = await provisionRunnerAccess(root, 'lookout', ok.workspaceId);
      const admin = adminClients();
      const ns = await namespace(admin, 'canary');
      await admin.core.createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name: 'probe' }, data: { token: Buffer.from(canaries.k8sSecret).toString('base64') } },
      });
      await grantPolicyRbac({ secretBindings: [{ name: 'k8s-probe', ref: `k8s:${ns}/probe#token`, destinations: ['loopback-http'] }] });
      const vaultTask = await addTask({ pool, crypto }, ok, 'http.probe', {
        url: `${target.url}/echo`,
        auth: { header: 'Authorization', scheme: 'Bearer ', secretRef: `vault:lookout/workspaces/${ok.workspaceId}/probe#value` },
      });
      const k8sTask = await addTask({ pool, crypto }, ok, 'http.probe', {
        url: `${target.url}/echo`,
        auth: { header: 'X-Api-Key', scheme: '', secretRef: `k8s:${ns}/probe#token` },
      });

      const apiPort = await freePort();
      const metricsPorts = { api: await freePort(), 'platform-worker': await freePort(), runner: await freePort() };
      const otlp = await startOtlpReceiver();
      stopReceiver = otlp.stop;
      const base = {
        PATH: process.env['PATH'] ?? '',
        HOME: os.homedir(),
        LOOKOUT_TEMPORAL_ADDRESS: env.temporalAddress,
        LOOKOUT_LOG_LEVEL: 'trace',
        LOOKOUT_OTLP_ENDPOINT: otlp.url,
      };
      const platformEnv = {
        ...base,
        DATABASE_URL: env.databaseUrl,
        LOOKOUT_MASTER_KEY: env.masterKey,
        // The shared test database holds every test file's workspaces: serve this one's namespace.
        LOOKOUT_WORKER_NAMESPACES: ok.temporalNamespace!,
        // The sinks' receiver listens on loopback.
        LOOKOUT_NOTIFY_ALLOW_PRIVATE: 'true',
      };
      startProcess('api', 'platform-api/main.js', {
        ...platformEnv,
        LOOKOUT_API_PORT: String(apiPort),
        LOOKOUT_METRICS_LISTEN: `127.0.0.1:${metricsPorts.api}`,
      });
      startProcess('platform-worker', 'workers/platform-worker.js', {
        ...platformEnv,
        LOOKOUT_METRICS_LISTEN: `127.0.0.1:${metricsPorts['platform-worker']}`,
      });
      startProcess('runner', 'workers/runner.js', {
        ...base,
        LOOKOUT_TEMPORAL_NAMESPACE: ok.temporalNamespace,
        LOOKOUT_RUNNER_ID: ok.runnerId,
        LOOKOUT_WORKSPACE_ID: ok.workspaceId,
        LOOKOUT_RUNNER_KEYS_FILE: await writeRunnerKeyFile({ pool, crypto }, ok.workspaceId),
        ...runnerAttestationEnv(ok.runnerId),
        // Raw excerpts allowed, so that redaction, not the policy, is what keeps the echo out.
        LOOKOUT_RUNNER_POLICY_FILE: writePolicyFile(
          loopbackPolicyInput(['http.probe'], {
            rawData: { allow: ['http.probe'] },
            secretBindings: [
              { name: 'probe-token', ref: 'env:PROBE_TOKEN', destinations: ['loopback-http'], header: 'Authorization', scheme: 'Bearer ' },
              { name: 'api-key', ref: 'env:API_KEY', destinations: ['loopback-http'], header: 'X-Api-Key' },
              {
                name: 'broken-token',
                ref: 'env:BROKEN_TOKEN',
                destinations: ['loopback-http'],
                header: 'Authorization',
                scheme: 'Bearer ',
              },
              {
                name: 'vault-probe',
                ref: `vault:lookout/workspaces/${ok.workspaceId}/probe#value`,
                destinations: ['loopback-http'],
                header: 'Authorization',
                scheme: 'Bearer ',
              },
              { name: 'k8s-probe', ref: `k8s:${ns}/probe#token`, destinations: ['loopback-http'], header: 'X-Api-Key' },
            ],
          }),
        ),
        LOOKOUT_KUBECONFIG: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '',
        LOOKOUT_VAULT_ADDR: vaultAddr,
        LOOKOUT_VAULT_AUTH: 'approle',
        LOOKOUT_VAULT_ROLE_ID: access.roleId,
        LOOKOUT_VAULT_SECRET_ID: access.secretId,
        PROBE_TOKEN: canaries.envSecret,
        API_KEY: canaries.echoedSecret,
        // Not a valid header value: fetch throws an error whose message contains it.
        // As `kubectl create secret --from-file` leaves it: inner and trailing line breaks.
        BROKEN_TOKEN: `${canaries.errorSecret}\n${canaries.errorSecret}-line2\n`,
        LOOKOUT_METRICS_LISTEN: `127.0.0.1:${metricsPorts.runner}`,
      });
      const apiUrl = `http://127.0.0.1:${apiPort}`;
      const call = async (method: string, url: string, body?: unknown) => {
        const res = await fetch(`${apiUrl}${url}`, {
          method,
          headers: { authorization: `Bearer ${ok.token}`, 'content-type': 'application/json' },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        const bytes = Buffer.from(await res.arrayBuffer());
        responses.push(bytes);
        return { status: res.status, body: JSON.parse(bytes.toString('utf8')) as Record<string, unknown> };
      };
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        if (
          await fetch(`${apiUrl}/readyz`)
            .then((r) => r.ok)
            .catch(() => false)
        )
          break;
        await new Promise((r) => setTimeout(r, 200));
      }

      // Sinks of every HTTP kind, their targets holding the sink canaries; every change notified at once.
      for (const target of [
        { kind: 'webhook', url: `${receiver.url}/hook/${sinkCanaries.sinkUrlSecret}` },
        { kind: 'slack', url: `${receiver.url}/slack?token=${sinkCanaries.sinkUrlSecret}` },
        { kind: 'teams', url: `${receiver.url}/teams/${sinkCanaries.sinkUrlSecret}` },
        { kind: 'pagerduty', routingKey: sinkCanaries.routingKey, url: `${receiver.url}/pd` },
      ])
        expect(
          (
            await call('POST', `/v1/workspaces/${ok.workspaceId}/sinks`, {
              name: `canary-${target.kind}`,
              target,
              maxSeverity: 4,
              groupSeconds: 0,
            })
          ).status,
        ).toBe(201);

      const outcomes: Record<string, Record<string, unknown>> = {};
      for (const [name, taskId] of [
        ['ok', ok.taskId],
        ['echo', echoTask],
        ['error', errorTask],
        ['vault', vaultTask],
        ['k8s', k8sTask],
      ] as const) {
        const created = await call('POST', `/v1/workspaces/${ok.workspaceId}/runs`, { taskId });
        expect(created.status).toBe(202);
        let run = created.body;
        while (!(TERMINAL_RUN_STATUSES as readonly string[]).includes(String(run['status'])) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 200));
          run = (await call('GET', `/v1/runs/${String(created.body['id'])}`)).body;
        }
        outcomes[name] = run;
      }
      await call('GET', `/v1/workspaces/${ok.workspaceId}/runs`);
      // The runs did what they should: a healthy probe, an unhealthy one with a redacted excerpt, and a retried failure.
      expect(outcomes['ok']).toMatchObject({ status: 'succeeded', result: { status: 'ok' } });
      expect(outcomes['echo']).toMatchObject({ status: 'succeeded', result: { status: 'issues' } });
      expect(JSON.stringify(outcomes['echo'])).toContain('[redacted]');
      // A value with line breaks is refused before it becomes a header, in a fixed message.
      expect(outcomes['error']).toMatchObject({ status: 'failed', error: { type: 'PolicyDenied' } });
      expect(String((outcomes['error']!['error'] as { message: string }).message)).toContain('not a valid header value');
      // The echoing endpoint saw the vault: and k8s: values, so the results had them to leak.
      expect(outcomes['vault']).toMatchObject({ status: 'succeeded', result: { status: 'issues' } });
      expect(outcomes['k8s']).toMatchObject({ status: 'succeeded', result: { status: 'issues' } });
      expect(JSON.stringify([outcomes['vault'], outcomes['k8s']])).toContain('[redacted]');
      // The findings were notified: every sink's deliveries done, none failed.
      let sent: { state: string; sinkId: string }[] = [];
      while (Date.now() < deadline + 30_000) {
        sent = (await call('GET', `/v1/workspaces/${ok.workspaceId}/notifications?limit=1000`)).body['items'] as typeof sent;
        if (sent.length >= 4 && sent.every((n) => n.state === 'delivered') && new Set(sent.map((n) => n.sinkId)).size === 4) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(sent.length).toBeGreaterThanOrEqual(4);
      expect(sent.every((n) => n.state === 'delivered')).toBe(true);

      const hits: string[] = [];
      // 1. The Temporal dev server's SQLite files and its log.
      for (const file of readdirSync(env.dir).filter((f) => f.startsWith('temporal'))) {
        let bytes: Buffer;
        try {
          bytes = readFileSync(path.join(env.dir, file));
        } catch (err) {
          // SQLite's journal comes and goes with each transaction.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw err;
        }
        hits.push(...findHits(file, bytes, allCanaries));
      }
      // 2. Every history, fetched raw over gRPC with no codec.
      const connection = await Connection.connect({ address: env.temporalAddress });
      const raw = new Client({ connection, namespace: ok.temporalNamespace! });
      let histories = 0;
      const payloadEncodings = new Set<string | undefined>();
      const plainPayloads: string[] = [];
      const identities = new Set<string>();
      const searchAttributes = new Set<string>();
      const markers = new Set<string>();
      const headerFields: string[] = [];
      for await (const wf of raw.workflow.list()) {
        const history = await raw.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
        histories += 1;
        hits.push(
          ...findHits(`history of ${wf.workflowId}`, Buffer.from(temporal.api.history.v1.History.encode(history).finish()), allCanaries),
        );
        // Identities are stored in clear: they must be opaque (no host names).
        JSON.stringify(history, (key, value: unknown) => {
          if (key === 'identity' && typeof value === 'string' && value !== '') identities.add(value);
          return value;
        });
        // Search attributes are never encrypted (Temporal indexes them): only the server's own, with opaque values, may appear.
        for (const e of history.events ?? []) {
          for (const p of collectPayloads(e, [], new Set(), new Set(['searchAttributes', 'markerRecordedEventAttributes', 'header']))) {
            const encoding = metadataText(p, 'encoding');
            // The server itself writes this constant when an activity is cancelled before any worker
            // started it (a run cancelled while queued): no codec ever sees it, and it names nothing.
            const serverConstant =
              e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED &&
              Buffer.from(p.data ?? new Uint8Array()).toString('utf8') === '"ACTIVITY_ID_NOT_STARTED"';
            if (serverConstant) continue;
            payloadEncodings.add(encoding);
            if (encoding !== ENCRYPTED_ENCODING)
              plainPayloads.push(
                `${encoding ?? '?'} in ${wf.type} event ${String(e.eventType)}: ${Buffer.from(p.data ?? new Uint8Array())
                  .toString('utf8')
                  .slice(0, 80)}`,
              );
          }
        }
        // Headers are never encrypted (Temporal notes): with traces on, they carry the W3C trace
        // context of the OpenTelemetry interceptors (random trace and span ids) and nothing else.
        JSON.stringify(history, (key, value: unknown) => {
          if (key === 'header' && value && typeof value === 'object')
            // Protobuf messages reach the replacer in their JSON form: bytes as base64.
            for (const [name, p] of Object.entries((value as { fields?: Record<string, { data?: Uint8Array | string }> }).fields ?? {}))
              headerFields.push(
                `${name}=${(typeof p.data === 'string' ? Buffer.from(p.data, 'base64') : Buffer.from(p.data ?? new Uint8Array())).toString('utf8')}`,
              );
          return value;
        });
        // Patch markers are written by the SDK's core, not through the codec: they may hold our patch ids only.
        // A local activity's marker (issue 17) holds its result, through the codec, and core's own
        // bookkeeping in clear: sequence, attempt, activity id and type, times, nothing else.
        for (const e of history.events ?? []) {
          const marker = e.markerRecordedEventAttributes;
          if (!marker) continue;
          if (marker.markerName === 'core_local_activity') {
            for (const p of collectPayloads(marker.details?.['result'])) {
              const encoding = metadataText(p, 'encoding');
              payloadEncodings.add(encoding);
              if (encoding !== ENCRYPTED_ENCODING) plainPayloads.push(`${encoding ?? '?'} in a local activity's result`);
            }
            for (const p of collectPayloads(marker.details?.['data'])) {
              const bookkeeping = JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString('utf8')) as Record<string, unknown>;
              for (const key of Object.keys(bookkeeping))
                expect(['seq', 'attempt', 'activity_id', 'activity_type', 'complete_time', 'backoff', 'original_schedule_time']).toContain(
                  key,
                );
              markers.add(`core_local_activity:${String(bookkeeping['activity_type'])}`);
            }
            continue;
          }
          markers.add(
            `${marker.markerName ?? ''}:${collectPayloads(marker.details)
              .map((p) => Buffer.from(p.data ?? new Uint8Array()).toString('utf8'))
              .join(',')}`,
          );
        }
        JSON.stringify(history, (key, value: unknown) => {
          if (key === 'searchAttributes' && value && typeof value === 'object') {
            for (const name of Object.keys((value as { indexedFields?: object }).indexedFields ?? {})) searchAttributes.add(name);
          }
          return value;
        });
      }
      await connection.close();
      expect(histories).toBeGreaterThanOrEqual(3);
      expect(plainPayloads).toEqual([]);
      expect(headerFields.length).toBeGreaterThan(0);
      for (const field of headerFields) expect(field).toMatch(/^_tracer-data=\{"traceparent":"00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]"\}$/);
      expect([...payloadEncodings]).toEqual([ENCRYPTED_ENCODING]);
      for (const name of searchAttributes)
        expect(['TemporalScheduledById', 'TemporalScheduledStartTime', 'TemporalChangeVersion']).toContain(name);
      // Patch markers name code versions, nothing of the customer.
      for (const marker of markers)
        expect(marker).toMatch(
          /^(core_patch:.*"(schedule-outcome|run-from-database|signed-envelope|local-platform-steps)"|core_local_activity:(beginRun|completeRun|recordRunFinished)$)/,
        );
      expect(identities.size).toBeGreaterThan(0);
      // Ours are opaque by construction; the server's own name a service (timeouts it records) or
      // its scheduler with our opaque schedule id — never a host.
      const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
      const opaque = new RegExp(
        `^((api|platform-worker|runner)(:${UUID})?:[a-z0-9]+|history-service|matching-service|temporal-scheduler-default-ws-${UUID}\\.schedule-${UUID})$`,
      );
      for (const identity of identities) expect(identity).toMatch(opaque);
      // 3. Every table of the Platform database.
      const pg = new PgClient({ connectionString: env.databaseUrl });
      await pg.connect();
      const tables = await pg.query<{ table_name: string }>(
        "select table_name from information_schema.tables where table_schema = 'public'",
      );
      for (const { table_name } of tables.rows) {
        const dump = await pg.query<{ row: string }>(`select t::text as row from "${table_name}" t`);
        hits.push(...findHits(`table ${table_name}`, Buffer.from(dump.rows.map((r) => r.row).join('\n')), allCanaries));
      }
      await pg.end();
      // 4. Everything every process logged, and 5. every API response.
      for (const [name, chunks] of Object.entries(logs)) hits.push(...findHits(`${name} log`, Buffer.concat(chunks), allCanaries));
      hits.push(...findHits('API responses', Buffer.concat(responses), allCanaries));
      // 8. Every notification: no Runner-side secret and no raw data (the echoed body) reaches a receiver.
      const notified = Buffer.concat(received);
      expect(notified.toString('utf8')).toContain('Unexpected HTTP status');
      expect(notified.toString('utf8')).toContain(sinkCanaries.routingKey); // the receiver's own key, as PagerDuty needs it
      expect(notified.toString('utf8')).not.toContain('denied for');
      hits.push(...findHits('notifications', notified, canaries));
      // 6. Every process's metrics, and 7. every span exported (the batch exporters send within a second or two).
      const names = { namespace: ns, destination: new URL(target.url).host, ...allCanaries };
      const labelValues = new Set<string>();
      for (const [name, port] of Object.entries(metricsPorts)) {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        expect(text).toContain(name === 'api' ? 'lookout_api_requests_total' : 'temporal_');
        // The deliveries above, counted by sink kind and outcome (bounded labels, no sink id).
        if (name === 'platform-worker')
          for (const kind of ['webhook', 'slack', 'teams', 'pagerduty'])
            expect(text).toMatch(new RegExp(`^lookout_notification_deliveries_total\\{kind="${kind}",outcome="delivered"\\} [1-9]`, 'm'));
        hits.push(...findHits(`${name} metrics`, Buffer.from(text), names));
        for (const m of text.matchAll(/="((?:[^"\\]|\\.)*)"/g)) labelValues.add(m[1]!);
      }
      for (const value of labelValues) expect(value).not.toBe(os.hostname());
      const spanDeadline = Date.now() + 20_000;
      while (new Set(otlp.spans.map((sp) => sp.service)).size < 3 && Date.now() < spanDeadline)
        await new Promise((r) => setTimeout(r, 200));
      expect(new Set(otlp.spans.map((sp) => sp.service))).toEqual(new Set(['lookout-api', 'lookout-platform-worker', 'lookout-runner']));
      // A failed run's spans are there too (they carry an error status, and no message).
      expect(otlp.spans.some((sp) => sp.service === 'lookout-runner' && sp.name === 'RunActivity:executeCheck')).toBe(true);
      hits.push(...findHits('exported spans', Buffer.concat(otlp.bodies), names));
      for (const sp of otlp.spans)
        for (const [key, value] of Object.entries(sp.attributes)) {
          expect(key).not.toMatch(/^(host|net|server|url|http)\./);
          expect(value).not.toBe(os.hostname());
        }
      const resources = Buffer.concat(otlp.bodies).toString('utf8');
      expect(resources).not.toMatch(/"(host\.name|process\.command|process\.pid)"/);
      // The scanners themselves find a planted value (a check that cannot fail is no check).
      expect(findHits('self-test', Buffer.from(`x${Buffer.from(`ab${canaries.envSecret}`).toString('base64')}x`), canaries)).toEqual([
        'envSecret in self-test',
      ]);
      expect(Object.values(logs).every((chunks) => Buffer.concat(chunks).length > 0)).toBe(true);

      expect(hits).toEqual([]);
    } finally {
      await stopReceiver?.();
      await receiver.stop();
      await target.stop();
      await pool.end();
    }
  });
});
