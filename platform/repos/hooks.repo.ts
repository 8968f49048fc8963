/**
 * Alert hooks: endpoints an alerting system calls to start runs. A bearer hook's secret is stored
 * only as its SHA-256; an HMAC hook's key is sealed (see `Hook.signingSecret`); its routes (label matchers, tasks, parameter templates that may name namespaces and
 * endpoints) are sealed under the workspace's key, as tasks' parameters are.
 */
import { createHash } from 'node:crypto';
import type { Sealer } from '../crypto/sealer';
import type { Queryable } from './db';

export const HOOK_AUTHS = ['bearer', 'hmac'] as const;
export type HookAuth = (typeof HOOK_AUTHS)[number];
export const HOOK_FORMATS = ['alertmanager', 'generic', 'pagerduty'] as const;
export type HookFormat = (typeof HOOK_FORMATS)[number];

/** A label matcher: the exact value, or a regular expression the whole value must match. */
export type LabelMatcher = string | { regex: string };

/** Which alerts start runs of which task, with which parameters (templates over the alert's labels). */
export interface HookRoute {
  match: Record<string, LabelMatcher>;
  taskId: string;
  params?: Record<string, string> | undefined;
}

export interface Hook {
  id: string;
  workspaceId: string;
  name: string;
  auth: HookAuth;
  format: HookFormat;
  /** SHA-256 of the secret. */
  secretHash: Buffer;
  /**
   * What an HMAC hook verifies with, sealed at rest: a PagerDuty hook's signing secret (PagerDuty
   * generates it); for Lookout's own HMAC hooks, the HMAC key, the hex SHA-256 of the secret (since
   * migration 0021; undefined for a hook made before that the API has not moved over yet). Undefined
   * for bearer hooks.
   */
  signingSecret?: string | undefined;
  routes: HookRoute[];
  ratePerMinute: number;
  createdBy: string;
  createdAt: Date;
}

/** A hook as it is listed: no secret hash, no routes (they are shown to no one after creation but by count). */
export type HookSummary = Omit<Hook, 'secretHash' | 'signingSecret' | 'routes'> & { routeCount: number };

const routesBinding = (id: string) => `hook:${id}:routes`;
const secretBinding = (id: string) => `hook:${id}:secret`;

interface HookRow {
  id: string;
  workspace_id: string;
  name: string;
  auth: HookAuth;
  format: HookFormat;
  secret_hash: Buffer;
  routes_sealed: Buffer;
  secret_sealed: Buffer | null;
  rate_per_minute: number;
  created_by: string;
  created_at: Date;
}

const COLUMNS = 'id, workspace_id, name, auth, format, secret_hash, routes_sealed, secret_sealed, rate_per_minute, created_by, created_at';

