/**
 * Runs a pack's script check in a sandbox: bubblewrap (`/usr/bin/bwrap`, Debian package `bubblewrap`)
 * plus resource limits, so that a script sees nothing of the Runner and reaches only what its check
 * was granted.
 *
 * What a script gets:
 * - its interpreter (`bash`, `sh`, `python3` from /usr/bin, or the Runner's own `node`) running
 *   `/pack/<run>`, cwd `/pack` (the pack's folder, read-only), as uid/gid 65534 (nobody), no
 *   capabilities, in new user, mount, pid, ipc, uts, cgroup and network namespaces and a new session;
 *   it cannot create a user namespace of its own (`--disable-userns`: inside one it would hold every
 *   capability, `CAP_NET_ADMIN` and `CAP_SYS_ADMIN` included, and could mount tmpfs without bound);
 * - a read-only root: read-only `/usr` (and the merged-usr `/bin`, `/lib`, … links), of `/etc` only
 *   certificates, `ld.so.cache`, `alternatives` and generated `passwd`, `group`, `hosts`,
 *   `nsswitch.conf`; fresh `/proc` and a read-only `/dev` (its device nodes only); the only writable
 *   places are `/tmp` and `/dev/shm`, tmpfs of {@link tmpfsBytes} each (`memoryMiB` / 4, at least 4 MiB);
 * - the check's validated parameters as JSON on stdin;
 * - each granted secret as `/run/secrets/<name>` (mode 0400, owned by the script's user);
 * - an environment of PATH, HOME=/tmp, TMPDIR, LANG, and `HTTPS_PROXY`/`HTTP_PROXY` (and lower-case)
 *   = `http://127.0.0.1:3128`; `NO_PROXY=127.0.0.1`, the sandbox's own loopback, which holds nothing
 *   but the relay's ports (without it Python would send the Kubernetes proxy's requests to the egress
 *   proxy; `localhost` is left to the proxy, which refuses it unless the policy allows loopback);
 * - when the check has Kubernetes rules, `KUBECONFIG=/run/lookout/kubeconfig`: a plain-HTTP API at
 *   `http://127.0.0.1:8001` without credentials; it answers GET of discovery and of what the rules
 *   cover (get and list, no watch), with the Runner's read-only identity (`egress-proxy.ts`).
 *
 * The network namespace holds only `lo`: the proxies are served by the Runner on unix sockets bound
 * into the sandbox, and an in-sandbox relay (`sandbox-relay.ts`, the Runner's node) pipes the two
 * loopback ports to them. The egress proxy admits a host:port only when the pack declared it and the
 * policy granted it, and dials only the addresses it resolved and checked itself.
 *
 * Nothing of the Runner is visible: bwrap is spawned with an empty environment (inside, /proc/1 is
 * bwrap's own init), and no path of the Runner's is bound (its code, key file, policy file and other
 * secrets live outside /usr). The pack's folder must be readable by the sandbox's user.
 *
 * Limits: when the Runner is root, each concurrent sandbox runs as a uid of its own
 * ({@link SANDBOX_UID_BASE} + slot, via `setpriv`), so that RLIMIT_NPROC ({@link SANDBOX_NPROC}
 * processes and threads, the relay's included) counts that sandbox alone; when it is not, bwrap needs
 * unprivileged user namespaces and the process limit is shared with the Runner's own uid. The script's
 * RLIMIT_DATA is `memoryMiB` (a node script: that much V8 heap, and RLIMIT_DATA 1 GiB more for V8's
 * reservations). RLIMIT_CPU is the timeout. The whole process group is killed at the timeout, when
 * `run.signal` aborts, when stdout passes {@link MAX_STDOUT_BYTES}, and at the end; killing bwrap ends
 * its pid namespace, and with it every process the script started.
 *
 * Memory is bounded, not capped: rlimits count per process, and cgroups (a `memory.max` and
 * `pids.max` per sandbox) would be the complete answer, but they are not available here (cgroup v1,
 * not writable by the Runner). What one sandbox can hold is at most {@link SANDBOX_NPROC} processes of
 * `memoryMiB` RLIMIT_DATA each (private memory, 1 GiB more for node scripts; a process started by the
 * script inherits the limit, and bwrap and the relay have 2 GiB), plus `memoryMiB` / 2 of tmpfs (`/tmp` and `/dev/shm`, which is also where POSIX shared memory lives),
 * plus, in the Runner, 4 Kubernetes answers of at most 32 MiB each (`egress-proxy.ts`). SysV shared
 * memory is bounded only by the ipc namespace's defaults.
 *
 * The run's folder (generated files, secrets, the proxies' sockets) is `lookout-sandbox-<pid>.<start>-*`
 * in the Runner's tmpdir, named after the Runner process that made it; it is removed at the end of the
 * run, and a folder left by a Runner that was killed (SIGKILL, OOM) is removed by the first run of
 * the next ({@link sweepStaleSandboxes}).
 *
 * Result: stdout must be one JSON object `{ status?, summary, score?, issues?, metrics? }` (strict;
 * `status` defaults to `issues` when there are issues, else `ok`). stderr (at most 64 KiB) goes to
 * `onStderr` only, never into the result, an error or a log: it may hold secrets. A non-zero exit, a
 * timeout, too much output or no valid result throws a {@link ScriptError} whose message names the
 * script and the cause, never what it printed: an invalid result is named by its top-level field and
 * the kind of problem (`metrics (invalid_type)`, `issues.3 (too_big)`), never by a key or a value.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { z } from 'zod';
import { Issue, TaskResultBody } from '../../../common/contracts';
import { PACK_NAME } from '../../../common/packs';
import type { CheckOutcome } from '../checks/check';
import { startEgressProxy, startKubeProxy, type SocketProxy } from './egress-proxy';
import { RELAY_SOURCE } from './sandbox-relay';
import type { ScriptRun } from './types';

export const BWRAP = '/usr/bin/bwrap';
const SETPRIV = '/usr/bin/setpriv';
const PRLIMIT = '/usr/bin/prlimit';
/** When the Runner is root, sandbox slot `n` runs as uid and gid `SANDBOX_UID_BASE + n`. */
export const SANDBOX_UID_BASE = 200_000;
/** Sandboxes that may run at once (when root: one uid each). */
export const MAX_SANDBOXES = 64;
/**
 * Processes and threads a sandbox may have at once (RLIMIT_NPROC), the relay's included (node: some
 * 11 threads); kubectl and python with a few threads fit well.
 */
