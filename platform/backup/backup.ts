/**
 * `lookout backup create | restore`: a logical dump of the Platform database, taken in one
 * consistent snapshot and written as an encrypted backup file (format.ts), and its restore into an
 * empty PostgreSQL.
 *
 * The body is JSON lines, all text, so that every value reads back exactly:
 *
 * ```
 * {"type":"backup","schemaVersion":9,"migrations":[…],"tables":[{"name","columns":[{"name","type"}]}],"sequences":[…]}
 * {"type":"table","name":"workspaces"}
 * ["<id>","<name>","2026-01-01 00:00:00.123456+00"]     one array per row: PostgreSQL text form, bytea base64, null
 * {"type":"table-end","name":"workspaces","rows":1}
 * …every table, parents before children…
 * {"type":"sequences","values":[{"name":"audit_events_id_seq","lastValue":"42"}]}
 * {"type":"end","tables":22,"rows":1234}
 * ```
 *
 * Every table of the schema is dumped (read from the catalog, so a new table cannot be left out)
 * except `schema_migrations`, which the restore rebuilds by running the migrations up to the
 * backup's version. Workspace keys stay wrapped under the master key and sealed columns stay
 * sealed: the restored Platform needs the same `LOOKOUT_MASTER_KEY`.
 */
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { Pool } from 'pg';
import { loadMigrations, migrate } from '../db/migrate';
import {
  insertRows,
  prepareRestore,
  readAppliedMigrations,
  readCatalog,
  readRows,
  readSequences,
  setSequence,
  tablesWithRows,
  withSnapshot,
  type ColumnInfo,
  type ForeignKeyEdge,
  type TableInfo,
} from '../repos/backup.repo';
import { inTransaction } from '../repos/db';
import {
  BackupFileError,
  readBackupBody,
  readBackupHeader,
  assertKeyMatches,
  verifyBackupFile,
  writeBackupFile,
  backupKeyId,
} from './format';

/** Tables deliberately not in a backup, with the reason. Every other table of the schema is dumped. */
export const EXCLUDED_TABLES: ReadonlyMap<string, string> = new Map([
  ['schema_migrations', 'rebuilt by running the migrations on restore'],
]);

const Migration = z.strictObject({ version: z.number().int().positive(), name: z.string(), checksum: z.string() });
const Column = z.strictObject({ name: z.string(), type: z.string() });
const BeginRecord = z.strictObject({
  type: z.literal('backup'),
  schemaVersion: z.number().int().min(0),
  migrations: z.array(Migration),
  tables: z.array(z.strictObject({ name: z.string(), columns: z.array(Column) })),
  sequences: z.array(z.string()),
});
type BeginRecord = z.infer<typeof BeginRecord>;
const TableRecord = z.strictObject({ type: z.literal('table'), name: z.string() });
const TableEndRecord = z.strictObject({ type: z.literal('table-end'), name: z.string(), rows: z.number().int().min(0) });
const SequencesRecord = z.strictObject({
  type: z.literal('sequences'),
  values: z.array(
    z.strictObject({
      name: z.string(),
      lastValue: z
        .string()
        .regex(/^-?\d+$/)
        .nullable(),
    }),
  ),
});
const EndRecord = z.strictObject({ type: z.literal('end'), tables: z.number().int().min(0), rows: z.number().int().min(0) });

/** Raised for a database a backup cannot be restored into; the message says why. */
export class RestoreRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RestoreRefusedError';
  }
}

/**
 * The tables in an order where every table comes after the tables it references. Deterministic
 * (ties by name). Fails on a table that references itself or a cycle: their rows would need an
 * order within the table, which this dump does not compute.
 */
