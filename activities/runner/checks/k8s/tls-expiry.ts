/**
 * `k8s.tls-expiry`: certificates in `kubernetes.io/tls` secrets that expire soon or have expired. The
 * certificate is parsed inside the Runner; only subject, issuer and expiry leave it. The key is never read.
 */
import { X509Certificate } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { TlsExpiryParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check } from '../check';
import { clip, guarded, kubeRun, listScoped, nsFlag, outcome, ref } from './common';

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
      const secrets = await listScoped(
        run,
        'TLS secrets',
        params,
        (q) => core.listSecretForAllNamespaces({ ...q, fieldSelector }),
        (namespace, q) => core.listNamespacedSecret({ namespace, ...q, fieldSelector }),
      );
      return outcome(
        tlsIssues(secrets, params.warnDays, params.criticalDays),
        `${secrets.length} TLS certificates valid for more than ${params.warnDays} days`,
        { 'certificates.checked': secrets.length },
        (n) => `${n} TLS certificates expire soon or have expired`,
      );
    }),
};
