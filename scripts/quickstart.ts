/**
 * `npm start`: the whole system on embedded defaults, and its main job end to end.
 *
 * Starts the Temporal dev server (with its Web UI) unless LOOKOUT_TEMPORAL_ADDRESS names one, an
 * embedded PostgreSQL unless DATABASE_URL names one, then the API, the platform worker and a Runner
 * as separate processes; creates a workspace (once, kept in .lookout/), runs an http.probe against
 * the API's own health endpoint through the API, prints the result; then breaks and mends a demo
 * service so that an issue opens and resolves and a webhook sink's notifications are printed
 * (scripts/quickstart-demo.ts); prints where to look, and keeps running until Ctrl-C. `--once` stops everything after the run (exit status 0 when it succeeded).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { DevMailbox } from '../platform/dev-mailbox';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { createPool } from '../platform/db/pool';
import { migrate } from '../platform/db/migrate';
import { reachableByOthers, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../platform/db/embedded';
import { bootstrap, type BootstrapOutput } from '../platform-api/services/bootstrap.service';
import { getWorkspace } from '../platform/repos/workspaces.repo';
import { emailVerifiedAt, findUserByEmail } from '../platform/repos/users.repo';
import { issueClaimCode } from '../platform-api/services/invitations.service';
import { devWorkspaceTemporal } from '../platform/workspace-temporal';
import { lookoutDataConverter } from '../common/data-converter';
import { createPlatformCrypto } from '../platform/crypto';
import { MasterKey } from '../platform/crypto/master-key';
import { platformSigningKey } from '../platform/crypto/signing-key';
import { exportRunnerKeyFile } from '../platform/crypto/platform-keyring';
import { CHECK_TYPES } from '../common/checks';
import { TERMINAL_RUN_STATUSES } from '../common/contracts';
import { runWorkflowId } from '../common/ids';
import { ensureOpenBao, ensureTemporalCli } from './tools';
import { showIssueAndNotification, startDemoService } from './quickstart-demo';
import { showDiscovery, startDemoCluster, type DemoCluster } from './quickstart-discovery';
import { bootstrapVault, provisionRunnerAccess } from '../platform/vault/vault-bootstrap';
import { createVaultClient } from '../platform/vault/vault-client';

/** The owner the quick start makes (and gives a one-time login to the console). */
const QUICKSTART_OWNER = 'owner@lookout.localhost';

const root = path.resolve(__dirname, '..', '..');
const home = path.resolve(process.env['LOOKOUT_HOME'] ?? path.join(root, '.lookout'));
const once = process.argv.includes('--once');
const children: { name: string; proc: ChildProcess }[] = [];
let embedded: EmbeddedPostgresHandle | undefined;
let demoCluster: DemoCluster | undefined;

/**
 * The Runner policy the quick start's Runner runs under (the Runner operator's file in production):
 * every built-in check, and two destinations on loopback, which a policy refuses unless a
 * destination names them: the API's own `/healthz` and the demo service's `/demo/`. Rewritten on every start (the port may change).
 */
function writeRunnerPolicy(apiPort: number, demoPort: number, platformKey: string): string {
  const file = path.join(home, 'runner-policy.yaml');
  const policy = [
    '# The quick start Runner policy: the ceiling of what this Runner does, whoever asks (README: Runner policy).',
    `checks: [${CHECK_TYPES.join(', ')}]`,
    '# The Platform key whose signed tasks this Runner runs (derived from the quick start master key).',
    `platformKeys: ["${platformKey}"]`,
    'destinations:',
    '  - name: lookout-api',
    '    scheme: http',
    '    host: 127.0.0.1',
    `    port: ${apiPort}`,
    '    pathPrefix: /healthz',
    '    allowAddresses: [127.0.0.0/8]',
    '  - name: demo-service',
    '    scheme: http',
    '    host: 127.0.0.1',
    `    port: ${demoPort}`,
    '    pathPrefix: /demo/',
    '    allowAddresses: [127.0.0.0/8]',
    '',
  ].join('\n');
  writeFileSync(file, policy, { mode: 0o644 });
  return file;
}

