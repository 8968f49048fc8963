/**
 * Check packs end to end: the example pack (`packs/k8s-hygiene`) committed to a local git repository,
 * signed with an SSH key and pinned by commit in the Runner's policy; the Runner fetches, verifies
 * and admits it, reports it, and runs each of its checks (four declarative, two scripts in the
 * sandbox) against a real kube-apiserver with the read rules the chart renders from the policy.
 * Each way a pack can be refused is played too: a moved ref, an unsigned or foreign-signed commit,
 * a type the policy does not list, parameters outside the schema, CEL that does not compile or
 * errors, a need the policy does not grant, other content than the pinned digest.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { loadPack, loadPacks, packDigest, PackError, readManifest, type LoadedPacks } from '../activities/runner/packs/loader';
import { grantingPolicy } from '../activities/runner/packs/pack-test';
import { runPackCheck } from '../activities/runner/packs/run';
import { MAX_SANDBOXES, processesOf, SANDBOX_UID_BASE } from '../activities/runner/packs/sandbox';
import { REDACTED } from '../activities/runner/redaction';
import { RunnerPolicy, type PolicyPack } from '../common/runner-policy';
import {
  api,
  newWorkspace,
  resultOf,
  startPlatform,
  startRunner,
  waitForRun,
  writeRunnerKeyFile,
  type RunResult,
  type TestPlatform,
} from './harness/env';
import { loopbackPolicyInput, writePolicyFile } from './harness/policy';
import * as fx from './harness/kube-fixtures';

const PACK = 'k8s-hygiene';
const TYPES = ['missing-requests', 'missing-probes', 'latest-images', 'missing-pdb', 'missing-configmaps', 'ingress-backends'].map(
  (c) => `${PACK}/${c}`,
);
const RULES = [
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list'] },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['list'] },
  { apiGroups: [''], resources: ['pods', 'configmaps', 'services'], verbs: ['list'] },
  { apiGroups: ['networking.k8s.io'], resources: ['ingresses'], verbs: ['list'] },
];

const work = mkdtempSync(path.join(os.tmpdir(), 'lookout-packs-test-'));
// The sandbox's unprivileged users read the extracted packs below it (as under the Runner's default cache).
chmodSync(work, 0o711);
const repo = path.join(work, 'repo');

function sh(cmd: string, args: string[], cwd = repo, input?: string, env: Record<string, string> = {}): string {
  return execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    ...(input === undefined ? {} : { input }),
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: work, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', ...env },
  }).trim();
}
function gitCommit(message: string, key?: string): string {
  sh('git', [
    '-c',
    'user.name=Pack Author',
    '-c',
    'user.email=author@example.com',
    ...(key ? ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key}`] : []),
    'commit',
    '-q',
    ...(key ? ['-S'] : []),
    '--allow-empty',
    '-m',
    message,
  ]);
  return sh('git', ['rev-parse', 'HEAD']);
}
function sshKey(name: string): { file: string; signer: string } {
  const file = path.join(work, name);
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file], work);
  const [type, key] = readFileSync(`${file}.pub`, 'utf8').trim().split(' ');
  return { file, signer: `${name} ${type} ${key}` };
}

let author: { file: string; signer: string };
let stranger: { file: string; signer: string };
let signedCommit: string;

function policyPack(overrides: Partial<PolicyPack> & { git?: Record<string, unknown> } = {}): Record<string, unknown> {
  const { git, ...rest } = overrides;
  return {
    name: PACK,
    source: { git: { url: `file://${repo}`, commit: signedCommit, ref: 'main', path: `packs/${PACK}`, ...git } },
    signers: [author.signer],
    kubernetes: RULES,
    ...rest,
  };
}
const policyWith = (pack: Record<string, unknown>, checks = TYPES) => RunnerPolicy.parse(loopbackPolicyInput(checks, { packs: [pack] }));
const cacheDir = () => mkdtempSync(path.join(work, 'cache-'));

beforeAll(() => {
  mkdirSync(repo);
  sh('git', ['init', '-q', '-b', 'main']);
  cpSync(path.join(__dirname, '..', 'packs', PACK), path.join(repo, 'packs', PACK), { recursive: true });
  sh('git', ['add', '.']);
  author = sshKey('author');
  stranger = sshKey('stranger');
  signedCommit = gitCommit('k8s-hygiene 1.0.0', author.file);
});

describe('a pack pinned in the policy is refused, with its reason, unless it is exactly what the owner pinned', () => {
  it('loads the signed commit, with the digest of its files and its checks admitted', async () => {
    const pack = await loadPack(policyWith(policyPack()).packs[0]!, policyWith(policyPack()), { cacheDir: cacheDir() });
    expect(pack.digest).toBe(packDigest(path.join(__dirname, '..', 'packs', PACK)));
    expect([...pack.checks.keys()].sort()).toEqual([...TYPES].sort());
    expect(pack.summary.source).toEqual({ kind: 'git', commit: signedCommit, signed: true });
  });

  it('refuses a ref that has moved away from the pinned commit', async () => {
    sh('git', ['checkout', '-q', '-b', 'moving']);
    const later = gitCommit('later', author.file);
    sh('git', ['checkout', '-q', 'main']);
    const policy = policyWith(policyPack({ git: { ref: 'moving' } }));
    await expect(loadPack(policy.packs[0]!, policy, { cacheDir: cacheDir() })).rejects.toThrow(
      new PackError(PACK, `ref moving of file://${repo} points at ${later}, not at the pinned commit ${signedCommit}: the ref has moved`),
    );
  });

  it('refuses an unsigned commit and a commit signed by a key the policy does not list', async () => {
    sh('git', ['checkout', '-q', '-b', 'unsigned', signedCommit]);
    const unsigned = gitCommit('unsigned');
    const foreign = gitCommit('foreign', stranger.file);
    sh('git', ['checkout', '-q', 'main']);
    const unsignedPolicy = policyWith(policyPack({ git: { ref: undefined, commit: unsigned } }));
    await expect(loadPack(unsignedPolicy.packs[0]!, unsignedPolicy, { cacheDir: cacheDir() })).rejects.toThrow(
      `pack ${PACK}: commit ${unsigned} carries no signature`,
    );
    const foreignPolicy = policyWith(policyPack({ git: { ref: undefined, commit: foreign } }));
    await expect(loadPack(foreignPolicy.packs[0]!, foreignPolicy, { cacheDir: cacheDir() })).rejects.toThrow(
      `pack ${PACK}: commit ${foreign} is not signed by a signer the policy allows`,
    );
  });

  it('refuses content other than the pinned digest, and a need the policy does not grant the pack', async () => {
    const wrongDigest = policyWith(policyPack({ digest: `sha256:${'0'.repeat(64)}` }));
    await expect(loadPack(wrongDigest.packs[0]!, wrongDigest, { cacheDir: cacheDir() })).rejects.toThrow(
      /its files have digest sha256:[0-9a-f]{64}, not the pinned sha256:0{64}/,
    );
    const narrow = policyWith(policyPack({ kubernetes: RULES.filter((r) => r.apiGroups[0] !== 'policy') }));
    await expect(loadPack(narrow.packs[0]!, narrow, { cacheDir: cacheDir() })).rejects.toThrow(
      `pack ${PACK}: check ${PACK}/missing-pdb needs list on poddisruptionbudgets (policy), which the policy does not grant the pack`,
    );
  });

  it('refuses a pinned tree with a link, a submodule-like entry or a .git folder before unpacking it', async () => {
    sh('git', ['checkout', '-q', '-b', 'linked', signedCommit]);
    symlinkSync('/etc/passwd', path.join(repo, 'packs', PACK, 'checks', 'passwd'));
    sh('git', ['add', '.']);
    const linked = gitCommit('a link out of the pack', author.file);
    sh('git', ['rm', '-q', path.join('packs', PACK, 'checks', 'passwd')]);
    mkdirSync(path.join(repo, 'packs', PACK, 'sub'));
    writeFileSync(path.join(repo, 'packs', PACK, 'sub', 'config'), '[core]\n');
    sh('git', ['add', '.']);
    // git refuses to add a path named .git; a hostile server can still serve one, so write the tree by hand.
    const blob = sh('git', ['hash-object', '-w', path.join(repo, 'packs', PACK, 'sub', 'config')]);
    const inner = sh('git', ['mktree'], repo, `100644 blob ${blob}\tconfig\n`);
    const packTree = sh('git', ['write-tree', `--prefix=packs/${PACK}/`]);
    const withGit = sh('git', ['mktree'], repo, `${sh('git', ['ls-tree', packTree])}\n040000 tree ${inner}\t.git\n`);
    const root = sh('git', ['mktree'], repo, `040000 tree ${sh('git', ['mktree'], repo, `040000 tree ${withGit}\t${PACK}\n`)}\tpacks\n`);
    const dotGit = sh('git', ['commit-tree', root, '-m', 'a .git folder'], repo, undefined, {
      GIT_AUTHOR_NAME: 'a',
      GIT_AUTHOR_EMAIL: 'a@example.com',
      GIT_COMMITTER_NAME: 'a',
      GIT_COMMITTER_EMAIL: 'a@example.com',
    });
    sh('git', ['update-ref', 'refs/heads/dot-git', dotGit]);
    sh('git', ['reset', '-q', '--hard']);
    sh('git', ['checkout', '-q', 'main']);
    const load = (commit: string) => {
      const policy = policyWith(policyPack({ signers: [], git: { ref: undefined, commit } }));
      return loadPack(policy.packs[0]!, policy, { cacheDir: cacheDir() });
    };
    await expect(load(linked)).rejects.toThrow(
      `pack ${PACK}: "checks/passwd" is not a regular file (links and submodules are not allowed in a pack)`,
    );
    // git's own object checks (transfer.fsckObjects) refuse it in transit; the tree check would refuse it next.
    await expect(load(dotGit)).rejects.toThrow(
      /^pack k8s-hygiene: cannot fetch file:\/\/.*: error: object [0-9a-f]{40}: hasDotgit: contains '\.git'$/,
    );
  });

  it("loads and runs the README's example pack as written", async () => {
    const readme = readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    const guide = readme.slice(readme.indexOf('## Write your own check'));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(guide)![1]!;
    const dir = path.join(work, 'team-checks');
    mkdirSync(dir, { mode: 0o755 });
    writeFileSync(path.join(dir, 'pack.yaml'), yaml);
    const policy = grantingPolicy(readManifest(dir), dir, {});
    const pack = await loadPack(policy.packs[0]!, policy, { cacheDir: cacheDir() });
    const check = pack.checks.get('team-checks/latest-images')!;
    const result = await runPackCheck(
      { pack, check },
      { namespaces: [ns] },
      {
        signal: new AbortController().signal,
        heartbeat: () => undefined,
        kube: fx.runnerClients(),
        policy,
        secrets: { resolve: () => Promise.reject(new Error('no secrets here')) },
      },
    );
    expect(result.issues.map((i) => i.resource.name)).toEqual(['sloppy']);
  });

  it('refuses a check type whose pack the policy does not list, and a listed type the pack does not define', async () => {
    const parsed = RunnerPolicy.safeParse(loopbackPolicyInput(['other-pack/check'], { packs: [] }));
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toBe('other-pack/check names pack other-pack, which packs does not list');
    const policy = policyWith(policyPack(), [...TYPES, `${PACK}/no-such-check`]);
    await expect(loadPack(policy.packs[0]!, policy, { cacheDir: cacheDir() })).rejects.toThrow(
      `pack ${PACK}: the policy allows ${PACK}/no-such-check, which the pack does not define`,
    );
  });

  it('refuses a declarative check whose CEL does not compile, and names the object when CEL errors at run time', async () => {
    const dir = path.join(work, 'bad-cel');
    mkdirSync(dir);
    const manifest = (predicate: string) =>
      stringify({
        name: 'bad-cel',
        version: '0.1.0',
        checks: [
          {
            name: 'c',
            description: 'a check',
            needs: { kubernetes: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }] },
            declarative: {
              read: { apiVersion: 'v1', kind: 'ConfigMap', namespaces: `['${ns}']` },
              predicate,
              issue: { severity: 3, title: "'t'", expected: "'e'", actual: "'a'" },
            },
          },
        ],
      });
    const policyFor = () =>
      RunnerPolicy.parse(
        loopbackPolicyInput(['bad-cel/c'], {
          packs: [{ name: 'bad-cel', source: { dir }, kubernetes: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }] }],
        }),
      );
    writeFileSync(path.join(dir, 'pack.yaml'), manifest('object.data.size( > 0'));
    await expect(loadPack(policyFor().packs[0]!, policyFor(), { cacheDir: cacheDir() })).rejects.toThrow(
      /^pack bad-cel: check bad-cel\/c does not compile: predicate: /,
    );
    writeFileSync(path.join(dir, 'pack.yaml'), manifest("object.data['absent'] == 'x'"));
    const pack = await loadPack(policyFor().packs[0]!, policyFor(), { cacheDir: cacheDir() });
    await fx.configMap(admin, ns, 'plain', { key: 'value' });
    await expect(
      runPackCheck(
        { pack, check: pack.checks.get('bad-cel/c')! },
        {},
        {
          signal: new AbortController().signal,
          heartbeat: () => undefined,
          kube: fx.runnerClients(),
          policy: policyFor(),
          secrets: { resolve: () => Promise.reject(new Error('no secrets here')) },
        },
      ),
    ).rejects.toThrow(new RegExp(`predicate on ConfigMap ${ns}/plain: .*absent`));
  });
});

/** A pack of hostile checks, from a folder (as an air-gapped site pins one): one prints its bound secret, one fork-bombs past its timeout. */
const CANARY = `pack-canary-${Math.random().toString(36).slice(2, 10)}`;
function canaryPack(): Record<string, unknown> {
  const dir = path.join(work, 'canary');
  mkdirSync(dir, { mode: 0o755 });
  writeFileSync(
    path.join(dir, 'pack.yaml'),
    stringify({
      name: 'canary',
      version: '0.1.0',
      checks: [
        {
          name: 'leak',
          description: 'prints its bound secret',
          needs: { secrets: ['token'] },
          script: { run: 'leak.sh', interpreter: 'sh' },
        },
        {
          name: 'bomb',
          description: 'forks until refused, then outlives its timeout',
          script: { run: 'bomb.sh', interpreter: 'bash', timeoutSeconds: 2 },
        },
      ],
    }),
  );
  writeFileSync(path.join(dir, 'leak.sh'), `printf '{"summary":"the token is %s","issues":[],"metrics":{}}' "$(cat /run/secrets/token)"\n`);
  writeFileSync(path.join(dir, 'bomb.sh'), `b() { b | b & }; b\nsleep 60\n`);
  return { name: 'canary', source: { dir }, digest: packDigest(dir), secretBindings: ['token'] };
}

