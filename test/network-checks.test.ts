/**
 * The network checks against real services: `dns.resolve` against dnsmasq, `tls.endpoint` against
 * TLS servers with certificates made by openssl, `prometheus.query` against Prometheus scraping a
 * metrics endpoint of this test. Every run goes through the API, the platform worker, Temporal and
 * a real Runner process (workers/runner.js) whose policy file names the destinations, which asks
 * the test's DNS server (LOOKOUT_DNS_SERVERS) and trusts the test CAs (NODE_EXTRA_CA_CERTS), as an
 * operator would set them. Each refusal is checked twice: by the Platform when the task is saved,
 * and by the Runner when a hostile Platform writes the task straight into its database.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { CheckType } from '../common/checks';
import { ConfigError, parseConfig, RunnerConfig } from '../common/config';
import { serverTlsOptions } from '../common/tls';
import type { BootstrapOutput } from '../platform-api/services/bootstrap.service';
import {
  addTask,
  api,
  newWorkspace,
  resultOf,
  runTaskViaApi,
  startHttpServer,
  startPlatform,
  type RunResult,
  type TestPlatform,
  runnerProcessEnv,
} from './harness/env';
import { startDnsServer, type RunningDnsServer } from './harness/dns-server';
import { certificate } from './harness/kube-fixtures';
import { testPlatformPublicKey, writePolicyFile } from './harness/policy';
import { startPrometheus, type RunningPrometheus } from './harness/prometheus';
import { makePki, type Pki } from './harness/tls';

const dist = path.resolve(__dirname, '..', 'dist');
/** Prometheus asks for this user; its web config holds the bcrypt hash (cost 4) of the password, made once. */
const PROM_USER = 'lookout';
const PROM_PASSWORD = 'lookout-test-prometheus';
const PROM_BCRYPT = '$2b$04$LookoutTestSaltForProe.CLVzMOZjcCbyWgMSSUdPxPau.w8Q1O';
/** The Runner's secret: what follows `Basic ` in the header its binding sends. */
const PROM_TOKEN = Buffer.from(`${PROM_USER}:${PROM_PASSWORD}`).toString('base64');
const KEY_CANARY = `KEY-CANARY-${randomBytes(8).toString('hex')}`;

// ---------------------------------------------------------------------------------------------
// Certificates with exact dates and chains: `openssl ca` (req -x509 cannot backdate).

const CA_CONFIG = [
  '[ca]',
  'default_ca = lookout',
  '[lookout]',
  'database = index.txt',
  'serial = serial',
  'new_certs_dir = .',
  'default_md = sha256',
  'policy = any',
  'unique_subject = no',
  '[any]',
  'commonName = supplied',
  '[ca_ext]',
  'basicConstraints = critical,CA:TRUE',
  'keyUsage = critical,keyCertSign,cRLSign',
  '[leaf_ext]',
  'basicConstraints = critical,CA:FALSE',
  'keyUsage = critical,digitalSignature',
  'extendedKeyUsage = serverAuth',
  'subjectAltName = DNS:localhost,IP:127.0.0.1',
  '',
].join('\n');

