/**
 * Loads the check packs the Runner's policy pins. The owner names each pack's source and exact
 * revision; the Runner fetches it itself (git over its outbound connection, or a folder baked into
 * its image), verifies the commit's SSH signature when the policy lists signers, computes the pack's
 * digest, and refuses a pack that asks for more than the policy grants it (Kubernetes read rules,
 * destinations, secret bindings) before any of its checks can run. The Platform never ships code:
 * it can only name a loaded check by type and digest.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseDocument } from 'yaml';
import {
  packCheckType,
  PackManifest,
  splitPackCheckType,
  summarizePack,
  type KubernetesRule,
  type PackCheck,
  type PackSummary,
} from '../../../common/packs';
import { hostMatches, type Destination, type PolicyPack, type RunnerPolicy } from '../../../common/runner-policy';
import { compileDeclarative, type CompiledDeclarative } from './declarative';

const run = promisify(execFile);

/** A pack that cannot be used as the policy pins it: the message says which pack and why. */
export class PackError extends Error {
  constructor(
    readonly pack: string,
    reason: string,
  ) {
    super(`pack ${pack}: ${reason}`);
    this.name = 'PackError';
  }
}

export interface LoadedCheck {
  type: string;
  check: PackCheck;
  compiled?: CompiledDeclarative | undefined;
}

export interface LoadedPack {
  policy: PolicyPack;
  manifest: PackManifest;
  /** The pack's folder on the Runner's disk. */
  dir: string;
  digest: string;
  summary: PackSummary;
  checks: ReadonlyMap<string, LoadedCheck>;
}

/** Largest pack: files and bytes. A pack is configuration and scripts, not a data set. */
const MAX_FILES = 2_000;
const MAX_BYTES = 32 * 1024 * 1024;

/**
 * `sha256:` over the pack's files: for each regular file in path order, its path, whether it is
 * executable and the SHA-256 of its content. A symbolic link, a device or a socket is refused: a
 * link could name a file outside the pack.
 */
export function packDigest(dir: string, pack = path.basename(dir)): string {
  const lines: string[] = [];
  let files = 0;
  let bytes = 0;
  const walk = (rel: string) => {
    const entries = readdirSync(path.join(dir, rel)).sort();
    for (const name of entries) {
      const relPath = rel ? `${rel}/${name}` : name;
      const why = badName(name);
      if (why) throw new PackError(pack, `${JSON.stringify(relPath.slice(0, 200))} ${why}`);
      const stat = lstatSync(path.join(dir, relPath));
      if (stat.isDirectory()) walk(relPath);
      else if (stat.isFile()) {
        files += 1;
        bytes += stat.size;
        if (files > MAX_FILES || bytes > MAX_BYTES)
          throw new PackError(pack, `holds more than ${MAX_FILES} files or ${MAX_BYTES / 1048576} MiB`);
        const sha = createHash('sha256')
          .update(readFileSync(path.join(dir, relPath)))
          .digest('hex');
        // One JSON array per file: no name can pass for another entry.
        lines.push(JSON.stringify([stat.mode & 0o111 ? 'x' : '-', sha, relPath]));
      } else throw new PackError(pack, `${relPath} is not a regular file or folder (links are not allowed in a pack)`);
    }
  };
  walk('');
  return `sha256:${createHash('sha256').update(lines.join('\n')).digest('hex')}`;
}

/** Why a file name may not be in a pack: git's own folder (never digested, never run), control characters. */
function badName(name: string): string | undefined {
  if (name === '.git') return 'is a .git folder, which a pack may not hold';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'holds a control character';
  return undefined;
}

/** How long one git command may take: a slow or stalled server does not hold the Runner's start for ever. */
const GIT_TIMEOUT_MS = 5 * 60_000;