export const SANDBOX_NPROC = 64;
export const MAX_STDOUT_BYTES = 1024 * 1024;
const MAX_STDERR_BYTES = 64 * 1024;
/** The relay (node) and bwrap get this much RLIMIT_DATA (at least); the script gets its `memoryMiB`. */
const RELAY_DATA_BYTES = 2048 * 1024 * 1024;
/**
 * What node needs beyond its heap: V8 reserves its code range as writable private memory, which
 * RLIMIT_DATA counts though it is not resident (Node 24 does not start below some 600 MiB). A node
 * script gets `memoryMiB` of V8 heap (`--max-old-space-size`) and this much more of RLIMIT_DATA.
 */
const NODE_DATA_OVERHEAD_BYTES = 1024 * 1024 * 1024;
/** Smallest size of each of the sandbox's tmpfs (`/tmp`, `/dev/shm`). */
const MIN_TMPFS_BYTES = 4 * 1024 * 1024;

/** Size of each of the sandbox's two tmpfs (`/tmp`, `/dev/shm`): together at most half of `memoryMiB` (4 MiB each at least). */
export function tmpfsBytes(memoryMiB: number): number {
  return Math.max(MIN_TMPFS_BYTES, Math.floor((memoryMiB * 1024 * 1024) / 4));
}
const EGRESS_PORT = 3128;
const KUBE_PORT = 8001;
const NOBODY = 65534;
const HEARTBEAT_MS = 5_000;
/** How long after a kill the run waits for the sandbox's pipes to close before giving up on them. */
const KILL_GRACE_MS = 5_000;