const DAY = 86_400_000;
const asn1 = (d: Date) => `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

/** A certificate valid from `from` to `to` (days from now), self-signed or signed by `issuer`; answers its PEM files. */
function issueCertificate(
  dir: string,
  name: string,
  options: { cn: string; from: number; to: number; ca: boolean; issuer?: { cert: string; key: string } },
): { cert: string; key: string } {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  writeFileSync(path.join(dir, 'ca.cnf'), CA_CONFIG);
  writeFileSync(path.join(dir, 'index.txt'), '', { flag: 'a' });
  writeFileSync(path.join(dir, 'serial'), `${randomBytes(8).toString('hex')}\n`);
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.pem`);
  run([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${options.cn}`,
  ]);
  run([
    'ca',
    '-batch',
    '-notext',
    '-config',
    'ca.cnf',
    '-extensions',
    options.ca ? 'ca_ext' : 'leaf_ext',
    ...(options.issuer ? ['-cert', options.issuer.cert, '-keyfile', options.issuer.key] : ['-selfsign', '-keyfile', key]),
    '-in',
    `${name}.csr`,
    '-out',
    cert,
    '-startdate',
    asn1(new Date(Date.now() + options.from * DAY)),
    '-enddate',
    asn1(new Date(Date.now() + options.to * DAY)),
  ]);
  return { cert, key };
}

/** A TLS server on loopback that completes handshakes and closes; answers its port. */
async function tlsServer(options: tls.TlsOptions): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = tls.createServer(options, (s) => s.end());
  server.on('tlsClientError', () => undefined);
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async stop() {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------

let platform: TestPlatform;
let ws: BootstrapOutput;
let runner: ChildProcess | undefined;
let runnerOutput = '';
let dns: RunningDnsServer;
let prometheus: RunningPrometheus;
let pki: Pki;
const stops: (() => Promise<void>)[] = [];
const ports: Record<'good' | 'selfSigned' | 'expired' | 'old' | 'plain' | 'chain', number> = {
  good: 0,
  selfSigned: 0,
  expired: 0,
  old: 0,
  plain: 0,
  chain: 0,
};
let selfSignedKey: Buffer;

const METRICS = [
  '# TYPE lookout_test_queue_depth gauge',
  'lookout_test_queue_depth{namespace="payments",pod="worker-0"} 120',
  'lookout_test_queue_depth{namespace="payments",pod="worker-1"} 40',
  'lookout_test_queue_depth{namespace="payments",pod="worker-2"} 5',
  '# TYPE lookout_test_temperature_celsius gauge',
  'lookout_test_temperature_celsius 21.5',
  '# TYPE lookout_test_free_text gauge',
  'lookout_test_free_text{namespace="Customer Data Here",pod="x"} 1000',
  '',
].join('\n');

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`${what} did not happen within ${timeoutMs} ms; runner output:\n${runnerOutput.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  platform = await startPlatform();
  dns = await startDnsServer({
    domain: 'lookout.test',
    hosts: { 'app.lookout.test': ['10.1.2.3', '10.1.2.4', 'fd00::1'], 'mail.lookout.test': ['10.1.2.9'] },
    cnames: { 'alias.lookout.test': 'app.lookout.test' },
    mx: [{ name: 'lookout.test', exchange: 'mail.lookout.test', priority: 10 }],
    txt: [{ name: 'lookout.test', text: 'v=spf1 -all' }],
    srv: [{ name: '_https._tcp.lookout.test', target: 'app.lookout.test', port: 443 }],
  });
  stops.push(() => dns.stop());

  // TLS endpoints: one per way a certificate or handshake goes wrong.
  pki = makePki('network-checks');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-certs-'));
  const root = issueCertificate(dir, 'root', { cn: 'Lookout chain root', from: -1, to: 30, ca: true });
  const intermediate = issueCertificate(dir, 'intermediate', { cn: 'Lookout intermediate', from: -1, to: 3, ca: true, issuer: root });
  const chainLeaf = issueCertificate(dir, 'chain-leaf', { cn: 'localhost', from: -1, to: 60, ca: false, issuer: intermediate });
  const expired = issueCertificate(dir, 'expired', { cn: 'localhost', from: -60, to: -30, ca: false });
  const caBundle = path.join(dir, 'trusted.pem');
  writeFileSync(caBundle, `${readFileSync(pki.caFile, 'utf8')}${readFileSync(root.cert, 'utf8')}`);
  const selfSigned = certificate(90, 'localhost', KEY_CANARY);
  selfSignedKey = selfSigned.key;
  const good = serverTlsOptions({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) });
  const servers = {
    good: await tlsServer(good),
    selfSigned: await tlsServer({ cert: selfSigned.crt, key: selfSigned.key }),
    expired: await tlsServer({ cert: readFileSync(expired.cert), key: readFileSync(expired.key) }),
    // A server stuck on TLS 1.1 (OpenSSL 3 allows it only at security level 0).
    old: await tlsServer({
      cert: readFileSync(pki.certFile),
      key: readFileSync(pki.keyFile),
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT:@SECLEVEL=0',
    }),
    chain: await tlsServer({
      cert: `${readFileSync(chainLeaf.cert, 'utf8')}${readFileSync(intermediate.cert, 'utf8')}`,
      key: readFileSync(chainLeaf.key),
    }),
  };
  for (const [name, server] of Object.entries(servers)) {
    ports[name as keyof typeof ports] = server.port;
    stops.push(() => server.stop());
  }
  // Plain HTTP where TLS is expected.
  const plain = await startHttpServer((_req, res) => void res.writeHead(200).end('plain text'));
  ports.plain = Number(new URL(plain.url).port);
  stops.push(() => plain.stop());

  // Prometheus, scraping this test's metrics every second.
  const metrics = await startHttpServer(
    (_req, res) => void res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(METRICS),
  );
  stops.push(() => metrics.stop());
  prometheus = await startPrometheus([new URL(metrics.url).host], {
    basicAuth: { user: PROM_USER, password: PROM_PASSWORD, bcryptHash: PROM_BCRYPT },
  });
  stops.push(() => prometheus.stop());
  await waitFor('the first scrape', async () => ((await prometheus.query('lookout_test_queue_depth')).length === 3 ? true : undefined));

  ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
  const policyFile = writePolicyFile({
    checks: ['dns.resolve', 'tls.endpoint', 'prometheus.query'],
    platformKeys: [testPlatformPublicKey()],
    destinations: [
      // Names dns.resolve may look up: whatever the scheme, a destination's host covers them.
      { name: 'zone', scheme: 'https', host: '*.lookout.test' },
      { name: 'zone-apex', scheme: 'https', host: 'lookout.test' },
      { name: 'broken-upstream', scheme: 'https', host: `*.${dns.servfailDomain}` },
      { name: 'dead-upstream', scheme: 'https', host: `*.${dns.silentDomain}` },
      { name: 'tls-loopback', scheme: 'tls', host: '127.0.0.1', port: '*', allowAddresses: ['127.0.0.0/8'] },
      // A name the operator allows, but which resolves to loopback: refused when connecting.
      { name: 'tls-lure', scheme: 'tls', host: 'localhost', port: '*' },
      {
        name: 'prometheus',
        scheme: 'http',
        host: '127.0.0.1',
        port: Number(new URL(prometheus.url).port),
        pathPrefix: '/api/v1/query',
        allowAddresses: ['127.0.0.0/8'],
      },
    ],
    secretBindings: [
      { name: 'prom-token', ref: 'env:PROM_TOKEN', destinations: ['prometheus'], header: 'Authorization', scheme: 'Basic ' },
      { name: 'lure-token', ref: 'env:PROM_TOKEN', destinations: ['tls-lure'], header: 'Authorization', scheme: 'Bearer ' },
    ],
  });
  runner = spawn(process.execPath, [path.join(dist, 'workers', 'runner.js')], {
    env: await runnerProcessEnv(platform, ws, policyFile, {
      LOOKOUT_DNS_SERVERS: dns.address,
      NODE_EXTRA_CA_CERTS: caBundle,
      PROM_TOKEN,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runner.stdout!.on('data', (d: Buffer) => (runnerOutput += d.toString()));
  runner.stderr!.on('data', (d: Buffer) => (runnerOutput += d.toString()));
  await waitFor('runner polling', async () => (runnerOutput.includes('runner polling') ? true : undefined));
  // The Platform learns the Runner's policy (describeRunner) and from then on refuses what it will refuse.
  await waitFor('the Runner reporting its policy', async () => {
    const listed = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners`, { token: ws.token });
    const me = (listed.body['items'] as Record<string, unknown>[] | undefined)?.find((r) => r['id'] === ws.runnerId);
    return me?.['policy'] ? true : undefined;
  });
}, 240_000);

afterAll(async () => {
  if (runner && runner.exitCode === null) {
    const exited = new Promise((r) => runner!.once('exit', r));
    runner.kill('SIGTERM');
    await exited;
  }
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await platform?.stop();
});

/** Runs a check through the API; the run must succeed, and nothing secret may be in it. */
async function check(type: CheckType, params: Record<string, unknown>): Promise<RunResult> {
  const taskId = await addTask(platform, ws, type, params, { maxAttempts: 1 });
  const run = await runTaskViaApi(platform, ws, taskId);
  const text = JSON.stringify(run);
  expect(text).not.toContain(PROM_TOKEN);
  expect(text).not.toContain(PROM_PASSWORD);
  expect(text).not.toContain('BEGIN');
  return resultOf(run);
}

/** Saves a task through the API, as a person would: the Platform applies the Runner's reported policy. */
function createTask(checkType: CheckType, params: Record<string, unknown>) {
  return api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/tasks`, {
    token: ws.token,
    body: { name: `t-${randomUUID().slice(0, 8)}`, runnerId: ws.runnerId, checkType, params },
  });
}

/** Runs a task a hostile Platform wrote straight into its database (past the API's policy check). */
async function hostileRun(type: CheckType, params: Record<string, unknown>): Promise<Record<string, unknown>> {
  const taskId = await addTask(platform, ws, type, params, { maxAttempts: 1 });
  return runTaskViaApi(platform, ws, taskId);
}

describe('dns.resolve', () => {
  it('takes its DNS servers from LOOKOUT_DNS_SERVERS, refusing anything but IP addresses without echoing the value', () => {
    const base = {
      LOOKOUT_RUNNER_ID: randomUUID(),
      LOOKOUT_WORKSPACE_ID: randomUUID(),
      LOOKOUT_RUNNER_KEYS_FILE: '/keys.json',
    };
    expect(
      parseConfig('runner', RunnerConfig, { ...base, LOOKOUT_DNS_SERVERS: '10.96.0.10, 10.96.0.11:5353,[fd00::a]:53' }).LOOKOUT_DNS_SERVERS,
    ).toEqual(['10.96.0.10', '10.96.0.11:5353', '[fd00::a]:53']);
    expect(parseConfig('runner', RunnerConfig, base).LOOKOUT_DNS_SERVERS).toBeUndefined();
    let error: unknown;
    try {
      parseConfig('runner', RunnerConfig, { ...base, LOOKOUT_DNS_SERVERS: '10.96.0.10,resolver.attacker.example' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(String(error)).toMatch(/LOOKOUT_DNS_SERVERS: must list IP addresses/);
    expect(String(error)).not.toContain('attacker');
  });

  it('resolves A records that match the expected addresses, and sends counts, not addresses', async () => {
    const r = await check('dns.resolve', { name: 'app.lookout.test', expect: { addresses: ['10.1.2.3', '10.1.2.4'], minAnswers: 2 } });
    expect(r).toMatchObject({ status: 'ok', issues: [] });
    expect(r.summary).toMatch(/^dns:app\.lookout\.test: 2 A records in \d+ ms, 2 of 2 expected addresses$/);
    expect(r.metrics).toMatchObject({
      'dns.up': 1,
      'dns.answers': 2,
      'dns.expected_matched': 2,
      'dns.expected_missing': 0,
      'dns.unexpected_answers': 0,
    });
    expect(r.metrics['dns.min_ttl_s']).toEqual(expect.any(Number));
  });

  it('reports an answer that differs from the expected addresses by counts only', async () => {
    const r = await check('dns.resolve', { name: 'app.lookout.test', expect: { addresses: ['10.1.2.3', '10.1.2.5', '10.1.2.6'] } });
    expect(r.status).toBe('issues');
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 2,
        title: 'DNS A answer differs from the expected addresses',
        resource: { kind: 'Endpoint', name: 'dns:app.lookout.test' },
        expected: 'exactly the 3 expected addresses',
        actual: '1 of 3 expected addresses, and 1 other address',
      }),
    ]);
    // The answer itself (10.1.2.4 is in it, not in the task) stays on the Runner: its policy allows no raw data.
    expect(r.issues[0]?.details).toBeUndefined();
    expect(JSON.stringify(r)).not.toContain('10.1.2.4');
  });

  it.each([
    ['AAAA', 'app.lookout.test', ['fd00:0:0::1']],
    ['CNAME', 'alias.lookout.test', ['app.lookout.test.']],
    ['MX', 'lookout.test', ['mail.lookout.test']],
    ['TXT', 'lookout.test', ['v=spf1 -all']],
    ['SRV', '_https._tcp.lookout.test', ['app.lookout.test']],
  ])('resolves %s records of %s', async (recordType, name, addresses) => {
    const r = await check('dns.resolve', { name, recordType, expect: { addresses } });
    expect({ status: r.status, issues: r.issues, answers: r.metrics['dns.answers'], matched: r.metrics['dns.expected_matched'] }).toEqual({
      status: 'ok',
      issues: [],
      answers: 1,
      matched: 1,
    });
  });

  it.each([
    ['NXDOMAIN', 'missing.lookout.test', 'A', 1, 'DNS name does not exist', 'NXDOMAIN'],
    ['no records of the type', 'mail.lookout.test', 'AAAA', 2, 'DNS name has no AAAA records', 'the name exists, without AAAA records'],
    ['SERVFAIL (a broken DNSSEC chain upstream)', 'db.servfail.test', 'A', 1, 'DNS server failed to answer', 'SERVFAIL'],
  ])('reports %s', async (_case, name, recordType, severity, title, actual) => {
    const r = await check('dns.resolve', { name, recordType });
    expect(r.status).toBe('issues');
    expect(r.issues).toEqual([expect.objectContaining({ severity, title, actual, resource: { kind: 'Endpoint', name: `dns:${name}` } })]);
    expect(r.metrics['dns.up']).toBe(0);
  });

  it('reports a DNS server that does not answer in time as a timeout', async () => {
    const r = await check('dns.resolve', { name: 'db.silent.test', timeoutMs: 1_500 });
    expect(r.issues).toEqual([
      expect.objectContaining({ severity: 1, title: 'DNS query timed out', expected: 'an answer within 1500 ms', actual: 'no answer' }),
    ]);
  });

  it('reports fewer records than expected', async () => {
    const r = await check('dns.resolve', { name: 'app.lookout.test', expect: { minAnswers: 3 } });
    expect(r.issues).toEqual([
      expect.objectContaining({ severity: 2, title: 'Too few DNS A records', expected: 'at least 3 records', actual: '2 records' }),
    ]);
  });

  it('refuses a name no destination covers, on the Platform and on the Runner, before any query', async () => {
    const saved = await createTask('dns.resolve', { name: 'secret-payload.evil.example' });
    expect(saved.status).toBe(400);
    expect(JSON.stringify(saved.body['errors'])).toMatch(/params\.name.*secret-payload\.evil\.example is not covered by a destination/);
    expect((await createTask('dns.resolve', { name: 'app.lookout.test' })).status).toBe(201);

    const run = await hostileRun('dns.resolve', { name: 'secret-payload.evil.example' });
    expect(run).toMatchObject({ status: 'failed', error: { type: 'PolicyDenied' } });
    expect(JSON.stringify(run['error'])).toContain('secret-payload.evil.example is not covered by a destination of this Runner');
    // The server logs every query it gets (one is asked here), and never got that name.
    await check('dns.resolve', { name: 'logged.lookout.test' });
    expect(dns.log()).toContain('query[A] logged.lookout.test');
    expect(dns.log()).not.toContain('evil.example');
  });
});

describe('tls.endpoint', () => {
  const endpoint = (port: number) => ({ kind: 'Endpoint', name: `tls://127.0.0.1:${port}` });

  it('reports a trusted, matching, current certificate by its metadata only', async () => {
    const r = await check('tls.endpoint', { host: '127.0.0.1', port: ports.good, serverName: 'localhost', warnDays: 1, criticalDays: 0 });
    expect(r).toMatchObject({ status: 'ok', issues: [], score: 1 });
    expect(r.summary).toMatch(
      new RegExp(
        `^tls://127\\.0\\.0\\.1:${ports.good}: TLSv1\\.3, certificate CN localhost \\(2 alternative names\\) by CN Lookout test CA network-checks, valid until \\S+ \\(1 days\\)$`,
      ),
    );
    expect(r.metrics).toMatchObject({
      'tls.up': 1,
      'tls.trusted': 1,
      'tls.hostname_match': 1,
      'tls.protocol_version': 1.3,
      'tls.days_left': 1,
      'tls.san_count': 2,
    });
    expect(r.metrics['tls.chain_length']).toBe(2);
  });

  it('reports a certificate that expires within the critical days', async () => {
    const r = await check('tls.endpoint', { host: '127.0.0.1', port: ports.good });
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 2,
        title: 'TLS certificate expires soon',
        resource: endpoint(ports.good),
        expected: 'valid for at least 30 more days',
        actual: expect.stringMatching(/^expires \S+ \(in 1 days\); subject CN localhost; issuer CN Lookout test CA network-checks$/),
      }),
    ]);
  });

  it('reports an expired certificate once, not also as untrusted', async () => {
    const r = await check('tls.endpoint', { host: '127.0.0.1', port: ports.expired, serverName: 'localhost' });
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 1,
        title: 'TLS certificate has expired',
        actual: expect.stringMatching(/^expired \S+ \((30|31) days ago\)/),
      }),
    ]);
    expect(r.metrics['tls.trusted']).toBe(0);
  });

  it('reports a chain the Runner does not trust, and never the certificate or its key', async () => {
    const r = await check('tls.endpoint', { host: '127.0.0.1', port: ports.selfSigned, serverName: 'localhost' });
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 1,
        title: 'TLS certificate chain is not trusted',
        actual: 'verification failed (DEPTH_ZERO_SELF_SIGNED_CERT)',
      }),
    ]);
    const text = JSON.stringify(r);
    expect(text).not.toContain(KEY_CANARY);
    expect(text).not.toContain(selfSignedKey.toString('base64').slice(40, 80));
  });

  it('reports a certificate for another name', async () => {
    const r = await check('tls.endpoint', {
      host: '127.0.0.1',
      port: ports.good,
      serverName: 'payments.lookout.test',
      warnDays: 1,
      criticalDays: 0,
    });
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 1,
        title: 'TLS certificate does not match the host name',
        expected: 'a certificate for payments.lookout.test',
        actual: 'subject CN localhost and 2 alternative names, none for payments.lookout.test',
      }),
    ]);
    expect(r.metrics).toMatchObject({ 'tls.hostname_match': 0, 'tls.trusted': 1 });
  });

  it('reports an intermediate certificate that expires soon', async () => {
    const r = await check('tls.endpoint', { host: '127.0.0.1', port: ports.chain, serverName: 'localhost' });
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 2,
        title: 'Intermediate certificate expires soon',
        actual: expect.stringMatching(/^expires \S+ \(in (2|3) days\); subject CN Lookout intermediate; issuer CN Lookout chain root$/),
      }),
    ]);
    expect(r.metrics).toMatchObject({ 'tls.trusted': 1, 'tls.chain_length': 3 });
    expect(r.metrics['tls.days_left']).toBeGreaterThanOrEqual(58);
  });

  it('reports a protocol older than TLS 1.2', async () => {
    const r = await check('tls.endpoint', { host: '127.0.0.1', port: ports.old, serverName: 'localhost', warnDays: 1, criticalDays: 0 });
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 2,
        title: 'TLS protocol older than 1.2',
        expected: 'TLS 1.2 or 1.3',
        actual: 'negotiated TLSv1.1',
      }),
    ]);
    expect(r.metrics['tls.protocol_version']).toBe(1.1);
  });

  it('reports a port that does not speak TLS as a failed handshake', async () => {
    const r = await check('tls.endpoint', { host: '127.0.0.1', port: ports.plain, timeoutMs: 3_000 });
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 1,
        title: 'TLS handshake failed',
        actual: expect.stringMatching(/^handshake failed \([A-Z0-9_]+\)$/),
      }),
    ]);
    expect(r.metrics['tls.up']).toBe(0);
  });

  it('refuses an endpoint outside its destinations, and a name that resolves to an address its destination does not allow', async () => {
    const saved = await createTask('tls.endpoint', { host: 'db.example.com', port: 5432 });
    expect(saved.status).toBe(400);
    expect(JSON.stringify(saved.body['errors'])).toMatch(/params\.host.*db\.example\.com:5432 is not under a tls or https destination/);
    expect((await createTask('tls.endpoint', { host: '127.0.0.1', port: ports.good })).status).toBe(201);

    const outside = await hostileRun('tls.endpoint', { host: '192.0.2.10', port: 443 });
    expect(outside).toMatchObject({ status: 'failed', error: { type: 'PolicyDenied' } });
    // localhost is a destination, but without the loopback range: the address guard refuses it at connect time.
    const lure = await hostileRun('tls.endpoint', { host: 'localhost', port: ports.good });
    expect(lure).toMatchObject({ status: 'failed', error: { type: 'PolicyDenied' } });
    expect(JSON.stringify(lure['error'])).toMatch(/localhost resolves to a loopback address, which destination tls-lure does not allow/);
  });
});

