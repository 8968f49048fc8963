/**
 * Authentication ends in one `AuthContext`, whatever the credential: an API token, a browser
 * session (password + MFA, OIDC or SAML login) or an OIDC bearer JWT. Authorization then turns it
 * into a `WorkspaceAccess` for the one workspace a route acts in. Routes and services read only these.
 */
import type { Request } from 'express';
import type { Pool } from 'pg';
import { appendAudit, type AuditBatcher } from '../../platform/repos/audit.repo';
import { findTokenByHash, type ApiTokenForAuth } from '../../platform/repos/tokens.repo';
import type { FeedCache } from '../cache';
import type { TokenUseRecorder } from './token-uses';
import { findSession, touchSession, type LoginMethod } from '../../platform/repos/sessions.repo';
import { findUserByIdentity, getUser, linkByVerifiedEmail } from '../../platform/repos/users.repo';
import { inTransaction } from '../../platform/repos/db';
import { getMembershipRole } from '../../platform/repos/workspaces.repo';
import { AuthenticationError, ForbiddenError, NotFoundError } from '../../common/problem';
import { hashApiToken, looksLikeApiToken } from './api-tokens';
import { minRole, roleAllows, type Permission, type Role } from '../../platform/permissions';
import { CSRF_HEADER, SESSION_IDLE_MS, readSessionCookie, sameHash, sha256 } from './sessions';

export type AuthContext =
  | {
      kind: 'api_token';
      /** `token:<id>`: what the audit log records as the actor. */
      actor: string;
      tokenId: string;
      /** The user who made the token, when a user did. */
      userId: string | null;
      /** The one workspace the token is bound to, and its role there (never above its creator's). */
      workspaceId: string;
      role: Role;
    }
  | { kind: 'session'; actor: string; userId: string; sessionId: string; method: LoginMethod }
  | { kind: 'oidc_bearer'; actor: string; userId: string };

/** What a request may do in one workspace, after authorization. Services take this. */
export interface WorkspaceAccess {
  workspaceId: string;
  role: Role;
  /** The audit actor: `token:<id>` or `user:<id>`. */
  actor: string;
  principal: AuthContext;
}

/** The parts of an OIDC login that verify bearer JWTs (see oidc.ts). */
export interface BearerVerifier {
  verifyBearer(jwt: string): Promise<{ issuer: string; subject: string; email?: string | undefined; emailVerified?: boolean | undefined }>;
}

/** What authentication and authorization need of the route a request is for: its method and path, for the audit log. */
export interface RouteRef {
  method: string;
  path: string;
}