/** Why a script check failed: the sandbox, its exit, its timeout, its output size, or its result. */
export class ScriptError extends Error {
  constructor(
    readonly reason: 'sandbox' | 'exit' | 'timeout' | 'output' | 'result',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ScriptError';
  }
}

const ScriptResult = z.strictObject({
  status: TaskResultBody.shape.status.optional(),
  summary: TaskResultBody.shape.summary,
  score: z.number().min(0).max(1).optional(),
  issues: z.array(Issue).max(200).optional(),
  metrics: TaskResultBody.shape.metrics.optional(),
});

interface Identity {
  uid: number;
  gid: number;
  /** The uid is the sandbox's alone (the Runner is root): setpriv to it, and reap what it leaves. */
  own: boolean;
  release(): void;
}

const slots = new Set<number>();
let nextShared = -1;

function acquireIdentity(): Identity {
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) {
    if (slots.size >= MAX_SANDBOXES)
      throw new ScriptError('sandbox', `more than ${MAX_SANDBOXES} scripts are running at once on this Runner`);
    const token = nextShared--;
    slots.add(token);
    return { uid, gid: process.getgid?.() ?? uid, own: false, release: () => slots.delete(token) };
  }
  checkUidRange();
  const dir = slotDir();
  for (let slot = 0; slot < MAX_SANDBOXES; slot++) {
    if (slots.has(slot)) continue;
    // A lock file per slot, across processes: two Runners on one host never share a uid (each reaps its uid's processes).
    const lock = path.join(dir, String(slot));
    if (!takeLock(lock)) continue;
    slots.add(slot);
    return {
      uid: SANDBOX_UID_BASE + slot,
      gid: SANDBOX_UID_BASE + slot,
      own: true,
      release: () => {
        slots.delete(slot);
        rmSync(lock, { force: true });
      },
    };
  }
  throw new ScriptError('sandbox', `more than ${MAX_SANDBOXES} scripts are running at once on this host`);
}

/** The folder of the slots' lock files: root's own, shared by every Runner process of the host. */
function slotDir(): string {
  const dir = path.join(os.tmpdir(), 'lookout-sandbox-slots');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Takes a slot's lock file, or a stale one (its process gone); false when a live process holds it. */
function takeLock(lock: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, OWNER, { flag: 'wx', mode: 0o600 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = '';
    try {
      holder = readFileSync(lock, 'utf8');
    } catch {
      continue; // released meanwhile: try again
    }
    const [pid, start] = holder.split('.');
    if (holder === OWNER || (pid && startOf(Number(pid)) === start)) return false;
    rmSync(lock, { force: true });
  }
  return false;
}

let uidRangeChecked = false;
/** Refuses to run sandboxes as uids that belong to an account of the host: its files and processes would be the script's. */
function checkUidRange(): void {
  if (uidRangeChecked) return;
  const taken: number[] = [];
  for (const file of ['/etc/passwd', '/etc/group']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const id = Number(line.split(':')[2]);
      if (id >= SANDBOX_UID_BASE && id < SANDBOX_UID_BASE + MAX_SANDBOXES) taken.push(id);
    }
  }
  if (taken.length)
    throw new ScriptError(
      'sandbox',
      `the sandbox ids ${SANDBOX_UID_BASE}–${SANDBOX_UID_BASE + MAX_SANDBOXES - 1} are used by accounts of this host (${taken[0]}): scripts cannot run here`,
    );
  uidRangeChecked = true;
}

/**
 * Live processes whose real uid is `uid`, with their thread counts. Zombies are left out: they hold
 * nothing but a pid until whoever inherited them (the Runner's pid 1) reaps them.
 */
export function processesOf(uid: number): Array<{ pid: number; threads: number }> {
  const found: Array<{ pid: number; threads: number }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      if (/^State:\s+[ZX]/m.test(status)) continue;
      if (Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]) === uid)
        found.push({ pid: Number(name), threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 1) });
    } catch {
      // the process ended meanwhile
    }
  }
  return found;
}

