/**
 * `k8s.cert-manager`: cert-manager Certificates (cert-manager.io/v1) that are not Ready, or whose
 * `status.notAfter` is near or past, read from the Certificates' status alone: never a Secret (that
 * is `k8s.tls-expiry`, where the Runner policy opts namespaces in). A cluster without cert-manager
 * (the API answers 404 for the group) is `ok`, said in the summary and in `certmanager.installed`:
 * there is no Certificate to be unhealthy, and a check scheduled on every cluster of a fleet should
 * not fail on those that do not run cert-manager. A Runner whose role lacks the rule gets 403, an
 * error, never that answer.
 */
import { CertManagerParams } from '../../../../common/checks';
import type { Issue } from '../../../../common/contracts';
import type { Check } from '../check';
import { guarded, kubeRun, nsFlag, outcome, rawMessage, reasonOf, ref } from './common';
import { conditionOf, foldCustom, type CustomKind, type CustomObject } from './custom-resources';

export const CERTIFICATES: CustomKind = { group: 'cert-manager.io', version: 'v1', plural: 'certificates', kind: 'Certificate' };

/** What the check reads of a Certificate (untyped JSON from the API server). */
export interface CertificateObject extends CustomObject {
  spec?: { issuerRef?: { name?: string; kind?: string; group?: string } };
  status?: {
    conditions?: unknown;
    notAfter?: string;
    renewalTime?: string;
    failedIssuanceAttempts?: number;
  };
}

const DAY = 86_400_000;
const NAME = /^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/;
const KIND = /^[A-Za-z][A-Za-z0-9]{0,62}$/;

/** `kubectl describe` of the Certificate's issuer, when its reference reads as a name and a kind. */
function describeIssuer(cert: CertificateObject, resource: Issue['resource']): string[] {
  const issuer = cert.spec?.issuerRef;
  if (!issuer?.name || !NAME.test(issuer.name)) return [];
  const kind = issuer.kind && KIND.test(issuer.kind) ? issuer.kind : 'Issuer';
  const group = issuer.group && NAME.test(issuer.group) ? issuer.group : 'cert-manager.io';
  const type = group === 'cert-manager.io' ? kind.toLowerCase() : `${kind.toLowerCase()}.${group}`;
  const ns = kind === 'ClusterIssuer' ? '' : nsFlag(resource);
  return [`kubectl describe ${type} ${issuer.name}${ns}`];
}

export function certificateIssue(cert: CertificateObject, warnDays: number, criticalDays: number, now: number): Issue | undefined {
  const status = cert.status ?? {};
  const ready = conditionOf(status.conditions, 'Ready');
  const issuing = conditionOf(status.conditions, 'Issuing')?.status === 'True';
  const notReady = ready?.status !== 'True';
  const notAfter = status.notAfter ? Date.parse(status.notAfter) : Number.NaN;
  const hasExpiry = Number.isFinite(notAfter);
  const days = hasExpiry ? Math.floor((notAfter - now) / DAY) : Number.POSITIVE_INFINITY;
  const expired = hasExpiry && notAfter <= now;
  const expiring = hasExpiry && days < warnDays;
  if (!notReady && !expiring) return undefined;

  const severities: (1 | 2 | 3)[] = [];
  if (expired) severities.push(1);
  else if (expiring) severities.push(days < criticalDays ? 2 : 3);
  // Being issued (Issuing=True) is work in progress; Ready=False without it is a failure.
  if (notReady) severities.push(issuing || !ready ? 3 : 2);
  const severity = Math.min(...severities) as 1 | 2 | 3;

  const resource = ref('Certificate', cert);
  const actual: string[] = [];
  if (notReady)
    actual.push(ready ? `Ready=${reasonOf(ready.status, 'Unknown')} (${reasonOf(ready.reason, 'NoReason')})` : 'no Ready condition yet');
  if (issuing) actual.push('issuance in progress');
  if (typeof status.failedIssuanceAttempts === 'number' && status.failedIssuanceAttempts > 0)
    actual.push(`${status.failedIssuanceAttempts} failed issuance attempts`);
  if (hasExpiry && (expiring || notReady)) {
    const at = new Date(notAfter).toISOString();
    actual.push(expired ? `expired ${at} (${-days} days ago)` : `expires ${at} (in ${days} days)`);
  } else if (!hasExpiry) actual.push('no certificate issued yet');
  const renewal = status.renewalTime ? Date.parse(status.renewalTime) : Number.NaN;
  if (Number.isFinite(renewal) && renewal < now && expiring) actual.push(`renewal was due ${new Date(renewal).toISOString()}`);

  const title = expired
    ? 'Certificate has expired'
    : expiring
      ? notReady
        ? 'Certificate expires soon and is not ready'
        : 'Certificate expires soon'
      : 'Certificate is not ready';
  const ns = nsFlag(resource);
  return {
    severity,
    title,
    resource,
    expected: `Ready=True and valid for at least ${warnDays} more days`,
    actual: actual.join('; '),
    ...rawMessage(ready?.message),
    nextSteps: [
      `kubectl describe certificate.cert-manager.io ${resource.name}${ns}`,
      `cmctl status certificate ${resource.name}${ns} (or kubectl get certificaterequests,orders,challenges${ns})`,
      ...describeIssuer(cert, resource),
      `cmctl renew ${resource.name}${ns} once the cause is fixed`,
    ],
  };
}

export const certManager: Check<CertManagerParams> = {
  type: 'k8s.cert-manager',
  params: CertManagerParams,
  run: (params, ctx) =>
    guarded(async () => {
      const run = kubeRun(ctx);
      const now = Date.now();
      const issues: Issue[] = [];
      const count = await foldCustom<CertificateObject>(run, CERTIFICATES, params, (page) => {
        for (const cert of page) {
          const issue = certificateIssue(cert, params.warnDays, params.criticalDays, now);
          if (issue) issues.push(issue);
        }
      });
      if (count === undefined) {
        return outcome(
          [],
          'cert-manager is not installed: this cluster does not serve certificates.cert-manager.io/v1, so there is no Certificate to check',
          { 'certificates.checked': 0, 'certmanager.installed': 0 },
          () => '',
        );
      }
      return outcome(
        issues,
        `${count} cert-manager Certificates ready and valid for more than ${params.warnDays} days`,
        { 'certificates.checked': count, 'certmanager.installed': 1 },
        (n) => `${n} cert-manager Certificates not ready, expiring or expired`,
      );
    }),
};
