/**
 * SQL of `lookout backup`: the catalog of the current schema, a consistent read-only snapshot to
 * dump from, and the bulk inserts of a restore. Table, column and type names are never taken from a
 * backup file: they come from the catalog of the database at hand and are quoted as identifiers;
 * every value is a query parameter.
 */
import type { Pool, PoolClient } from 'pg';
import type { Queryable } from './db';

/** One column as the catalog describes it. */
export interface ColumnInfo {
  name: string;
  /** `format_type` of the column: usable as a cast target. */
  type: string;
  /** bytea travels as base64 rather than PostgreSQL's hex text form (smaller). */
  bytea: boolean;
  /** `generated always as identity`: inserting an explicit value needs `overriding system value`. */
  identityAlways: boolean;
}

export interface TableInfo {
  name: string;
  /** In column order; generated (computed) columns are left out, PostgreSQL recomputes them. */
  columns: ColumnInfo[];
}

export interface ForeignKeyEdge {
  /** The referencing table. */
  from: string;
  /** The referenced table (in the same schema). */
  to: string;
}

export interface CatalogSnapshot {
  tables: TableInfo[];
  foreignKeys: ForeignKeyEdge[];
  /** Relations of the schema that hold rows but are not plain tables (partitioned tables): not supported. */
  unsupported: string[];
  sequences: string[];
}

export interface SequenceValue {
  name: string;
  /** Decimal text; null when `nextval` was never called. */
  lastValue: string | null;
}

/** Quotes an identifier taken from the catalog. */
function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Output settings under which every column's text form reads back to the same value. */
const SESSION_SETTINGS = [
  "set local timezone = 'UTC'",
  "set local datestyle = 'ISO, YMD'",
  "set local intervalstyle = 'postgres'",
  'set local extra_float_digits = 3',
  "set local bytea_output = 'hex'",
];

