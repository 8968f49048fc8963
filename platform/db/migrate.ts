/**
 * Forward-only migrations: numbered SQL files (`0001_name.sql`) applied in order, each in its own
 * transaction, under a PostgreSQL advisory lock so that concurrent starts apply each file once.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Pool } from 'pg';

export const MIGRATIONS_DIR = path.join(__dirname, 'migrations');
/** Arbitrary constant: the advisory lock key of the migrator. */
const MIGRATION_LOCK_KEY = 0x4c4f4f4b; // "LOOK"

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!match?.[1] || !match[2]) throw new Error(`migration file name must look like 0001_name.sql: ${file}`);
    const sql = await readFile(path.join(dir, file), 'utf8');
    migrations.push({
      version: Number(match[1]),
      name: match[2],
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    });
  }
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations must be numbered without gaps: expected ${i + 1}, found ${m.version}`);
  });
  return migrations;
}

/**
 * Applies every pending migration (or, with `upTo`, those up to that version: restoring a backup
 * loads its rows at the schema version they were dumped at) and returns the versions it applied.
 * Fails if an applied migration's file has changed since, or if the database is ahead of this code.
 */
export async function migrate(pool: Pool, dir?: string, options: { upTo?: number } = {}): Promise<number[]> {
  const all = await loadMigrations(dir);
  const upTo = options.upTo ?? Number.POSITIVE_INFINITY;
  const migrations = all.filter((m) => m.version <= upTo);
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`create table if not exists schema_migrations (
      version integer primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`);
    const { rows } = await client.query<{ version: number; checksum: string }>(
      'select version, checksum from schema_migrations order by version',
    );
    const applied = new Map(rows.map((r) => [r.version, r.checksum]));
    const newest = all.at(-1)?.version ?? 0;
    for (const version of applied.keys()) {
      if (version > newest) throw new Error(`database is at migration ${version}, newer than this code (${newest})`);
    }
    const done: number[] = [];
    for (const m of migrations) {
      const checksum = applied.get(m.version);
      if (checksum !== undefined) {
        if (checksum !== m.checksum) throw new Error(`migration ${m.version}_${m.name} was changed after it was applied`);
        continue;
      }
      await client.query('begin');
      try {
        await client.query(m.sql);
        await client.query('insert into schema_migrations (version, name, checksum) values ($1, $2, $3)', [m.version, m.name, m.checksum]);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback');
        throw new Error(`migration ${m.version}_${m.name} failed`, { cause: err });
      }
      done.push(m.version);
    }
    return done;
  } finally {
    await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}
