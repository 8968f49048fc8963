/**
 * The server-side state of external logins in progress. OIDC: the pending login is keyed by the hash
 * of `state`, its nonce and PKCE verifier wrapped under the master key. SAML: the AuthnRequest id is
 * keyed by the hash of RelayState, and every assertion id is remembered until it expires. A flow is
 * taken once; a replayed, unknown or expired one is refused and audited.
 */
import type { Pool } from 'pg';
import { AuthenticationError } from '../../common/problem';
import { MASTER_LABELS, type MasterKey } from '../../platform/crypto/master-key';
import { appendAudit } from '../../platform/repos/audit.repo';
import { consumeFlow, insertFlow, lockFlow, rememberSamlAssertion } from '../../platform/repos/auth-flows.repo';
import { inTransaction } from '../../platform/repos/db';
import type { OidcPendingLogin } from '../auth/oidc';
import { sha256 } from '../auth/sessions';

/** How long a started login may take. */
export const FLOW_MS = 10 * 60 * 1000;

type Taken<T> = { value: T } | { refused: string };
type OidcSecrets = Omit<OidcPendingLogin, 'state'>;

export function createSsoService({ pool, master }: { pool: Pool; master: MasterKey }) {
  const binding = MASTER_LABELS.oidcFlow;

  /** Takes a login flow once: refused when unknown, consumed (a replay) or expired. */
  async function take(idHash: Buffer, kind: 'oidc' | 'saml'): Promise<Taken<Buffer | null>> {
    return inTransaction(pool, async (tx) => {
      const flow = await lockFlow(tx, idHash, kind);
      if (!flow) return { refused: 'unknown_state' };
      if (flow.consumedAt) return { refused: 'replayed_state' };
      if (flow.expiresAt.getTime() <= Date.now()) return { refused: 'expired_state' };
      await consumeFlow(tx, idHash);
      return { value: flow.data };
    });
  }

  return {
    /** Audits a refused login and answers the one error the browser sees, whatever the reason. */
    async refuse(action: 'auth.oidc' | 'auth.saml', reason: string, ip: string | undefined): Promise<AuthenticationError> {
      await appendAudit(pool, { workspaceId: null, actor: 'anonymous', action, outcome: 'failure', details: { reason }, ip });
      return new AuthenticationError('the login could not be completed; start again');
    },

    async beginOidc(pending: OidcPendingLogin): Promise<void> {
      const idHash = sha256(pending.state);
      const data = master.wrap(Buffer.from(JSON.stringify({ nonce: pending.nonce, codeVerifier: pending.codeVerifier })), binding(idHash));
      await insertFlow(pool, { idHash, kind: 'oidc', userId: null, data, expiresAt: new Date(Date.now() + FLOW_MS) });
    },

    async takeOidc(state: string): Promise<Taken<OidcSecrets>> {
      const idHash = sha256(state);
      const flow = await take(idHash, 'oidc');
      if ('refused' in flow) return flow;
      return { value: JSON.parse(master.unwrap(flow.value!, binding(idHash)).toString('utf8')) as OidcSecrets };
    },

    async beginSaml(relayState: string, requestId: string): Promise<void> {
      await insertFlow(pool, {
        idHash: sha256(relayState),
        kind: 'saml',
        userId: null,
        data: Buffer.from(requestId, 'utf8'),
        expiresAt: new Date(Date.now() + FLOW_MS),
      });
    },

    /** The AuthnRequest id the RelayState was issued with. */
    async takeSaml(relayState: string): Promise<Taken<string>> {
      const flow = await take(sha256(relayState), 'saml');
      return 'refused' in flow ? flow : { value: flow.value!.toString('utf8') };
    },

    /** False when this assertion id of this issuer was seen before (a replay). */
    rememberAssertion(issuer: string, assertionId: string, notOnOrAfter: Date): Promise<boolean> {
      return rememberSamlAssertion(pool, issuer, assertionId, notOnOrAfter);
    },
  };
}

export type SsoService = ReturnType<typeof createSsoService>;
