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

/**
 * How `postgres.health` protects its connection, weakest first: `disable` (no TLS), `require` (TLS,
 * the server's certificate unchecked), `verify-full` (TLS, the certificate checked against the host
 * name with the Runner's CA bundle). A Runner destination allows `verify-full` only unless its
 * `allowSslmode` names a weaker mode.
 */
export const Sslmode = z.enum(['disable', 'require', 'verify-full']);
export type Sslmode = z.infer<typeof Sslmode>;

/** A PostgreSQL name (database or role) without quoting tricks: no `/`, no spaces, no leading `.`. */
const PgName = (what: string) =>
  z
    .string()
    .max(63)
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_$.@-]*$/, `must be a ${what} name (letters, digits, _ $ . @ -)`);

export const PostgresHealthParams = z
  .strictObject({
    /** A host name, an IPv4 address or a bracketed IPv6 address; matched to a `postgres` destination. */
    host: z
      .string()
      .max(253)
      .refine(
        (h) => z.regexes.hostname.test(h) || (/^\[.+\]$/.test(h) && z.regexes.ipv6.test(h.slice(1, -1))),
        'must be a host name or an IP address',
      ),
    port: z.number().int().min(1).max(65535).default(5432),
    database: PgName('database'),
    user: PgName('role'),
    /** The password, from the Runner's secret binding of this name (which must allow the destination). */
    auth: z.strictObject({
      binding: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be the name of a secret binding')
        .max(63),
    }),
    sslmode: Sslmode.default('verify-full'),
    connectionsWarnPercent: z.number().min(1).max(100).default(80),
    connectionsCriticalPercent: z.number().min(1).max(100).default(95),
    /** A transaction open longer than this is reported (count and oldest age only). */
    longTransactionSeconds: z.number().int().min(1).max(604_800).default(300),
    /** A standby whose replay is further behind than this is reported. */
    replicationLagSeconds: z.number().int().min(1).max(604_800).default(30),
    /** More sessions waiting on another's lock than this are reported. */
    blockedQueriesMax: z.number().int().min(0).max(10_000).default(0),
    /** Connecting and every query together; also the server-side statement timeout. */
    timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  })
  .refine((p) => p.connectionsCriticalPercent >= p.connectionsWarnPercent, {
    path: ['connectionsCriticalPercent'],
    message: 'must not be below connectionsWarnPercent',
  });
export type PostgresHealthParams = z.infer<typeof PostgresHealthParams>;

/**
 * The URL a `postgres.health` target is matched to the Runner's destinations with:
 * `postgres://<host>:<port>/<database>` (so a destination's `pathPrefix` can name the database). The
 * host is normalised as a URL's (lower case, `127.1` and `2130706433` are `127.0.0.1`), the same on
 * the Platform and on the Runner.
 */
export function postgresUrl(params: Pick<PostgresHealthParams, 'host' | 'port' | 'database'>): URL {
  const host = new URL(`http://${params.host}/`).hostname;
  return new URL(`postgres://${host}:${params.port}/${encodeURIComponent(params.database)}`);
}

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
export const NodeConditionsParams = z.strictObject({
  labelSelector: K8sScope.labelSelector,
  /** Only these nodes (e.g. the node of a crash-looping pod, as a finding's next check names it). */
  nodes: z
    .array(
      z
        .string()
        .regex(/^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/, 'must be a node name')
        .max(253),
    )
    .min(1)
    .max(20)
    .optional(),
});
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
export const RolloutStuckParams = z.strictObject({
  ...K8sScope,
  /**
   * A StatefulSet or DaemonSet update, or a spec its controller has not observed, that has not
   * changed for this long has stopped (Deployments have their own progressDeadlineSeconds).
   */
  progressMinutes: z.number().int().min(0).max(10_080).default(10),
});
export type RolloutStuckParams = z.infer<typeof RolloutStuckParams>;
export const CertManagerParams = z.strictObject({
  ...K8sScope,
  warnDays: z.number().int().min(1).max(3_650).default(30),
  criticalDays: z.number().int().min(0).max(3_650).default(7),
});
export type CertManagerParams = z.infer<typeof CertManagerParams>;
export const GitopsParams = z.strictObject({
  ...K8sScope,
  /** A Flux object reconciling (Ready=Unknown), or never reconciled, for less than this is not reported. */
  reconcilingMinutes: z.number().int().min(0).max(10_080).default(10),
});
export type GitopsParams = z.infer<typeof GitopsParams>;
/** `k8s.discover`: the cluster's inventory; how names leave is the Runner policy's (`discovery.names`), not the task's. */
export const DiscoverParams = z.strictObject({
  /** Left out of the inventory altogether (so no rule makes tasks for them). */
  excludeNamespaces: z.array(Namespace).max(100).default(['kube-system', 'kube-public', 'kube-node-lease']),
});
export type DiscoverParams = z.infer<typeof DiscoverParams>;