export function dependencyOrder(tables: readonly TableInfo[], foreignKeys: readonly ForeignKeyEdge[]): TableInfo[] {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const parents = new Map(tables.map((t) => [t.name, new Set<string>()]));
  for (const fk of foreignKeys) {
    if (!byName.has(fk.from) || !byName.has(fk.to)) continue;
    if (fk.from === fk.to) throw new Error(`table ${fk.from} references itself, which backup does not support yet`);
    parents.get(fk.from)?.add(fk.to);
  }
  const ordered: TableInfo[] = [];
  const done = new Set<string>();
  while (ordered.length < tables.length) {
    const ready = [...parents.entries()]
      .filter(([name, ps]) => !done.has(name) && [...ps].every((p) => done.has(p)))
      .map(([name]) => name)
      .sort();
    if (ready.length === 0) {
      const rest = [...parents.keys()].filter((n) => !done.has(n)).sort();
      throw new Error(`foreign keys form a cycle among ${rest.join(', ')}, which backup does not support yet`);
    }
    for (const name of ready) {
      done.add(name);
      ordered.push(byName.get(name)!);
    }
  }
  return ordered;
}

export interface BackupSummary {
  file: string;
  bytes: number;
  keyId: string;
  createdAt: string;
  schemaVersion: number;
  tables: number;
  rows: number;
  durationMs: number;
}

const line = (record: unknown): Buffer => Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');

/**
 * Writes a backup of the database behind `pool` to `file`, encrypted under `key` (32 bytes).
 * Reads everything in one `repeatable read, read only` transaction, so the backup is one
 * consistent state even while the Platform keeps writing (writers are not blocked). The file
 * appears under its name only once complete (mode 0600) and replaces an existing one.
 * Fails on a relation it cannot dump (a partitioned table, a self-referencing table) rather than
 * leaving it out.
 */
export async function createBackup(pool: Pool, options: { file: string; key: Buffer; chunkSize?: number }): Promise<BackupSummary> {
  const started = performance.now();
  return withSnapshot(pool, async (snapshot) => {
    const migrations = await readAppliedMigrations(snapshot.client);
    const schemaVersion = migrations.at(-1)?.version ?? 0;
    if (schemaVersion === 0) throw new Error('the database has no applied migrations: is DATABASE_URL a Lookout database?');
    const catalog = await readCatalog(snapshot.client);
    if (catalog.unsupported.length) throw new Error(`cannot back up partitioned tables: ${catalog.unsupported.join(', ')}`);
    const tables = dependencyOrder(
      catalog.tables.filter((t) => !EXCLUDED_TABLES.has(t.name)),
      catalog.foreignKeys,
    );
    const createdAt = new Date().toISOString();
    let rows = 0;
    async function* body(): AsyncGenerator<Buffer> {
      const begin: BeginRecord = {
        type: 'backup',
        schemaVersion,
        migrations: migrations.map((m) => ({ version: m.version, name: m.name, checksum: m.checksum })),
        tables: tables.map((t) => ({ name: t.name, columns: t.columns.map((c) => ({ name: c.name, type: c.type })) })),
        sequences: catalog.sequences,
      };
      yield line(begin);
      for (const table of tables) {
        yield line({ type: 'table', name: table.name });
        let count = 0;
        for await (const batch of readRows(snapshot, table)) {
          count += batch.length;
          yield Buffer.from(batch.map((r) => `${JSON.stringify(r)}\n`).join(''), 'utf8');
        }
        rows += count;
        yield line({ type: 'table-end', name: table.name, rows: count });
      }
      yield line({ type: 'sequences', values: await readSequences(snapshot.client, catalog.sequences) });
      yield line({ type: 'end', tables: tables.length, rows });
    }
    const bytes = await writeBackupFile(options.file, options.key, { schemaVersion, createdAt, chunkSize: options.chunkSize }, body());
    return {
      file: options.file,
      bytes,
      keyId: backupKeyId(options.key),
      createdAt,
      schemaVersion,
      tables: tables.length,
      rows,
      durationMs: Math.round(performance.now() - started),
    };
  });
}

/** The body of a backup as parsed JSON lines. */
async function* readLines(file: string, key: Buffer): AsyncGenerator<unknown> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of readBackupBody(file, key)) {
    let data = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let nl = data.indexOf(0x0a, start); nl !== -1; nl = data.indexOf(0x0a, start)) {
      yield parseLine(data.subarray(start, nl));
      start = nl + 1;
    }
    data = data.subarray(start);
    rest = Buffer.from(data);
  }
  if (rest.length) throw malformed();
}