describe('prometheus.query', () => {
  const base = () => prometheus.url;
  /** The Prometheus URL, with the Runner's binding that answers its basic auth. */
  const at = () => ({ url: base(), auth: { binding: 'prom-token' } });

  it('reports each breaching series on the Kubernetes object its labels name, with severity by threshold and numbers only', async () => {
    const r = await check('prometheus.query', {
      ...at(),
      query: 'lookout_test_queue_depth',
      comparison: '>',
      warn: 30,
      critical: 100,
      title: 'Queue backlog too long',
    });
    expect(r.status).toBe('issues');
    expect(r.summary).toBe(`${base()}/: 2 of 3 series breach a threshold (1 critical, 1 warn)`);
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 1,
        title: 'Queue backlog too long',
        resource: { kind: 'Pod', namespace: 'payments', name: 'worker-0' },
        expected: 'at most 100 (critical threshold)',
        actual: '120',
      }),
      expect.objectContaining({
        severity: 3,
        resource: { kind: 'Pod', namespace: 'payments', name: 'worker-1' },
        expected: 'at most 30 (warn threshold)',
        actual: '40',
      }),
    ]);
    // The series' labels are raw data this Runner keeps.
    expect(r.issues.map((i) => i.details)).toEqual([undefined, undefined]);
    expect(r.metrics).toMatchObject({
      'prometheus.up': 1,
      'prometheus.series': 3,
      'prometheus.breaching_series': 2,
      'prometheus.critical_series': 1,
      'prometheus.warn_series': 1,
      'prometheus.value_max': 120,
      'prometheus.value_min': 5,
    });
    expect(JSON.stringify(r)).not.toContain('lookout-test'); // the scrape job's label
  });

  it('answers ok when no series breaches, with the value as a metric', async () => {
    const r = await check('prometheus.query', { ...at(), query: 'lookout_test_temperature_celsius', comparison: '>', critical: 50 });
    expect(r).toMatchObject({ status: 'ok', issues: [], summary: `${base()}/: 1 series, none breaching (value 21.5)` });
    expect(r.metrics).toMatchObject({ 'prometheus.value': 21.5, 'prometheus.breaching_series': 0 });
  });

  it('reports series whose labels are not Kubernetes names on the Prometheus endpoint, without the label values', async () => {
    const r = await check('prometheus.query', { ...at(), query: 'lookout_test_free_text', comparison: '>=', critical: 1000 });
    expect(r.issues).toEqual([
      expect.objectContaining({
        severity: 1,
        title: 'Query breaches its threshold: lookout_test_free_text',
        resource: { kind: 'Endpoint', name: `${base()}/` },
        expected: 'below 1000 (critical threshold)',
        actual: '1000',
      }),
    ]);
    expect(JSON.stringify(r)).not.toContain('Customer Data Here');
  });

  it('reports a query that returns nothing as missing data', async () => {
    const r = await check('prometheus.query', { ...at(), query: 'lookout_test_absent_metric', comparison: '<', warn: 1 });
    expect(r.issues).toEqual([
      expect.objectContaining({ severity: 3, title: 'Query returned no data: lookout_test_absent_metric', actual: 'no series' }),
    ]);
  });

  it('answers a query Prometheus refuses with an error result that names the error type, not its text', async () => {
    const r = await check('prometheus.query', {
      ...at(),
      query: 'sum(rate(lookout_test_queue_depth[5m]) by',
      comparison: '>',
      critical: 1,
    });
    expect(r).toMatchObject({ status: 'error', issues: [] });
    expect(r.summary).toMatch(
      new RegExp(
        `^Prometheus at ${base().replace(/[.]/g, '\\.')}/ refused the query: bad_data \\(HTTP 400, parse error at line 1, column \\d+\\)$`,
      ),
    );
    expect(JSON.stringify(r)).not.toMatch(/unexpected|expected|end of input/i);
    const range = await check('prometheus.query', { ...at(), query: 'lookout_test_queue_depth[1m]', comparison: '>', critical: 1 });
    expect(range).toMatchObject({ status: 'error', summary: expect.stringContaining('range vector') });
  });

  it('answers a Prometheus that refuses the credentials (none sent) with an error result', async () => {
    const r = await check('prometheus.query', { url: base(), query: 'lookout_test_temperature_celsius', comparison: '>', critical: 50 });
    expect(r).toMatchObject({
      status: 'error',
      issues: [],
      summary: `Prometheus at ${base()}/ refused the credentials (HTTP 401): check the task's auth and its secret binding`,
    });
  });

  it('refuses a Prometheus outside its destinations and a binding not meant for it', async () => {
    const outside = await createTask('prometheus.query', {
      url: 'http://prometheus.evil.example:9090',
      query: 'up',
      comparison: '<',
      critical: 1,
    });
    expect(outside.status).toBe(400);
    expect(JSON.stringify(outside.body['errors'])).toMatch(/params\.url.*is not a destination/);
    const lure = await createTask('prometheus.query', {
      url: base(),
      query: 'up',
      comparison: '<',
      critical: 1,
      auth: { binding: 'lure-token' },
    });
    expect(lure.status).toBe(400);
    expect(JSON.stringify(lure.body['errors'])).toMatch(/lure-token may not be sent to destination prometheus/);
    expect(
      (await createTask('prometheus.query', { url: base(), query: 'up', comparison: '<', critical: 1, auth: { binding: 'prom-token' } }))
        .status,
    ).toBe(201);

    const hostile = await hostileRun('prometheus.query', {
      url: base(),
      query: 'up',
      comparison: '<',
      critical: 1,
      auth: { binding: 'lure-token' },
    });
    expect(hostile).toMatchObject({ status: 'failed', error: { type: 'PolicyDenied' } });
    expect(JSON.stringify(hostile)).not.toContain(PROM_TOKEN);
  });
});
