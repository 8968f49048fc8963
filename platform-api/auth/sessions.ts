/**
 * Browser sessions. The cookie holds 256 random bits; PostgreSQL holds only their SHA-256, so a
 * database dump cannot be replayed as a login. Every login makes a new session (the one the browser
 * presented, if any, is revoked: rotation), sessions end after an absolute lifetime or when idle,
 * and can be revoked server-side. Cookie-authenticated writes need the session's CSRF token in the
 * `X-CSRF-Token` header (synchroniser token; only its hash is stored).
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { parseCookie, stringifySetCookie } from 'cookie';
import type { Request, Response } from 'express';
import type { Queryable } from '../../platform/repos/db';
import { insertSession, revokeSessionByHash, type LoginMethod } from '../../platform/repos/sessions.repo';

/** `__Host-`: Secure, Path=/, no Domain: the cookie cannot be set or shadowed by a sibling host. */
export const SESSION_COOKIE = '__Host-lookout_session';
export const CSRF_HEADER = 'x-csrf-token';
/**
 * The CSRF token, also readable by the page's own script (not HttpOnly): logins that end in a
 * redirect (OIDC, SAML) cannot hand it over in a JSON body. Another site can neither read it nor
 * set it (`__Host-`), and the server checks the header against the session's stored hash.
 */
export const CSRF_COOKIE = '__Host-lookout_csrf';
export const SESSION_ABSOLUTE_MS = 12 * 60 * 60 * 1000;
export const SESSION_IDLE_MS = 30 * 60 * 1000;

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

export function sameHash(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The session cookie's value, or undefined; never logged. */
export function readSessionCookie(req: Request): string | undefined {
  const header = req.get('cookie');
  if (!header) return undefined;
  const value = parseCookie(header)[SESSION_COOKIE];
  return value && /^[A-Za-z0-9_-]{43}$/.test(value) ? value : undefined;
}

export interface IssuedSession {
  publicId: string;
  /** Given to the client once, in the login answer; it sends it back in `X-CSRF-Token`. */
  csrfToken: string;
  expiresAt: Date;
}

/**
 * Starts a session for `userId` after a completed login and sets its cookie on `res`. A session
 * cookie the request carried is revoked first, so a fixated or older session never survives a login.
 */
export async function issueSession(
  db: Queryable,
  req: Request,
  res: Response,
  userId: string,
  method: LoginMethod,
): Promise<IssuedSession> {
  const previous = readSessionCookie(req);
  if (previous) await revokeSessionByHash(db, sha256(previous));
  const value = randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(32).toString('base64url');
  const publicId = randomUUID();
  const expiresAt = new Date(Date.now() + SESSION_ABSOLUTE_MS);
  await insertSession(db, {
    idHash: sha256(value),
    publicId,
    userId,
    method,
    csrfHash: sha256(csrfToken),
    expiresAt,
    ip: req.ip,
    userAgent: req.get('user-agent'),
  });
  res.append(
    'Set-Cookie',
    stringifySetCookie({ name: SESSION_COOKIE, value, httpOnly: true, secure: true, sameSite: 'lax', path: '/', expires: expiresAt }),
  );
  res.append(
    'Set-Cookie',
    stringifySetCookie({ name: CSRF_COOKIE, value: csrfToken, secure: true, sameSite: 'strict', path: '/', expires: expiresAt }),
  );
  res.setHeader('Cache-Control', 'no-store');
  return { publicId, csrfToken, expiresAt };
}

/** Tells the browser to drop the session cookie. */
export function clearSessionCookie(res: Response): void {
  res.append(
    'Set-Cookie',
    stringifySetCookie({ name: SESSION_COOKIE, value: '', httpOnly: true, secure: true, sameSite: 'lax', path: '/', expires: new Date(0) }),
  );
  res.append(
    'Set-Cookie',
    stringifySetCookie({ name: CSRF_COOKIE, value: '', secure: true, sameSite: 'strict', path: '/', expires: new Date(0) }),
  );
}

/** A cookie of the request by name, or undefined. */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.get('cookie');
  return header ? parseCookie(header)[name] : undefined;
}

/** A short-lived cookie that binds a login in progress (password + MFA, OIDC, SAML) to the browser that started it. */
export function setFlowCookie(
  res: Response,
  name: string,
  value: string,
  sameSite: 'strict' | 'lax' | 'none',
  maxAgeSeconds: number,
): void {
  res.append('Set-Cookie', stringifySetCookie({ name, value, httpOnly: true, secure: true, sameSite, path: '/', maxAge: maxAgeSeconds }));
}
