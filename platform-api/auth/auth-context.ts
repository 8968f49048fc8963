/**
 * Authentication ends in one `AuthContext`, whatever the credential. Routes read only this.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Pool } from 'pg';
import { appendAudit } from '../repos/audit.repo';
import { findTokenByHash, touchToken } from '../repos/tokens.repo';
import { AuthenticationError, ForbiddenError, NotFoundError } from '../errors';
import { hashApiToken, looksLikeApiToken } from './api-tokens';
import { roleAllows, type Permission, type Role } from './permissions';

export interface AuthContext {
  kind: 'api_token';
  /** `token:<id>`: what the audit log records as the actor. */
  actor: string;
  tokenId: string;
  /** The one workspace the credential is bound to, with the role it holds there. */
  workspaceId: string;
  role: Role;
}

declare module 'express-serve-static-core' {
  interface Request {
    auth?: AuthContext;
  }
}

/** The authenticated context of a request that passed {@link authenticate}. */
export function authOf(req: Request): AuthContext {
  if (!req.auth) throw new AuthenticationError();
  return req.auth;
}

/** Accepts `Authorization: Bearer lk_…`; anything else answers 401, audited. */
export function authenticate(pool: Pool): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    void (async () => {
      const header = req.get('authorization');
      const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
      const credential = match?.[1];
      if (!credential) throw new AuthenticationError('missing bearer token');
      const fail = async (reason: string, tokenId?: string, workspaceId: string | null = null) => {
        await appendAudit(pool, {
          workspaceId,
          actor: tokenId ? `token:${tokenId}` : 'anonymous',
          action: 'auth.token',
          outcome: 'failure',
          details: { reason },
          ip: req.ip,
        });
        return new AuthenticationError('invalid or expired token');
      };
      if (!looksLikeApiToken(credential)) throw await fail('malformed');
      const token = await findTokenByHash(pool, hashApiToken(credential));
      if (!token) throw await fail('unknown');
      if (token.revokedAt) throw await fail('revoked', token.id, token.workspaceId);
      if (token.expiresAt && token.expiresAt.getTime() <= Date.now()) throw await fail('expired', token.id, token.workspaceId);
      await touchToken(pool, token.id);
      req.auth = { kind: 'api_token', actor: `token:${token.id}`, tokenId: token.id, workspaceId: token.workspaceId, role: token.role };
    })().then(() => next(), next);
  };
}

/**
 * Checks that the caller may do `permission` in the workspace the route names (`:ws`) or, for routes
 * without one, in its own workspace. Another workspace answers 404, never 403, so that its existence
 * does not leak; a missing permission answers 403 and is audited.
 */
export function requirePermission(pool: Pool, permission: Permission): RequestHandler {
  return (req, _res, next) => {
    void (async () => {
      const auth = authOf(req);
      const ws = req.params['ws'];
      if (ws !== undefined && ws !== auth.workspaceId) throw new NotFoundError('workspace');
      if (!roleAllows(auth.role, permission)) {
        await appendAudit(pool, {
          workspaceId: auth.workspaceId,
          actor: auth.actor,
          action: 'authz.denied',
          target: permission,
          outcome: 'denied',
          details: { method: req.method, route: req.route ? String(req.baseUrl + (req.route as { path: string }).path) : req.path },
          ip: req.ip,
        });
        throw new ForbiddenError(`role ${auth.role} lacks ${permission}`);
      }
    })().then(() => next(), next);
  };
}
