import type { CheckType } from '../../../common/checks';
import type { Check } from './check';
import { dnsResolve } from './dns-resolve';
import { httpProbe } from './http-probe';
import { certManager } from './k8s/cert-manager';
import { discover } from './k8s/discover';
import { gitops } from './k8s/gitops';
import { hpaLimits } from './k8s/hpa-limits';
import { imagePull } from './k8s/image-pull';
import { jobsCheck } from './k8s/jobs';
import { namespaceHealth } from './k8s/namespace-health';
import { nodeConditions } from './k8s/node-conditions';
import { podRestarts } from './k8s/pod-restarts';
import { podStatus } from './k8s/pod-status';
import { prometheusQuery } from './prometheus-query';
import { postgresHealth } from './postgres-health';
import { pvcBinding } from './k8s/pvc-binding';
import { quotaUsage } from './k8s/quota-usage';
import { rolloutStuck } from './k8s/rollout-stuck';
import { serviceEndpoints } from './k8s/service-endpoints';
import { tlsExpiry } from './k8s/tls-expiry';
import { tlsEndpoint } from './tls-endpoint';
import { warningEvents } from './k8s/warning-events';
import { workloadAvailability } from './k8s/workload-availability';

/** Every check implementation, by type. A type the Runner's allowlist omits is refused before lookup. */
export const CHECKS: { readonly [K in CheckType]: Check<never> } = {
  'http.probe': httpProbe as Check<never>,
  'dns.resolve': dnsResolve as Check<never>,
  'tls.endpoint': tlsEndpoint as Check<never>,
  'prometheus.query': prometheusQuery as Check<never>,
  'postgres.health': postgresHealth as Check<never>,
  'k8s.pod-restarts': podRestarts as Check<never>,
  'k8s.pod-status': podStatus as Check<never>,
  'k8s.image-pull': imagePull as Check<never>,
  'k8s.workload-availability': workloadAvailability as Check<never>,
  'k8s.warning-events': warningEvents as Check<never>,
  'k8s.node-conditions': nodeConditions as Check<never>,
  'k8s.pvc-binding': pvcBinding as Check<never>,
  'k8s.jobs': jobsCheck as Check<never>,
  'k8s.service-endpoints': serviceEndpoints as Check<never>,
  'k8s.tls-expiry': tlsExpiry as Check<never>,
  'k8s.hpa-limits': hpaLimits as Check<never>,
  'k8s.quota-usage': quotaUsage as Check<never>,
  'k8s.namespace-health': namespaceHealth as Check<never>,
  'k8s.rollout-stuck': rolloutStuck as Check<never>,
  'k8s.cert-manager': certManager as Check<never>,
  'k8s.gitops': gitops as Check<never>,
  'k8s.discover': discover as Check<never>,
};