let platform: TestPlatform;
let ws: Awaited<ReturnType<typeof newWorkspace>>;
let runner: Awaited<ReturnType<typeof startRunner>>;
let admin: fx.Admin;
let ns: string;
let packs: LoadedPacks;

beforeAll(async () => {
  admin = fx.adminClients();
  ns = await fx.namespace(admin, 'packs');
  platform = await startPlatform();
  ws = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
  const pack = policyPack();
  const canary = canaryPack();
  const extra = {
    packs: [pack, canary],
    secretBindings: [{ name: 'token', ref: 'env:PACK_CANARY', destinations: ['loopback-http'] }],
  };
  await fx.grantPolicyRbac({ packs: [pack] });
  packs = await loadPacks(RunnerPolicy.parse(loopbackPolicyInput([...TYPES, 'canary/leak', 'canary/bomb'], extra)), {
    cacheDir: cacheDir(),
  });
  runner = await startRunner(platform, ws, {
    kubeconfig: process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '',
    allowedChecks: ['k8s.pod-status', ...TYPES, 'canary/leak', 'canary/bomb'],
    policy: extra,
    packs,
    env: { PACK_CANARY: CANARY },
  });
  // Listing the Runners has the Platform ask a Runner it has not heard from for its report (packs included).
  await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners`, { token: ws.token });
  // Broken and healthy objects for every check of the pack.
  await fx.createObjects([
    fx.deploymentObject(ns, 'sloppy', { replicas: 2, image: 'registry.example/web:latest', requests: false, probes: false }),
    fx.deploymentObject(ns, 'untagged', { replicas: 1, image: 'registry.example:5000/tools', requests: true, probes: true }),
    fx.deploymentObject(ns, 'tidy', { replicas: 3, image: 'registry.example:5000/web:1.4.2', requests: true, probes: true }),
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'tidy', namespace: ns },
      spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'tidy' } } },
    },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'present', namespace: ns }, data: { a: 'b' } },
    fx.podObject(ns, 'mounts-absent', { volumes: [{ name: 'cfg', configMap: { name: 'absent' } }] }),
    fx.podObject(ns, 'env-absent', { envFrom: [{ configMapRef: { name: 'also-absent' } }] }),
    fx.podObject(ns, 'optional-absent', { volumes: [{ name: 'cfg', configMap: { name: 'absent', optional: true } }] }),
    fx.podObject(ns, 'mounts-present', { volumes: [{ name: 'cfg', configMap: { name: 'present' } }] }),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: ns },
      spec: { ports: [{ name: 'http', port: 80 }], selector: { app: 'tidy' } },
    },
    fx.ingressObject(ns, 'to-nowhere', 'gone', { number: 80 }),
    fx.ingressObject(ns, 'wrong-port', 'web', { number: 8080 }),
    fx.ingressObject(ns, 'fine', 'web', { name: 'http' }),
  ]);
});

afterAll(async () => {
  await runner?.stop();
  await platform?.stop();
});

async function createTask(checkType: string, params: Record<string, unknown>, policy: Record<string, unknown> = {}) {
  return api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/tasks`, {
    token: ws.token,
    body: {
      name: `${checkType.replace('/', '-')}-${Math.random().toString(36).slice(2, 8)}`,
      runnerId: ws.runnerId,
      checkType,
      params,
      policy,
    },
  });
}

