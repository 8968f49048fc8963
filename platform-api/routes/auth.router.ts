import { z } from 'zod';
import { AcceptInvitationBody, MfaBody, PasswordLoginBody, type IdentityService } from '../services/identity.service';
import type { SessionsService } from '../services/sessions.service';
import { defineRoute, type RouteDef } from './route';

const SessionParams = z.strictObject({ id: z.uuid() });

/** Password + MFA logins, invitations and sessions. External logins (OIDC, SAML) are in sso.router.ts. */
export function authRoutes({ identity, sessions }: { identity: IdentityService; sessions: SessionsService }): RouteDef[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/auth/password',
      tag: 'auth',
      summary: 'First factor: email and password (answers an MFA challenge, never a session)',
      access: 'public',
      body: PasswordLoginBody,
      success: { status: 200, description: 'an MFA challenge; with a TOTP secret to enroll at the first login' },
      async handle({ req, res, body }) {
        res.setHeader('Cache-Control', 'no-store').json(await identity.passwordLogin(body, req.ip));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/auth/mfa',
      tag: 'auth',
      summary: 'Second factor: a TOTP code or a recovery code; starts a session',
      access: 'public',
      body: MfaBody,
      success: { status: 200, description: 'the session (cookie) and its CSRF token; recovery codes once, at enrolment' },
      async handle({ req, res, body }) {
        const login = await identity.completeMfa(body, req.ip);
        const session = await sessions.issue(req, res, login.userId, login.method);
        res.json({
          userId: login.userId,
          session: { id: session.publicId, expiresAt: session.expiresAt.toISOString() },
          csrfToken: session.csrfToken,
          ...(login.recoveryCodes ? { recoveryCodes: login.recoveryCodes } : {}),
        });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/auth/invitations/accept',
      tag: 'auth',
      summary: 'Set the password of an invited account',
      access: 'public',
      body: AcceptInvitationBody,
      success: { status: 200, description: 'the account email; log in next (MFA enrolment follows)' },
      async handle({ req, res, body }) {
        res.json(await identity.acceptInvitation(body, req.ip));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/auth/logout',
      tag: 'auth',
      summary: 'End the current browser session (server-side)',
      access: 'authenticated',
      success: { status: 204, description: 'logged out' },
      async handle({ req, res, auth }) {
        await sessions.logout(auth, req, res);
        res.status(204).end();
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/auth/sessions',
      tag: 'auth',
      summary: "The caller's open sessions",
      access: 'authenticated',
      success: { status: 200, description: 'sessions' },
      async handle({ res, auth }) {
        res.json({ items: await sessions.list(auth) });
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/auth/sessions/:id',
      tag: 'auth',
      summary: 'Revoke one of the caller sessions',
      access: 'authenticated',
      params: SessionParams,
      success: { status: 204, description: 'revoked' },
      async handle({ req, res, auth, params }) {
        await sessions.revoke(auth, params.id, req.ip);
        res.status(204).end();
      },
    }),
  ];
}
