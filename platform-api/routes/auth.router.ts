import { z } from 'zod';
import { MfaBody, PasswordLoginBody, type IdentityService } from '../services/identity.service';
import type { SessionsService } from '../services/sessions.service';
import { defineRoute, type RouteDef } from './route';
import { readCookie, setFlowCookie } from '../auth/sessions';

/** Binds the MFA step to the browser that passed the password step. */
export const MFA_COOKIE = '__Host-lookout_mfa';
const MFA_FLOW_SECONDS = 5 * 60;

const SessionParams = z.strictObject({ id: z.uuid() });

/** Password + MFA logins and sessions (invitations: invitations.router.ts). External logins (OIDC, SAML) are in sso.router.ts. */
export function authRoutes({
  identity,
  sessions,
  methods,
}: {
  identity: IdentityService;
  sessions: SessionsService;
  /** Which external logins are configured (the console offers only those). */
  methods: { oidc: boolean; saml: boolean };
}): RouteDef[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/auth/methods',
      tag: 'auth',
      summary: 'How one can sign in here: password + MFA always; OpenID Connect and SAML when configured',
      access: 'public',
      success: { status: 200, description: 'the sign-in methods' },
      async handle({ res }) {
        res.json({ password: true, oidc: methods.oidc, saml: methods.saml });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/auth/password',
      tag: 'auth',
      summary: 'First factor: email and password (answers an MFA challenge, never a session)',
      access: 'public',
      body: PasswordLoginBody,
      success: { status: 200, description: 'an MFA challenge; with a TOTP secret to enroll at the first login' },
      async handle({ req, res, body }) {
        const { answer, browser } = await identity.passwordLogin(body, req.ip);
        // The MFA step must come with this cookie: another site's form cannot carry it (login CSRF).
        setFlowCookie(res, MFA_COOKIE, browser, 'strict', MFA_FLOW_SECONDS);
        res.setHeader('Cache-Control', 'no-store').json(answer);
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
        const login = await identity.completeMfa(body, readCookie(req, MFA_COOKIE), req.ip);
        setFlowCookie(res, MFA_COOKIE, '', 'strict', 0);
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
