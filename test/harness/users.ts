/** Users for tests: invited by an owner, with a password, logged in with TOTP like a browser would. */
import { randomUUID } from 'node:crypto';
import { generate } from 'otplib';
import { api, invitationCodeFor } from './env';

export interface LoggedIn {
  userId: string;
  email: string;
  password: string;
  totpSecret: string;
  recoveryCodes: string[];
  /** The `Cookie` header value of the session. */
  cookie: string;
  csrfToken: string;
  /** Headers for a cookie-authenticated request (CSRF token included). */
  headers: Record<string, string>;
}

const lastStep = new Map<string, number>();

/**
 * A TOTP code the server has not seen for this secret yet: each time step is accepted once, so
 * successive logins use successive steps, one ahead of the clock at most (within the server's
 * tolerance), waiting for the clock when a test logs in more often than that.
 */
export async function freshTotp(secret: string): Promise<string> {
  for (;;) {
    const current = Math.floor(Date.now() / 30_000);
    const step = Math.max(current, (lastStep.get(secret) ?? -1) + 1);
    if (step <= current + 1) {
      lastStep.set(secret, step);
      return generate({ secret, epoch: step * 30 + 1 });
    }
    await new Promise((r) => setTimeout(r, (current + 1) * 30_000 - Date.now() + 50));
  }
}

/** The `name=value` pairs of a response's Set-Cookie headers. */
export function cookiesOf(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of headers.getSetCookie()) {
    const [pair] = line.split(';');
    const eq = pair!.indexOf('=');
    out[pair!.slice(0, eq)] = pair!.slice(eq + 1);
  }
  return out;
}

/** The pre-auth cookie the password step set, for the MFA step of the same login (as a browser sends it back). */
export function mfaCookie(headers: Headers): { cookie: string } {
  const value = cookiesOf(headers)['__Host-lookout_mfa'];
  if (!value) throw new Error('the password step set no pre-auth cookie');
  return { cookie: `__Host-lookout_mfa=${value}` };
}

export function sessionHeaders(cookie: string, csrfToken: string): Record<string, string> {
  return { cookie, 'x-csrf-token': csrfToken };
}

/** Password, then the MFA step (enrolling at the first login). */
export async function passwordLogin(
  baseUrl: string,
  email: string,
  password: string,
  totpSecret?: string,
): Promise<Omit<LoggedIn, 'userId' | 'password'> & { userId: string }> {
  const first = await api(baseUrl, 'POST', '/v1/auth/password', { body: { email, password } });
  if (first.status !== 200) throw new Error(`password step answered ${first.status}: ${JSON.stringify(first.body)}`);
  const secret = totpSecret ?? String(first.body['secret']);
  const second = await api(baseUrl, 'POST', '/v1/auth/mfa', {
    body: { challenge: first.body['challenge'], code: await freshTotp(secret) },
    headers: mfaCookie(first.headers),
  });
  if (second.status !== 200) throw new Error(`MFA step answered ${second.status}: ${JSON.stringify(second.body)}`);
  const session = cookiesOf(second.headers)['__Host-lookout_session']!;
  const cookie = `__Host-lookout_session=${session}`;
  const csrfToken = String(second.body['csrfToken']);
  return {
    userId: String(second.body['userId']),
    email,
    totpSecret: secret,
    recoveryCodes: (second.body['recoveryCodes'] as string[] | undefined) ?? [],
    cookie,
    csrfToken,
    headers: sessionHeaders(cookie, csrfToken),
  };
}

/**
 * An owner (by API token) invites `email` with `role`; the invitation mail reaches the test
 * mailbox, and its code is accepted with `password`, as the owner of that mailbox would.
 */
export async function inviteAndAccept(
  baseUrl: string,
  workspaceId: string,
  ownerToken: string,
  email: string,
  role: 'owner' | 'operator' | 'viewer',
  password: string | undefined,
): Promise<{ invitationId: string; accepted: Record<string, unknown> }> {
  const since = Date.now();
  const added = await api(baseUrl, 'POST', `/v1/workspaces/${workspaceId}/members`, { token: ownerToken, body: { email, role } });
  if (added.status !== 202) throw new Error(`inviting a member answered ${added.status}: ${JSON.stringify(added.body)}`);
  const invitation = await invitationCodeFor(baseUrl, email, since);
  const accepted = await api(baseUrl, 'POST', '/v1/auth/invitations/accept', {
    body: { invitation, ...(password === undefined ? {} : { password }) },
  });
  if (accepted.status !== 200) throw new Error(`accepting the invitation answered ${accepted.status}: ${JSON.stringify(accepted.body)}`);
  return { invitationId: String(added.body['id']), accepted: accepted.body };
}

/** An owner (by API token) invites a new user with `role`; they accept from their mailbox, set a password and log in. */
export async function inviteAndLogIn(
  baseUrl: string,
  workspaceId: string,
  ownerToken: string,
  role: 'owner' | 'operator' | 'viewer',
  label = 'user',
): Promise<LoggedIn> {
  const email = `${label}-${randomUUID()}@example.test`;
  const password = `correct horse ${randomUUID()}`;
  await inviteAndAccept(baseUrl, workspaceId, ownerToken, email, role, password);
  return { ...(await passwordLogin(baseUrl, email, password)), password };
}
