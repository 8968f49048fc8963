import type { Queryable } from './db';

export interface User {
  id: string;
  email: string;
  displayName: string | null;
  disabledAt: Date | null;
}

/** What password login needs; the wrapped TOTP secret is unwrapped only by the MFA code. */
export interface UserCredentials extends User {
  passwordHash: string | null;
  totpSecret: Buffer | null;
  totpConfirmedAt: Date | null;
  totpLastStep: number | null;
  failedLogins: number;
  lockedUntil: Date | null;
}

type Row = { id: string; email: string; display_name: string | null; disabled_at: Date | null };
const toUser = (r: Row): User => ({ id: r.id, email: r.email, displayName: r.display_name, disabledAt: r.disabled_at });

export async function createUser(db: Queryable, u: { id: string; email: string; displayName?: string | undefined }): Promise<void> {
  await db.query('insert into users (id, email, display_name) values ($1, $2, $3)', [u.id, u.email, u.displayName ?? null]);
}

export async function getUser(db: Queryable, id: string): Promise<User | undefined> {
  const { rows } = await db.query<Row>('select id, email, display_name, disabled_at from users where id = $1', [id]);
  return rows[0] && toUser(rows[0]);
}

export async function findUserByEmail(db: Queryable, email: string): Promise<User | undefined> {
  const { rows } = await db.query<Row>('select id, email, display_name, disabled_at from users where lower(email) = lower($1)', [email]);
  return rows[0] && toUser(rows[0]);
}

export async function getCredentials(db: Queryable, userId: string): Promise<UserCredentials | undefined> {
  const { rows } = await db.query<
    Row & {
      password_hash: string | null;
      totp_secret: Buffer | null;
      totp_confirmed_at: Date | null;
      totp_last_step: string | null;
      failed_logins: number;
      locked_until: Date | null;
    }
  >(
    `select id, email, display_name, disabled_at, password_hash, totp_secret, totp_confirmed_at, totp_last_step, failed_logins, locked_until
       from users where id = $1`,
    [userId],
  );
  const r = rows[0];
  return (
    r && {
      ...toUser(r),
      passwordHash: r.password_hash,
      totpSecret: r.totp_secret,
      totpConfirmedAt: r.totp_confirmed_at,
      totpLastStep: r.totp_last_step === null ? null : Number(r.totp_last_step),
      failedLogins: r.failed_logins,
      lockedUntil: r.locked_until,
    }
  );
}

export async function setPassword(db: Queryable, userId: string, passwordHash: string): Promise<void> {
  await db.query('update users set password_hash = $2, password_changed_at = now(), failed_logins = 0, locked_until = null where id = $1', [
    userId,
    passwordHash,
  ]);
}

/** Stores a new, unconfirmed TOTP secret (wrapped); confirmation happens with the first valid code. */
export async function setPendingTotp(db: Queryable, userId: string, wrappedSecret: Buffer): Promise<void> {
  await db.query('update users set totp_secret = $2, totp_confirmed_at = null, totp_last_step = null where id = $1', [
    userId,
    wrappedSecret,
  ]);
}

/**
 * Accepts a TOTP time step once: succeeds only when `step` is newer than the last one accepted, so
 * that a code seen by someone else cannot be used again. Confirms enrollment on first use.
 */
export async function acceptTotpStep(db: Queryable, userId: string, step: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `update users set totp_last_step = $2, totp_confirmed_at = coalesce(totp_confirmed_at, now())
      where id = $1 and (totp_last_step is null or totp_last_step < $2)`,
    [userId, step],
  );
  return rowCount === 1;
}

export async function replaceRecoveryCodes(db: Queryable, userId: string, hashes: Buffer[]): Promise<void> {
  await db.query('delete from recovery_codes where user_id = $1', [userId]);
  for (const h of hashes) await db.query('insert into recovery_codes (user_id, code_hash) values ($1, $2)', [userId, h]);
}

/** Uses a recovery code once; false when unknown or already used. */
export async function useRecoveryCode(db: Queryable, userId: string, hash: Buffer): Promise<boolean> {
  const { rowCount } = await db.query(
    'update recovery_codes set used_at = now() where user_id = $1 and code_hash = $2 and used_at is null',
    [userId, hash],
  );
  return rowCount === 1;
}

export async function countUnusedRecoveryCodes(db: Queryable, userId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>('select count(*)::int as n from recovery_codes where user_id = $1 and used_at is null', [
    userId,
  ]);
  return rows[0]?.n ?? 0;
}

export type IdentityProvider = 'oidc' | 'saml';

export async function findUserByIdentity(
  db: Queryable,
  provider: IdentityProvider,
  issuer: string,
  subject: string,
): Promise<User | undefined> {
  const { rows } = await db.query<Row>(
    `select u.id, u.email, u.display_name, u.disabled_at from user_identities i join users u on u.id = i.user_id
      where i.provider = $1 and i.issuer = $2 and i.subject = $3`,
    [provider, issuer, subject],
  );
  return rows[0] && toUser(rows[0]);
}

export async function linkIdentity(
  db: Queryable,
  i: { provider: IdentityProvider; issuer: string; subject: string; userId: string },
): Promise<void> {
  await db.query(
    `insert into user_identities (provider, issuer, subject, user_id, last_login_at) values ($1, $2, $3, $4, now())
     on conflict (provider, issuer, subject) do update set last_login_at = now()`,
    [i.provider, i.issuer, i.subject, i.userId],
  );
}

export async function listIdentities(
  db: Queryable,
  userId: string,
): Promise<{ provider: IdentityProvider; issuer: string; subject: string; createdAt: Date }[]> {
  const { rows } = await db.query<{ provider: IdentityProvider; issuer: string; subject: string; created_at: Date }>(
    'select provider, issuer, subject, created_at from user_identities where user_id = $1 order by created_at',
    [userId],
  );
  return rows.map((r) => ({ provider: r.provider, issuer: r.issuer, subject: r.subject, createdAt: r.created_at }));
}