/** Kills every process of a sandbox's own uid and waits (at most 2 s) until none is left. */
async function reap(identity: Identity): Promise<void> {
  if (!identity.own) return;
  const deadline = Date.now() + 2_000;
  for (;;) {
    const left = processesOf(identity.uid);
    if (left.length === 0 || Date.now() > deadline) return;
    for (const { pid } of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Paths at / that are links into /usr on a merged-usr system (bound the same way), or directories. */
const ROOT_LINKS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];
const ETC_BINDS = [
  '/etc/ssl/certs',
  '/etc/ssl/openssl.cnf',
  '/etc/ca-certificates',
  '/etc/ld.so.cache',
  '/etc/alternatives',
  '/etc/localtime',
];

function rootLinkArgs(): string[] {
  const args: string[] = [];
  for (const name of ROOT_LINKS) {
    const at = `/${name}`;
    try {
      if (lstatSync(at).isSymbolicLink()) args.push('--symlink', readlinkSync(at), at);
      else args.push('--ro-bind', at, at);
    } catch {
      // not on this system
    }
  }
  return args;
}

const INTERPRETERS = { bash: '/usr/bin/bash', sh: '/usr/bin/sh', python3: '/usr/bin/python3' } as const;

/** The Runner's node inside the sandbox: where it is when under /usr, else bound read-only. */
function nodeInside(): { path: string; bind: string[] } {
  if (process.execPath.startsWith('/usr/')) return { path: process.execPath, bind: [] };
  return { path: '/opt/lookout/node', bind: ['--ro-bind', sandboxReadableNode(), '/opt/lookout/node'] };
}

/** True when a user that is neither owner nor group can reach `file` (every directory searchable) and read and run it. */
function reachableByOthers(file: string): boolean {
  if ((statSync(file).mode & 0o005) !== 0o005) return false;
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === path.dirname(dir)) return true;
  }
}

let readableNode: string | undefined;

/**
 * The node binary as the sandbox's user can bind it: bwrap runs as that user (after setpriv), so the
 * source of a bind must be reachable by it. A Runner's node under a private folder (a checkout in a
 * 0700 temporary directory, a home) is copied once into a folder of this process's user in the
 * tmpdir (0711, the copy 0755 and not writable by the sandbox); one made by someone else is refused.
 */
function sandboxReadableNode(): string {
  if (readableNode) return readableNode;
  const real = realpathSync(process.execPath);
  if (reachableByOthers(real)) return (readableNode = real);
  const uid = process.getuid?.() ?? 0;
  const dir = path.join(os.tmpdir(), `lookout-sandbox-node-${uid}`);
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  const info = lstatSync(dir);
  if (!info.isDirectory() || info.uid !== uid || (info.mode & 0o022) !== 0)
    throw new ScriptError('sandbox', `${dir} is not a folder of this Runner's user that only it can write`);
  chmodSync(dir, 0o711);
  const { size, mtimeMs } = statSync(real);
  const copy = path.join(dir, `node-${createHash('sha256').update(`${real}\u0000${size}\u0000${mtimeMs}`).digest('hex').slice(0, 16)}`);
  if (!existsSync(copy)) {
    const partial = `${copy}.${process.pid}`;
    copyFileSync(real, partial);
    chmodSync(partial, 0o755);
    renameSync(partial, copy);
  }
  return (readableNode = copy);
}

function limitPrefix(identity: Identity, cpuSeconds: number, dataBytes = RELAY_DATA_BYTES): string[] {
  let nproc = SANDBOX_NPROC;
  // Without a uid of its own, RLIMIT_NPROC counts the Runner's processes and threads too.
  if (!identity.own) nproc += processesOf(identity.uid).reduce((n, p) => n + p.threads, 0);
  const limits = [
    PRLIMIT,
    `--nproc=${nproc}`,
    `--data=${Math.max(dataBytes, RELAY_DATA_BYTES)}`,
    `--cpu=${cpuSeconds}`,
    '--core=0',
    '--nofile=1024',
    '--',
  ];
  if (!identity.own) return limits;
  const id = String(identity.uid);
  return [SETPRIV, `--reuid=${id}`, `--regid=${String(identity.gid)}`, '--clear-groups', '--no-new-privs', ...limits];
}

