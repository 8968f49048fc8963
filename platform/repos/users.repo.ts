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

/** Whether the owner of the account's mailbox has proved it (see migration 0013). */
export async function emailVerifiedAt(db: Queryable, userId: string): Promise<Date | null> {
  const { rows } = await db.query<{ email_verified_at: Date | null }>('select email_verified_at from users where id = $1', [userId]);
  return rows[0]?.email_verified_at ?? null;
}

/**
 * The owner of the mailbox claims the account for the first time: whatever someone else attached
 * before (a password, a TOTP secret and its recovery codes, sessions, external identities other
 * than `keepIdentity`) is removed, and the address is marked verified. Answers what was removed.
 */
export async function claimAccount(
  db: Queryable,
  userId: string,
  keepIdentity?: { provider: IdentityProvider; issuer: string; subject: string },
): Promise<{ password: boolean; totp: boolean; recoveryCodes: number; sessions: number; identities: number }> {
  const { rows } = await db.query<{ had_password: boolean; had_totp: boolean }>(
    `update users u set password_hash = null, password_changed_at = null, totp_secret = null, totp_confirmed_at = null,
            totp_last_step = null, email_verified_at = now()
       from (select id, password_hash is not null as had_password, totp_secret is not null as had_totp from users where id = $1 for update) old
      where u.id = old.id
      returning old.had_password, old.had_totp`,
    [userId],
  );
  const codes = await db.query('delete from recovery_codes where user_id = $1', [userId]);
  const sessions = await db.query('update sessions set revoked_at = now() where user_id = $1 and revoked_at is null', [userId]);
  const identities = keepIdentity
    ? await db.query('delete from user_identities where user_id = $1 and not (provider = $2 and issuer = $3 and subject = $4)', [
        userId,
        keepIdentity.provider,
        keepIdentity.issuer,
        keepIdentity.subject,
      ])
    : await db.query('delete from user_identities where user_id = $1', [userId]);
  return {
    password: rows[0]?.had_password ?? false,
    totp: rows[0]?.had_totp ?? false,
    recoveryCodes: codes.rowCount ?? 0,
    sessions: sessions.rowCount ?? 0,
    identities: identities.rowCount ?? 0,
  };
}

/** Marks the address verified (an account made by its mailbox owner, or claimed already). */
export async function markEmailVerified(db: Queryable, userId: string): Promise<void> {
  await db.query('update users set email_verified_at = coalesce(email_verified_at, now()) where id = $1', [userId]);
}

/**
 * The user an external identity with a *verified* email links to, if any: the user with that
 * email, claimed for the mailbox owner when nobody had proved it (then `revoked` says what someone
 * else had attached and is now gone), and linked to the identity.
 */
export async function linkByVerifiedEmail(
  db: Queryable,
  identity: { provider: IdentityProvider; issuer: string; subject: string; email: string },
): Promise<{ user: User; revoked?: Awaited<ReturnType<typeof claimAccount>> } | undefined> {
  const user = await findUserByEmail(db, identity.email);
  if (!user || user.disabledAt) return user && { user };
  const revoked = (await emailVerifiedAt(db, user.id)) ? undefined : await claimAccount(db, user.id, identity);
  await linkIdentity(db, { provider: identity.provider, issuer: identity.issuer, subject: identity.subject, userId: user.id });
  return { user, ...(revoked ? { revoked } : {}) };
}
