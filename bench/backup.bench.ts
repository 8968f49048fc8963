/**
 * `lookout backup create | restore` on a synthetic Platform database (one workspace with many runs,
 * results carrying sealed blobs, and a long audit log) in an embedded PostgreSQL: time, rows per
 * second and MB per second of each, beside a plain `select *` of every table in the same process
 * (the cost of reading the rows at all).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { createBackup, restoreBackup } from '../platform/backup/backup';
import { createPlatformCrypto } from '../platform/crypto';
import { MasterKey } from '../platform/crypto/master-key';
import { startEmbeddedPostgres } from '../platform/db/embedded';
import { migrate } from '../platform/db/migrate';
import { createPool } from '../platform/db/pool';
import { bootstrap } from '../platform-api/services/bootstrap.service';
import type { BenchResult } from './types';

const RUNS = 20_000;
const AUDIT_EVENTS = 100_000;
/** Bytes of (incompressible) sealed data per result, about what a small sealed TaskResult takes. */
const SEALED_BYTES = 512;

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-bench-backup-'));
  chmodSync(dir, 0o755); // as root the embedded PostgreSQL runs as another user
  const pg = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), persistent: false });
  try {
    const admin = new Client({ connectionString: pg.url });
    await admin.connect();
    await admin.query('create database bench_source');
    await admin.query('create database bench_target');
    await admin.end();
    const urlOf = (db: string) => Object.assign(new URL(pg.url), { pathname: `/${db}` }).toString();
    const source = createPool(urlOf('bench_source'));
    const target = createPool(urlOf('bench_target'));
    await migrate(source);
    // No Temporal here: the workspace stays in the shared namespace (backups cover PostgreSQL only).
    const ws = await bootstrap(
      source,
      createPlatformCrypto(source, MasterKey.generate()),
      { provision: async () => undefined },
      {
        workspaceName: 'bench',
        ownerEmail: 'bench@lookout.localhost',
        probeUrl: 'http://127.0.0.1:9/',
      },
    );
    await source.query(
      `insert into runs (id, workspace_id, task_id, runner_id, check_type, status, trigger, requested_by, workflow_id, queued_at, started_at, finished_at)
       select gen_random_uuid(), $1, $2, $3, 'http.probe', 'succeeded', 'api', 'bench', 'bench-run-' || g, now(), now(), now() from generate_series(1, $4) g`,
      [ws.workspaceId, ws.taskId, ws.runnerId, RUNS],
    );
    await source.query(
      `insert into results (run_id, workspace_id, check_type, status, started_at, finished_at, duration_ms, exit_code, sealed, attestation_key_id)
       select r.id, r.workspace_id, r.check_type, 'ok', now(), now(), 12, 0,
              (select decode(string_agg(md5(random()::text || i), ''), 'hex') from generate_series(1, $1::int / 16) i where r.id is not null), 'k1'
         from runs r`,
      [SEALED_BYTES],
    );
    await source.query(
      `insert into audit_events (workspace_id, at, actor, action, target, outcome, details, prev_hash, hash)
       select $1, now(), 'token:bench', 'run.requested', 'run:' || gen_random_uuid(), 'success', jsonb_build_object('n', g),
              decode(md5('p' || g) || md5('q' || g), 'hex'), decode(md5('h' || g) || md5('x' || g), 'hex')
         from generate_series(1, $2) g`,
      [ws.workspaceId, AUDIT_EVENTS],
    );
    const size = await source.query<{ bytes: string }>('select pg_database_size(current_database())::text as bytes');
    const dbMb = Number(size.rows[0]?.bytes ?? 0) / 2 ** 20;

    // Baseline: read every row once, as arrays, without encoding or encryption.
    const tables = await source.query<{ tablename: string }>("select tablename from pg_tables where schemaname = 'public'");
    let t = performance.now();
    let selected = 0;
    for (const { tablename } of tables.rows) {
      const r = await source.query({ text: `select * from "${tablename}"`, rowMode: 'array' });
      selected += r.rows.length;
    }
    const selectMs = performance.now() - t;

    const key = randomBytes(32);
    const file = path.join(dir, 'bench.lkb');
    t = performance.now();
    const created = await createBackup(source, { file, key });
    const createMs = performance.now() - t;
    t = performance.now();
    const restored = await restoreBackup(target, { file, key });
    const restoreMs = performance.now() - t;
    const fileMb = statSync(file).size / 2 ** 20;
    await source.end();
    await target.end();
    if (restored.rows !== created.rows) throw new Error(`restored ${restored.rows} rows of ${created.rows}`);

    const baseline = `select * of every table: ${selected} rows in ${round(selectMs / 1000, 2)} s`;
    const metrics = (ms: number) => ({
      rows: created.rows,
      dbMiB: round(dbMb),
      fileMiB: round(fileMb, 2),
      seconds: round(ms / 1000, 2),
      rowsPerSecond: Math.round(created.rows / (ms / 1000)),
      dbMiBPerSecond: round(dbMb / (ms / 1000)),
    });
    return [
      { bench: 'backup', case: 'create', metrics: metrics(createMs), baseline },
      { bench: 'backup', case: 'restore (verify pass + load + sequences)', metrics: metrics(restoreMs), baseline },
    ];
  } finally {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