const BASE_BWRAP = [
  '--unshare-all',
  // --unshare-all only tries; --disable-userns needs the user namespace for sure.
  '--unshare-user',
  '--disable-userns',
  '--die-with-parent',
  '--new-session',
  '--cap-drop',
  'ALL',
  '--clearenv',
  '--uid',
  String(NOBODY),
  '--gid',
  String(NOBODY),
  '--hostname',
  'lookout-sandbox',
  '--ro-bind',
  '/usr',
  '/usr',
];

const sandboxChecks = new Map<string, Promise<string | undefined>>();

/** Why bubblewrap cannot make a sandbox for this identity, or undefined when it can (tried once per kind of identity). */
function sandboxProblem(identity: Identity): Promise<string | undefined> {
  const key = identity.own ? 'own' : 'shared';
  let check = sandboxChecks.get(key);
  if (!check) {
    check = new Promise((resolve) => {
      for (const tool of [BWRAP, PRLIMIT, ...(identity.own ? [SETPRIV] : [])])
        if (!existsSync(tool)) return resolve(`${tool} is missing (Debian packages bubblewrap and util-linux)`);
      const argv = [...limitPrefix(identity, 10), BWRAP, ...BASE_BWRAP, ...rootLinkArgs(), '/usr/bin/true'];
      execFile(argv[0]!, argv.slice(1), { env: {}, timeout: 10_000 }, (err) =>
        resolve(
          err
            ? `bubblewrap cannot create a sandbox here (it needs version 0.8 or later, and unprivileged user namespaces or a Runner running as root): ${err.message.split('\n')[0] ?? ''}`
            : undefined,
        ),
      );
    });
    sandboxChecks.set(key, check);
  }
  return check;
}

function chownIf(identity: Identity, file: string): void {
  if (identity.own) chownSync(file, identity.uid, identity.gid);
}

const KUBECONFIG = JSON.stringify({
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [{ name: 'lookout', cluster: { server: `http://127.0.0.1:${KUBE_PORT}` } }],
  users: [{ name: 'lookout', user: {} }],
  contexts: [{ name: 'lookout', context: { cluster: 'lookout', user: 'lookout', namespace: 'default' } }],
  'current-context': 'lookout',
});

