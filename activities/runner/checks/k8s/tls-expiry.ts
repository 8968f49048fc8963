/**
 * `k8s.tls-expiry`: certificates in `kubernetes.io/tls` secrets that expire soon or have expired.
 * Secrets are listed only in the namespaces the Runner policy opts into (`tlsSecrets.namespaces`,
 * which is also all the chart's RBAC grants); of each Secret only `tls.crt` is kept, the rest (the
 * private key) is dropped as each page arrives. The certificate is parsed inside the Runner; only
 * subject, issuer and expiry leave it.
 */
import { X509Certificate } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { TlsExpiryParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check } from '../check';
import { clip, guarded, kubeRun, foldScoped, nsFlag, outcome, ref } from './common';

const DAY = 86_400_000;

export function tlsIssues(secrets: V1Secret[], warnDays: number, criticalDays: number, now = Date.now()): Issue[] {
  const issues: Issue[] = [];
  for (const secret of secrets) {
    const resource = ref('Secret', secret);
    const pem = secret.data?.['tls.crt'];
    let cert: X509Certificate;
    try {
      if (!pem) throw new Error('missing');
      cert = new X509Certificate(Buffer.from(pem, 'base64'));
    } catch {
      issues.push({
        severity: 3,
        title: 'TLS secret holds no readable certificate',
        resource,
        expected: 'a PEM certificate in tls.crt',
        actual: 'tls.crt is missing or not a certificate',
        nextSteps: [`kubectl describe secret ${resource.name}${nsFlag(resource)}`],
      });
      continue;
    }
    const expires = new Date(cert.validTo).getTime();
    const days = Math.floor((expires - now) / DAY);
    if (days >= warnDays) continue;
    const expired = expires <= now;
    issues.push({
      severity: expired ? 1 : days < criticalDays ? 2 : 3,
      title: expired ? 'TLS certificate has expired' : 'TLS certificate expires soon',
      resource,
      expected: `valid for at least ${warnDays} more days`,
      actual: `${expired ? 'expired' : 'expires'} ${new Date(expires).toISOString()} (${expired ? `${-days} days ago` : `in ${days} days`}); subject ${clip(cert.subject.replace(/\n/g, ', '), 120)}; issuer ${clip(cert.issuer.replace(/\n/g, ', '), 120)}`,
      nextSteps: [
        `kubectl get certificate -A 2>/dev/null | grep ${resource.name} (cert-manager), or renew with the issuing CA`,
        `kubectl get secret ${resource.name}${nsFlag(resource)} -o jsonpath='{.data.tls\\.crt}' | base64 -d | openssl x509 -noout -dates -subject`,
      ],
    });
  }
  return issues;
}

export const tlsExpiry: Check<TlsExpiryParams> = {
  type: 'k8s.tls-expiry',
  params: TlsExpiryParams,
  run: (params, ctx) =>
    guarded(async () => {
      const run = kubeRun(ctx);
      const core = run.kube.core;
      const fieldSelector = 'type=kubernetes.io/tls';
      const opted = new Set(ctx.tlsSecretNamespaces);
      const namespaces = (params.namespaces ?? [...opted]).filter((ns) => opted.has(ns) && !params.excludeNamespaces.includes(ns));
      if (!namespaces.length) {
        return {
          status: 'error',
          summary: 'the Runner policy lets k8s.tls-expiry read TLS Secrets in none of these namespaces (its tlsSecrets.namespaces)',
          issues: [],
          metrics: { 'certificates.checked': 0 },
          exitCode: 2,
        };
      }
      const onlyCertificate = (page: { items: V1Secret[] }) => ({
        ...page,
        items: page.items.map((s): V1Secret => {
          const crt = s.data?.['tls.crt'];
          return { metadata: s.metadata, type: s.type, data: crt ? { 'tls.crt': crt } : {} };
        }),
      });
      const issues: Issue[] = [];
      const now = Date.now();
      const count = await foldScoped(
        run,
        'TLS secrets',
        { ...params, namespaces },
        () => Promise.reject(new Error('TLS Secrets are never listed cluster-wide')),
        async (namespace, q) => onlyCertificate(await core.listNamespacedSecret({ namespace, ...q, fieldSelector })),
        (secrets) => issues.push(...tlsIssues(secrets, params.warnDays, params.criticalDays, now)),
      );
      return outcome(
        issues,
        `${count} TLS certificates valid for more than ${params.warnDays} days`,
        { 'certificates.checked': count },
        (n) => `${n} TLS certificates expire soon or have expired`,
      );
    }),
};
