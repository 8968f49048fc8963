/**
 * External logins. OIDC: authorization code + PKCE, the pending login kept server-side (keyed by the
 * hash of `state`, nonce and verifier wrapped under the master key) and bound to the browser by a
 * cookie, consumed once. SAML 2.0: SP-initiated only, the AuthnRequest id kept server-side and bound
 * by RelayState + cookie, every assertion id remembered until it expires (replays refused). Both end
 * in a session like a password login, and redirect to the Platform's home.
 */
import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { z } from 'zod';
import type { MasterKey } from '../crypto/master-key';
import { AuthenticationError } from '../errors';
import type { OidcLogin, OidcPendingLogin } from '../auth/oidc';
import { SamlError, type SamlLogin } from '../auth/saml';
import { issueSession, readCookie, setFlowCookie, sha256 } from '../auth/sessions';
import { appendAudit } from '../repos/audit.repo';
import { consumeFlow, insertFlow, lockFlow, rememberSamlAssertion } from '../repos/auth-flows.repo';
import { inTransaction } from '../repos/db';
import type { IdentityService } from '../services/identity.service';
import { defineRoute, type RouteDef } from './route';

const FLOW_MS = 10 * 60 * 1000;
const OIDC_COOKIE = '__Host-lookout_oidc';
const SAML_COOKIE = '__Host-lookout_saml';
const OidcCallbackQuery = z.object({ state: z.string().min(1).max(512), code: z.string().max(4096).optional(), error: z.string().max(256).optional() }).catchall(z.string().max(4096));
const SamlAcsBody = z.strictObject({ SAMLResponse: z.string().min(1).max(1_400_000), RelayState: z.string().min(1).max(80) });

export interface SsoDeps {
  pool: Pool;
  master: MasterKey;
  identity: IdentityService;
  oidc?: { login: OidcLogin; redirectUri: string } | undefined;
  saml?: SamlLogin | undefined;
  /** Where a browser lands after logging in. */
  homePath?: string;
}

/** Takes a login flow once; undefined when unknown, consumed (a replay) or expired. */
async function takeFlow(pool: Pool, idHash: Buffer, kind: 'oidc' | 'saml'): Promise<{ data: Buffer | null } | { refused: string }> {
  return inTransaction(pool, async (tx) => {
    const flow = await lockFlow(tx, idHash, kind);
    if (!flow) return { refused: 'unknown_state' };
    if (flow.consumedAt) return { refused: 'replayed_state' };
    if (flow.expiresAt.getTime() <= Date.now()) return { refused: 'expired_state' };
    await consumeFlow(tx, idHash);
    return { data: flow.data };
  });
}

