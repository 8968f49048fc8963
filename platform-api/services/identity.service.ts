/**
 * Logins: username and password with mandatory TOTP (enrolled at the first login, before any access),
 * recovery codes, and the users behind OIDC and SAML logins (invitations: invitations.service.ts). Every attempt, good or bad, is audited; failed password and MFA attempts count
 * towards a per-account lockout (per-address limits sit in front of these routes).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { sameHash, sha256 } from '../auth/sessions';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { generateSecret, generateURI, verify as verifyTotp } from 'otplib';
import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';
import { MASTER_LABELS, type MasterKey } from '../../platform/crypto/master-key';
import { ApiError, AuthenticationError } from '../../common/problem';
import { appendAudit, appendAuditInTransaction } from '../../platform/repos/audit.repo';
import { countFlowAttempt, consumeFlow, insertFlow, lockFlow } from '../../platform/repos/auth-flows.repo';
import { inTransaction, type Queryable } from '../../platform/repos/db';
import { clearThrottle, recordThrottledFailure, throttleWaitMs } from '../../platform/repos/auth-throttle.repo';
import type { LoginMethod } from '../../platform/repos/sessions.repo';
import {
  acceptTotpStep,
  countUnusedRecoveryCodes,
  createUser,
  findUserByEmail,
  findUserByIdentity,
  getCredentials,
  linkByVerifiedEmail,
  linkIdentity,
  markEmailVerified,
  replaceRecoveryCodes,
  setPendingTotp,
  useRecoveryCode,
  type IdentityProvider,
  type User,
} from '../../platform/repos/users.repo';

export const PasswordLoginBody = z.strictObject({ email: z.email().max(320), password: z.string().min(1).max(1024) });
export const MfaBody = z
  .strictObject({
    challenge: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'the challenge from the login answer'),
    code: z
      .string()
      .regex(/^\d{6}$/, 'six digits')
      .optional(),
    recoveryCode: z
      .string()
      .regex(/^[a-z0-9]{5}-[a-z0-9]{5}$/, 'a recovery code as shown, e.g. abcde-12345')
      .optional(),
  })
  .refine((b) => (b.code === undefined) !== (b.recoveryCode === undefined), { message: 'give exactly one of code and recoveryCode' });
/** NIST SP 800-63B: at least 12 characters, no composition rules, long passphrases welcome. */
export const NewPassword = z.string().min(12, 'at least 12 characters').max(256);
/** Argon2id with the OWASP 2024 parameters (19 MiB, 2 passes, 1 lane). */
const ARGON2 = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
/**
 * Failed logins slow the next attempt instead of locking: per account after 3 failures in a row,
 * 1 s, 2 s, 4 s … at most a minute; per client address after 30 (offices share addresses). Anyone can still make a victim
 * wait up to a minute, never lock them out; a guesser gets about one try a minute, against argon2id
 * and a mandatory second factor. An email without an account is slowed alike, so no answer tells
 * which emails have accounts.
 */
export interface LoginDelays {
  account: { free: number; baseMs: number; capMs: number; forgetMs: number };
  address: { free: number; baseMs: number; capMs: number; forgetMs: number };
}
export const LOGIN_DELAYS: LoginDelays = {
  account: { free: 3, baseMs: 1_000, capMs: 60_000, forgetMs: 3_600_000 },
  address: { free: 30, baseMs: 1_000, capMs: 60_000, forgetMs: 3_600_000 },
};
const accountKey = (email: string) => `account:${sha256(email.trim().toLowerCase()).toString('hex')}`;
const throttleKeys = (email: string, ip: string | undefined) => [accountKey(email), ...(ip ? [`address:${ip}`] : [])];
const MFA_FLOW_MS = 5 * 60 * 1000;
const MFA_FLOW_ATTEMPTS = 5;
const RECOVERY_CODES = 10;
const TOTP_ISSUER = 'Lookout';

/** An argon2id hash of a new password. */
export function hashPassword(password: string): Promise<string> {
  return argon2Hash(password, ARGON2);
}