/**
 * A DNS name as queried (absolute: the resolver's search domains are not applied): labels of
 * letters, digits, `-` and `_` (for `_service._proto` SRV names), no trailing dot, not an IP address.
 */
const DnsName = z
  .string()
  .max(253)
  .regex(
    /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*$/,
    'must be a DNS name (without a trailing dot)',
  )
  .refine((n) => !/^[0-9.]+$/.test(n), 'must be a name, not an IP address');

export const DnsRecordType = z.enum(['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SRV']);
export type DnsRecordType = z.infer<typeof DnsRecordType>;

export const DnsResolveParams = z
  .strictObject({
    /** Resolved only when a destination of the Runner policy covers it (its `host`, whatever its scheme). */
    name: DnsName,
    recordType: DnsRecordType.default('A'),
    expect: z
      .strictObject({
        /**
         * The whole expected answer: IP addresses for A and AAAA, target names for CNAME, MX and
         * SRV, whole strings for TXT. A missing value and any other value are both reported.
         */
        addresses: z.array(z.string().min(1).max(255)).min(1).max(64).optional(),
        /** At least this many records. */
        minAnswers: z.number().int().min(1).max(1_000).optional(),
      })
      .optional(),
    /** No answer within this long counts as a timeout (severity 1). */
    timeoutMs: z.number().int().min(100).max(60_000).default(5_000),
  })
  .superRefine((p, ctx) => {
    const valid: Record<DnsRecordType, [(v: string) => boolean, string]> = {
      A: [(v) => z.regexes.ipv4.test(v), 'an IPv4 address'],
      AAAA: [(v) => z.regexes.ipv6.test(v), 'an IPv6 address'],
      CNAME: [(v) => DnsName.safeParse(v.replace(/\.$/, '')).success, 'a DNS name'],
      MX: [(v) => DnsName.safeParse(v.replace(/\.$/, '')).success, 'a DNS name'],
      SRV: [(v) => DnsName.safeParse(v.replace(/\.$/, '')).success, 'a DNS name'],
      TXT: [() => true, 'a string'],
    };
    const [ok, what] = valid[p.recordType];
    p.expect?.addresses?.forEach((v, i) => {
      if (!ok(v)) ctx.addIssue({ code: 'custom', path: ['expect', 'addresses', i], message: `must be ${what} for ${p.recordType}` });
    });
  });
export type DnsResolveParams = z.infer<typeof DnsResolveParams>;

/** A host name, an IPv4 address or a bracketed IPv6 address. */
const EndpointHost = z
  .string()
  .max(253)
  .refine(
    (h) => z.regexes.hostname.test(h) || (/^\[.+\]$/.test(h) && z.regexes.ipv6.test(h.slice(1, -1))),
    'must be a host name, an IPv4 address or a bracketed IPv6 address',
  );