function malformed(): BackupFileError {
  return new BackupFileError('the backup content is not in the expected form (was it made by `lookout backup create`?)');
}

function parseLine(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw malformed();
  }
}

function expectRecord<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw malformed();
  return parsed.data;
}

export interface RestoreSummary {
  keyId: string;
  createdAt: string;
  /** The schema version the rows were dumped and loaded at. */
  schemaVersion: number;
  /** Migrations applied after loading, to bring the database to this Lookout's version. */
  migratedAfter: number[];
  tables: number;
  rows: number;
  durationMs: number;
}

/**
 * Restores the backup `file` (encrypted under `key`) into the empty database behind `pool`.
 *
 * Order of work, so that a bad file or a bad target changes nothing:
 * 1. the key id in the header must match `key`, and every chunk of the file must verify (one full
 *    read, nothing written);
 * 2. the backup's migrations must be this Lookout's (same checksums) and the target must hold no
 *    rows and be at no later schema version;
 * 3. the migrations run up to the backup's version, the catalog must then match the backup's;
 * 4. all rows are inserted in one transaction (tables locked, emptiness checked again, identity
 *    values kept, sequences set), committed only if the whole body was read and its counts match;
 * 5. later migrations of this Lookout run on the restored data.
 * Triggers stay in force (the audit log's append-only guard refuses only updates and deletes).
 */
