/**
 * `tls.endpoint`: completes a TLS handshake with a service and reports what its clients would trip
 * over: no handshake at all, a chain the Runner does not trust, a certificate for another name, an
 * expired or soon expiring leaf or intermediate certificate, a protocol older than TLS 1.2.
 *
 * The host and port must fall under a `tls` or `https` destination of the Runner policy, and the
 * address dialled must be one that destination allows (the same guard as `http.probe`). Trust is
 * the Runner's own: Node's CA bundle plus NODE_EXTRA_CA_CERTS for private CAs.
 *
 * What leaves the Runner: the protocol, and of the certificates it checks the subject and issuer
 * common names, the number of subject alternative names, notAfter and the days left. Never a
 * certificate, its alternative names or anything else of the handshake.
 */
import tls, { type DetailedPeerCertificate, type TLSSocket } from 'node:tls';
import { endpointHost, TlsEndpointParams } from '../../../common/checks';
import type { Issue } from '../../../common/contracts';
import { scoreOf } from '../../../common/score';
import type { Check, CheckOutcome } from './check';
import { isPolicyDenied } from './endpoint';

const DAY = 86_400_000;

/** An error's code when it is an enumerated word (`ECONNREFUSED`, `ERR_SSL_…`), never its message. */
function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(code) ? code : 'error';
}

/** A distinguished name's common name, as short printable text. */
function commonName(dn: DetailedPeerCertificate['subject'] | undefined): string {
  const cn: string | string[] | undefined = dn?.CN;
  const first = Array.isArray(cn) ? cn[0] : cn;
  if (!first) return '(none)';
  // A certificate's text may hold anything: control characters are dropped.
  const clean = first.replace(/\p{Cc}/gu, '');
  return clean.length > 100 ? `${clean.slice(0, 99)}…` : clean;
}

const PROTOCOL_VERSIONS: Readonly<Record<string, number>> = { SSLv3: 0.3, TLSv1: 1.0, 'TLSv1.1': 1.1, 'TLSv1.2': 1.2, 'TLSv1.3': 1.3 };

/** The chain as the handshake gave it, leaf first, each certificate once (a root is its own issuer). */
function chainOf(leaf: DetailedPeerCertificate): DetailedPeerCertificate[] {
  const chain: DetailedPeerCertificate[] = [];
  const seen = new Set<string>();
  for (let cert: DetailedPeerCertificate | undefined = leaf; cert && cert.fingerprint256; cert = cert.issuerCertificate) {
    if (seen.has(cert.fingerprint256)) break;
    seen.add(cert.fingerprint256);
    chain.push(cert);
  }
  return chain;
}

/** True for a self-issued certificate at the end of the chain (a trust anchor: its expiry is the client's store's business). */
const isRoot = (cert: DetailedPeerCertificate) => !cert.issuerCertificate || cert.issuerCertificate.fingerprint256 === cert.fingerprint256;