/** Writes the run's folder: generated /etc files, secrets, kubeconfig, the sockets' folder. */
function prepareFolder(
  top: string,
  identity: Identity,
  run: ScriptRun,
): { etc: string; secrets: string; lookout: string; sockets: string } {
  const etc = path.join(top, 'etc');
  const secrets = path.join(top, 'secrets');
  const lookout = path.join(top, 'lookout');
  const sockets = path.join(lookout, 'sock');
  mkdirSync(etc, { mode: 0o755 });
  const files: Record<string, string> = {
    passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:${NOBODY}:${NOBODY}:nobody:/tmp:/usr/sbin/nologin\n`,
    group: `root:x:0:\nnogroup:x:${NOBODY}:\n`,
    hosts: '127.0.0.1 localhost lookout-sandbox\n::1 localhost ip6-localhost\n',
    'nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files\n',
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(etc, name), text, { mode: 0o444 });
  mkdirSync(secrets, { mode: 0o700 });
  for (const { name, value } of run.secrets) {
    const file = path.join(secrets, name);
    writeFileSync(file, value, { mode: 0o400, flag: 'wx' });
    chownIf(identity, file);
  }
  chmodSync(secrets, 0o500);
  chownIf(identity, secrets);
  mkdirSync(lookout, { mode: 0o755 });
  if (run.kube) writeFileSync(path.join(lookout, 'kubeconfig'), KUBECONFIG, { mode: 0o444 });
  mkdirSync(sockets, { mode: 0o700 });
  chownIf(identity, sockets);
  chmodSync(top, 0o700);
  chownIf(identity, top);
  return { etc, secrets, lookout, sockets };
}

function sandboxArgv(
  run: ScriptRun,
  identity: Identity,
  folder: ReturnType<typeof prepareFolder>,
  listeners: Array<{ port: number; socket: string }>,
): string[] {
  const { spec } = run;
  const node = nodeInside();
  const interpreter = spec.interpreter === 'node' ? node.path : INTERPRETERS[spec.interpreter];
  const memory = spec.memoryMiB * 1024 * 1024;
  const data = spec.interpreter === 'node' ? memory + NODE_DATA_OVERHEAD_BYTES : memory;
  const nodeOptions = spec.interpreter === 'node' ? [`--max-old-space-size=${spec.memoryMiB}`] : [];
  const proxy = `http://127.0.0.1:${EGRESS_PORT}`;
  const env: Record<string, string> = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: '/tmp',
    TMPDIR: '/tmp',
    LANG: 'C.UTF-8',
    USER: 'nobody',
    HTTPS_PROXY: proxy,
    HTTP_PROXY: proxy,
    https_proxy: proxy,
    http_proxy: proxy,
    NO_PROXY: '127.0.0.1',
    no_proxy: '127.0.0.1',
    ...(run.kube ? { KUBECONFIG: '/run/lookout/kubeconfig' } : {}),
  };
  const etcBinds = Object.keys({ passwd: 0, group: 0, hosts: 0, 'nsswitch.conf': 0 }).flatMap((f) => [
    '--ro-bind',
    path.join(folder.etc, f),
    `/etc/${f}`,
  ]);
  const relayConfig = JSON.stringify({
    listeners,
    command: [PRLIMIT, `--data=${data}`, '--', interpreter, ...nodeOptions, `/pack/${spec.run}`],
  });
  return [
    ...limitPrefix(identity, spec.timeoutSeconds + 1, data),
    BWRAP,
    ...BASE_BWRAP,
    ...rootLinkArgs(),
    '--proc',
    '/proc',
    // bwrap's /dev is a tmpfs of half the RAM: keep its device nodes, write nowhere else in it.
    '--dev',
    '/dev',
    '--remount-ro',
    '/dev',
    // --size applies to the --tmpfs that follows it.
    '--size',
    String(tmpfsBytes(spec.memoryMiB)),
    '--tmpfs',
    '/dev/shm',
    '--size',
    String(tmpfsBytes(spec.memoryMiB)),
    '--tmpfs',
    '/tmp',
    ...etcBinds,
    ...ETC_BINDS.flatMap((p) => ['--ro-bind-try', p, p]),
    '--ro-bind',
    run.packDir,
    '/pack',
    '--ro-bind',
    folder.secrets,
    '/run/secrets',
    '--ro-bind',
    folder.lookout,
    '/run/lookout',
    ...node.bind,
    // Last of the mounts: bwrap's root is a tmpfs of half the RAM, writable by the script (/, /etc,
    // /run); not recursive, so /tmp and /dev/shm stay writable.
    '--remount-ro',
    '/',
    '--chdir',
    '/pack',
    ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
    node.path,
    '-e',
    RELAY_SOURCE,
    relayConfig,
  ];
}

function signalName(status: number): string | undefined {
  const n = status - 128;
  return Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0];
}