/** The tables, columns, foreign keys and sequences of the current schema (`current_schema()`). */
export async function readCatalog(db: Queryable): Promise<CatalogSnapshot> {
  const columns = await db.query<{
    table_name: string;
    relkind: string;
    column_name: string | null;
    type: string | null;
    is_bytea: boolean | null;
    identity: string | null;
  }>(
    `select c.relname as table_name, c.relkind::text as relkind, a.attname as column_name,
            format_type(a.atttypid, a.atttypmod) as type, a.atttypid = 'bytea'::regtype as is_bytea, a.attidentity::text as identity
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
      where n.nspname = current_schema() and c.relkind in ('r', 'p') and not c.relispartition
      order by c.relname, a.attnum`,
    [],
  );
  const tables = new Map<string, TableInfo>();
  const unsupported = new Set<string>();
  for (const r of columns.rows) {
    if (r.relkind !== 'r') {
      unsupported.add(r.table_name);
      continue;
    }
    const table = tables.get(r.table_name) ?? { name: r.table_name, columns: [] };
    tables.set(r.table_name, table);
    if (r.column_name !== null && r.type !== null) {
      table.columns.push({ name: r.column_name, type: r.type, bytea: r.is_bytea === true, identityAlways: r.identity === 'a' });
    }
  }
  const fks = await db.query<{ from_table: string; to_table: string }>(
    `select src.relname as from_table, dst.relname as to_table
       from pg_constraint k
       join pg_class src on src.oid = k.conrelid
       join pg_class dst on dst.oid = k.confrelid
       join pg_namespace sn on sn.oid = src.relnamespace
       join pg_namespace dn on dn.oid = dst.relnamespace
      where k.contype = 'f' and sn.nspname = current_schema() and dn.nspname = current_schema()`,
    [],
  );
  const sequences = await db.query<{ name: string }>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind = 'S' order by c.relname`,
    [],
  );
  return {
    tables: [...tables.values()],
    foreignKeys: fks.rows.map((r) => ({ from: r.from_table, to: r.to_table })),
    unsupported: [...unsupported],
    sequences: sequences.rows.map((r) => r.name),
  };
}

/** A read-only transaction whose every read sees the same committed state of the database. */
export interface Snapshot {
  client: PoolClient;
}

/**
 * Runs `fn` inside one `repeatable read, read only` transaction: every query sees the database as
 * of its first query, whatever commits meanwhile (writers are not blocked). Always ends the
 * transaction and releases the client.
 */
export async function withSnapshot<T>(pool: Pool, fn: (snapshot: Snapshot) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin isolation level repeatable read, read only');
    for (const sql of SESSION_SETTINGS) await client.query(sql);
    const result = await fn({ client });
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** The migrations recorded in `schema_migrations`, oldest first; empty when the table does not exist. */
export async function readAppliedMigrations(db: Queryable): Promise<{ version: number; name: string; checksum: string }[]> {
  const exists = await db.query<{ present: boolean }>("select to_regclass('schema_migrations') is not null as present", []);
  if (!exists.rows[0]?.present) return [];
  const { rows } = await db.query<{ version: number; name: string; checksum: string }>(
    'select version, name, checksum from schema_migrations order by version',
    [],
  );
  return rows;
}

/**
 * Streams the rows of `table` in batches of up to `batchSize`, each row as one text value (or
 * null) per column of `columns`: bytea in base64, everything else in PostgreSQL's text form under
 * the snapshot's settings. Uses a cursor, so memory stays bounded by one batch.
 */
export async function* readRows(snapshot: Snapshot, table: TableInfo, batchSize = 1000): AsyncGenerator<(string | null)[][]> {
  const select = table.columns
    .map((c) => (c.bytea ? `translate(encode(${ident(c.name)}, 'base64'), E'\\n', '')` : `${ident(c.name)}::text`))
    .join(', ');
  const { client } = snapshot;
  await client.query(`declare lookout_backup_rows no scroll cursor for select ${select || 'null'} from ${ident(table.name)}`);
  try {
    for (;;) {
      const { rows } = await client.query<(string | null)[]>({
        text: `fetch forward ${Math.trunc(batchSize)} from lookout_backup_rows`,
        values: [],
        rowMode: 'array',
      });
      if (rows.length === 0) break;
      yield table.columns.length ? rows : rows.map(() => []);
    }
  } finally {
    await client.query('close lookout_backup_rows');
  }
}

/** The current value of each sequence of the schema (sequences are not transactional: this may run ahead of the rows, never behind). */
export async function readSequences(db: Queryable, names: readonly string[]): Promise<SequenceValue[]> {
  const { rows } = await db.query<{ name: string; last_value: string | null }>(
    `select sequencename as name, last_value::text as last_value from pg_sequences
      where schemaname = current_schema() and sequencename = any($1::text[]) order by sequencename`,
    [names],
  );
  return rows.map((r) => ({ name: r.name, lastValue: r.last_value }));
}

/** The tables among `tables` that hold at least one row. */
export async function tablesWithRows(db: Queryable, tables: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const table of tables) {
    const { rows } = await db.query<{ any: boolean }>(`select exists (select 1 from ${ident(table)}) as any`, []);
    if (rows[0]?.any) found.push(table);
  }
  return found;
}

/** Starts a restore inside the caller's transaction: the same text settings as the dump, and every table locked against other writers. */
export async function prepareRestore(client: PoolClient, tables: readonly string[]): Promise<void> {
  for (const sql of SESSION_SETTINGS) await client.query(sql);
  if (tables.length) await client.query(`lock table ${tables.map(ident).join(', ')} in access exclusive mode`);
}

/**
 * Inserts `rows` (text values as {@link readRows} produced them, in the order of `columns`) into
 * `table`, in statements of bounded size. Identity values are kept (`overriding system value`).
 */
export async function insertRows(
  client: PoolClient,
  table: TableInfo,
  columns: readonly ColumnInfo[],
  rows: readonly (readonly (string | null)[])[],
): Promise<void> {
  if (rows.length === 0) return;
  if (columns.length === 0) {
    for (let i = 0; i < rows.length; i++) await client.query(`insert into ${ident(table.name)} default values`);
    return;
  }
  const overriding = columns.some((c) => c.identityAlways) ? ' overriding system value' : '';
  const head = `insert into ${ident(table.name)} (${columns.map((c) => ident(c.name)).join(', ')})${overriding} values `;
  // PostgreSQL takes at most 65535 parameters per statement.
  const perStatement = Math.max(1, Math.min(1000, Math.floor(60_000 / columns.length)));
  for (let start = 0; start < rows.length; start += perStatement) {
    const batch = rows.slice(start, start + perStatement);
    const values: (string | null)[] = [];
    const tuples = batch.map((row) => {
      const cells = columns.map((c, i) => {
        values.push(row[i] ?? null);
        const p = `$${values.length}`;
        return c.bytea ? `decode(${p}::text, 'base64')` : `${p}::${c.type}`;
      });
      return `(${cells.join(', ')})`;
    });
    await client.query(head + tuples.join(', '), values);
  }
}

/** Sets a sequence so that its next value follows `lastValue` (or is its start when null). */
export async function setSequence(client: PoolClient, value: SequenceValue): Promise<void> {
  if (value.lastValue === null) {
    await client.query(`select setval($1::regclass, s.seqstart, false) from pg_sequence s where s.seqrelid = $1::regclass`, [
      ident(value.name),
    ]);
  } else {
    await client.query('select setval($1::regclass, $2::bigint, true)', [ident(value.name), value.lastValue]);
  }
}
