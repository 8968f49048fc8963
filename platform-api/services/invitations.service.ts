/**
 * Invitations go to the mailbox, never to the inviter (issue 16). An owner adding a member makes a
 * pending invitation for the email; its one-use code is sent by mail to that address and nowhere
 * else, and the membership starts only when the code comes back (or when the signed-in user whose
 * address is verified accepts it). The answer to the owner is the same whether the address has an
 * account or not.
 *
 * Accepting with the code is also how an account is claimed: a new address chooses its password;
 * an account nobody has proved the mailbox of (made by `lookout admin bootstrap`, or from before
 * invitations went by mail) is claimed from its mailbox only, and whatever someone else attached
 * to it before (password, TOTP, recovery codes, sessions, external identities) is revoked then.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';
import { ConflictError, InputError, NotFoundError, UnavailableError, AuthenticationError } from '../../common/problem';
import { MailError, type Mailer } from '../../platform/mail';
import { ROLES, type Role } from '../../platform/permissions';
import { appendAudit, appendAuditInTransaction } from '../../platform/repos/audit.repo';
import { inTransaction, type Queryable } from '../../platform/repos/db';
import {
  insertInvitation,
  listOpenInvitations,
  listOpenInvitationsFor,
  lockOpenInvitation,
  lockOpenInvitationFor,
  markInvitationAccepted,
  revokeInvitation,
  type Invitation,
} from '../../platform/repos/invitations.repo';
import {
  claimAccount,
  createUser,
  emailVerifiedAt,
  findUserByEmail,
  getUser,
  markEmailVerified,
  setPassword,
} from '../../platform/repos/users.repo';
import { addMembership, getMembershipRole, getWorkspace } from '../../platform/repos/workspaces.repo';
import type { AuthContext, WorkspaceAccess } from '../auth/auth-context';
import { sha256 } from '../auth/sessions';
import { hashPassword, NewPassword } from './identity.service';

export const AddMemberBody = z.strictObject({ email: z.email().max(320), role: z.enum(ROLES) });
export const AcceptInvitationBody = z.strictObject({
  invitation: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'the invitation code from the mail'),
  /** Required when the invitation makes the account or claims it; refused when the account has one. */
  password: NewPassword.optional(),
});

const INVITATION_MS = 7 * 24 * 60 * 60 * 1000;

/** An invitation as the API shows it (never its code, which only the mail carries). */
export function invitationView(i: Invitation) {
  return {
    id: i.id,
    workspaceId: i.workspaceId,
    email: i.email,
    role: i.role,
    status: 'pending' as const,
    invitedBy: i.createdBy,
    createdAt: i.createdAt.toISOString(),
    expiresAt: i.expiresAt.toISOString(),
  };
}

/**
 * A claim code for the account of `user` (`lookout users invite`, the quick start's one-time login),
 * audited as `user.invited` in the same transaction. The code is answered once, to the operator.
 */
export async function issueClaimCode(
  pool: Pool,
  user: { id: string; email: string },
  actor: string,
): Promise<{ invitation: string; expiresAt: string }> {
  return inTransaction(pool, async (tx) => {
    const code = await createInvitationsService({ pool }).claimCode(tx, user.email, actor);
    await appendAuditInTransaction(tx, { workspaceId: null, actor, action: 'user.invited', target: `user:${user.id}`, outcome: 'success' });
    return code;
  });
}