export async function restoreBackup(pool: Pool, options: { file: string; key: Buffer }): Promise<RestoreSummary> {
  const started = performance.now();
  const { header } = await readBackupHeader(options.file);
  assertKeyMatches(header, options.key);
  await verifyBackupFile(options.file, options.key);

  const records = readLines(options.file, options.key)[Symbol.asyncIterator]();
  try {
    const next = async (): Promise<unknown> => {
      const r = await records.next();
      if (r.done) throw malformed();
      return r.value;
    };
    const begin = expectRecord(BeginRecord, await next());
    if (begin.schemaVersion !== header.schemaVersion) throw malformed();

    const code = await loadMigrations();
    const newest = code.at(-1)?.version ?? 0;
    if (begin.schemaVersion > newest) {
      throw new RestoreRefusedError(
        `this backup is at schema version ${begin.schemaVersion}, newer than this Lookout (${newest}): restore it with the Lookout version that made it`,
      );
    }
    for (const m of begin.migrations) {
      const mine = code[m.version - 1];
      if (!mine || mine.checksum !== m.checksum) {
        throw new RestoreRefusedError(
          `migration ${m.version}_${m.name} of the backup differs from this Lookout's: restore it with the Lookout version that made it`,
        );
      }
    }
    const applied = await readAppliedMigrations(pool);
    const targetVersion = applied.at(-1)?.version ?? 0;
    if (targetVersion > begin.schemaVersion) {
      throw new RestoreRefusedError(
        `the target database is at schema version ${targetVersion}, later than the backup's (${begin.schemaVersion}): restore into an empty database`,
      );
    }
    await refuseIfNotEmpty(pool);

    await migrate(pool, undefined, { upTo: begin.schemaVersion });
    const catalog = await readCatalog(pool);
    const target = new Map(catalog.tables.filter((t) => !EXCLUDED_TABLES.has(t.name)).map((t) => [t.name, t]));
    const columnsOf = matchCatalog(begin, target, catalog.sequences);

    const totals = await inTransaction(pool, async (tx) => {
      await prepareRestore(tx, [...target.keys()]);
      await refuseIfNotEmpty(tx, [...target.keys()]);
      let rows = 0;
      for (const { name } of begin.tables) {
        const table = target.get(name)!;
        const columns = columnsOf.get(name)!;
        expectRecord(
          TableRecord.refine((r) => r.name === name),
          await next(),
        );
        let count = 0;
        let batch: unknown[][] = [];
        let batchBytes = 0;
        for (;;) {
          const value = await next();
          if (!Array.isArray(value)) {
            const end = expectRecord(TableEndRecord, value);
            if (end.name !== name) throw malformed();
            await insertInto(tx, table, columns, batch);
            if (end.rows !== count) throw malformed();
            break;
          }
          if (value.length !== columns.length || !value.every((v) => v === null || typeof v === 'string')) throw malformed();
          batch.push(value);
          count++;
          batchBytes += value.reduce<number>((n, v) => n + (typeof v === 'string' ? v.length : 0), 0);
          if (batch.length >= 1000 || batchBytes > 8 << 20) {
            await insertInto(tx, table, columns, batch);
            batch = [];
            batchBytes = 0;
          }
        }
        rows += count;
      }
      const sequences = expectRecord(SequencesRecord, await next());
      for (const value of sequences.values) {
        if (!catalog.sequences.includes(value.name)) throw malformed();
        await setSequence(tx, value);
      }
      const end = expectRecord(EndRecord, await next());
      if (end.tables !== begin.tables.length || end.rows !== rows) throw malformed();
      if (!(await records.next()).done) throw malformed();
      return { rows };
    });

    const migratedAfter = await migrate(pool);
    return {
      keyId: header.keyId,
      createdAt: header.createdAt,
      schemaVersion: begin.schemaVersion,
      migratedAfter,
      tables: begin.tables.length,
      rows: totals.rows,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    await records.return?.(undefined);
  }
}

async function insertInto(tx: Parameters<typeof insertRows>[0], table: TableInfo, columns: ColumnInfo[], rows: unknown[][]): Promise<void> {
  try {
    await insertRows(tx, table, columns, rows as (string | null)[][]);
  } catch (err) {
    // PostgreSQL's message can quote a value (invalid input syntax …): name the table and the code only.
    const e = err as { code?: string; constraint?: string };
    const detail = [e.code && `SQLSTATE ${e.code}`, e.constraint && `constraint ${e.constraint}`].filter(Boolean).join(', ');
    throw new Error(`restoring table ${table.name} failed${detail ? ` (${detail})` : ''}`, { cause: err });
  }
}

async function refuseIfNotEmpty(db: Parameters<typeof tablesWithRows>[0], tables?: string[]): Promise<void> {
  const names = tables ?? (await readCatalog(db)).tables.map((t) => t.name).filter((n) => !EXCLUDED_TABLES.has(n));
  const nonEmpty = await tablesWithRows(db, names);
  if (nonEmpty.length)
    throw new RestoreRefusedError(`the target database is not empty (rows in ${nonEmpty.join(', ')}): restore into an empty database`);
}

/**
 * Checks that the migrated target has exactly the backup's tables, columns (name and type) and
 * sequences, and returns, per table, the target's column descriptions in the backup's column order.
 */
function matchCatalog(begin: BeginRecord, target: ReadonlyMap<string, TableInfo>, sequences: readonly string[]): Map<string, ColumnInfo[]> {
  const mismatch = (what: string) =>
    new RestoreRefusedError(
      `the target's schema at version ${begin.schemaVersion} does not match the backup (${what}): was the target database changed by hand?`,
    );
  const dumped = new Set(begin.tables.map((t) => t.name));
  for (const name of target.keys()) if (!dumped.has(name)) throw mismatch(`table ${name} is not in the backup`);
  const out = new Map<string, ColumnInfo[]>();
  for (const t of begin.tables) {
    const table = target.get(t.name);
    if (!table) throw mismatch(`table ${t.name} is missing`);
    const byName = new Map(table.columns.map((c) => [c.name, c]));
    if (t.columns.length !== table.columns.length) throw mismatch(`columns of ${t.name}`);
    out.set(
      t.name,
      t.columns.map((c) => {
        const mine = byName.get(c.name);
        if (!mine || mine.type !== c.type) throw mismatch(`column ${t.name}.${c.name}`);
        return mine;
      }),
    );
  }
  const sameSequences = begin.sequences.length === sequences.length && begin.sequences.every((s) => sequences.includes(s));
  if (!sameSequences) throw mismatch('sequences');
  return out;
}