export type Authenticator = (req: Request, route: RouteRef) => Promise<AuthContext>;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const JWT_PATTERN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Reads the request's credential: `Authorization: Bearer lk_…` (API token), `Authorization: Bearer
 * <JWT>` (OIDC, when configured) or the session cookie (with a CSRF token on writes). Every failure
 * answers 401 (403 for a missing CSRF token) and is audited; every API token use is counted and
 * audited once per token and interval (token-uses.ts).
 *
 * A verified token may come from `tokens`, a cache that the change feed empties when a token or a
 * membership changes (revocation reaches every API process as it commits) and that serves nothing
 * while the feed is down. Revocation, expiry and the creator's role are checked on every request,
 * cached or not.
 */
export function createAuthenticator({
  pool,
  audit,
  bearer,
  tokens,
  tokenUses,
}: {
  pool: Pool;
  audit: AuditBatcher;
  bearer?: BearerVerifier | undefined;
  tokens?: FeedCache<ApiTokenForAuth> | undefined;
  tokenUses: TokenUseRecorder;
}): Authenticator {
  const fail = async (req: Request, action: string, reason: string, ids: { actor?: string; workspaceId?: string | null } = {}) => {
    await appendAudit(pool, {
      workspaceId: ids.workspaceId ?? null,
      actor: ids.actor ?? 'anonymous',
      action,
      outcome: 'failure',
      details: { reason },
      ip: req.ip,
    });
    return new AuthenticationError(action === 'auth.token' ? 'invalid or expired token' : 'invalid or expired credentials');
  };

  async function viaApiToken(req: Request, route: RouteRef, credential: string): Promise<AuthContext> {
    if (!looksLikeApiToken(credential)) throw await fail(req, 'auth.token', 'malformed');
    const hash = hashApiToken(credential);
    const key = hash.toString('hex');
    let token = tokens?.get(key);
    if (!token) {
      const generation = tokens?.generation() ?? 0;
      token = await findTokenByHash(pool, hash);
      if (token) tokens?.set(key, token, generation);
    }
    if (!token) throw await fail(req, 'auth.token', 'unknown');
    const ids = { actor: `token:${token.id}`, workspaceId: token.workspaceId };
    if (token.revokedAt) throw await fail(req, 'auth.token', 'revoked', ids);
    if (token.expiresAt && token.expiresAt.getTime() <= Date.now()) throw await fail(req, 'auth.token', 'expired', ids);
    if (token.creatorRole === undefined) throw await fail(req, 'auth.token', 'creator_not_member', ids);
    const role = token.creatorRole === null ? token.role : minRole(token.role, token.creatorRole);
    tokenUses.record(token.id, token.workspaceId, `${route.method.toUpperCase()} ${route.path}`, req.ip);
    return { kind: 'api_token', actor: ids.actor, tokenId: token.id, userId: token.createdBy, workspaceId: token.workspaceId, role };
  }

  async function viaBearerJwt(req: Request, jwt: string): Promise<AuthContext> {
    if (!bearer) throw await fail(req, 'auth.bearer', 'oidc_not_configured');
    let identity: Awaited<ReturnType<BearerVerifier['verifyBearer']>>;
    try {
      identity = await bearer.verifyBearer(jwt);
    } catch (err) {
      throw await fail(req, 'auth.bearer', (err as { reason?: string }).reason ?? 'invalid');
    }
    let user = await findUserByIdentity(pool, 'oidc', identity.issuer, identity.subject);
    if (!user && identity.email && identity.emailVerified) {
      const email = identity.email;
      const linked = await inTransaction(pool, (tx) =>
        linkByVerifiedEmail(tx, { provider: 'oidc', issuer: identity.issuer, subject: identity.subject, email }),
      );
      user = linked?.user;
      if (linked?.revoked)
        await audit.append({
          workspaceId: null,
          actor: `user:${linked.user.id}`,
          action: 'user.claimed',
          outcome: 'success',
          details: { via: 'oidc_bearer', issuer: identity.issuer, revoked: linked.revoked },
          ip: req.ip,
        });
    }
    if (!user || user.disabledAt) throw await fail(req, 'auth.bearer', 'unknown_user');
    return { kind: 'oidc_bearer', actor: `user:${user.id}`, userId: user.id };
  }

  async function viaSession(req: Request, value: string): Promise<AuthContext> {
    const idHash = sha256(value);
    const session = await findSession(pool, idHash);
    if (!session) throw await fail(req, 'auth.session', 'unknown');
    const ids = { actor: `user:${session.userId}` };
    if (session.revokedAt) throw await fail(req, 'auth.session', 'revoked', ids);
    if (session.expiresAt.getTime() <= Date.now()) throw await fail(req, 'auth.session', 'expired', ids);
    if (session.lastSeenAt.getTime() + SESSION_IDLE_MS <= Date.now()) throw await fail(req, 'auth.session', 'idle', ids);
    const user = await getUser(pool, session.userId);
    if (!user || user.disabledAt) throw await fail(req, 'auth.session', 'user_disabled', ids);
    if (!SAFE_METHODS.has(req.method)) {
      const presented = req.get(CSRF_HEADER);
      if (!presented || !sameHash(sha256(presented), session.csrfHash)) {
        await appendAudit(pool, {
          workspaceId: null,
          actor: ids.actor,
          action: 'auth.csrf',
          outcome: 'denied',
          details: { method: req.method, route: req.path.slice(0, 200) },
          ip: req.ip,
        });
        throw new ForbiddenError('missing or wrong CSRF token');
      }
    }
    await touchSession(pool, idHash);
    return { kind: 'session', actor: ids.actor, userId: session.userId, sessionId: session.publicId, method: session.method };
  }

  return async (req, route) => {
    const header = req.get('authorization');
    if (header !== undefined) {
      const credential = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
      if (!credential) throw await fail(req, 'auth.token', 'malformed');
      if (credential.startsWith('lk_')) return viaApiToken(req, route, credential);
      if (JWT_PATTERN.test(credential)) return viaBearerJwt(req, credential);
      throw await fail(req, 'auth.token', 'malformed');
    }
    const cookie = readSessionCookie(req);
    if (cookie) return viaSession(req, cookie);
    throw new AuthenticationError('missing credentials');
  };
}

/**
 * Decides whether `auth` may do `permission` in `workspaceId`. A workspace the caller does not
 * belong to (or another workspace than a token's) answers 404, never 403, so that its existence does
 * not leak; a missing permission answers 403. Both are audited; every user access to a workspace is
 * audited as well (token uses are audited at authentication).
 */
export async function authorize(
  pool: Pool,
  audit: AuditBatcher,
  auth: AuthContext,
  workspaceId: string,
  permission: Permission,
  req: Request,
  route: RouteRef,
): Promise<WorkspaceAccess> {
  const details = { method: req.method, route: route.path };
  let role: Role | undefined;
  if (auth.kind === 'api_token') role = auth.workspaceId === workspaceId ? auth.role : undefined;
  else role = await getMembershipRole(pool, workspaceId, auth.userId);
  if (!role) {
    // Recorded in the caller's own chain: the other workspace's log is not theirs to write into.
    await appendAudit(pool, {
      workspaceId: auth.kind === 'api_token' ? auth.workspaceId : null,
      actor: auth.actor,
      action: 'authz.denied',
      target: `workspace:${workspaceId}`,
      outcome: 'denied',
      details: { ...details, reason: 'not_a_member' },
      ip: req.ip,
    });
    throw new NotFoundError(route.path.includes(':ws') ? 'workspace' : 'resource');
  }
  if (!roleAllows(role, permission)) {
    await appendAudit(pool, {
      workspaceId,
      actor: auth.actor,
      action: 'authz.denied',
      target: permission,
      outcome: 'denied',
      details,
      ip: req.ip,
    });
    throw new ForbiddenError(`role ${role} lacks ${permission}`);
  }
  if (auth.kind !== 'api_token') {
    await audit.append({
      workspaceId,
      actor: auth.actor,
      action: 'workspace.accessed',
      outcome: 'success',
      details: { ...details, via: auth.kind },
      ip: req.ip,
    });
  }
  return { workspaceId, role, actor: auth.actor, principal: auth };
}