/** Runs the sandbox to its end; answers its stdout, or throws why it failed. */
function execute(argv: string[], run: ScriptRun, label: string, onStderr: ((chunk: string) => void) | undefined): Promise<Buffer> {
  const { spec } = run;
  return new Promise<Buffer>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: {}, detached: true, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    let killed: 'timeout' | 'output' | 'cancelled' | undefined;
    let started = false;
    let done = false;
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrBytes = 0;
    const decoder = new StringDecoder('utf8');

    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    };
    const kill = (why: NonNullable<typeof killed>) => {
      killed ??= why;
      killGroup();
      // The pipes close when the pid namespace is gone; do not wait for them forever.
      setTimeout(() => finish(null), KILL_GRACE_MS).unref();
    };
    const timer = setTimeout(() => kill('timeout'), spec.timeoutSeconds * 1000);
    const beat = setInterval(() => run.heartbeat(), HEARTBEAT_MS);
    const onAbort = () => kill('cancelled');
    run.signal.addEventListener('abort', onAbort, { once: true });

    const finish = (status: number | null, spawnError?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(beat);
      run.signal.removeEventListener('abort', onAbort);
      killGroup();
      if (onStderr) {
        const rest = decoder.end();
        if (rest) onStderr(rest);
      }
      if (spawnError) return reject(new ScriptError('sandbox', `the sandbox for ${label} could not be started`, { cause: spawnError }));
      if (killed === 'cancelled')
        return reject(run.signal.reason instanceof Error ? run.signal.reason : new Error(`${label} was cancelled`));
      if (killed === 'timeout') return reject(new ScriptError('timeout', `${label} ran past its ${spec.timeoutSeconds} s timeout`));
      if (killed === 'output') return reject(new ScriptError('output', `${label} printed more than ${MAX_STDOUT_BYTES / 1024 / 1024} MiB`));
      if (!started)
        return reject(
          new ScriptError('sandbox', `the sandbox for ${label} could not start (bubblewrap exited with status ${status ?? '?'})`),
        );
      if (status !== 0) {
        const signal = status !== null && status > 128 ? signalName(status) : undefined;
        return reject(new ScriptError('exit', signal ? `${label} was ended by ${signal}` : `${label} exited with status ${status ?? '?'}`));
      }
      resolve(Buffer.concat(stdout));
    };

    child.on('error', (err) => finish(null, err));
    child.on('close', (status) => finish(status));
    const [stdin, out, err, ready] = child.stdio;
    (ready as Readable | null)?.on('data', () => (started = true));
    (ready as Readable | null)?.on('error', () => undefined);
    out?.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > MAX_STDOUT_BYTES) return kill('output');
      stdout.push(chunk);
    });
    err?.on('data', (chunk: Buffer) => {
      if (stderrBytes >= MAX_STDERR_BYTES || !onStderr) return;
      const part = chunk.subarray(0, MAX_STDERR_BYTES - stderrBytes);
      stderrBytes += part.length;
      const text = decoder.write(part);
      if (text) onStderr(text);
    });
    stdin?.on('error', () => undefined);
    stdin?.end(JSON.stringify(run.params));
  });
}

const RESULT_FIELDS = new Set(Object.keys(ScriptResult.shape));

/**
 * Where an invalid result is wrong, in words the script did not choose: its top-level field (and the
 * index of an issue) and zod's code. Deeper path segments are left out, as they may be keys the
 * script chose (`metrics.<name>`); zod's messages too, as they may quote values.
 */
function issueWhere(issue: z.core.$ZodIssue): string {
  const [field, index] = issue.path;
  if (typeof field !== 'string' || !RESULT_FIELDS.has(field)) return `(root) (${issue.code})`;
  return `${field}${typeof index === 'number' ? `.${index}` : ''} (${issue.code})`;
}

function parseResult(label: string, stdout: Buffer): CheckOutcome {
  let value: unknown;
  try {
    value = JSON.parse(stdout.toString('utf8'));
  } catch {
    throw new ScriptError('result', `${label} did not print a result: its output is not one JSON object`);
  }
  const parsed = ScriptResult.safeParse(value);
  if (!parsed.success) {
    const where = new Set(parsed.error.issues.map(issueWhere));
    throw new ScriptError('result', `${label} did not print a result: ${[...where].slice(0, 10).join(', ')}`);
  }
  const { status, summary, score, issues = [], metrics = {} } = parsed.data;
  return {
    status: status ?? (issues.length ? 'issues' : 'ok'),
    summary,
    ...(score === undefined ? {} : { score }),
    issues,
    metrics,
    exitCode: 0,
  };
}

const FOLDER_PREFIX = 'lookout-sandbox-';
const FOLDER_NAME = /^lookout-sandbox-(\d+)\.(\d+)-/;