/** git with nothing of the user's or system's configuration, and only the transports a pack source may use. */
async function git(args: string[], options: { cwd?: string; signal?: AbortSignal | undefined } = {}): Promise<string> {
  const { stdout } = await run(
    'git',
    [
      '-c',
      'protocol.allow=never',
      '-c',
      'protocol.https.allow=always',
      '-c',
      'protocol.http.allow=always',
      '-c',
      'protocol.file.allow=always',
      '-c',
      'core.hooksPath=/dev/null',
      // A pack server may not send the Runner elsewhere, trickle for ever, or hand it broken objects.
      '-c',
      'http.followRedirects=false',
      '-c',
      'http.lowSpeedLimit=1024',
      '-c',
      'http.lowSpeedTime=30',
      '-c',
      'transfer.fsckObjects=true',
      ...args,
    ],
    {
      cwd: options.cwd,
      signal: options.signal ? AbortSignal.any([options.signal, AbortSignal.timeout(GIT_TIMEOUT_MS)]) : AbortSignal.timeout(GIT_TIMEOUT_MS),
      maxBuffer: 16 * 1024 * 1024,
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: '/nonexistent',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_TERMINAL_PROMPT: '0',
        ...(process.env['HTTPS_PROXY'] ? { HTTPS_PROXY: process.env['HTTPS_PROXY'] } : {}),
        ...(process.env['NO_PROXY'] ? { NO_PROXY: process.env['NO_PROXY'] } : {}),
      },
    },
  );
  return stdout;
}

/** git's message of a failed command, first line only and without the URL's credentials, if any. */
function gitReason(err: unknown): string {
  const stderr = (err as { stderr?: unknown }).stderr;
  const text = typeof stderr === 'string' && stderr.trim() ? stderr : err instanceof Error ? err.message : String(err);
  const line = text.split('\n').find((l) => l.trim()) ?? 'failed';
  return line.replace(/\/\/[^/@\s]+@/g, '//').slice(0, 300);
}

const safeUrl = (url: string) => url.replace(/\/\/[^/@\s]+@/, '//');

/**
 * Fetches the pinned commit of a git source into `cacheDir` and extracts the pack's folder; answers
 * the folder and whether the commit's signature was verified.
 */