export function ssoRoutes({ pool, master, identity, oidc, saml, homePath = '/' }: SsoDeps): RouteDef[] {
  const routes: RouteDef[] = [];
  const refuse = async (action: string, reason: string, ip: string | undefined) => {
    await appendAudit(pool, { workspaceId: null, actor: 'anonymous', action, outcome: 'failure', details: { reason }, ip });
    return new AuthenticationError('the login could not be completed; start again');
  };

  if (oidc) {
    routes.push(
      defineRoute({
        method: 'get', path: '/v1/auth/oidc/login', tag: 'auth', summary: 'Start an OpenID Connect login (redirects to the provider)', access: 'public',
        success: { status: 302, description: 'redirect to the provider' },
        async handle({ res }) {
          const { url, pending } = await oidc.login.start();
          const idHash = sha256(pending.state);
          const secret = master.wrap(Buffer.from(JSON.stringify({ nonce: pending.nonce, codeVerifier: pending.codeVerifier })), `oidc-flow:${idHash.toString('hex')}`);
          await insertFlow(pool, { idHash, kind: 'oidc', userId: null, data: secret, expiresAt: new Date(Date.now() + FLOW_MS) });
          setFlowCookie(res, OIDC_COOKIE, pending.state, 'lax', FLOW_MS / 1000);
          res.setHeader('Cache-Control', 'no-store').redirect(302, url);
        },
      }),
      defineRoute({
        method: 'get', path: '/v1/auth/oidc/callback', tag: 'auth', summary: 'Where the provider sends the browser back', access: 'public',
        query: OidcCallbackQuery, success: { status: 303, description: 'logged in; redirect home with the session cookie' },
        async handle({ req, res, query }) {
          // Login CSRF: the callback must come back to the browser that started this login.
          if (readCookie(req, OIDC_COOKIE) !== query.state) throw await refuse('auth.oidc', 'state_not_bound_to_browser', req.ip);
          const idHash = sha256(query.state);
          const flow = await takeFlow(pool, idHash, 'oidc');
          if ('refused' in flow) throw await refuse('auth.oidc', flow.refused, req.ip);
          if (query.error) throw await refuse('auth.oidc', 'provider_error', req.ip);
          const secrets = JSON.parse(master.unwrap(flow.data!, `oidc-flow:${idHash.toString('hex')}`).toString('utf8')) as Omit<OidcPendingLogin, 'state'>;
          const callbackUrl = new URL(oidc.redirectUri);
          callbackUrl.search = new URLSearchParams(query as Record<string, string>).toString();
          let found;
          try {
            found = await oidc.login.finish(callbackUrl, { state: query.state, ...secrets });
          } catch (err) {
            throw await refuse('auth.oidc', (err as { reason?: string }).reason ?? 'invalid', req.ip);
          }
          const user = await identity.externalUser('oidc', found, req.ip);
          await issueSession(pool, req, res, user.id, 'oidc');
          setFlowCookie(res, OIDC_COOKIE, '', 'lax', 0);
          res.redirect(303, homePath);
        },
      }),
    );
  }

  if (saml) {
    routes.push(
      defineRoute({
        method: 'get', path: '/v1/auth/saml/login', tag: 'auth', summary: 'Start a SAML 2.0 login (redirects to the identity provider)', access: 'public',
        success: { status: 302, description: 'redirect to the identity provider' },
        async handle({ res }) {
          const relayState = randomBytes(32).toString('base64url');
          const { url, requestId } = await saml.loginUrl(relayState);
          await insertFlow(pool, { idHash: sha256(relayState), kind: 'saml', userId: null, data: Buffer.from(requestId, 'utf8'), expiresAt: new Date(Date.now() + FLOW_MS) });
          // The IdP answers with a cross-site POST, which SameSite=Lax cookies do not follow.
          setFlowCookie(res, SAML_COOKIE, relayState, 'none', FLOW_MS / 1000);
          res.setHeader('Cache-Control', 'no-store').redirect(302, url);
        },
      }),
      defineRoute({
        method: 'post', path: '/v1/auth/saml/acs', tag: 'auth', summary: 'Assertion consumer service (HTTP-POST binding)', access: 'public',
        body: SamlAcsBody, success: { status: 303, description: 'logged in; redirect home with the session cookie' },
        async handle({ req, res, body }) {
          if (readCookie(req, SAML_COOKIE) !== body.RelayState) throw await refuse('auth.saml', 'relay_state_not_bound_to_browser', req.ip);
          const flow = await takeFlow(pool, sha256(body.RelayState), 'saml');
          if ('refused' in flow) throw await refuse('auth.saml', flow.refused, req.ip);
          let found;
          try {
            found = await saml.validate(body.SAMLResponse, flow.data!.toString('utf8'));
          } catch (err) {
            throw await refuse('auth.saml', err instanceof SamlError ? err.reason : 'invalid', req.ip);
          }
          if (!(await rememberSamlAssertion(pool, found.issuer, found.assertionId, found.notOnOrAfter))) throw await refuse('auth.saml', 'replayed_assertion', req.ip);
          // The IdP is trusted by configuration to vouch for the email it asserts.
          const user = await identity.externalUser('saml', { issuer: found.issuer, subject: found.nameId, email: found.email, emailVerified: true, name: found.displayName }, req.ip);
          await issueSession(pool, req, res, user.id, 'saml');
          setFlowCookie(res, SAML_COOKIE, '', 'none', 0);
          res.redirect(303, homePath);
        },
      }),
      defineRoute({
        method: 'get', path: '/v1/auth/saml/metadata', tag: 'auth', summary: 'SAML service provider metadata', access: 'public',
        success: { status: 200, description: 'SP metadata XML' },
        async handle({ res }) {
          res.type('application/samlmetadata+xml').send(saml.metadata());
        },
      }),
    );
  }
  return routes;
}