/** When process `pid` started (clock ticks after boot, from /proc), or undefined when it is gone. */
function startOf(pid: number): string | undefined {
  try {
    // The fields after the command's name, which may hold spaces and parentheses; starttime is field 22.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** This Runner process as its run folders name it: pid and start time, so that a reused pid is not taken for it. */
const OWNER = `${process.pid}.${startOf(process.pid) ?? '0'}`;

/** Removes a run's folder; its secrets folder is made writable first, as a Runner that is not root needs. */
function removeFolder(top: string): void {
  try {
    chmodSync(path.join(top, 'secrets'), 0o700);
  } catch {
    // not there, or root, who needs no permission
  }
  rmSync(top, { recursive: true, force: true });
}

/**
 * Removes the run folders (secrets included) in the tmpdir that a Runner process left when it was
 * killed before its clean-up (SIGKILL, OOM): those whose process (pid and start time, from the
 * folder's name) no longer runs. Folders of live Runners, this one's included, are left alone, so this
 * is safe at any time; {@link runScript} calls it once per process. Synchronous, and never throws.
 * Runners whose tmpdir is shared across pid namespaces must not share it with this sweep: a folder of a
 * Runner this process cannot see would be taken for stale.
 */
export function sweepStaleSandboxes(): void {
  let names: string[];
  try {
    names = readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const match = FOLDER_NAME.exec(name);
    if (!match) continue;
    const [, pid, start] = match;
    if (`${pid}.${start}` === OWNER) continue;
    const current = startOf(Number(pid));
    if (current !== undefined && (current === start || start === '0')) continue;
    try {
      removeFolder(path.join(os.tmpdir(), name));
    } catch {
      // another Runner removed it meanwhile, or it is not ours to remove; the next process tries again
    }
  }
}

let swept = false;

/**
 * Runs `run`'s script in a new sandbox (see the file's comment for the contract) and answers its
 * result. Not retried here; each call is a fresh sandbox, so a retry is safe. Throws a
 * {@link ScriptError}, or `run.signal`'s reason when the run is cancelled.
 */
export async function runScript(run: ScriptRun, options: { onStderr?: (chunk: string) => void } = {}): Promise<CheckOutcome> {
  const { spec } = run;
  const label = `script ${spec.run}`;
  run.signal.throwIfAborted();
  const names = new Set<string>();
  for (const { name } of run.secrets) {
    if (!PACK_NAME.test(name) || names.has(name))
      throw new ScriptError('sandbox', `secret name ${JSON.stringify(name.slice(0, 40))} cannot be a file name`);
    names.add(name);
  }
  if (spec.interpreter !== 'node' && !existsSync(INTERPRETERS[spec.interpreter]))
    throw new ScriptError('sandbox', `${label} needs ${spec.interpreter}, which this Runner does not have`);
  if (!existsSync(path.join(run.packDir, spec.run))) throw new ScriptError('sandbox', `${label} is missing from its pack`);

  if (!swept) {
    swept = true;
    sweepStaleSandboxes();
  }
  const identity = acquireIdentity();
  const top = mkdtempSync(path.join(os.tmpdir(), `${FOLDER_PREFIX}${OWNER}-`));
  const proxies: SocketProxy[] = [];
  const stop = new AbortController();
  const abortProxies = () => stop.abort();
  run.signal.addEventListener('abort', abortProxies, { once: true });
  try {
    const problem = await sandboxProblem(identity);
    if (problem) throw new ScriptError('sandbox', problem);
    await reap(identity);
    const folder = prepareFolder(top, identity, run);
    const owner = identity.own ? { uid: identity.uid, gid: identity.gid } : undefined;
    const listeners = [{ port: EGRESS_PORT, socket: '/run/lookout/sock/egress.sock' }];
    proxies.push(await startEgressProxy(path.join(folder.sockets, 'egress.sock'), run.destinations, { owner, signal: stop.signal }));
    if (run.kube) {
      listeners.push({ port: KUBE_PORT, socket: '/run/lookout/sock/kube.sock' });
      proxies.push(await startKubeProxy(path.join(folder.sockets, 'kube.sock'), run.kube, { owner, signal: stop.signal }));
    }
    const stdout = await execute(sandboxArgv(run, identity, folder, listeners), run, label, options.onStderr);
    return parseResult(label, stdout);
  } finally {
    run.signal.removeEventListener('abort', abortProxies);
    stop.abort();
    await Promise.all(proxies.map((p) => p.close()));
    await reap(identity);
    removeFolder(top);
    identity.release();
  }
}