const say = (line = '') => process.stdout.write(`${line}\n`);

function portNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  const port = raw ? Number(raw) : fallback;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name} must be a port number`);
  return port;
}

async function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function start(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { dropStdout?: boolean } = {},
): ChildProcess {
  mkdirSync(path.join(home, 'logs'), { recursive: true });
  const log = createWriteStream(path.join(home, 'logs', `${name}.log`), { flags: 'a' });
  const proc = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  // Some servers print credentials on stdout (OpenBao's dev mode prints its root token): drop it.
  if (options.dropStdout) proc.stdout?.resume();
  else proc.stdout?.pipe(log);
  proc.stderr?.pipe(log);
  proc.once('exit', (code, signal) => {
    if (!stopping) {
      process.stderr.write(`${name} exited (${signal ?? code}); see ${path.join(home, 'logs', `${name}.log`)}\n`);
      void shutdown(1);
    }
  });
  children.push({ name, proc });
  return proc;
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not become ready within ${Math.round(timeoutMs / 1000)} s; see the logs in ${path.join(home, 'logs')}`);
}

let stopping = false;
async function shutdown(code: number): Promise<never> {
  stopping = true;
  for (const { proc } of [...children].reverse()) proc.kill('SIGTERM');
  await Promise.all(
    children.map(({ proc }) =>
      proc.exitCode === null && proc.signalCode === null ? new Promise((r) => proc.once('exit', r)) : Promise.resolve(),
    ),
  );
  await embedded?.stop();
  await demoCluster?.stop();
  process.exit(code);
}

