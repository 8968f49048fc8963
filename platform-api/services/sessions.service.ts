/**
 * Browser sessions after a completed login (password + MFA, OIDC, SAML): issue, list, revoke, log
 * out. Every revocation and logout is audited. Cookies are set here because a session and its cookie
 * are one thing; the routes only pass the request and the response.
 */
import type { Request, Response } from 'express';
import type { Pool } from 'pg';
import { ForbiddenError, NotFoundError } from '../../common/problem';
import { appendAudit } from '../../platform/repos/audit.repo';
import { listSessions, revokeSession, revokeSessionByHash, type LoginMethod } from '../../platform/repos/sessions.repo';
import type { AuthContext } from '../auth/auth-context';
import { clearSessionCookie, issueSession, readSessionCookie, sha256, type IssuedSession } from '../auth/sessions';

export interface SessionView {
  id: string;
  method: LoginMethod;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  current: boolean;
}

export function createSessionsService({ pool }: { pool: Pool }) {
  const userOf = (auth: AuthContext): string => {
    if (auth.kind === 'api_token') throw new ForbiddenError('sessions belong to users, not to API tokens');
    return auth.userId;
  };
  return {
    /** Starts a session for a user whose login just completed; a session the request carried is revoked first. */
    issue(req: Request, res: Response, userId: string, method: LoginMethod): Promise<IssuedSession> {
      return issueSession(pool, req, res, userId, method);
    },

    /** Ends the caller's current browser session server-side and clears its cookies. */
    async logout(auth: AuthContext, req: Request, res: Response): Promise<void> {
      if (auth.kind !== 'session') throw new ForbiddenError('only a browser session can log out');
      const cookie = readSessionCookie(req);
      if (cookie) await revokeSessionByHash(pool, sha256(cookie));
      await appendAudit(pool, {
        workspaceId: null,
        actor: auth.actor,
        action: 'auth.logout',
        target: `session:${auth.sessionId}`,
        outcome: 'success',
        ip: req.ip,
      });
      clearSessionCookie(res);
    },

    /** The caller's open sessions, the current one marked. */
    async list(auth: AuthContext): Promise<SessionView[]> {
      return (await listSessions(pool, userOf(auth))).map((s) => ({
        id: s.publicId,
        method: s.method,
        createdAt: s.createdAt.toISOString(),
        lastSeenAt: s.lastSeenAt.toISOString(),
        expiresAt: s.expiresAt.toISOString(),
        current: auth.kind === 'session' && auth.sessionId === s.publicId,
      }));
    },

    /** Revokes one of the caller's sessions (404 for a session of anyone else). */
    async revoke(auth: AuthContext, sessionId: string, ip: string | undefined): Promise<void> {
      if (!(await revokeSession(pool, userOf(auth), sessionId))) throw new NotFoundError('session');
      await appendAudit(pool, {
        workspaceId: null,
        actor: auth.actor,
        action: 'session.revoked',
        target: `session:${sessionId}`,
        outcome: 'success',
        ip,
      });
    },
  };
}

export type SessionsService = ReturnType<typeof createSessionsService>;