export function createInvitationsService({
  pool,
  mailer,
  publicUrl,
}: {
  pool: Pool;
  mailer?: Mailer | undefined;
  publicUrl?: string | undefined;
}) {
  const base = (publicUrl ?? 'http://127.0.0.1:8080').replace(/\/$/, '');

  function invitationText(workspaceName: string, role: Role, code: string, expiresAt: Date): string {
    return [
      `You are invited to the Lookout workspace "${workspaceName}" as ${role}.`,
      '',
      'Your invitation code (it works once, until ' + expiresAt.toISOString() + '):',
      '',
      `    ${code}`,
      '',
      `Open ${base}/#/claim?code=${code} in a browser to accept it, or accept it at`,
      `${base}/v1/auth/invitations/accept, for example:`,
      '',
      `    curl -X POST ${base}/v1/auth/invitations/accept -H 'content-type: application/json' \\`,
      `      -d '{"invitation": "${code}", "password": "<a passphrase of 12 characters or more>"}'`,
      '',
      'Leave out the password if you already sign in to Lookout. Then sign in; a new account sets up',
      'its second factor at the first sign-in. If you did not expect this mail, ignore it.',
    ].join('\n');
  }

  /** Accepts `invitation` for `userId` inside `tx`: the membership (if any) starts, audited. */
  async function join(tx: PoolClient, invitation: Invitation, userId: string, ip: string | undefined) {
    if (invitation.workspaceId && invitation.role) {
      const current = await getMembershipRole(tx, invitation.workspaceId, userId);
      if (!current) await addMembership(tx, { workspaceId: invitation.workspaceId, userId, role: invitation.role });
      await appendAuditInTransaction(tx, {
        workspaceId: invitation.workspaceId,
        actor: `user:${userId}`,
        action: 'member.joined',
        target: `invitation:${invitation.id}`,
        outcome: 'success',
        details: { role: current ?? invitation.role, invitedBy: invitation.createdBy, ...(current ? { alreadyMember: true } : {}) },
        ip,
      });
    }
    await markInvitationAccepted(tx, invitation.id, userId);
  }

  return {
    /**
     * Invites `email` to the workspace: a pending invitation whose code only the mail to that
     * address carries. The answer is the same for an address with or without an account; inviting
     * again replaces the open invitation (and its code). A member already is a conflict (the owner
     * sees the member list anyway).
     */
    async invite(access: WorkspaceAccess, input: z.infer<typeof AddMemberBody>, ip: string | undefined) {
      if (!mailer) throw new UnavailableError('invitations are sent by mail: configure LOOKOUT_SMTP_URL (or use `lookout users invite`)');
      const code = randomBytes(32).toString('base64url');
      const id = randomUUID();
      const expiresAt = new Date(Date.now() + INVITATION_MS);
      const email = input.email.trim();
      return inTransaction(pool, async (tx) => {
        const ws = await getWorkspace(tx, access.workspaceId);
        if (!ws) throw new NotFoundError('workspace');
        const existing = await findUserByEmail(tx, email);
        if (existing && (await getMembershipRole(tx, access.workspaceId, existing.id))) throw new ConflictError('already a member');
        await insertInvitation(tx, {
          id,
          tokenHash: sha256(code),
          workspaceId: access.workspaceId,
          email,
          role: input.role,
          createdBy: access.actor,
          expiresAt,
        });
        await appendAuditInTransaction(tx, {
          workspaceId: access.workspaceId,
          actor: access.actor,
          action: 'member.invited',
          target: `invitation:${id}`,
          outcome: 'success',
          details: { role: input.role },
          ip,
        });
        // Sent before the commit: a mail that could not go out leaves no invitation behind.
        try {
          await mailer.send({
            to: email,
            subject: `Invitation to the Lookout workspace "${ws.name}"`,
            text: invitationText(ws.name, input.role, code, expiresAt),
          });
        } catch (err) {
          throw new UnavailableError(err instanceof MailError ? err.message : 'could not send the invitation mail');
        }
        return {
          id,
          workspaceId: access.workspaceId,
          email,
          role: input.role,
          status: 'pending' as const,
          expiresAt: expiresAt.toISOString(),
        };
      });
    },

    async list(access: WorkspaceAccess) {
      return (await listOpenInvitations(pool, access.workspaceId)).map(invitationView);
    },

    async revoke(access: WorkspaceAccess, id: string, ip: string | undefined) {
      await inTransaction(pool, async (tx) => {
        if (!(await revokeInvitation(tx, access.workspaceId, id))) throw new NotFoundError('invitation');
        await appendAuditInTransaction(tx, {
          workspaceId: access.workspaceId,
          actor: access.actor,
          action: 'member.invitation_revoked',
          target: `invitation:${id}`,
          outcome: 'success',
          ip,
        });
      });
    },

    /**
     * Accepts an invitation with the code from the mail. Makes the account (with `password`) when
     * the address has none; claims it (with `password`, revoking what someone else set before) when
     * nobody has proved its mailbox yet; otherwise only starts the membership.
     */
    async accept(input: z.infer<typeof AcceptInvitationBody>, ip: string | undefined) {
      const passwordHash = input.password === undefined ? undefined : await hashPassword(input.password);
      const outcome = await inTransaction(pool, async (tx) => {
        const invitation = await lockOpenInvitation(tx, sha256(input.invitation));
        if (!invitation)
          return { error: new InputError('the invitation is unknown, used, revoked or expired'), reason: 'invalid_invitation' } as const;
        const choose = new InputError('choose a password (12 characters or more): this invitation sets up your account', [
          { path: 'password', message: 'required' },
        ]);
        let user = await findUserByEmail(tx, invitation.email);
        if (user?.disabledAt) return { error: new AuthenticationError('the account is disabled'), reason: 'user_disabled' } as const;
        if (!user) {
          if (!passwordHash) return { error: choose, reason: 'password_required' } as const;
          const userId = randomUUID();
          await createUser(tx, { id: userId, email: invitation.email });
          await setPassword(tx, userId, passwordHash);
          await markEmailVerified(tx, userId);
          await appendAuditInTransaction(tx, {
            workspaceId: null,
            actor: `user:${userId}`,
            action: 'user.created',
            outcome: 'success',
            details: { via: 'invitation', invitation: invitation.id },
            ip,
          });
          user = (await getUser(tx, userId))!;
        } else if (!(await emailVerifiedAt(tx, user.id))) {
          if (!passwordHash) return { error: choose, reason: 'password_required' } as const;
          const revoked = await claimAccount(tx, user.id);
          await setPassword(tx, user.id, passwordHash);
          await appendAuditInTransaction(tx, {
            workspaceId: null,
            actor: `user:${user.id}`,
            action: 'user.claimed',
            outcome: 'success',
            details: { via: 'invitation', invitation: invitation.id, revoked },
            ip,
          });
        } else if (passwordHash) {
          return {
            error: new InputError('this account has a password already: accept without one, then sign in', [
              { path: 'password', message: 'not allowed for an existing account' },
            ]),
            reason: 'password_not_allowed',
          } as const;
        }
        await join(tx, invitation, user.id, ip);
        return { accepted: { email: user.email, workspaceId: invitation.workspaceId, role: invitation.role } } as const;
      });
      if ('error' in outcome) {
        await appendAudit(pool, {
          workspaceId: null,
          actor: 'anonymous',
          action: 'invitation.accept',
          outcome: 'failure',
          details: { reason: outcome.reason },
          ip,
        });
        throw outcome.error;
      }
      return outcome.accepted;
    },

    /** The open invitations for the signed-in user's address, once that address is verified. */
    async mine(auth: AuthContext) {
      if (auth.kind === 'api_token') return [];
      const user = await getUser(pool, auth.userId);
      if (!user || !(await emailVerifiedAt(pool, user.id))) return [];
      return (await listOpenInvitationsFor(pool, user.email)).map(invitationView);
    },

    /** The signed-in user with a verified address accepts an invitation to it. */
    async acceptMine(auth: AuthContext, id: string, ip: string | undefined) {
      if (auth.kind === 'api_token') throw new NotFoundError('invitation');
      return inTransaction(pool, async (tx) => {
        const user = await getUser(tx, auth.userId);
        if (!user || !(await emailVerifiedAt(tx, user.id))) throw new NotFoundError('invitation');
        const invitation = await lockOpenInvitationFor(tx, id, user.email);
        if (!invitation) throw new NotFoundError('invitation');
        await join(tx, invitation, user.id, ip);
        return { email: user.email, workspaceId: invitation.workspaceId, role: invitation.role };
      });
    },

    /**
     * An operator's claim code for an account (`lookout users invite`): answered to the operator,
     * who holds the database and the master key already. Accepting it claims the account.
     */
    async claimCode(db: Queryable, email: string, createdBy: string): Promise<{ invitation: string; expiresAt: string }> {
      const code = randomBytes(32).toString('base64url');
      const expiresAt = new Date(Date.now() + INVITATION_MS);
      await insertInvitation(db, { id: randomUUID(), tokenHash: sha256(code), workspaceId: null, email, role: null, createdBy, expiresAt });
      return { invitation: code, expiresAt: expiresAt.toISOString() };
    },
  };
}

export type InvitationsService = ReturnType<typeof createInvitationsService>;