export async function insertHook(db: Queryable, sealer: Sealer, h: Omit<Hook, 'createdAt'>): Promise<void> {
  await db.query(
    `insert into hooks (id, workspace_id, name, auth, format, secret_hash, routes_sealed, rate_per_minute, created_by, secret_sealed)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      h.id,
      h.workspaceId,
      h.name,
      h.auth,
      h.format,
      h.secretHash,
      await sealer.seal(h.workspaceId, routesBinding(h.id), h.routes, db),
      h.ratePerMinute,
      h.createdBy,
      h.signingSecret === undefined ? null : await sealer.seal(h.workspaceId, secretBinding(h.id), h.signingSecret, db),
    ],
  );
}

/** A hook by id alone (the public call names nothing else), with its routes opened. */
export async function getHook(db: Queryable, sealer: Sealer, id: string): Promise<Hook | undefined> {
  const { rows } = await db.query<HookRow>(`select ${COLUMNS} from hooks where id = $1`, [id]);
  const r = rows[0];
  if (!r) return undefined;
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    name: r.name,
    auth: r.auth,
    format: r.format,
    secretHash: r.secret_hash,
    routes: await sealer.open<HookRoute[]>(r.workspace_id, routesBinding(r.id), r.routes_sealed),
    signingSecret: r.secret_sealed ? await sealer.open<string>(r.workspace_id, secretBinding(r.id), r.secret_sealed) : undefined,
    ratePerMinute: r.rate_per_minute,
    createdBy: r.created_by,
    createdAt: r.created_at,
  };
}

/** The hooks of a workspace, without secrets or routes (the routes' count is read from the sealed value's owner: the service). */
export async function listHooks(db: Queryable, sealer: Sealer, workspaceId: string): Promise<HookSummary[]> {
  const { rows } = await db.query<HookRow>(`select ${COLUMNS} from hooks where workspace_id = $1 order by name`, [workspaceId]);
  return Promise.all(
    rows.map(async (r) => ({
      id: r.id,
      workspaceId: r.workspace_id,
      name: r.name,
      auth: r.auth,
      format: r.format,
      ratePerMinute: r.rate_per_minute,
      createdBy: r.created_by,
      createdAt: r.created_at,
      routeCount: (await sealer.open<HookRoute[]>(r.workspace_id, routesBinding(r.id), r.routes_sealed)).length,
    })),
  );
}

/**
 * Moves an HMAC hook made before migration 0021 over: its key (the clear `secret_hash`) is sealed and
 * `secret_hash` becomes that key's SHA-256, which signs nothing. Idempotent.
 */
export async function sealLegacyHmacKey(
  db: Queryable,
  sealer: Sealer,
  hook: Pick<Hook, 'id' | 'workspaceId' | 'secretHash'>,
): Promise<void> {
  await db.query(
    `update hooks set secret_sealed = $3, secret_hash = $4
      where id = $1 and workspace_id = $2 and auth = 'hmac' and format <> 'pagerduty' and secret_sealed is null`,
    [
      hook.id,
      hook.workspaceId,
      await sealer.seal(hook.workspaceId, secretBinding(hook.id), hook.secretHash.toString('hex'), db),
      createHash('sha256').update(hook.secretHash).digest(),
    ],
  );
}

/** Deletes a hook (and its alert state); false when it does not exist in that workspace. */
export async function deleteHook(db: Queryable, workspaceId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query('delete from hooks where id = $1 and workspace_id = $2', [id, workspaceId]);
  return rowCount === 1;
}

/**
 * Serialises the calls of one hook across API processes (a session-level advisory lock on `db`, a
 * client of its own, held until `unlockHook` or until that connection ends), so that two deliveries
 * of the same alert cannot both see "no run in flight".
 */
export async function lockHook(db: Queryable, hookId: string): Promise<void> {
  await db.query("select pg_advisory_lock(hashtextextended('lookout.hook:' || $1::text, 0))", [hookId]);
}

export async function unlockHook(db: Queryable, hookId: string): Promise<void> {
  await db.query("select pg_advisory_unlock(hashtextextended('lookout.hook:' || $1::text, 0))", [hookId]);
}

export interface HookAlertState {
  lastRunId: string | null;
  /** The status of that run now (null when it was erased). */
  lastRunStatus: string | null;
  lastAlertStatus: 'firing' | 'resolved';
}

/** What the last call about (hook, alert, task) started, and where that run is now. */
export async function getHookAlert(
  db: Queryable,
  hookId: string,
  alertFingerprint: string,
  taskId: string,
): Promise<HookAlertState | undefined> {
  const { rows } = await db.query<{ last_run_id: string | null; status: string | null; last_alert_status: 'firing' | 'resolved' }>(
    `select a.last_run_id, r.status, a.last_alert_status
       from hook_alerts a left join runs r on r.id = a.last_run_id
      where a.hook_id = $1 and a.alert_fingerprint = $2 and a.task_id = $3`,
    [hookId, alertFingerprint, taskId],
  );
  const r = rows[0];
  return r && { lastRunId: r.last_run_id, lastRunStatus: r.status, lastAlertStatus: r.last_alert_status };
}

/** Records the run an alert started for a task (insert or replace). */
export async function putHookAlert(
  db: Queryable,
  a: { hookId: string; workspaceId: string; alertFingerprint: string; taskId: string; runId: string; alertStatus: 'firing' | 'resolved' },
): Promise<void> {
  await db.query(
    `insert into hook_alerts (hook_id, alert_fingerprint, task_id, workspace_id, last_run_id, last_alert_status)
     values ($1, $2, $3, $4, $5, $6)
     on conflict (hook_id, alert_fingerprint, task_id)
     do update set last_run_id = excluded.last_run_id, last_alert_status = excluded.last_alert_status, updated_at = now()`,
    [a.hookId, a.alertFingerprint, a.taskId, a.workspaceId, a.runId, a.alertStatus],
  );
}

/**
 * Remembers an HMAC signature (or, for PagerDuty, the hash of an event id) until `expiresAt`; false when it was seen already (a replay). Forgets
 * expired signatures of the hook on the way.
 */
export async function rememberSignature(db: Queryable, hookId: string, signatureHash: Buffer, expiresAt: Date): Promise<boolean> {
  await db.query('delete from hook_signatures where hook_id = $1 and expires_at < now()', [hookId]);
  const { rowCount } = await db.query(
    'insert into hook_signatures (hook_id, signature_hash, expires_at) values ($1, $2, $3) on conflict do nothing',
    [hookId, signatureHash, expiresAt],
  );
  return rowCount === 1;
}
