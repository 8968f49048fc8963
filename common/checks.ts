/**
 * Parameter schemas of every check type, shared by the Platform (validates when a task is created)
 * and the Runner (validates again before running: the Runner's own checks are the ceiling).
 */
import { z } from 'zod';
import { SecretRef } from './contracts';

const HeaderName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, 'must be an HTTP header name');

export const HttpProbeParams = z.strictObject({
  url: z.url({ protocol: /^https?$/, hostname: z.regexes.hostname }).max(2048),
  method: z.enum(['GET', 'HEAD']).default('GET'),
  /** Accepted status codes; without it any 2xx or 3xx is healthy. */
  expectedStatus: z.array(z.number().int().min(100).max(599)).min(1).max(20).optional(),
  /** Above this latency the endpoint counts as degraded. */
  maxLatencyMs: z.number().int().positive().max(600_000).default(1_000),
  /** Give up waiting for a response after this long: the endpoint counts as unavailable. */
  timeoutMs: z.number().int().positive().max(600_000).default(10_000),
  /**
   * A header whose value the Runner resolves from a local secret, through a secret binding of its
   * policy: `binding` names it (the binding fixes header and scheme), or `secretRef` names a
   * reference that exactly one binding holds. The Runner refuses any other.
   */
  auth: z
    .strictObject({
      binding: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be the name of a secret binding')
        .max(63)
        .optional(),
      secretRef: SecretRef.optional(),
      header: HeaderName.optional(),
      /** Prefix put before the secret value, e.g. `Bearer `; must equal the binding's. */
      scheme: z
        .string()
        .max(32)
        .regex(/^[A-Za-z0-9 _-]*$/)
        .optional(),
    })
    .refine((a) => a.binding !== undefined || a.secretRef !== undefined, 'name a secret binding (or a secretRef a binding holds)')
    .optional(),
});
export type HttpProbeParams = z.infer<typeof HttpProbeParams>;

const Namespace = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name')
  .max(63);

/** Which objects a Kubernetes check looks at. Without `namespaces`, every namespace not excluded. */
const K8sScope = {
  namespaces: z.array(Namespace).min(1).max(100).optional(),
  excludeNamespaces: z.array(Namespace).max(100).default([]),
  labelSelector: z
    .string()
    .max(512)
    .regex(/^[A-Za-z0-9_./!=,()\s-]*$/, 'must be a label selector')
    .optional(),
};

export const PodRestartsParams = z.strictObject({ ...K8sScope, restartThreshold: z.number().int().min(1).max(10_000).default(3) });
export type PodRestartsParams = z.infer<typeof PodRestartsParams>;
export const PodStatusParams = z.strictObject({ ...K8sScope, pendingMinutes: z.number().int().min(0).max(10_080).default(5) });
export type PodStatusParams = z.infer<typeof PodStatusParams>;
export const ImagePullParams = z.strictObject({ ...K8sScope });
export type ImagePullParams = z.infer<typeof ImagePullParams>;
export const WorkloadAvailabilityParams = z.strictObject({ ...K8sScope });
export type WorkloadAvailabilityParams = z.infer<typeof WorkloadAvailabilityParams>;
export const WarningEventsParams = z.strictObject({
  ...K8sScope,
  sinceMinutes: z.number().int().min(1).max(10_080).default(60),
  minCount: z.number().int().min(1).max(100_000).default(1),
});
export type WarningEventsParams = z.infer<typeof WarningEventsParams>;
export const NodeConditionsParams = z.strictObject({ labelSelector: K8sScope.labelSelector });
export type NodeConditionsParams = z.infer<typeof NodeConditionsParams>;
export const PvcBindingParams = z.strictObject({ ...K8sScope, pendingMinutes: z.number().int().min(0).max(10_080).default(5) });
export type PvcBindingParams = z.infer<typeof PvcBindingParams>;
export const JobsParams = z.strictObject({ ...K8sScope, cronjobStaleHours: z.number().int().min(1).max(8_760).default(24) });
export type JobsParams = z.infer<typeof JobsParams>;
export const ServiceEndpointsParams = z.strictObject({ ...K8sScope });
export type ServiceEndpointsParams = z.infer<typeof ServiceEndpointsParams>;
export const TlsExpiryParams = z.strictObject({
  ...K8sScope,
  warnDays: z.number().int().min(1).max(3_650).default(30),
  criticalDays: z.number().int().min(0).max(3_650).default(7),
});
export type TlsExpiryParams = z.infer<typeof TlsExpiryParams>;
export const HpaLimitsParams = z.strictObject({ ...K8sScope });
export type HpaLimitsParams = z.infer<typeof HpaLimitsParams>;
export const QuotaUsageParams = z.strictObject({ ...K8sScope, thresholdPercent: z.number().min(1).max(100).default(90) });
export type QuotaUsageParams = z.infer<typeof QuotaUsageParams>;
export const NamespaceHealthParams = z.strictObject({
  namespace: Namespace,
  restartThreshold: z.number().int().min(1).max(10_000).default(3),
});
export type NamespaceHealthParams = z.infer<typeof NamespaceHealthParams>;

/** Every check type Lookout knows, with its parameter schema. */
export const CHECK_PARAMS = {
  'http.probe': HttpProbeParams,
  'k8s.pod-restarts': PodRestartsParams,
  'k8s.pod-status': PodStatusParams,
  'k8s.image-pull': ImagePullParams,
  'k8s.workload-availability': WorkloadAvailabilityParams,
  'k8s.warning-events': WarningEventsParams,
  'k8s.node-conditions': NodeConditionsParams,
  'k8s.pvc-binding': PvcBindingParams,
  'k8s.jobs': JobsParams,
  'k8s.service-endpoints': ServiceEndpointsParams,
  'k8s.tls-expiry': TlsExpiryParams,
  'k8s.hpa-limits': HpaLimitsParams,
  'k8s.quota-usage': QuotaUsageParams,
  'k8s.namespace-health': NamespaceHealthParams,
} as const satisfies Record<string, z.ZodType>;
export type CheckType = keyof typeof CHECK_PARAMS;
export const CHECK_TYPES = Object.keys(CHECK_PARAMS) as CheckType[];

export function isCheckType(value: string): value is CheckType {
  return Object.hasOwn(CHECK_PARAMS, value);
}