async function fetchGitPack(
  pack: PolicyPack & { source: { git: { url: string; commit: string; ref?: string | undefined; path: string } } },
  cacheDir: string,
  signal?: AbortSignal,
): Promise<{ dir: string; signed: boolean }> {
  const { url, commit, ref, path: sub } = pack.source.git;
  const repoDir = path.join(cacheDir, 'git', createHash('sha256').update(url).digest('hex').slice(0, 32));
  const checkout = path.join(cacheDir, 'packs', `${pack.name}-${commit}-${createHash('sha256').update(sub).digest('hex').slice(0, 8)}`);
  // The git objects stay private to the Runner; the extracted packs are read by the sandbox's own
  // unprivileged users, so their folders are readable (they hold code, never a secret).
  mkdirSync(cacheDir, { recursive: true, mode: 0o711 });
  chmodSync(cacheDir, 0o711);
  mkdirSync(path.dirname(checkout), { recursive: true, mode: 0o755 });
  if (!existsSync(path.join(repoDir, 'HEAD'))) {
    mkdirSync(path.dirname(repoDir), { recursive: true, mode: 0o700 });
    mkdirSync(repoDir, { recursive: true, mode: 0o700 });
    await git(['init', '--quiet', '--bare', repoDir]);
  }
  if (ref !== undefined) {
    // The ref is the owner's statement of what the commit is: if it has moved since, nothing runs.
    let listed: string;
    try {
      listed = await git(['ls-remote', '--', url, ref, `${ref}^{}`], { signal });
    } catch (err) {
      throw new PackError(pack.name, `cannot reach ${safeUrl(url)}: ${gitReason(err)}`);
    }
    const ids = listed
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t'));
    const peeled = ids.find(([, name]) => name?.endsWith('^{}')) ?? ids[0];
    if (!peeled) throw new PackError(pack.name, `${safeUrl(url)} has no ref ${ref}`);
    if (peeled[0] !== commit)
      throw new PackError(
        pack.name,
        `ref ${ref} of ${safeUrl(url)} points at ${peeled[0]}, not at the pinned commit ${commit}: the ref has moved`,
      );
  }
  const have = async () =>
    git(['cat-file', '-e', `${commit}^{commit}`], { cwd: repoDir }).then(
      () => true,
      () => false,
    );
  if (!(await have())) {
    try {
      await git(['fetch', '--quiet', '--depth', '1', '--', url, commit], { cwd: repoDir, signal });
    } catch {
      // A server that does not serve commits by id: fetch its branches and tags and look again.
      try {
        await git(['fetch', '--quiet', '--', url, '+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*'], {
          cwd: repoDir,
          signal,
        });
      } catch (err) {
        throw new PackError(pack.name, `cannot fetch ${safeUrl(url)}: ${gitReason(err)}`);
      }
    }
    if (!(await have())) throw new PackError(pack.name, `${safeUrl(url)} has no commit ${commit}`);
  }
  let signed = false;
  if (pack.signers.length) {
    const allowed = path.join(repoDir, `allowed-signers-${pack.name}`);
    writeFileSync(allowed, `${pack.signers.join('\n')}\n`, { mode: 0o600 });
    try {
      await git(['-c', 'gpg.format=ssh', '-c', `gpg.ssh.allowedSignersFile=${allowed}`, 'verify-commit', commit], { cwd: repoDir });
      signed = true;
    } catch (err) {
      const stderr = (err as { stderr?: unknown }).stderr;
      const text = typeof stderr === 'string' ? stderr : '';
      const reason =
        /no signature/i.test(text) || !/signature/i.test(text) ? 'carries no signature' : 'is not signed by a signer the policy allows';
      throw new PackError(pack.name, `commit ${commit} ${reason}`);
    } finally {
      rmSync(allowed, { force: true });
    }
  }
  {
    // Extracted afresh at every start from the verified commit: a cached folder could have been changed since.
    rmSync(checkout, { recursive: true, force: true });
    const staging = `${checkout}.tmp-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true, mode: 0o755 });
    const tree = sub ? `${commit}:${sub}` : `${commit}^{tree}`;
    try {
      await git(['cat-file', '-e', tree], { cwd: repoDir });
    } catch {
      throw new PackError(pack.name, `commit ${commit} has no folder ${sub}`);
    }
    await checkTree(pack.name, repoDir, tree);
    const tarFile = `${staging}.tar`;
    try {
      await git(['archive', '--format=tar', `--output=${tarFile}`, tree], { cwd: repoDir });
      await run('tar', ['-x', '--no-same-owner', '--no-same-permissions', '-f', tarFile, '-C', staging]);
      chmodSync(staging, 0o755);
    } finally {
      rmSync(tarFile, { force: true });
    }
    renameSync(staging, checkout);
  }
  return { dir: checkout, signed };
}

/**
 * Checks the pinned tree before anything is written: at most {@link MAX_FILES} files and
 * {@link MAX_BYTES} bytes (a compressed bomb is refused before it is unpacked), regular files and
 * folders only (no links, no submodules), no `.git` and no control characters in names.
 */
async function checkTree(pack: string, repoDir: string, tree: string): Promise<void> {
  const listing = await git(['ls-tree', '-r', '-l', '-z', '--full-tree', tree], { cwd: repoDir });
  let files = 0;
  let bytes = 0;
  for (const entry of listing.split('\0')) {
    if (!entry) continue;
    const tab = entry.indexOf('\t');
    const [mode, type, , size] = entry.slice(0, tab).split(/\s+/);
    const name = entry.slice(tab + 1);
    if (type !== 'blob' || (mode !== '100644' && mode !== '100755'))
      throw new PackError(
        pack,
        `${JSON.stringify(name.slice(0, 200))} is not a regular file (links and submodules are not allowed in a pack)`,
      );
    for (const part of name.split('/')) {
      const why = badName(part);
      if (why) throw new PackError(pack, `${JSON.stringify(name.slice(0, 200))} ${why}`);
    }
    files += 1;
    bytes += Number(size);
    if (files > MAX_FILES || bytes > MAX_BYTES)
      throw new PackError(pack, `holds more than ${MAX_FILES} files or ${MAX_BYTES / 1048576} MiB`);
  }
}

/** True when `granted` covers every group, resource and verb of `asked`. */
function ruleCovered(asked: KubernetesRule, granted: readonly KubernetesRule[]): boolean {
  return asked.apiGroups.every((g) =>
    asked.resources.every((r) =>
      asked.verbs.every((v) => granted.some((rule) => rule.apiGroups.includes(g) && rule.resources.includes(r) && rule.verbs.includes(v))),
    ),
  );
}

/** The policy destinations (granted to the pack) a declared host falls under: the same scheme and port, and a host the pattern covers. */
export function grantedDestinationsFor(
  declared: { host: string; port?: number | undefined; scheme: 'https' | 'http' },
  granted: readonly Destination[],
): Destination[] {
  const port = declared.port ?? (declared.scheme === 'https' ? 443 : 80);
  return granted.filter((d) => {
    if (d.scheme !== declared.scheme) return false;
    if (d.port !== '*' && (d.port ?? (d.scheme === 'https' ? 443 : 80)) !== port) return false;
    if (declared.host.startsWith('*.')) return d.host.startsWith('*.') && hostMatches(d.host, `x${declared.host.slice(1)}`);
    return hostMatches(d.host, declared.host);
  });
}

/** Checks a parsed manifest against what the policy grants its pack; answers the loaded checks. */
function admitChecks(pack: PolicyPack, manifest: PackManifest, policy: RunnerPolicy, dir: string): Map<string, LoadedCheck> {
  const granted = policy.destinations.filter((d) => pack.destinations.includes(d.name));
  const checks = new Map<string, LoadedCheck>();
  for (const check of manifest.checks) {
    const type = packCheckType(manifest.name, check.name);
    const refuse = (why: string) => new PackError(pack.name, `check ${type} ${why}`);
    for (const rule of check.needs.kubernetes)
      if (!ruleCovered(rule, pack.kubernetes))
        throw refuse(
          `needs ${rule.verbs.join('/')} on ${rule.resources.join(', ')} (${rule.apiGroups.map((g) => g || 'core').join(', ')}), which the policy does not grant the pack`,
        );
    for (const name of check.needs.secrets)
      if (!pack.secretBindings.includes(name)) throw refuse(`needs secret binding ${name}, which the policy does not grant the pack`);
    // A script's https goes through a CONNECT tunnel, whose paths the proxy cannot see: only whole-host destinations apply.
    const usable = check.script ? granted.filter((d) => d.pathPrefix === '/') : granted;
    for (const d of check.needs.destinations)
      if (!grantedDestinationsFor(d, usable).length)
        throw refuse(
          `needs ${d.scheme}://${d.host}${d.port ? `:${d.port}` : ''}, which no destination granted to the pack covers${check.script ? ' (for a script, a destination without a pathPrefix)' : ''}`,
        );
    // A declarative check lists what it declares only; Secrets never (the executor checks the kinds again after discovery).
    if (check.declarative)
      for (const kind of [check.declarative.read, ...Object.values(check.declarative.context)])
        if (kind.apiVersion === 'v1' && kind.kind === 'Secret')
          throw refuse('reads Secrets, which a pack reads through secret bindings only');
    let compiled: CompiledDeclarative | undefined;
    if (check.declarative) {
      try {
        compiled = compileDeclarative(check.declarative);
      } catch (err) {
        throw refuse(`does not compile: ${err instanceof Error ? err.message : String(err)}`);
      }
    } else if (check.script) {
      const file = path.join(dir, check.script.run);
      if (!existsSync(file) || !statSync(file).isFile()) throw refuse(`runs ${check.script.run}, which the pack does not hold`);
    }
    checks.set(type, { type, check, compiled });
  }
  return checks;
}