async function runPack(checkType: string, params: Record<string, unknown> = {}): Promise<RunResult> {
  const task = await createTask(checkType, params);
  expect({ status: task.status, body: task.status === 201 ? {} : task.body }).toEqual({ status: 201, body: {} });
  const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, {
    token: ws.token,
    body: { taskId: task.body['id'] },
  });
  expect(created.status).toBe(202);
  const result = resultOf(await waitForRun(platform.baseUrl, ws.token, String(created.body['id'])));
  return { ...result, issues: result.issues.filter((i) => i.resource.namespace === ns) };
}
const names = (r: RunResult) => r.issues.map((i) => i.resource.name).sort();

describe('the example pack through the API, Temporal and a Runner with the read rules the chart renders', () => {
  it('is reported by the Runner: types, parameter schemas and the digest, beside the built-ins', async () => {
    await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners`, { token: ws.token });
    const listed = await api(platform.baseUrl, 'GET', `/v1/workspaces/${ws.workspaceId}/runners/${ws.runnerId}/checks`, {
      token: ws.token,
    });
    expect(listed.status).toBe(200);
    const items = listed.body['items'] as {
      type: string;
      source: string;
      pack?: { digest: string; source: unknown };
      parameters: { type: string };
    }[];
    expect(items.map((i) => i.type).sort()).toEqual(['k8s.pod-status', ...TYPES, 'canary/leak', 'canary/bomb'].sort());
    const pdb = items.find((i) => i.type === `${PACK}/missing-pdb`)!;
    expect(pdb.pack).toEqual(
      expect.objectContaining({ digest: packs.packs[0]!.digest, source: { kind: 'git', commit: signedCommit, signed: true } }),
    );
    expect(pdb.parameters).toEqual(expect.objectContaining({ type: 'object' }));
    expect(items.find((i) => i.type === 'k8s.pod-status')).toEqual(expect.objectContaining({ source: 'built-in' }));
  });

  it('finds containers without requests, without probes, unpinned images and Deployments without a PodDisruptionBudget', async () => {
    const requests = await runPack(`${PACK}/missing-requests`, { namespaces: [ns] });
    expect(names(requests)).toEqual(['sloppy']);
    expect(requests.issues[0]!.actual).toBe('without requests: app');
    expect(requests.status).toBe('issues');
    expect(names(await runPack(`${PACK}/missing-probes`, { namespaces: [ns], requireLiveness: true }))).toEqual(['sloppy']);
    const images = await runPack(`${PACK}/latest-images`);
    expect(names(images)).toEqual(['sloppy', 'untagged']);
    expect(images.issues.find((i) => i.resource.name === 'untagged')!.actual).toBe('app runs registry.example:5000/tools');
    // `untagged` has one replica: below minReplicas; `tidy` has its budget.
    expect(names(await runPack(`${PACK}/missing-pdb`))).toEqual(['sloppy']);
    expect(names(await runPack(`${PACK}/missing-pdb`, { minReplicas: 1 }))).toEqual(['sloppy', 'untagged']);
  });

  it('runs the bash + kubectl script in the sandbox: pods referencing missing ConfigMaps, optional ones left alone', async () => {
    const result = await runPack(`${PACK}/missing-configmaps`, { namespace: ns });
    expect(names(result)).toEqual(['env-absent', 'mounts-absent']);
    expect(result.issues.find((i) => i.resource.name === 'env-absent')!.actual).toBe('missing (referenced by envFrom)');
    expect(result.metrics['pods.read']).toBe(4);
  });

  it('runs the Python script in the sandbox: Ingress backends without their Service or port', async () => {
    const result = await runPack(`${PACK}/ingress-backends`, { namespace: ns });
    expect(names(result)).toEqual(['to-nowhere', 'wrong-port']);
    expect(result.issues.find((i) => i.resource.name === 'wrong-port')!.actual).toBe('it exposes http');
    expect(result.metrics['ingresses.read']).toBe(3);
  });

  it('runs pack checks from a schedule and in a sweep like built-ins', async () => {
    const task = await createTask(`${PACK}/missing-pdb`, {});
    const schedule = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/schedules`, {
      token: ws.token,
      body: { taskId: task.body['id'], spec: { intervalSeconds: 1 } },
    });
    expect(schedule.status).toBe(201);
    const deadline = Date.now() + 60_000;
    let scheduled: { status: string }[] = [];
    while (Date.now() < deadline && !scheduled.some((r) => r.status === 'succeeded')) {
      await new Promise((r) => setTimeout(r, 500));
      ({ rows: scheduled } = await platform.pool.query<{ status: string }>('select status from runs where schedule_id = $1', [
        schedule.body['id'],
      ]));
    }
    expect(scheduled.map((r) => r.status)).toContain('succeeded');
    await api(platform.baseUrl, 'DELETE', `/v1/workspaces/${ws.workspaceId}/schedules/${String(schedule.body['id'])}`, { token: ws.token });

    const sweep = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/sweeps`, {
      token: ws.token,
      body: { runnerId: ws.runnerId },
    });
    expect(sweep.status).toBe(202);
    let got: { status?: unknown; runs?: { checkType: string; status: string }[] } = {};
    while (Date.now() < deadline + 60_000 && got.status !== 'completed') {
      await new Promise((r) => setTimeout(r, 500));
      got = (await api(platform.baseUrl, 'GET', `/v1/sweeps/${String(sweep.body['id'])}`, { token: ws.token })).body;
    }
    expect(got.status).toBe('completed');
    const packRuns = (got.runs ?? []).filter((r) => r.checkType.startsWith(`${PACK}/`));
    expect(new Set(packRuns.map((r) => r.checkType))).toEqual(new Set(TYPES));
    expect(packRuns.every((r) => r.status === 'succeeded')).toBe(true);
  });

  it('redacts a bound secret a script prints, and outlives a script that fork-bombs past its timeout', async () => {
    const leak = await runPack('canary/leak');
    expect(leak.summary).toBe(`the token is ${REDACTED}`);
    const stored = await platform.pool.query<{ n: string }>(
      "select count(*) as n from (select row_to_json(t)::text as t from results t) r where t like '%' || $1 || '%'",
      [CANARY],
    );
    expect(stored.rows[0]!.n).toBe('0');

    // One attempt: a timeout is retryable, and this one would time out every time.
    const task = await createTask('canary/bomb', {}, { maxAttempts: 1 });
    const created = await api(platform.baseUrl, 'POST', `/v1/workspaces/${ws.workspaceId}/runs`, {
      token: ws.token,
      body: { taskId: task.body['id'] },
    });
    const run = await waitForRun(platform.baseUrl, ws.token, String(created.body['id']));
    expect(run['status']).toBe('failed');
    expect(run['error']).toEqual({ type: 'ScriptFailed', message: 'canary/bomb: script bomb.sh ran past its 2 s timeout' });
    // Nothing of the sandbox is left, and the Runner goes on running checks.
    for (let uid = SANDBOX_UID_BASE; uid < SANDBOX_UID_BASE + MAX_SANDBOXES; uid++) expect(processesOf(uid)).toEqual([]);
    expect(names(await runPack(`${PACK}/missing-pdb`))).toEqual(['sloppy']);
  });

  it('stops a Runner process whose pinned pack has moved, with status 78 and the reason, before it polls', async () => {
    sh('git', ['checkout', '-q', '-b', 'released', signedCommit]);
    const moved = gitCommit('moved on', author.file);
    sh('git', ['checkout', '-q', 'main']);
    const out = spawnSync(process.execPath, [path.resolve(__dirname, '..', 'dist', 'workers', 'runner.js')], {
      env: {
        PATH: process.env['PATH'] ?? '',
        LOOKOUT_RUNNER_ID: randomUUID(),
        LOOKOUT_WORKSPACE_ID: ws.workspaceId,
        LOOKOUT_RUNNER_KEYS_FILE: await writeRunnerKeyFile(platform, ws.workspaceId),
        LOOKOUT_RUNNER_POLICY_FILE: writePolicyFile(loopbackPolicyInput(TYPES, { packs: [policyPack({ git: { ref: 'released' } })] })),
        LOOKOUT_RUNNER_PACK_CACHE_DIR: cacheDir(),
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(out.stderr).toContain(
      `runner: pack ${PACK}: ref released of file://${repo} points at ${moved}, not at the pinned commit ${signedCommit}: the ref has moved`,
    );
    expect(out.status).toBe(78);
  });

  it('`lookout pack test` prints each result as it would leave the Runner, and exits 2 on a schema error', () => {
    const cli = (args: string[]) =>
      spawnSync(process.execPath, [path.resolve(__dirname, '..', 'dist', 'platform-api', 'cli.js'), 'pack', ...args], {
        env: { PATH: process.env['PATH'] ?? '', PACK_CANARY: CANARY },
        encoding: 'utf8',
        timeout: 60_000,
      });
    const kubeconfig = process.env['LOOKOUT_TEST_KUBECONFIG_RUNNER'] ?? '';
    const ran = cli([
      'test',
      path.join(__dirname, '..', 'packs', PACK),
      '--kubeconfig',
      kubeconfig,
      '--check',
      'missing-requests',
      '--params',
      JSON.stringify({ namespaces: [ns] }),
    ]);
    expect({ status: ran.status, stderr: ran.stderr }).toEqual({ status: 0, stderr: '' });
    expect(ran.stdout).toContain(`pack ${PACK} 1.0.0 ${packs.packs[0]!.digest}`);
    const printed = JSON.parse(ran.stdout.slice(ran.stdout.indexOf('{'))) as RunResult & { runId?: string; attestation?: unknown };
    expect(printed.issues.map((i) => i.resource.name)).toEqual(['sloppy']);
    expect(printed).not.toHaveProperty('attestation');

    // A script check with a bound secret: the preview shows it redacted, as the boundary does.
    const leak = cli(['test', path.join(work, 'canary'), '--check', 'leak', '--secret', 'token=PACK_CANARY']);
    expect(leak.status).toBe(0);
    expect(leak.stdout).toContain(`"summary": "the token is ${REDACTED}"`);
    expect(leak.stdout).not.toContain(CANARY);

    const broken = path.join(work, 'broken-pack');
    mkdirSync(broken);
    writeFileSync(path.join(broken, 'pack.yaml'), stringify({ name: 'Broken', version: '1', checks: [] }));
    const refused = cli(['test', broken]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('pack broken-pack: pack.yaml: name: must be a lower-case name');
    expect(refused.stderr).toContain('checks: Too small');

    const digest = cli(['digest', path.join(__dirname, '..', 'packs', PACK)]);
    expect(digest.stdout.trim()).toBe(packs.packs[0]!.digest);
  });

  it('refuses, when the task is saved, parameters outside the schema and a pack type the Runner does not have', async () => {
    const bad = await createTask(`${PACK}/missing-pdb`, { minReplicas: 'two' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain(`the parameters do not match the schema of ${PACK}/missing-pdb: minReplicas`);
    const extra = await createTask(`${PACK}/missing-requests`, { namespaces: [ns], surprise: true });
    expect(extra.status).toBe(400);
    const unknown = await createTask(`${PACK}/no-such-check`, {});
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.body)).toContain(`the Runner's policy does not allow ${PACK}/no-such-check`);
  });
});
