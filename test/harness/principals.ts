/**
 * Callers of the API as a browser or a script would be: raw HTTP requests that keep redirects and
 * non-JSON answers as they are, and users who log in through the real routes (invitation, password,
 * TOTP enrolment, recovery codes) to get a session cookie and its CSRF token.
 */
import { randomUUID } from 'node:crypto';
import { generate } from 'otplib';
import { CSRF_HEADER, SESSION_COOKIE } from '../../platform-api/auth/sessions';
import type { Role } from '../../platform/permissions';
import { inviteAndAccept, mfaCookie } from './users';

export interface Sent {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, when it is JSON. */
  json: Record<string, unknown> | undefined;
}

export interface SendOptions {
  headers?: Record<string, string>;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is, with `contentType` (default application/json). */
  rawBody?: string;
  contentType?: string;
}

/** One request; redirects are answered, not followed. */
export async function send(baseUrl: string, method: string, pathAndQuery: string, options: SendOptions = {}): Promise<Sent> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  const res = await fetch(`${baseUrl}${pathAndQuery}`, { method, headers, redirect: 'manual', ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  let json: Record<string, unknown> | undefined;
  if (/json/.test(res.headers.get('content-type') ?? '') && text) json = JSON.parse(text) as Record<string, unknown>;
  return { status: res.status, headers: res.headers, text, json };
}

/** A browser session: the cookie value and the CSRF token the login answered. */
export interface Session {
  id: string;
  userId: string;
  cookie: string;
  csrfToken: string;
}

/** Headers of a request made with `session`; writes carry the CSRF token unless `csrf` is false. */
export function sessionHeaders(session: Session, method: string, { csrf = true }: { csrf?: boolean } = {}): Record<string, string> {
  const headers: Record<string, string> = { cookie: `${SESSION_COOKIE}=${session.cookie}` };
  if (csrf && !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase())) headers[CSRF_HEADER] = session.csrfToken;
  return headers;
}

/** A user with a password and enrolled TOTP, logged in once. */
export interface LoggedInUser {
  id: string;
  email: string;
  password: string;
  session: Session;
  /** Unused recovery codes: each logs in once more (TOTP accepts one code per 30-second step). */
  recoveryCodes: string[];
}

function expectStatus(what: string, res: Sent, status: number): Record<string, unknown> {
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status} ${res.text.slice(0, 300)}`);
  return res.json ?? {};
}

function sessionFrom(res: Sent): Session {
  const body = expectStatus('MFA', res, 200);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0] ?? '')
    .find((c) => c.startsWith(`${SESSION_COOKIE}=`))
    ?.slice(SESSION_COOKIE.length + 1);
  if (!cookie) throw new Error('MFA: no session cookie in the answer');
  return {
    id: String((body['session'] as { id: string }).id),
    userId: String(body['userId']),
    cookie,
    csrfToken: String(body['csrfToken']),
  };
}

/**
 * Adds a new user to a workspace by email with `role` (as the owner token `ws.token`), accepts the
 * invitation with a password, logs in with it and enrols TOTP with the secret the login answers.
 */
export async function inviteAndLogIn(
  baseUrl: string,
  ws: { workspaceId: string; token: string },
  role: Role,
  label: string = role,
): Promise<LoggedInUser> {
  const email = `${label}-${randomUUID()}@example.test`;
  const password = `correct horse ${randomUUID()}`;
  await inviteAndAccept(baseUrl, ws.workspaceId, ws.token, email, role, password);
  const firstRes = await send(baseUrl, 'POST', '/v1/auth/password', { body: { email, password } });
  const first = expectStatus('password login', firstRes, 200);
  if (first['mfa'] !== 'enroll') throw new Error(`password login: expected MFA enrolment, got ${String(first['mfa'])}`);
  const code = await generate({ secret: String(first['secret']) });
  const res = await send(baseUrl, 'POST', '/v1/auth/mfa', {
    body: { challenge: first['challenge'], code },
    headers: mfaCookie(firstRes.headers),
  });
  const session = sessionFrom(res);
  return {
    id: session.userId,
    email,
    password,
    session,
    recoveryCodes: (res.json?.['recoveryCodes'] as string[] | undefined) ?? [],
  };
}

/** Another session of `user`: password, then one of its recovery codes (used up). */
export async function logInAgain(baseUrl: string, user: LoggedInUser): Promise<Session> {
  const recoveryCode = user.recoveryCodes.shift();
  if (!recoveryCode) throw new Error(`no recovery code left for ${user.email}`);
  const firstRes = await send(baseUrl, 'POST', '/v1/auth/password', { body: { email: user.email, password: user.password } });
  const first = expectStatus('password login', firstRes, 200);
  return sessionFrom(
    await send(baseUrl, 'POST', '/v1/auth/mfa', {
      body: { challenge: first['challenge'], recoveryCode },
      headers: mfaCookie(firstRes.headers),
    }),
  );
}
