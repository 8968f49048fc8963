import type { Queryable } from './db';

export type FlowKind = 'mfa' | 'oidc' | 'saml';

export interface AuthFlow {
  kind: FlowKind;
  userId: string | null;
  data: Buffer | null;
  attempts: number;
  expiresAt: Date;
  consumedAt: Date | null;
  /** SHA-256 of the cookie of the browser the flow is bound to (the MFA step). */
  browserHash: Buffer | null;
}

export async function insertFlow(
  db: Queryable,
  f: { idHash: Buffer; kind: FlowKind; userId: string | null; data: Buffer | null; expiresAt: Date; browserHash?: Buffer },
): Promise<void> {
  await db.query('insert into auth_flows (id_hash, kind, user_id, data, expires_at, browser_hash) values ($1, $2, $3, $4, $5, $6)', [
    f.idHash,
    f.kind,
    f.userId,
    f.data,
    f.expiresAt,
    f.browserHash ?? null,
  ]);
  // Expired flows are of no use to anyone; sweep a few on every insert so the table stays small.
  await db.query(
    `delete from auth_flows where id_hash in (select id_hash from auth_flows where expires_at < now() - interval '1 hour' limit 100)`,
  );
}

/** Reads a flow of `kind` and locks it for the caller's transaction. */
export async function lockFlow(db: Queryable, idHash: Buffer, kind: FlowKind): Promise<AuthFlow | undefined> {
  const { rows } = await db.query<{
    kind: FlowKind;
    user_id: string | null;
    data: Buffer | null;
    attempts: number;
    expires_at: Date;
    consumed_at: Date | null;
    browser_hash: Buffer | null;
  }>(
    'select kind, user_id, data, attempts, expires_at, consumed_at, browser_hash from auth_flows where id_hash = $1 and kind = $2 for update',
    [idHash, kind],
  );
  const r = rows[0];
  return (
    r && {
      kind: r.kind,
      userId: r.user_id,
      data: r.data,
      attempts: r.attempts,
      expiresAt: r.expires_at,
      consumedAt: r.consumed_at,
      browserHash: r.browser_hash,
    }
  );
}

export async function countFlowAttempt(db: Queryable, idHash: Buffer): Promise<void> {
  await db.query('update auth_flows set attempts = attempts + 1 where id_hash = $1', [idHash]);
}

/** Consumes a flow once; false when it was consumed already (a replay). */
export async function consumeFlow(db: Queryable, idHash: Buffer): Promise<boolean> {
  const { rowCount } = await db.query('update auth_flows set consumed_at = now() where id_hash = $1 and consumed_at is null', [idHash]);
  return rowCount === 1;
}

export async function rememberSamlAssertion(db: Queryable, issuer: string, assertionId: string, expiresAt: Date): Promise<boolean> {
  await db.query('delete from saml_assertions where expires_at < now()');
  const { rowCount } = await db.query(
    'insert into saml_assertions (issuer, assertion_id, expires_at) values ($1, $2, $3) on conflict do nothing',
    [issuer, assertionId, expiresAt],
  );
  return rowCount === 1;
}