/** Reads and validates `pack.yaml` of a folder: every problem named by its field. */
export function readManifest(dir: string, pack = path.basename(dir)): PackManifest {
  const file = path.join(dir, 'pack.yaml');
  if (!existsSync(file)) throw new PackError(pack, 'the folder has no pack.yaml');
  const doc = parseDocument(readFileSync(file, 'utf8'), { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length)
    throw new PackError(pack, `pack.yaml is not valid YAML: ${doc.errors[0]?.code} at line ${doc.errors[0]?.linePos?.[0]?.line ?? '?'}`);
  const parsed = PackManifest.safeParse(doc.toJS() ?? {});
  if (!parsed.success)
    throw new PackError(pack, `pack.yaml: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Loads one pack the policy pins; throws {@link PackError} with the reason it cannot be used. */
export async function loadPack(
  pack: PolicyPack,
  policy: RunnerPolicy,
  options: { cacheDir: string; signal?: AbortSignal },
): Promise<LoadedPack> {
  let dir: string;
  let signed = false;
  const source = pack.source;
  if ('git' in source) {
    ({ dir, signed } = await fetchGitPack({ ...pack, source }, options.cacheDir, options.signal));
  } else {
    if (pack.signers.length) throw new PackError(pack.name, 'signers apply to git sources only: pin a folder by its digest instead');
    if (!existsSync(source.dir) || !statSync(source.dir).isDirectory()) throw new PackError(pack.name, `${source.dir} is not a folder`);
    // A copy of the Runner's own, digested and run: the folder it came from may change later (a volume, a sync).
    dir = path.join(options.cacheDir, 'packs', `${pack.name}-dir`);
    mkdirSync(options.cacheDir, { recursive: true, mode: 0o711 });
    chmodSync(options.cacheDir, 0o711);
    mkdirSync(path.dirname(dir), { recursive: true, mode: 0o755 });
    rmSync(dir, { recursive: true, force: true });
    cpSync(source.dir, dir, { recursive: true, verbatimSymlinks: true, errorOnExist: true });
    chmodSync(dir, 0o755);
  }
  const digest = packDigest(dir, pack.name);
  if (pack.digest !== undefined && pack.digest !== digest)
    throw new PackError(pack.name, `its files have digest ${digest}, not the pinned ${pack.digest}`);
  const manifest = readManifest(dir, pack.name);
  if (manifest.name !== pack.name)
    throw new PackError(pack.name, `pack.yaml names the pack ${manifest.name}, not ${pack.name} as the policy does`);
  const checks = admitChecks(pack, manifest, policy, dir);
  for (const type of [...policy.checks, ...policy.rawData.allow]) {
    if (splitPackCheckType(type)?.pack === pack.name && !checks.has(type))
      throw new PackError(pack.name, `the policy allows ${type}, which the pack does not define`);
  }
  const summary = summarizePack(manifest, digest, {
    kind: 'git' in source ? 'git' : 'dir',
    ...('git' in source ? { commit: source.git.commit } : {}),
    signed,
  });
  return { policy: pack, manifest, dir, digest, summary, checks };
}

/** The packs of a Runner, by check type. */
export class LoadedPacks {
  readonly #byType = new Map<string, { pack: LoadedPack; check: LoadedCheck }>();

  constructor(readonly packs: readonly LoadedPack[]) {
    for (const pack of packs) for (const [type, check] of pack.checks) this.#byType.set(type, { pack, check });
  }

  get summaries(): PackSummary[] {
    return this.packs.map((p) => p.summary);
  }

  check(type: string): { pack: LoadedPack; check: LoadedCheck } | undefined {
    return this.#byType.get(type);
  }
}

/** Loads every pack of the policy, one after the other; the first that cannot be used stops the Runner with its reason. */
export async function loadPacks(policy: RunnerPolicy, options: { cacheDir: string; signal?: AbortSignal }): Promise<LoadedPacks> {
  const loaded: LoadedPack[] = [];
  for (const pack of policy.packs) loaded.push(await loadPack(pack, policy, options));
  return new LoadedPacks(loaded);
}
