/**
 * Operator telemetry end to end: the API, the platform worker and a Runner run as processes from
 * dist/ with their metrics endpoints on loopback and traces sent to an in-test OTLP/HTTP receiver;
 * a real Prometheus scrapes all three every second, and the series are read back through its HTTP
 * API after real checks ran through the API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensurePrometheus } from '../scripts/tools';
import { freePort } from '../platform/db/embedded';
import { createPlatformCrypto } from '../platform/crypto';
import { createPool } from '../platform/db/pool';
import { loopbackPolicyInput, writePolicyFile } from './harness/policy';
import { addTask, api, env, newWorkspace, runnerAttestationEnv, startHttpServer, waitForRun, writeRunnerKeyFile } from './harness/env';
import { startOtlpReceiver } from './harness/otlp-receiver';

const dist = path.resolve(__dirname, '..', 'dist');

interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

describe('metrics and traces', () => {
  const children: ChildProcess[] = [];
  const output: Record<string, string> = {};
  let tmp: string | undefined;

  function start(name: string, file: string, processEnv: NodeJS.ProcessEnv, args: string[] = []): ChildProcess {
    output[name] = '';
    const child = spawn(file.startsWith('/') ? file : process.execPath, file.startsWith('/') ? args : [path.join(dist, file)], {
      env: processEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => (output[name] += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output[name] += d.toString()));
    children.push(child);
    return child;
  }

  async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${JSON.stringify(output).slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  afterAll(async () => {
    // Prometheus too: every process this test started, and nothing else.
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('exposes each process to a real Prometheus and traces a run across the API, the workflow and the Runner', async () => {
    const prometheus = ensurePrometheus();
    const pool = createPool(env.databaseUrl);
    const crypto = createPlatformCrypto(pool, env.masterKey);
    const target = await startHttpServer((_req, res) => void res.writeHead(200).end('fine'));
    const otlp = await startOtlpReceiver();
    try {
      const ws = await newWorkspace({ pool, crypto }, { probeUrl: `${target.url}/ok` });
      // A destination outside the Runner policy: the Runner refuses to contact it (PolicyDenied).
      const deniedTask = await addTask({ pool, crypto }, ws, 'http.probe', { url: 'http://192.0.2.7/' });
      const [apiPort, apiMetrics, workerMetrics, runnerMetrics, promPort] = await Promise.all([1, 2, 3, 4, 5].map(() => freePort()));
      const metricsToken = randomBytes(24).toString('hex');
      const base = {
        PATH: process.env['PATH'] ?? '',
        HOME: os.homedir(),
        LOOKOUT_TEMPORAL_ADDRESS: env.temporalAddress,
        LOOKOUT_LOG_LEVEL: 'warn',
        LOOKOUT_OTLP_ENDPOINT: otlp.url,
      };
      const platformEnv = {
        ...base,
        DATABASE_URL: env.databaseUrl,
        LOOKOUT_MASTER_KEY: env.masterKey,
        LOOKOUT_WORKER_NAMESPACES: ws.temporalNamespace!,
      };
      start('api', 'platform-api/main.js', {
        ...platformEnv,
        LOOKOUT_API_PORT: String(apiPort),
        LOOKOUT_METRICS_LISTEN: `127.0.0.1:${apiMetrics}`,
        LOOKOUT_METRICS_TOKEN: metricsToken,
      });
      start('platform-worker', 'workers/platform-worker.js', { ...platformEnv, LOOKOUT_METRICS_LISTEN: `127.0.0.1:${workerMetrics}` });
      start('runner', 'workers/runner.js', {
        ...base,
        LOOKOUT_TEMPORAL_NAMESPACE: ws.temporalNamespace,
        LOOKOUT_RUNNER_ID: ws.runnerId,
        LOOKOUT_WORKSPACE_ID: ws.workspaceId,
        LOOKOUT_RUNNER_KEYS_FILE: await writeRunnerKeyFile({ pool, crypto }, ws.workspaceId),
        ...runnerAttestationEnv(ws.runnerId),
        LOOKOUT_RUNNER_POLICY_FILE: writePolicyFile(loopbackPolicyInput(['http.probe'])),
        LOOKOUT_METRICS_LISTEN: `127.0.0.1:${runnerMetrics}`,
      });
      const apiUrl = `http://127.0.0.1:${apiPort}`;
      await waitFor('the API', async () => ((await fetch(`${apiUrl}/readyz`)).ok ? true : undefined));
      // The API's metrics are behind their token.
      await waitFor('the API metrics', async () =>
        (await fetch(`http://127.0.0.1:${apiMetrics}/metrics`)).status === 401 ? true : undefined,
      );
      expect((await fetch(`http://127.0.0.1:${apiMetrics}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);

      const ok = await api(apiUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, { token: ws.token, body: { taskId: ws.taskId } });
      expect(ok.status).toBe(202);
      expect(await waitForRun(apiUrl, ws.token, String(ok.body['id']))).toMatchObject({ status: 'succeeded', result: { status: 'ok' } });
      const denied = await api(apiUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, { token: ws.token, body: { taskId: deniedTask } });
      expect(await waitForRun(apiUrl, ws.token, String(denied.body['id']))).toMatchObject({
        status: 'failed',
        error: { type: 'PolicyDenied' },
      });

      // A real Prometheus, scraping the three loopback endpoints every second.
      tmp = mkdtempSync(path.join(os.tmpdir(), 'lookout-prometheus-'));
      const job = (name: string, port: number, extra = '') =>
        `  - job_name: ${name}\n${extra}    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`;
      writeFileSync(
        path.join(tmp, 'prometheus.yml'),
        'global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n' +
          job('api', apiMetrics!, `    authorization:\n      credentials: ${metricsToken}\n`) +
          job('platform-worker', workerMetrics!) +
          job('runner', runnerMetrics!),
      );
      start('prometheus', prometheus, {}, [
        `--config.file=${path.join(tmp, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(tmp, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--log.level=warn',
      ]);
      const promUrl = `http://127.0.0.1:${promPort}`;
      const query = async (q: string): Promise<PromResult[]> => {
        const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
        const body = (await res.json()) as { status: string; data: { result: PromResult[] } };
        if (body.status !== 'success') throw new Error(`query ${q} failed`);
        return body.data.result;
      };
      /** The value of a query that answers exactly one series, once Prometheus has scraped it. */
      const one = (q: string) =>
        waitFor(q, async () => {
          const result = await query(q);
          return result.length === 1 ? Number(result[0]!.value[1]) : undefined;
        });
      await waitFor('Prometheus', async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined));

      for (const name of ['api', 'platform-worker', 'runner']) expect(await one(`up{job="${name}"}`)).toBe(1);
      // The platform worker: runs by status and check type, stored result sizes; a Temporal SDK worker metric.
      expect(
        await one('lookout_runs_finished_total{job="platform-worker",status="succeeded",check_type="http.probe"}'),
      ).toBeGreaterThanOrEqual(1);
      expect(
        await one('lookout_runs_finished_total{job="platform-worker",status="failed",check_type="http.probe"}'),
      ).toBeGreaterThanOrEqual(1);
      expect(await one('lookout_result_bytes_count{job="platform-worker",check_type="http.probe"}')).toBeGreaterThanOrEqual(1);
      expect(await one('lookout_results_rejected_total{job="platform-worker"}')).toBe(0);
      expect(await one('sum(temporal_workflow_completed_total{job="platform-worker",workflow_type="runTask"})')).toBeGreaterThanOrEqual(1);
      // The Runner: checks by outcome, latency, result sizes, the policy denial; its SDK metrics.
      expect(await one('lookout_runner_checks_total{job="runner",check_type="http.probe",outcome="ok"}')).toBeGreaterThanOrEqual(1);
      expect(await one('lookout_runner_checks_total{job="runner",check_type="http.probe",outcome="PolicyDenied"}')).toBeGreaterThanOrEqual(
        1,
      );
      expect(
        await one('lookout_runner_policy_denials_total{job="runner",check_type="http.probe",type="PolicyDenied"}'),
      ).toBeGreaterThanOrEqual(1);
      expect(await one('lookout_runner_check_duration_seconds_count{job="runner",check_type="http.probe"}')).toBeGreaterThanOrEqual(2);
      expect(await one('lookout_runner_result_bytes_count{job="runner",check_type="http.probe"}')).toBeGreaterThanOrEqual(1);
      expect(await one('sum(temporal_activity_execution_latency_count{job="runner",activity_type="executeCheck"})')).toBeGreaterThanOrEqual(
        2,
      );
      // The API: requests by route template (never the path with its ids) and status.
      expect(
        await one('lookout_api_requests_total{job="api",method="POST",route="/v1/workspaces/:ws/runs",status="202"}'),
      ).toBeGreaterThanOrEqual(2);
      expect(await one('sum(lookout_api_requests_total{job="api",method="GET",route="/v1/runs/:id",status="200"})')).toBeGreaterThanOrEqual(
        2,
      );
      expect(await one('lookout_api_request_duration_seconds_count{job="api",method="GET",route="/readyz"}')).toBeGreaterThanOrEqual(1);
      const routes = (await query('lookout_api_requests_total')).map((r) => r.metric['route'] ?? '');
      for (const route of routes) expect(route).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}/);

      // Traces: one trace from the API's StartWorkflow through the workflow to the Runner's activity.
      const spans = await waitFor('spans of every process', async () => {
        const services = new Set(otlp.spans.map((s) => s.service));
        return ['lookout-api', 'lookout-platform-worker', 'lookout-runner'].every((s) => services.has(s)) ? otlp.spans : undefined;
      });
      const start_ = spans.find((s) => s.service === 'lookout-api' && s.name === 'StartWorkflow:runTask');
      expect(start_).toBeDefined();
      const inTrace = spans.filter((s) => s.traceId === start_!.traceId);
      expect(inTrace.some((s) => s.service === 'lookout-platform-worker' && s.name === 'RunWorkflow:runTask')).toBe(true);
      expect(inTrace.some((s) => s.service === 'lookout-runner' && s.name === 'RunActivity:executeCheck')).toBe(true);
    } finally {
      await otlp.stop();
      await target.stop();
      await pool.end();
    }
  });
});