export const tlsEndpoint: Check<TlsEndpointParams> = {
  type: 'tls.endpoint',
  params: TlsEndpointParams,
  async run(params, ctx): Promise<CheckOutcome> {
    const host = endpointHost(params.host);
    const resource = { kind: 'Endpoint', name: `tls://${host}:${params.port}` };
    // The policy decides before anything is resolved or contacted; a refusal fails the run (PolicyDenied).
    const destination = ctx.policy.tlsDestination(params.host, params.port);
    const literal = host.replace(/^\[|\]$/g, '');
    const checkedName = params.serverName?.toLowerCase() ?? literal;
    const started = performance.now();
    let socket: TLSSocket;
    try {
      socket = await ctx.policy.connectTls(params.host, params.port, destination, {
        servername: params.serverName,
        timeoutMs: params.timeoutMs,
        signal: ctx.signal,
      });
    } catch (err) {
      if (ctx.signal.aborted || isPolicyDenied(err)) throw err;
      const handshakeMs = Math.round(performance.now() - started);
      const code = errorCode(err);
      const kind =
        code === 'ETIMEDOUT'
          ? 'timeout'
          : ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL'].includes(code)
            ? 'unreachable'
            : 'handshake';
      const issue: Issue = {
        severity: 1,
        title: {
          timeout: 'TLS endpoint did not answer in time',
          unreachable: 'TLS endpoint unreachable',
          handshake: 'TLS handshake failed',
        }[kind],
        resource,
        expected: kind === 'timeout' ? `a TLS handshake within ${params.timeoutMs} ms` : 'a TLS handshake',
        actual:
          kind === 'timeout'
            ? `no handshake after ${handshakeMs} ms`
            : `${kind === 'handshake' ? 'handshake' : 'connection'} failed (${code})`,
        nextSteps:
          kind === 'handshake'
            ? [
                'Check that the port serves TLS (not plain text) and which protocols and ciphers it accepts',
                'Look at the service log for handshake errors',
              ]
            : [
                'Check that the service is running and listening',
                'Check DNS, network policies and firewalls between the Runner and the endpoint',
              ],
      };
      return {
        status: 'issues',
        summary: `${resource.name}: ${issue.title.toLowerCase()}`,
        score: 0,
        issues: [issue],
        metrics: { 'tls.up': 0, 'tls.handshake_ms': handshakeMs },
      };
    }
    const handshakeMs = Math.round(performance.now() - started);
    try {
      const protocol = socket.getProtocol() ?? 'unknown';
      const leaf = socket.getPeerCertificate(true);
      const now = Date.now();
      const issues: Issue[] = [];
      const chain = leaf && leaf.fingerprint256 ? chainOf(leaf) : [];
      const describe = (cert: DetailedPeerCertificate) => {
        const notAfter = new Date(cert.valid_to);
        const days = Math.floor((notAfter.getTime() - now) / DAY);
        return { notAfter, days, expired: notAfter.getTime() <= now, subject: commonName(cert.subject), issuer: commonName(cert.issuer) };
      };
      if (!chain.length) {
        issues.push({
          severity: 1,
          title: 'TLS endpoint served no certificate',
          resource,
          expected: 'a server certificate',
          actual: 'none',
          nextSteps: ['Check the TLS configuration of the service'],
        });
      }
      const leafInfo = chain[0] ? describe(chain[0]) : undefined;
      const sanCount = leaf?.subjectaltname ? leaf.subjectaltname.split(', ').length : 0;
      const expiryIssue = (cert: ReturnType<typeof describe>, what: 'TLS certificate' | 'Intermediate certificate'): Issue | undefined => {
        if (!cert.expired && cert.days >= params.warnDays) return undefined;
        return {
          severity: cert.expired ? 1 : cert.days < params.criticalDays ? 2 : 3,
          title: cert.expired ? `${what} has expired` : `${what} expires soon`,
          resource,
          expected: `valid for at least ${params.warnDays} more days`,
          actual: `${cert.expired ? 'expired' : 'expires'} ${cert.notAfter.toISOString()} (${cert.expired ? `${-cert.days} days ago` : `in ${cert.days} days`}); subject CN ${cert.subject}; issuer CN ${cert.issuer}`,
          nextSteps:
            what === 'TLS certificate'
              ? [
                  'Renew the certificate (cert-manager: kubectl get certificate -A) and reload the service',
                  `openssl s_client -connect ${host}:${params.port} -servername ${checkedName} </dev/null | openssl x509 -noout -dates`,
                ]
              : [
                  'Serve the current intermediate certificate of the issuing CA with the leaf',
                  'Renew the certificate if its CA has moved to a new intermediate',
                ],
        };
      };
      if (leafInfo) {
        const leafIssue = expiryIssue(leafInfo, 'TLS certificate');
        if (leafIssue) issues.push(leafIssue);
      }
      // Intermediates (served or completed from the trust store), not the root: the one closest to expiry speaks for them.
      const intermediates = chain
        .slice(1)
        .filter((c) => !isRoot(c))
        .map(describe)
        .sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime());
      const intermediateIssue = intermediates[0] ? expiryIssue(intermediates[0], 'Intermediate certificate') : undefined;
      if (intermediateIssue) issues.push(intermediateIssue);

      const authError = socket.authorizationError as unknown;
      const authCode = socket.authorized ? undefined : typeof authError === 'string' ? authError : errorCode(authError);
      // With a server name, Node reports a name mismatch of a trusted chain here too: the name check below says so.
      const trustCode = authCode === 'ERR_TLS_CERT_ALTNAME_INVALID' ? undefined : authCode;
      // An expired certificate is what broke the chain: its own finding says so.
      const expiredReported = issues.some((i) => i.title.endsWith('has expired'));
      if (chain.length && trustCode && !(trustCode === 'CERT_HAS_EXPIRED' && expiredReported)) {
        issues.push({
          severity: 1,
          title: 'TLS certificate chain is not trusted',
          resource,
          expected: "a chain to a CA the Runner trusts (Node's CA bundle and NODE_EXTRA_CA_CERTS)",
          actual: `verification failed (${/^[A-Z][A-Z0-9_]{1,63}$/.test(trustCode) ? trustCode : 'error'})`,
          nextSteps: [
            'Serve the whole chain: the leaf certificate followed by its intermediates',
            'For a private CA, give the Runner its certificate (NODE_EXTRA_CA_CERTS) or issue from a public CA',
          ],
        });
      }
      const identity = chain.length ? tls.checkServerIdentity(checkedName, leaf) : undefined;
      if (identity) {
        issues.push({
          severity: 1,
          title: 'TLS certificate does not match the host name',
          resource,
          expected: `a certificate for ${checkedName}`,
          actual: `subject CN ${leafInfo?.subject ?? '(none)'} and ${sanCount} alternative names, none for ${checkedName}`,
          nextSteps: [
            'Check which certificate the service (or its ingress, for this SNI name) serves',
            'Add the name to the certificate’s subject alternative names',
          ],
        });
      }
      const version = PROTOCOL_VERSIONS[protocol];
      if (version !== undefined && version < 1.2) {
        issues.push({
          severity: 2,
          title: 'TLS protocol older than 1.2',
          resource,
          expected: 'TLS 1.2 or 1.3',
          actual: `negotiated ${protocol}`,
          nextSteps: ['Enable TLS 1.2 and 1.3 on the service and disable older protocols'],
        });
      }
      const metrics: Record<string, number> = {
        'tls.up': 1,
        'tls.handshake_ms': handshakeMs,
        'tls.trusted': trustCode ? 0 : 1,
        'tls.hostname_match': identity || !chain.length ? 0 : 1,
        'tls.chain_length': chain.length,
        'tls.san_count': sanCount,
      };
      if (version !== undefined) metrics['tls.protocol_version'] = version;
      if (leafInfo) metrics['tls.days_left'] = leafInfo.days;
      const checked = [leafInfo, ...intermediates].filter((c) => c !== undefined);
      if (checked.length) metrics['tls.min_days_left'] = Math.min(...checked.map((c) => c.days));
      issues.sort((a, b) => a.severity - b.severity);
      return {
        status: issues.length ? 'issues' : 'ok',
        summary: issues.length
          ? `${resource.name}: ${issues.map((i) => i.title.toLowerCase()).join(', ')}`
          : `${resource.name}: ${protocol}, certificate CN ${leafInfo?.subject} (${sanCount} alternative names) by CN ${leafInfo?.issuer}, valid until ${leafInfo?.notAfter.toISOString()} (${leafInfo?.days} days)`,
        score: scoreOf(issues),
        issues,
        metrics,
      };
    } finally {
      socket.destroy();
    }
  },
};