async function main(): Promise<void> {
  mkdirSync(home, { recursive: true });
  const node = process.execPath;
  const dist = path.join(root, 'dist');

  // The demo service and notification receiver (scripts/quickstart-demo.ts), in this process.
  const demoPort = portNumber('LOOKOUT_QUICKSTART_DEMO_PORT', 8091);
  if (await portInUse(demoPort)) throw new Error(`port ${demoPort} is in use: set LOOKOUT_QUICKSTART_DEMO_PORT to a free port`);
  const demo = await startDemoService(demoPort, (line) => say(line));
  const codecPort = portNumber('LOOKOUT_QUICKSTART_CODEC_PORT', 8089);
  const codecUrl = `http://127.0.0.1:${codecPort}`;
  if (await portInUse(codecPort)) throw new Error(`port ${codecPort} is in use: set LOOKOUT_QUICKSTART_CODEC_PORT to a free port`);

  // 1. Temporal.
  let temporalAddress = process.env['LOOKOUT_TEMPORAL_ADDRESS'];
  let uiUrl: string | undefined;
  if (!temporalAddress) {
    const port = portNumber('LOOKOUT_QUICKSTART_TEMPORAL_PORT', 7233);
    const uiPort = port + 1000;
    if (await portInUse(port))
      throw new Error(
        `port ${port} is in use: stop what uses it, or set LOOKOUT_TEMPORAL_ADDRESS to a running Temporal, or LOOKOUT_QUICKSTART_TEMPORAL_PORT`,
      );
    const cli = ensureTemporalCli((l) => say(l));
    // The Web UI asks the customer-side codec server (started below) to decrypt what it shows.
    start(
      'temporal',
      cli,
      [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(port),
        '--ui-port',
        String(uiPort),
        '--db-filename',
        path.join(home, 'temporal.db'),
        '--log-level',
        'warn',
        '--ui-codec-endpoint',
        codecUrl,
      ],
      process.env,
    );
    temporalAddress = `127.0.0.1:${port}`;
    uiUrl = `http://127.0.0.1:${uiPort}`;
    const address = temporalAddress;
    await waitFor(
      'the Temporal dev server',
      async () => {
        const c = await Connection.connect({ address, connectTimeout: 1_000 });
        await c.close();
        return true;
      },
      60_000,
    );
  }
  say(`Temporal      ${temporalAddress}${uiUrl ? `  (Web UI ${uiUrl})` : ''}`);

  // 2. PostgreSQL.
  let databaseUrl = process.env['DATABASE_URL'];
  if (!databaseUrl) {
    const port = portNumber('LOOKOUT_QUICKSTART_PG_PORT', 5433);
    // As root the server runs as user "postgres"; a home inside a private directory is out of its reach.
    const pgDir =
      process.getuid?.() === 0 && !reachableByOthers(home)
        ? path.join(os.tmpdir(), `lookout-quickstart-${createHash('sha256').update(home).digest('hex').slice(0, 12)}`, 'postgres')
        : path.join(home, 'postgres');
    embedded = await startEmbeddedPostgres({ dir: pgDir, port, database: 'lookout' });
    databaseUrl = embedded.url;
    say(`PostgreSQL    127.0.0.1:${port} (embedded, data in ${pgDir})`);
  } else {
    say('PostgreSQL    from DATABASE_URL');
  }

  // 2b. OpenBao (Vault-compatible) in dev mode, unless LOOKOUT_VAULT_ADDR names one (then the
  //     Platform and Runner settings for it are taken from the environment as they are).
  let vaultAddr = process.env['LOOKOUT_VAULT_ADDR'];
  let vaultAdminToken: string | undefined;
  if (!vaultAddr) {
    const baoPort = portNumber('LOOKOUT_QUICKSTART_BAO_PORT', 8200);
    if (await portInUse(baoPort))
      throw new Error(`port ${baoPort} is in use: set LOOKOUT_QUICKSTART_BAO_PORT, or LOOKOUT_VAULT_ADDR to a running Vault`);
    vaultAdminToken = randomBytes(16).toString('hex');
    start(
      'openbao',
      ensureOpenBao((l) => say(l)),
      ['server', '-dev', `-dev-root-token-id=${vaultAdminToken}`, `-dev-listen-address=127.0.0.1:${baoPort}`, '-log-level=warn'],
      process.env,
      { dropStdout: true },
    );
    vaultAddr = `http://127.0.0.1:${baoPort}`;
    const addr = vaultAddr;
    await waitFor('OpenBao', async () => (await fetch(`${addr}/v1/sys/health`)).ok, 30_000);
    say(`OpenBao       ${vaultAddr} (dev mode, in memory)`);
  }

  // 3. Schema and a workspace (made once, reused by later starts).
  const apiPort = portNumber('LOOKOUT_API_PORT', 8080);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  if (await portInUse(apiPort)) throw new Error(`port ${apiPort} is in use: set LOOKOUT_API_PORT to a free port`);
  // The master key wraps every workspace key; the quick start keeps one beside its data, owner-only.
  const masterKeyFile = path.join(home, 'master.key');
  let masterKey = process.env['LOOKOUT_MASTER_KEY'];
  if (!masterKey) {
    if (!existsSync(masterKeyFile)) writeFileSync(masterKeyFile, MasterKey.generate(), { mode: 0o600 });
    masterKey = readFileSync(masterKeyFile, 'utf8').trim();
  }
  const runnerKeysFile = path.join(home, 'runner-keys.json');
  const runnerAttestationFile = path.join(home, 'runner-attestation.key');
  const pool = createPool(databaseUrl, () => undefined, 2);
  const crypto = createPlatformCrypto(pool, masterKey);
  // Each workspace in its own Temporal namespace, as in production.
  const temporal = devWorkspaceTemporal({
    connection: await Connection.connect({ address: temporalAddress }),
    db: pool,
    identity: 'quickstart',
    dataConverter: lookoutDataConverter(crypto.payloadKeys),
  });
  let ws: BootstrapOutput;
  // The console's one-time login: a claim code with which the owner chooses a password (TOTP enrolment
  // follows at the first sign-in). Once claimed, later starts print the owner's email only.
  let ownerLogin: { email: string; code?: string } | undefined;
  try {
    await migrate(pool);
    const stateFile = path.join(home, 'quickstart.json');
    const saved = existsSync(stateFile)
      ? (JSON.parse(readFileSync(stateFile, 'utf8')) as BootstrapOutput & { probeUrl?: string })
      : undefined;
    if (saved && saved.probeUrl === `${apiUrl}/healthz` && saved.temporalNamespace && (await getWorkspace(pool, saved.workspaceId))) {
      ws = saved;
      // A Temporal started afresh (or its file removed) knows nothing of the saved namespace.
      await temporal.provision(ws.workspaceId);
    } else {
      ws = await bootstrap(pool, crypto, temporal, {
        workspaceName: 'quickstart',
        ownerEmail: QUICKSTART_OWNER,
        probeUrl: `${apiUrl}/healthz`,
        policy: { scheduleToStartMs: 30_000 },
      });
      // The token stays on this machine, readable by its owner only, so that later starts reuse the workspace.
      writeFileSync(stateFile, JSON.stringify({ ...ws, probeUrl: `${apiUrl}/healthz` }, null, 2), { mode: 0o600 });
    }
    const owner = await findUserByEmail(pool, QUICKSTART_OWNER);
    if (owner)
      ownerLogin = (await emailVerifiedAt(pool, owner.id))
        ? { email: owner.email }
        : { email: owner.email, code: (await issueClaimCode(pool, owner, 'system:quickstart')).invitation };
    // The Runner's own copy of its workspace's payload keys, as `lookout keys export` writes it.
    writeFileSync(runnerKeysFile, JSON.stringify(await exportRunnerKeyFile(pool, crypto.master, ws.workspaceId)), { mode: 0o600 });
    // And its own result-attestation key (a workspace saved before Runners had one has none).
    if (ws.runnerAttestationKey) writeFileSync(runnerAttestationFile, `${ws.runnerAttestationKey}\n`, { mode: 0o600 });
  } finally {
    await temporal.connection.close();
    await pool.end();
  }
  say(`Workspace     ${ws.workspaceId}  (Temporal namespace ${ws.temporalNamespace})`);

  // Vault access: the Platform's write-and-list token and the Runner's read-only AppRole. Their
  // credentials go straight into the child processes' environments, never to the terminal.
  let vaultPlatformEnv: NodeJS.ProcessEnv = {};
  let vaultRunnerEnv: NodeJS.ProcessEnv = {};
  if (vaultAdminToken) {
    const admin = createVaultClient({ endpoint: vaultAddr, token: vaultAdminToken });
    const { platformToken } = await bootstrapVault(admin, 'lookout');
    const access = await provisionRunnerAccess(admin, 'lookout', ws.workspaceId);
    vaultPlatformEnv = { LOOKOUT_VAULT_ADDR: vaultAddr, LOOKOUT_VAULT_TOKEN: platformToken };
    vaultRunnerEnv = {
      LOOKOUT_VAULT_ADDR: vaultAddr,
      LOOKOUT_VAULT_AUTH: 'approle',
      LOOKOUT_VAULT_ROLE_ID: access.roleId,
      LOOKOUT_VAULT_SECRET_ID: access.secretId,
    };
  }

  // 3b. The cluster the Runner discovers: LOOKOUT_KUBECONFIG's, or a demo control plane with broken workloads.
  let kubeconfig = process.env['LOOKOUT_KUBECONFIG'];
  if (kubeconfig) say(`Kubernetes    from LOOKOUT_KUBECONFIG (${kubeconfig})`);
  else {
    demoCluster = await startDemoCluster(home, say);
    kubeconfig = demoCluster.runnerKubeconfig;
  }

  // 4. The three Lookout processes.
  const common = {
    ...process.env,
    LOOKOUT_TEMPORAL_ADDRESS: temporalAddress,
    LOOKOUT_LOG_LEVEL: process.env['LOOKOUT_LOG_LEVEL'] ?? 'info',
  };
  // Invitation mail: to LOOKOUT_SMTP_URL when given, else to a real SMTP server in this process
  // that writes each message into the quick start's mail folder.
  let smtpUrl = process.env['LOOKOUT_SMTP_URL'];
  if (!smtpUrl) {
    const mailDir = path.join(home, 'mail');
    const mailbox = await DevMailbox.start({
      dir: mailDir,
      onMail: (m) => say(`Mail          to ${m.to.join(', ')}: "${m.subject}" (in ${path.relative(process.cwd(), mailDir) || mailDir})`),
    });
    smtpUrl = mailbox.url;
    say(`Mailbox       ${mailbox.url} (development SMTP server; invitation mail is written to ${mailDir})`);
  }
  const platformEnv = {
    ...common,
    ...vaultPlatformEnv,
    DATABASE_URL: databaseUrl,
    LOOKOUT_MASTER_KEY: masterKey,
    LOOKOUT_SMTP_URL: smtpUrl,
    LOOKOUT_PUBLIC_URL: process.env['LOOKOUT_PUBLIC_URL'] ?? apiUrl,
    // The console links operators from a run to its workflow in the Web UI the quick start runs.
    ...(uiUrl ? { LOOKOUT_TEMPORAL_UI_URL: uiUrl } : {}),
    // The quick start's notification receiver listens on loopback, which sinks may not reach in production.
    LOOKOUT_NOTIFY_ALLOW_PRIVATE: 'true',
  };
  start('api', node, [path.join(dist, 'platform-api', 'main.js')], { ...platformEnv, LOOKOUT_API_PORT: String(apiPort) });
  start('platform-worker', node, [path.join(dist, 'workers', 'platform-worker.js')], platformEnv);
  // The Runner gets neither the database nor the master key: only its own workspace's key file.
  const runnerEnv: NodeJS.ProcessEnv = {
    ...common,
    ...vaultRunnerEnv,
    LOOKOUT_TEMPORAL_NAMESPACE: ws.temporalNamespace,
    LOOKOUT_RUNNER_ID: ws.runnerId,
    LOOKOUT_WORKSPACE_ID: ws.workspaceId,
    LOOKOUT_RUNNER_KEYS_FILE: runnerKeysFile,
    LOOKOUT_KUBECONFIG: kubeconfig,
    ...(ws.runnerAttestationKey ? { LOOKOUT_RUNNER_ATTESTATION_KEY_FILE: runnerAttestationFile } : {}),
    LOOKOUT_RUNNER_POLICY_FILE: writeRunnerPolicy(
      apiPort,
      demo.port,
      platformSigningKey(MasterKey.fromBase64(masterKey), process.env['LOOKOUT_PLATFORM_SIGNING_KEY']).publicKey,
    ),
  };
  delete runnerEnv['DATABASE_URL'];
  delete runnerEnv['LOOKOUT_MASTER_KEY'];
  start('runner', node, [path.join(dist, 'workers', 'runner.js')], runnerEnv);
  // The codec server holds the same workspace keys as the Runner and nothing else. On loopback the
  // quick start runs it without a token (the UI sends none over plain HTTP); production uses one.
  const uiOrigins = uiUrl ? [uiUrl, uiUrl.replace('127.0.0.1', 'localhost')] : [];
  start('codec-server', node, [path.join(dist, 'workers', 'codec-server.js')], {
    ...common,
    LOOKOUT_TEMPORAL_NAMESPACE: ws.temporalNamespace,
    LOOKOUT_CODEC_KEYS_FILE: runnerKeysFile,
    LOOKOUT_CODEC_PORT: String(codecPort),
    LOOKOUT_CODEC_AUTH: 'none',
    LOOKOUT_CODEC_ALLOWED_ORIGINS: uiOrigins.join(',') || 'http://127.0.0.1:8233',
  });
  await waitFor('the codec server', async () => (await fetch(`${codecUrl}/healthz`)).ok, 30_000);
  await waitFor('the API', async () => (await fetch(`${apiUrl}/readyz`)).ok, 30_000);
  say(`API           ${apiUrl}`);
  if (ownerLogin?.code)
    say(
      `Console       ${apiUrl}/#/claim?code=${ownerLogin.code}  (one-time login for ${ownerLogin.email}: choose a password, then sign in and set up TOTP)`,
    );
  else say(`Console       ${apiUrl}/  (sign in as ${ownerLogin?.email ?? QUICKSTART_OWNER} with the password you chose)`);
  say(`Codec server  ${codecUrl} (decrypts payloads of this workspace for the Web UI)`);
  say(`Logs          ${path.join(home, 'logs')}`);
  say();

  // 5. The main job: a health check through the API, end to end.
  say(`POST ${apiUrl}/v1/workspaces/${ws.workspaceId}/runs  (http.probe of ${apiUrl}/healthz)`);
  const headers = { authorization: `Bearer ${ws.token}`, 'content-type': 'application/json' };
  const created = await fetch(`${apiUrl}/v1/workspaces/${ws.workspaceId}/runs`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ taskId: ws.taskId }),
  });
  const createdBody = (await created.json()) as { id?: string; detail?: string };
  if (created.status !== 202 || !createdBody.id) throw new Error(`the API refused the run: ${created.status} ${createdBody.detail ?? ''}`);
  const runId = createdBody.id;
  let run: {
    status: string;
    result?: { status: string; summary: string; metrics: Record<string, number> } | null;
    error?: { type: string; message: string } | null;
  } = { status: 'queued' };
  const deadline = Date.now() + 120_000;
  while (!(TERMINAL_RUN_STATUSES as readonly string[]).includes(run.status) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 300));
    run = (await (await fetch(`${apiUrl}/v1/runs/${runId}`, { headers })).json()) as typeof run;
  }
  say(`run ${runId}: ${run.status}`);
  if (run.result) say(`result: ${run.result.status}: ${run.result.summary}`);
  if (run.error) say(`error: ${run.error.type}: ${run.error.message}`);
  say();

  // 6. An issue and its notifications: the demo service breaks and is mended.
  await showIssueAndNotification({ apiUrl, token: ws.token, workspaceId: ws.workspaceId, runnerId: ws.runnerId, demo, home, say });
  say();

  // 7. Day one: discovery sets up the cluster's checks, and a first sweep scores it.
  await showDiscovery({ apiUrl, token: ws.token, workspaceId: ws.workspaceId, runnerId: ws.runnerId, say });
  say();
  say('Where to look:');
  say(
    `  the run          curl -H "Authorization: Bearer $(node -p "require('${path.join(home, 'quickstart.json')}').token")" ${apiUrl}/v1/runs/${runId}`,
  );
  if (uiUrl)
    say(
      `  Temporal Web UI  ${uiUrl}/namespaces/${ws.temporalNamespace}/workflows/${encodeURIComponent(runWorkflowId(ws.workspaceId, runId))}  (payloads decrypted by the codec server; the server stores ciphertext)`,
    );
  say(`  issues           curl -H "Authorization: Bearer …" ${apiUrl}/v1/workspaces/${ws.workspaceId}/issues`);
  say(`  notifications    curl -H "Authorization: Bearer …" ${apiUrl}/v1/workspaces/${ws.workspaceId}/notifications`);
  say(
    `  discovery        node dist/platform-api/cli.js discover --workspace ${ws.workspaceId} ${ws.runnerId}  (LOOKOUT_API_URL=${apiUrl}, LOOKOUT_TOKEN)`,
  );
  say(`  API token        in ${path.join(home, 'quickstart.json')} (owner only)`);

  if (once) await shutdown(run.status === 'succeeded' ? 0 : 1);
  say();
  say('Lookout is running. Ctrl-C stops it.');
  process.once('SIGINT', () => void shutdown(0));
  process.once('SIGTERM', () => void shutdown(0));
}

main().catch(async (err: unknown) => {
  process.stderr.write(`quickstart: ${err instanceof Error ? err.message : String(err)}\n`);
  await shutdown(1);
});
