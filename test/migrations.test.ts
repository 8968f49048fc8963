import { mkdtempSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Pool } from 'pg';
import { createPool } from '../platform/db/pool';
import { MIGRATIONS_DIR, loadMigrations, migrate } from '../platform/db/migrate';
import { createEmptyDatabase } from './harness/databases';

const CORE_TABLES = ['api_tokens', 'audit_events', 'memberships', 'results', 'runners', 'runs', 'tasks', 'users', 'workspaces'];

describe('migrations', () => {
  let db: Awaited<ReturnType<typeof createEmptyDatabase>>;
  let pool: Pool;

  beforeEach(async () => {
    db = await createEmptyDatabase();
    pool = createPool(db.url);
  });
  afterEach(async () => {
    await pool.end();
    await db.drop();
  });

  async function tables(): Promise<string[]> {
    const { rows } = await pool.query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = 'public' order by table_name",
    );
    return rows.map((r) => r.table_name);
  }

  it('creates every core table on an empty database and records each migration', async () => {
    const all = await loadMigrations();
    const applied = await migrate(pool);
    expect(applied).toEqual(all.map((m) => m.version));
    expect(await tables()).toEqual(expect.arrayContaining([...CORE_TABLES, 'schema_migrations']));
    const { rows } = await pool.query<{ version: number; checksum: string }>(
      'select version, checksum from schema_migrations order by version',
    );
    expect(rows).toEqual(all.map((m) => ({ version: m.version, checksum: m.checksum })));
  });

  it('applies nothing on an already migrated database', async () => {
    await migrate(pool);
    const before = await tables();
    expect(await migrate(pool)).toEqual([]);
    expect(await tables()).toEqual(before);
  });

  it('applies each migration once when several processes migrate at the same time', async () => {
    const others = [createPool(db.url), createPool(db.url), createPool(db.url)];
    try {
      const results = await Promise.all([pool, ...others].map((p) => migrate(p)));
      const applied = results.flat();
      expect(applied.sort()).toEqual((await loadMigrations()).map((m) => m.version).sort());
      const { rows } = await pool.query<{ n: number }>('select count(*)::int as n from schema_migrations');
      expect(rows[0]?.n).toBe(applied.length);
    } finally {
      await Promise.all(others.map((p) => p.end()));
    }
  });

  it('refuses to run when an applied migration file was changed', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-migrations-'));
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    await migrate(pool, dir);
    const first = path.join(dir, '0001_core.sql');
    writeFileSync(first, `${readFileSync(first, 'utf8')}\n-- edited\n`);
    await expect(migrate(pool, dir)).rejects.toThrow('migration 1_core was changed after it was applied');
  });

  it('rolls back a failing migration whole and does not record it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-migrations-'));
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    const next = (await loadMigrations(dir)).length + 1;
    const file = `${String(next).padStart(4, '0')}_broken.sql`;
    writeFileSync(path.join(dir, file), 'create table half_done (id int);\nselect * from no_such_table;\n');
    await expect(migrate(pool, dir)).rejects.toThrow(`migration ${next}_broken failed`);
    expect(await tables()).not.toContain('half_done');
    const { rows } = await pool.query<{ v: number }>('select max(version) as v from schema_migrations');
    expect(rows[0]?.v).toBe(next - 1);
  });

  it('refuses a database that is ahead of the code', async () => {
    await migrate(pool);
    await pool.query("insert into schema_migrations (version, name, checksum) values (999, 'future', 'x')");
    await expect(migrate(pool)).rejects.toThrow('database is at migration 999, newer than this code');
  });
});