// Verified against when the account does not exist, so that the answer takes as long either way.
const DUMMY_HASH = argon2Hash('lookout-dummy-password', ARGON2);

export class ThrottledError extends ApiError {
  constructor(waitMs: number) {
    super(429, 'Too Many Requests', 'too many failed attempts; wait before trying again', {
      retryAfter: Math.max(1, Math.ceil(waitMs / 1000)),
    });
  }
}

export type PasswordLoginAnswer =
  | { mfa: 'enroll'; challenge: string; otpauthUri: string; secret: string; expiresAt: string }
  | { mfa: 'verify'; challenge: string; expiresAt: string };

export interface CompletedLogin {
  userId: string;
  method: LoginMethod;
  /** Shown once, when MFA is first enrolled. */
  recoveryCodes?: string[];
}

function newRecoveryCodes(): string[] {
  const alphabet = 'abcdefghijkmnopqrstuvwxyz0123456789';
  return Array.from({ length: RECOVERY_CODES }, () => {
    const bytes = randomBytes(10);
    const chars = Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
    return `${chars.slice(0, 5)}-${chars.slice(5)}`;
  });
}

export function createIdentityService({ pool, master, delays = LOGIN_DELAYS }: { pool: Pool; master: MasterKey; delays?: LoginDelays }) {
  const totpLabel = MASTER_LABELS.userTotp;
  const audit = (e: {
    actor: string;
    action: string;
    outcome: 'success' | 'failure' | 'denied';
    details?: Record<string, unknown>;
    ip?: string | undefined;
  }) => appendAudit(pool, { workspaceId: null, ...e });

  /** Counts a failure against the account's and the address's delays. */
  async function slowDown(db: Queryable, email: string, ip: string | undefined): Promise<void> {
    const [account, address] = throttleKeys(email, ip);
    await recordThrottledFailure(db, account!, delays.account);
    if (address) await recordThrottledFailure(db, address, delays.address);
  }

  async function failAttempt(tx: PoolClient, userId: string, email: string, action: string, reason: string, ip: string | undefined) {
    await slowDown(tx, email, ip);
    await appendAuditInTransaction(tx, { workspaceId: null, actor: `user:${userId}`, action, outcome: 'failure', details: { reason }, ip });
  }

  return {
    /**
     * First factor. A right password answers an MFA challenge (enrolment on the first login), never
     * a session. A wrong one, an unknown account and an account without a password all answer the
     * same 401, and count alike towards the delays; an attempt before its delay is over answers 429.
     */
    async passwordLogin(
      input: z.infer<typeof PasswordLoginBody>,
      ip: string | undefined,
    ): Promise<{ answer: PasswordLoginAnswer; browser: string }> {
      const wait = await throttleWaitMs(pool, throttleKeys(input.email, ip));
      if (wait > 0) {
        await audit({ actor: 'anonymous', action: 'auth.password', outcome: 'failure', details: { reason: 'throttled' }, ip });
        throw new ThrottledError(wait);
      }
      const user = await findUserByEmail(pool, input.email);
      const creds = user && (await getCredentials(pool, user.id));
      if (!creds || !creds.passwordHash || creds.disabledAt) {
        await argon2Verify(await DUMMY_HASH, input.password).catch(() => false);
        await audit({
          actor: 'anonymous',
          action: 'auth.password',
          outcome: 'failure',
          details: { reason: creds ? 'no_password' : 'unknown_user' },
          ip,
        });
        await slowDown(pool, input.email, ip);
        throw new AuthenticationError('wrong email or password');
      }
      if (!(await argon2Verify(creds.passwordHash, input.password).catch(() => false))) {
        await inTransaction(pool, (tx) => failAttempt(tx, creds.id, input.email, 'auth.password', 'wrong_password', ip));
        throw new AuthenticationError('wrong email or password');
      }
      const challenge = randomBytes(32).toString('base64url');
      // The MFA step must come from the browser that passed this one (its pre-auth cookie).
      const browser = randomBytes(32).toString('base64url');
      const expiresAt = new Date(Date.now() + MFA_FLOW_MS);
      const answer = await inTransaction(pool, async (tx): Promise<PasswordLoginAnswer> => {
        await insertFlow(tx, {
          idHash: sha256(challenge),
          kind: 'mfa',
          userId: creds.id,
          data: null,
          expiresAt,
          browserHash: sha256(browser),
        });
        await appendAuditInTransaction(tx, {
          workspaceId: null,
          actor: `user:${creds.id}`,
          action: 'auth.password',
          outcome: 'success',
          details: { next: creds.totpConfirmedAt ? 'mfa' : 'mfa_enroll' },
          ip,
        });
        if (creds.totpConfirmedAt) return { mfa: 'verify' as const, challenge, expiresAt: expiresAt.toISOString() };
        // Not enrolled yet: a fresh secret each time until the first code confirms one.
        const secret = generateSecret({ length: 20 });
        await setPendingTotp(tx, creds.id, master.wrap(Buffer.from(secret, 'utf8'), totpLabel(creds.id)));
        const otpauthUri = generateURI({ issuer: TOTP_ISSUER, label: creds.email, secret });
        return { mfa: 'enroll' as const, challenge, otpauthUri, secret, expiresAt: expiresAt.toISOString() };
      });
      return { answer, browser };
    },

    /**
     * Second factor: a TOTP code (each time step accepted once) or an unused recovery code. The
     * first code after enrolment confirms it and answers the recovery codes, once. The challenge is
     * consumed on success and dies after a few wrong codes or five minutes.
     */
    async completeMfa(input: z.infer<typeof MfaBody>, browser: string | undefined, ip: string | undefined): Promise<CompletedLogin> {
      const idHash = sha256(input.challenge);
      const outcome = await inTransaction(pool, async (tx) => {
        const flow = await lockFlow(tx, idHash, 'mfa');
        const otherBrowser = Boolean(flow?.browserHash) && !(browser && sameHash(sha256(browser), flow!.browserHash!));
        if (
          !flow ||
          !flow.userId ||
          flow.consumedAt ||
          flow.expiresAt.getTime() <= Date.now() ||
          flow.attempts >= MFA_FLOW_ATTEMPTS ||
          otherBrowser
        ) {
          await appendAuditInTransaction(tx, {
            workspaceId: null,
            actor: flow?.userId ? `user:${flow.userId}` : 'anonymous',
            action: 'auth.mfa',
            outcome: 'failure',
            details: {
              reason: !flow
                ? 'unknown_challenge'
                : flow.consumedAt
                  ? 'challenge_used'
                  : otherBrowser
                    ? 'other_browser'
                    : 'challenge_expired',
            },
            ip,
          });
          return { error: new AuthenticationError('the login has expired; start again') } as const;
        }
        const userId = flow.userId;
        const creds = await getCredentials(tx, userId);
        if (!creds?.totpSecret || creds.disabledAt)
          return { error: new AuthenticationError('the login has expired; start again') } as const;
        const wait = await throttleWaitMs(tx, throttleKeys(creds.email, ip));
        if (wait > 0) return { error: new ThrottledError(wait) } as const;
        const enrolling = creds.totpConfirmedAt === null;
        let ok = false;
        let usedRecovery = false;
        if (input.code) {
          const secret = master.unwrap(creds.totpSecret, totpLabel(userId)).toString('utf8');
          const result = await verifyTotp({
            secret,
            token: input.code,
            epochTolerance: 30,
            ...(creds.totpLastStep === null ? {} : { afterTimeStep: creds.totpLastStep }),
          });
          ok = result.valid && 'timeStep' in result && (await acceptTotpStep(tx, userId, result.timeStep));
        } else if (input.recoveryCode && !enrolling) {
          ok = await useRecoveryCode(tx, userId, sha256(input.recoveryCode));
          usedRecovery = ok;
        }
        if (!ok) {
          await countFlowAttempt(tx, idHash);
          await failAttempt(tx, userId, creds.email, 'auth.mfa', input.code ? 'wrong_code' : 'wrong_recovery_code', ip);
          return { error: new AuthenticationError('wrong code') } as const;
        }
        await consumeFlow(tx, idHash);
        await clearThrottle(tx, accountKey(creds.email));
        let recoveryCodes: string[] | undefined;
        if (enrolling) {
          recoveryCodes = newRecoveryCodes();
          await replaceRecoveryCodes(tx, userId, recoveryCodes.map(sha256));
          await appendAuditInTransaction(tx, {
            workspaceId: null,
            actor: `user:${userId}`,
            action: 'mfa.enrolled',
            outcome: 'success',
            ip,
          });
        }
        await appendAuditInTransaction(tx, {
          workspaceId: null,
          actor: `user:${userId}`,
          action: 'auth.login',
          outcome: 'success',
          details: {
            method: 'password',
            factor: usedRecovery ? 'recovery_code' : 'totp',
            ...(usedRecovery ? { recoveryCodesLeft: await countUnusedRecoveryCodes(tx, userId) } : {}),
          },
          ip,
        });
        return { login: { userId, method: 'password' as const, ...(recoveryCodes ? { recoveryCodes } : {}) } } as const;
      });
      if ('error' in outcome) throw outcome.error;
      return outcome.login;
    },

    /**
     * The user behind an external login: the one linked to (provider, issuer, subject); else, when
     * the provider verified the email, the user with that email (linked, and claimed for the
     * mailbox owner if nobody had proved the mailbox: what someone else attached is revoked); else
     * a new user. An unverified email never links to an existing account. Memberships come from
     * invitations.
     */
    async externalUser(
      provider: IdentityProvider,
      identity: {
        issuer: string;
        subject: string;
        email?: string | undefined;
        emailVerified?: boolean | undefined;
        name?: string | undefined;
      },
      ip: string | undefined,
    ): Promise<User> {
      return inTransaction(pool, async (tx) => {
        const key = { provider, issuer: identity.issuer, subject: identity.subject };
        let user = await findUserByIdentity(tx, provider, identity.issuer, identity.subject);
        if (!user && identity.email && identity.emailVerified) {
          const linked = await linkByVerifiedEmail(tx, { ...key, email: identity.email });
          user = linked?.user;
          if (linked?.revoked)
            await appendAuditInTransaction(tx, {
              workspaceId: null,
              actor: `user:${linked.user.id}`,
              action: 'user.claimed',
              outcome: 'success',
              details: { via: provider, issuer: identity.issuer, revoked: linked.revoked },
              ip,
            });
        }
        if (!user) {
          if (!identity.email) throw new AuthenticationError('the identity provider gave no email address');
          if (await findUserByEmail(tx, identity.email))
            throw new AuthenticationError('an account with this email exists; the provider must verify the email to link it');
          const id = randomUUID();
          await createUser(tx, { id, email: identity.email, displayName: identity.name });
          if (identity.emailVerified) await markEmailVerified(tx, id);
          await appendAuditInTransaction(tx, {
            workspaceId: null,
            actor: `user:${id}`,
            action: 'user.created',
            outcome: 'success',
            details: { via: provider, emailVerified: Boolean(identity.emailVerified) },
            ip,
          });
          user = { id, email: identity.email, displayName: identity.name ?? null, disabledAt: null };
        }
        if (user.disabledAt) throw new AuthenticationError('the account is disabled');
        await linkIdentity(tx, { ...key, userId: user.id });
        await appendAuditInTransaction(tx, {
          workspaceId: null,
          actor: `user:${user.id}`,
          action: 'auth.login',
          outcome: 'success',
          details: { method: provider, issuer: identity.issuer },
          ip,
        });
        return user;
      });
    },
  };
}

export type IdentityService = ReturnType<typeof createIdentityService>;
