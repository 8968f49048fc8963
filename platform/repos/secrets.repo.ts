/** The Platform's records of workspace secrets: names, versions and who wrote them. Never a value. */
import type { Queryable } from './db';

export interface SecretMeta {
  name: string;
  createdAt: Date;
  updatedAt: Date;
  updatedBy: string;
  version: number;
}

/** Records a write of `name` and answers its new version (1 for a new secret). */
export async function recordSecretWrite(db: Queryable, workspaceId: string, name: string, actor: string): Promise<number> {
  const { rows } = await db.query<{ version: number }>(
    `insert into secrets (workspace_id, name, updated_by) values ($1, $2, $3)
     on conflict (workspace_id, name) do update set updated_at = now(), updated_by = excluded.updated_by, version = secrets.version + 1
     returning version`,
    [workspaceId, name, actor],
  );
  return rows[0]!.version;
}

export async function listSecretMeta(db: Queryable, workspaceId: string): Promise<SecretMeta[]> {
  const { rows } = await db.query<{ name: string; created_at: Date; updated_at: Date; updated_by: string; version: number }>(
    'select name, created_at, updated_at, updated_by, version from secrets where workspace_id = $1',
    [workspaceId],
  );
  return rows.map((r) => ({ name: r.name, createdAt: r.created_at, updatedAt: r.updated_at, updatedBy: r.updated_by, version: r.version }));
}

export async function secretRecorded(db: Queryable, workspaceId: string, name: string): Promise<boolean> {
  const { rowCount } = await db.query('select 1 from secrets where workspace_id = $1 and name = $2', [workspaceId, name]);
  return Boolean(rowCount);
}

export async function deleteSecretRecord(db: Queryable, workspaceId: string, name: string): Promise<void> {
  await db.query('delete from secrets where workspace_id = $1 and name = $2', [workspaceId, name]);
}
