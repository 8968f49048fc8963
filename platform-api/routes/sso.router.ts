/**
 * External logins. OIDC: authorization code + PKCE, the pending login kept server-side (keyed by the
 * hash of `state`, nonce and verifier wrapped under the master key) and bound to the browser by a
 * cookie, consumed once. SAML 2.0: SP-initiated only, the AuthnRequest id kept server-side and bound
 * by RelayState + cookie, every assertion id remembered until it expires (replays refused). Both end
 * in a session like a password login, and redirect to the Platform's home.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { OidcLogin } from '../auth/oidc';
import { SamlError, type SamlLogin } from '../auth/saml';
import { readCookie, setFlowCookie } from '../auth/sessions';
import type { IdentityService } from '../services/identity.service';
import type { SessionsService } from '../services/sessions.service';
import { FLOW_MS, type SsoService } from '../services/sso.service';
import { defineRoute, type RouteDef } from './route';

const OIDC_COOKIE = '__Host-lookout_oidc';
const SAML_COOKIE = '__Host-lookout_saml';
const OidcCallbackQuery = z
  .object({ state: z.string().min(1).max(512), code: z.string().max(4096).optional(), error: z.string().max(256).optional() })
  .catchall(z.string().max(4096));
const SamlAcsBody = z.strictObject({ SAMLResponse: z.string().min(1).max(1_400_000), RelayState: z.string().min(1).max(80) });

/** The external logins a deployment has configured. */
export interface SsoLogins {
  oidc?: { login: OidcLogin; redirectUri: string } | undefined;
  saml?: SamlLogin | undefined;
  /**
   * LOOKOUT_SAML_EMAIL_VERIFIED: the IdP verifies the email addresses it asserts, so a SAML login
   * may link to (and claim) the account with that email. Off by default: a SAML identity then
   * links only to an account it made itself.
   */
  samlEmailVerified?: boolean | undefined;
}

export interface SsoDeps extends SsoLogins {
  sso: SsoService;
  sessions: SessionsService;
  identity: IdentityService;
  /** Where a browser lands after logging in. */
  homePath?: string;
}

export function ssoRoutes({ sso, sessions, identity, oidc, saml, samlEmailVerified = false, homePath = '/' }: SsoDeps): RouteDef[] {
  const routes: RouteDef[] = [];
  const refuse = (action: 'auth.oidc' | 'auth.saml', reason: string, ip: string | undefined) => sso.refuse(action, reason, ip);

  if (oidc) {
    routes.push(
      defineRoute({
        method: 'get',
        path: '/v1/auth/oidc/login',
        tag: 'auth',
        summary: 'Start an OpenID Connect login (redirects to the provider)',
        access: 'public',
        success: { status: 302, description: 'redirect to the provider' },
        async handle({ res }) {
          const { url, pending } = await oidc.login.start();
          await sso.beginOidc(pending);
          setFlowCookie(res, OIDC_COOKIE, pending.state, 'lax', FLOW_MS / 1000);
          res.setHeader('Cache-Control', 'no-store').redirect(302, url);
        },
      }),
      defineRoute({
        method: 'get',
        path: '/v1/auth/oidc/callback',
        tag: 'auth',
        summary: 'Where the provider sends the browser back',
        access: 'public',
        query: OidcCallbackQuery,
        success: { status: 303, description: 'logged in; redirect home with the session cookie' },
        async handle({ req, res, query }) {
          // Login CSRF: the callback must come back to the browser that started this login.
          if (readCookie(req, OIDC_COOKIE) !== query.state) throw await refuse('auth.oidc', 'state_not_bound_to_browser', req.ip);
          const flow = await sso.takeOidc(query.state);
          if ('refused' in flow) throw await refuse('auth.oidc', flow.refused, req.ip);
          if (query.error) throw await refuse('auth.oidc', 'provider_error', req.ip);
          const callbackUrl = new URL(oidc.redirectUri);
          callbackUrl.search = new URLSearchParams(query as Record<string, string>).toString();
          let found;
          try {
            found = await oidc.login.finish(callbackUrl, { state: query.state, ...flow.value });
          } catch (err) {
            throw await refuse('auth.oidc', (err as { reason?: string }).reason ?? 'invalid', req.ip);
          }
          const user = await identity.externalUser('oidc', found, req.ip);
          await sessions.issue(req, res, user.id, 'oidc');
          setFlowCookie(res, OIDC_COOKIE, '', 'lax', 0);
          res.redirect(303, homePath);
        },
      }),
    );
  }

  if (saml) {
    routes.push(
      defineRoute({
        method: 'get',
        path: '/v1/auth/saml/login',
        tag: 'auth',
        summary: 'Start a SAML 2.0 login (redirects to the identity provider)',
        access: 'public',
        success: { status: 302, description: 'redirect to the identity provider' },
        async handle({ res }) {
          const relayState = randomBytes(32).toString('base64url');
          const { url, requestId } = await saml.loginUrl(relayState);
          await sso.beginSaml(relayState, requestId);
          // The IdP answers with a cross-site POST, which SameSite=Lax cookies do not follow.
          setFlowCookie(res, SAML_COOKIE, relayState, 'none', FLOW_MS / 1000);
          res.setHeader('Cache-Control', 'no-store').redirect(302, url);
        },
      }),
      defineRoute({
        method: 'post',
        path: '/v1/auth/saml/acs',
        tag: 'auth',
        summary: 'Assertion consumer service (HTTP-POST binding)',
        access: 'public',
        body: SamlAcsBody,
        success: { status: 303, description: 'logged in; redirect home with the session cookie' },
        async handle({ req, res, body }) {
          if (readCookie(req, SAML_COOKIE) !== body.RelayState) throw await refuse('auth.saml', 'relay_state_not_bound_to_browser', req.ip);
          const flow = await sso.takeSaml(body.RelayState);
          if ('refused' in flow) throw await refuse('auth.saml', flow.refused, req.ip);
          let found;
          try {
            found = await saml.validate(body.SAMLResponse, flow.value);
          } catch (err) {
            throw await refuse('auth.saml', err instanceof SamlError ? err.reason : 'invalid', req.ip);
          }
          if (!(await sso.rememberAssertion(found.issuer, found.assertionId, found.notOnOrAfter)))
            throw await refuse('auth.saml', 'replayed_assertion', req.ip);
          // The IdP vouches for the email it asserts only when configured so (LOOKOUT_SAML_EMAIL_VERIFIED).
          const user = await identity.externalUser(
            'saml',
            { issuer: found.issuer, subject: found.nameId, email: found.email, emailVerified: samlEmailVerified, name: found.displayName },
            req.ip,
          );
          await sessions.issue(req, res, user.id, 'saml');
          setFlowCookie(res, SAML_COOKIE, '', 'none', 0);
          res.redirect(303, homePath);
        },
      }),
      defineRoute({
        method: 'get',
        path: '/v1/auth/saml/metadata',
        tag: 'auth',
        summary: 'SAML service provider metadata',
        access: 'public',
        success: { status: 200, description: 'SP metadata XML' },
        async handle({ res }) {
          res.type('application/samlmetadata+xml').send(saml.metadata());
        },
      }),
    );
  }
  return routes;
}