export const TlsEndpointParams = z
  .strictObject({
    /** Matched to a `tls` or `https` destination of the Runner policy (host and port). */
    host: EndpointHost,
    port: z.number().int().min(1).max(65535).default(443),
    /** The name sent in SNI and checked against the certificate; default `host`. */
    serverName: z.string().max(253).regex(z.regexes.hostname, 'must be a host name').optional(),
    warnDays: z.number().int().min(1).max(3_650).default(30),
    criticalDays: z.number().int().min(0).max(3_650).default(7),
    /** Connecting and the handshake together; past it the endpoint counts as unavailable. */
    timeoutMs: z.number().int().min(100).max(60_000).default(10_000),
  })
  .refine((p) => p.criticalDays <= p.warnDays, { path: ['criticalDays'], message: 'must not be above warnDays' });
export type TlsEndpointParams = z.infer<typeof TlsEndpointParams>;

/**
 * The host of a `tls.endpoint` task as it is matched to destinations and dialled, the same on the
 * Platform and on the Runner: normalised as a URL's (lower case, `127.1` and `2130706433` are
 * `127.0.0.1`, IPv6 in brackets).
 */
export function endpointHost(host: string): string {
  return new URL(`https://${host}/`).hostname;
}

export const PromComparison = z.enum(['>', '>=', '<', '<=', '==', '!=']);
export type PromComparison = z.infer<typeof PromComparison>;

export const PrometheusQueryParams = z
  .strictObject({
    /** The Prometheus base URL, e.g. `http://prometheus.monitoring:9090`; the check calls `<url>/api/v1/query`. */
    url: z
      .url({ protocol: /^https?$/, hostname: z.regexes.hostname })
      .max(2048)
      .refine((u) => !/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(u), 'must not carry credentials: use auth with a secret binding'),
    /** PromQL, evaluated now; an instant vector or a scalar. */
    query: z.string().min(1).max(4_096),
    /** A series breaches a threshold when `value <comparison> threshold` holds. */
    comparison: PromComparison,
    /** Breaching it is severity 3 (should be looked at). */
    warn: z.number().optional(),
    /** Breaching it is severity 1 (needs a human now). */
    critical: z.number().optional(),
    /** What a breach is called in findings (the kind of problem, e.g. `Queue backlog too long`); default from the query. */
    title: z.string().min(1).max(120).optional(),
    /** An empty result: an issue (severity 3, the check cannot see what it watches) or fine. */
    noData: z.enum(['issue', 'ok']).default('issue'),
    /** A header with a secret, through a secret binding of the Runner policy, as for `http.probe`. */
    auth: HttpProbeParams.shape.auth,
    /** The whole call; also sent to Prometheus as its evaluation timeout. */
    timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  })
  .refine((p) => p.warn !== undefined || p.critical !== undefined, { path: ['warn'], message: 'give a warn or a critical threshold' });
export type PrometheusQueryParams = z.infer<typeof PrometheusQueryParams>;

/**
 * The URL `prometheus.query` calls, and which the Runner's destinations must cover:
 * `<url>/api/v1/query`, without the base URL's query string or fragment.
 */
export function prometheusQueryUrl(base: string): URL {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/api/v1/query`;
  url.search = '';
  url.hash = '';
  return url;
}

/** Every check type Lookout knows, with its parameter schema. */
export const CHECK_PARAMS = {
  'http.probe': HttpProbeParams,
  'dns.resolve': DnsResolveParams,
  'tls.endpoint': TlsEndpointParams,
  'prometheus.query': PrometheusQueryParams,
  'postgres.health': PostgresHealthParams,
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
  'k8s.rollout-stuck': RolloutStuckParams,
  'k8s.cert-manager': CertManagerParams,
  'k8s.gitops': GitopsParams,
  'k8s.discover': DiscoverParams,
} as const satisfies Record<string, z.ZodType>;
export type CheckType = keyof typeof CHECK_PARAMS;
export const CHECK_TYPES = Object.keys(CHECK_PARAMS) as CheckType[];

export function isCheckType(value: string): value is CheckType {
  return Object.hasOwn(CHECK_PARAMS, value);
}
