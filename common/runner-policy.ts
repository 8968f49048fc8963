/**
 * The Runner policy: the Runner operator's own file and the one ceiling of what the Runner does,
 * whoever commands it. It names the check types the Runner runs, the destinations checks may
 * contact (`http.probe`, `prometheus.query`, `tls.endpoint`, `postgres.health`; `dns.resolve` looks
 * up only names they cover), the secret bindings (a secret reference plus where its value may go), which checks may
 * return raw excerpts, and the namespaces whose TLS Secrets `k8s.tls-expiry` may read.
 *
 * The schema and the matching rules live here because the Platform uses the same rules on the
 * summary a Runner reports (`describeRunner`), to refuse at task creation what the Runner will
 * refuse. The Platform never sees a secret reference of a binding, only the binding's name.
 */
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { canonicalJson } from './canonical-json';
import { CLEAR_NAMES_REFUSED, clearNamesIn, NamesMode } from './discovery';
import { CHECK_TYPES, endpointHost, isCheckType, postgresUrl, prometheusQueryUrl, Sslmode, type PostgresHealthParams } from './checks';
import { SecretRef } from './contracts';
import { signingKeyId } from './task-envelope';
import { isPackCheckType, KubernetesRule, PackSummary, parameterProblems, splitPackCheckType } from './packs';

const Name = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lower-case name (letters, digits, -)')
  .max(63);

/** `api.example.com` or `*.example.com` (any name below, not the suffix itself); an IP literal is exact. */
const HostPattern = z
  .string()
  .max(253)
  .transform((h) => h.toLowerCase())
  .refine(
    (h) => /^(\*\.)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(h) || /^\[[0-9a-f:.]+\]$/.test(h),
    'must be a host name, *.suffix or an IP address',
  );

/** An IPv4 or IPv6 range in CIDR notation. */
const Cidr = z
  .string()
  .max(64)
  .regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, 'must be a CIDR range such as 10.0.0.0/8');

export const Destination = z.strictObject({
  name: Name,
  /**
   * `postgres`: a PostgreSQL server for `postgres.health`, matched as `postgres://host:port/<database>`.
   * `tls`: a TLS service that is not HTTP, for `tls.endpoint` (which may also reach `https` ones).
   */
  scheme: z.enum(['https', 'http', 'postgres', 'tls']).default('https'),
  host: HostPattern,
  /** The port; default the scheme's (443, 80, 5432; 443 for tls); `*` any port. */
  port: z.union([z.number().int().min(1).max(65535), z.literal('*')]).optional(),
  /** Only paths under this prefix; default `/` (any). */
  pathPrefix: z.string().startsWith('/').max(512).default('/'),
  /**
   * Ranges outside the public internet (loopback, private, link-local, unique-local, …) that this
   * destination may resolve to. Without them such addresses are refused at connect time.
   */
  allowAddresses: z.array(Cidr).max(32).default([]),
  /**
   * `postgres` only: the weakest `sslmode` a task may use here. Without it only `verify-full` (TLS,
   * certificate checked against the host name); `require` also allows TLS without that check,
   * `disable` also allows no TLS at all (then only SCRAM is answered: see postgres.health).
   */
  allowSslmode: Sslmode.optional(),
});
export type Destination = z.infer<typeof Destination>;

/** A header value prefix: printable ASCII only, so that no CR, LF or NUL can split a header. */
const HeaderScheme = z
  .string()
  .max(32)
  .regex(/^[A-Za-z0-9 _-]*$/, 'may hold letters, digits, spaces, _ and - only');
const HeaderName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, 'must be an HTTP header name');

/** Environment variables that hold the Runner's own credentials: never resolvable, whatever a binding says. */
export const RESERVED_ENV = /^(LOOKOUT_|TEMPORAL_|VAULT_|BAO_|KUBERNETES_|AWS_|GOOGLE_|AZURE_)/;

/** A secret reference a binding may hold: `vault:` may end its path in `/*` (any secret below). */
const BindingRef = z
  .string()
  .max(512)
  .refine(
    (r) => SecretRef.safeParse(r.replace(/\/\*#/, '/any#')).success,
    'must be env:NAME, k8s:<namespace>/<secret>#<key> or vault:<mount>/<path>#<field>',
  )
  .refine((r) => !r.split(/[/#]/).includes('..'), 'may not contain ".."')
  .refine(
    (r) => !r.startsWith('env:') || !RESERVED_ENV.test(r.slice(4)),
    "names one of the Runner's own credentials (LOOKOUT_*, TEMPORAL_*, …)",
  )
  .refine((r) => r.startsWith('vault:') || !r.includes('*'), 'only vault: references may end in /*');

export const SecretBinding = z.strictObject({
  name: Name,
  ref: BindingRef,
  /** Names of destinations the value may be sent to. */
  destinations: z.array(Name).min(1).max(32),
  /**
   * HTTP destinations only, like `scheme`: sent to a `postgres` destination, the value is the
   * password of the task's role (answered to SCRAM), and both are ignored.
   */
  header: HeaderName.default('Authorization'),
  /** What the header value starts with, before the secret (e.g. `Bearer `). */
  scheme: HeaderScheme.default(''),
});
export type SecretBinding = z.infer<typeof SecretBinding>;

/** A built-in check type, or `<pack>/<check>` of a pack the policy lists (checked against the packs below). */
const CheckTypeName = z
  .string()
  .max(64)
  .superRefine((type, ctx) => {
    if (!isCheckType(type) && !isPackCheckType(type))
      ctx.addIssue({ code: 'custom', message: `unknown check type ${JSON.stringify(type)}: a built-in type or <pack>/<check>` });
  });

/**
 * Where a pack's code comes from, pinned by the Runner's owner: a git repository at an exact commit
 * (fetched by the Runner over its outbound connection; `ref`, when given, must still point at that
 * commit) and a folder inside it, or a folder baked into the Runner's image (air-gapped sites).
 */
const PackSource = z.union([
  z.strictObject({
    git: z.strictObject({
      url: z
        .string()
        .max(2048)
        .refine(
          (u) => /^(https:\/\/|http:\/\/|file:\/\/|\/)/.test(u) && !/[\s]/.test(u),
          'must be an https://, http://, file:// URL or an absolute path',
        ),
      commit: z.string().regex(/^[0-9a-f]{40}$/, 'must be a full 40-digit commit id'),
      ref: z
        .string()
        .max(255)
        .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, 'must be a branch or tag name')
        .optional(),
      path: z
        .string()
        .max(512)
        .regex(/^([A-Za-z0-9_][A-Za-z0-9_.-]*)(\/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$|^$/, 'must be a relative folder inside the repository')
        .refine((p) => !p.split('/').includes('..'), 'may not leave the repository')
        .default(''),
    }),
  }),
  z.strictObject({ dir: z.string().max(4096).startsWith('/', 'must be an absolute path') }),
]);

/** One pack the Runner loads, and what its owner grants it: no pack check gets more than this. */
export const PolicyPack = z.strictObject({
  name: Name.max(40),
  source: PackSource,
  /** `sha256:` of the pack's files: when given, a pack with any other content is refused. */
  digest: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/)
    .optional(),
  /**
   * git's allowed-signers lines (`<principal> ssh-ed25519 AAAA…`): when given, the pinned commit must
   * carry a valid SSH signature by one of them.
   */
  signers: z
    .array(
      z
        .string()
        .max(4096)
        .regex(
          /^[^\s]+ (ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ssh-rsa|sk-ssh-ed25519@openssh.com) [A-Za-z0-9+/=]+( .*)?$/,
          'must be an allowed-signers line: <principal> <key type> <base64 key>',
        ),
    )
    .max(16)
    .default([]),
  /** Names of the policy's destinations the pack's scripts may reach (and only hosts the pack declares under them). */
  destinations: z.array(Name).max(32).default([]),
  /** Names of the policy's secret bindings the pack's checks may read. */
  secretBindings: z.array(Name).max(16).default([]),
  /** The Kubernetes read rules the pack's checks may use; a check declaring more is refused. */
  kubernetes: z.array(KubernetesRule).max(32).default([]),
});
export type PolicyPack = z.infer<typeof PolicyPack>;

export const RunnerPolicy = z
  .strictObject({
    /** The check types this Runner runs; anything else is refused. */
    checks: z
      .array(CheckTypeName)
      .max(CHECK_TYPES.length + 100)
      .default([]),
    /** Check types whose raw excerpts (issue `details`: messages, log lines, response bodies) may leave. */
    rawData: z.strictObject({ allow: z.array(CheckTypeName).default([]) }).default({ allow: [] }),
    destinations: z.array(Destination).max(256).default([]),
    secretBindings: z.array(SecretBinding).max(256).default([]),
    /**
     * The Platform's task-signing public keys (base64 of the raw 32-byte Ed25519 key), several during
     * a rotation. A task not signed by one of them is refused; with none, every task is.
     */
    platformKeys: z
      .array(z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be a base64 Ed25519 public key (32 bytes)'))
      .max(16)
      .default([]),
    /** Namespaces whose `kubernetes.io/tls` Secrets `k8s.tls-expiry` may read (certificates only). */
    tlsSecrets: z.strictObject({ namespaces: z.array(Name).max(256).default([]) }).default({ namespaces: [] }),
    /** Check packs: pinned by source and revision here, never shipped by the Platform. */
    packs: z.array(PolicyPack).max(32).default([]),
    /**
     * How Kubernetes names leave this Runner (common/discovery.ts): `clear`, `hashed` (in every
     * result, under a key only the Runner holds) or `counts` (the inventory counts only).
     */
    discovery: z.strictObject({ names: NamesMode.default('clear') }).default({ names: 'clear' }),
  })
  .superRefine((p, ctx) => {
    const packs = new Set<string>();
    p.packs.forEach((pack, i) => {
      if (packs.has(pack.name)) ctx.addIssue({ code: 'custom', path: ['packs', i, 'name'], message: `duplicate pack ${pack.name}` });
      packs.add(pack.name);
      pack.destinations.forEach((d, j) => {
        if (!p.destinations.some((x) => x.name === d))
          ctx.addIssue({ code: 'custom', path: ['packs', i, 'destinations', j], message: `no destination named ${d}` });
      });
      pack.secretBindings.forEach((b, j) => {
        if (!p.secretBindings.some((x) => x.name === b))
          ctx.addIssue({ code: 'custom', path: ['packs', i, 'secretBindings', j], message: `no secret binding named ${b}` });
      });
    });
    const packTypes = (list: readonly string[], path: (string | number)[]) =>
      list.forEach((type, i) => {
        const split = splitPackCheckType(type);
        if (split && !packs.has(split.pack))
          ctx.addIssue({ code: 'custom', path: [...path, i], message: `${type} names pack ${split.pack}, which packs does not list` });
      });
    packTypes(p.checks, ['checks']);
    packTypes(p.rawData.allow, ['rawData', 'allow']);
    const names = new Set<string>();
    p.destinations.forEach((d, i) => {
      if (names.has(d.name))
        ctx.addIssue({ code: 'custom', path: ['destinations', i, 'name'], message: `duplicate destination ${d.name}` });
      names.add(d.name);
      if (d.allowSslmode !== undefined && d.scheme !== 'postgres')
        ctx.addIssue({
          code: 'custom',
          path: ['destinations', i, 'allowSslmode'],
          message: 'only a postgres destination takes allowSslmode',
        });
    });
    const bindings = new Set<string>();
    p.secretBindings.forEach((b, i) => {
      if (bindings.has(b.name))
        ctx.addIssue({ code: 'custom', path: ['secretBindings', i, 'name'], message: `duplicate binding ${b.name}` });
      bindings.add(b.name);
      b.destinations.forEach((d, j) => {
        if (!names.has(d))
          ctx.addIssue({ code: 'custom', path: ['secretBindings', i, 'destinations', j], message: `no destination named ${d}` });
      });
    });
  });
export type RunnerPolicy = z.infer<typeof RunnerPolicy>;

/** What a Runner tells the Platform about its policy: names and shapes, never a secret reference. */
export const PolicySummary = z.strictObject({
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  checks: z.array(z.string().max(64)).max(100),
  rawData: z.array(z.string().max(64)).max(100),
  destinations: z.array(Destination.omit({ allowAddresses: true }).extend({ privateAddresses: z.boolean() })).max(256),
  secretBindings: z
    .array(
      z.strictObject({ name: Name, destinations: z.array(Name).max(32), header: HeaderName, provider: z.enum(['env', 'k8s', 'vault']) }),
    )
    .max(256),
  tlsSecretNamespaces: z.array(Name).max(256),
  /** Ids of the pinned Platform keys (`signingKeyId`). */
  platformKeyIds: z.array(z.string().regex(/^[0-9a-f]{16}$/)).max(16),
  /** The packs the Runner loaded: manifests' shapes (types, parameter schemas, needs) and digests, never code. */
  packs: z.array(PackSummary).max(32).default([]),
  /** How Kubernetes names leave the Runner (older Runners: in clear). */
  discoveryNames: NamesMode.default('clear'),
});
export type PolicySummary = z.infer<typeof PolicySummary>;

/** `sha256:<hex>` of the policy's canonical JSON: the same policy always has the same digest. */
export function policyDigest(policy: RunnerPolicy): string {
  return `sha256:${createHash('sha256').update(canonicalJson(policy)).digest('hex')}`;
}

export function summarizePolicy(policy: RunnerPolicy, packs: readonly PackSummary[] = []): PolicySummary {
  return {
    digest: policyDigest(policy),
    checks: [...policy.checks].sort(),
    rawData: [...policy.rawData.allow].sort(),
    destinations: policy.destinations.map(({ allowAddresses, ...d }) => ({ ...d, privateAddresses: allowAddresses.length > 0 })),
    secretBindings: policy.secretBindings.map((b) => ({
      name: b.name,
      destinations: b.destinations,
      header: b.header,
      provider: b.ref.slice(0, b.ref.indexOf(':')) as 'env' | 'k8s' | 'vault',
    })),
    tlsSecretNamespaces: [...policy.tlsSecrets.namespaces].sort(),
    platformKeyIds: policy.platformKeys.map((k) => signingKeyId(Buffer.from(k, 'base64'))),
    packs: [...packs],
    discoveryNames: policy.discovery.names,
  };
}

const DEFAULT_PORTS: Record<string, number> = { 'https:': 443, 'http:': 80, 'postgres:': 5432, 'tls:': 443 };

/** True when `host` (lower case, from a parsed URL) matches `pattern` (exact, or `*.suffix` for any name below it). */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return host === pattern;
}

/**
 * The destination a URL falls under, or undefined: scheme, host, port and path prefix must all
 * match. The URL is the WHATWG-parsed one, so decimal, hex and octal IPv4 forms are already
 * normalised (`http://2130706433/` is `127.0.0.1`).
 */
export function destinationFor<D extends Pick<Destination, 'scheme' | 'host' | 'port' | 'pathPrefix'>>(
  destinations: readonly D[],
  url: URL,
): D | undefined {
  const port = url.port ? Number(url.port) : DEFAULT_PORTS[url.protocol];
  const path = decodeURIComponent(url.pathname);
  return destinations.find(
    (d) =>
      `${d.scheme}:` === url.protocol &&
      hostMatches(d.host, url.hostname.toLowerCase()) &&
      (d.port === '*' || (d.port ?? DEFAULT_PORTS[`${d.scheme}:`]) === port) &&
      !path.split('/').includes('..') &&
      (d.pathPrefix === '/' || path === d.pathPrefix || path.startsWith(d.pathPrefix.endsWith('/') ? d.pathPrefix : `${d.pathPrefix}/`)),
  );
}

/**
 * The destination whose host pattern covers a DNS name (`dns.resolve`), whatever its scheme, port
 * or path: a name the Runner may contact it may also look up, and no other (a query for any other
 * name would carry that name to the DNS servers, which is a way out of the cluster too).
 */
export function destinationForName<D extends Pick<Destination, 'host'>>(destinations: readonly D[], name: string): D | undefined {
  const host = name.toLowerCase();
  return destinations.find((d) => !d.host.startsWith('[') && hostMatches(d.host, host));
}

/**
 * The destination a TLS endpoint (`tls.endpoint`) falls under: scheme `tls` or `https`, host and
 * port matching; a path prefix does not apply (the handshake requests no path). `host` as
 * {@link endpointHost} normalises it.
 */
export function tlsDestinationFor<D extends Pick<Destination, 'scheme' | 'host' | 'port'>>(
  destinations: readonly D[],
  host: string,
  port: number,
): D | undefined {
  return destinations.find(
    (d) =>
      (d.scheme === 'tls' || d.scheme === 'https') &&
      hostMatches(d.host, host) &&
      (d.port === '*' || (d.port ?? DEFAULT_PORTS[`${d.scheme}:`]) === port),
  );
}

/** True when a binding's reference covers the task's reference (exact, or `vault:` under a `/*` prefix). */
export function bindingCovers(bindingRef: string, ref: string): boolean {
  if (ref.split(/[/#]/).includes('..')) return false;
  if (bindingRef === ref) return true;
  const wildcard = /^(vault:.+\/)\*(#.+)$/.exec(bindingRef);
  if (!wildcard) return false;
  const [, prefix, field] = wildcard as unknown as [string, string, string];
  return ref.startsWith(prefix) && ref.endsWith(field) && !ref.slice(prefix.length, ref.length - field.length).includes('#');
}

/**
 * Why a Runner with this policy will refuse a task, or undefined when it will run it: the
 * Platform's early answer at task creation (the Runner decides again, on its own policy, at run time).
 * `params` are already parsed by the check type's schema.
 */
export function policyRefusal(
  summary: PolicySummary,
  checkType: string,
  params: Record<string, unknown>,
): { path: string; message: string } | undefined {
  if (!summary.checks.includes(checkType)) return { path: 'checkType', message: `the Runner's policy does not allow ${checkType}` };
  if (summary.discoveryNames === 'hashed' && clearNamesIn(params).length) return { path: 'params', message: CLEAR_NAMES_REFUSED };
  const split = splitPackCheckType(checkType);
  if (split) {
    const check = summary.packs.find((p) => p.name === split.pack)?.checks.find((c) => c.type === checkType);
    if (!check)
      return {
        path: 'checkType',
        message: `the Runner has not loaded ${checkType} (its pack ${split.pack} did not load or has no such check)`,
      };
    const problems = parameterProblems(check.parameters, params);
    return problems.length
      ? { path: 'params', message: `the parameters do not match the schema of ${checkType}: ${problems.join('; ')}` }
      : undefined;
  }
  if (checkType === 'postgres.health') return postgresRefusal(summary, params as PostgresHealthParams);
  if (checkType === 'dns.resolve') return dnsRefusal(summary, String(params['name']));
  if (checkType === 'tls.endpoint') return tlsRefusal(summary, String(params['host']), Number(params['port']));
  if (checkType !== 'http.probe' && checkType !== 'prometheus.query') return undefined;
  let url: URL;
  try {
    // prometheus.query reaches `<url>/api/v1/query`: that is what the destination must cover.
    url = checkType === 'prometheus.query' ? prometheusQueryUrl(String(params['url'])) : new URL(String(params['url']));
  } catch {
    return { path: 'params.url', message: 'not a URL' };
  }
  const destination = destinationFor(summary.destinations, url);
  if (!destination) return { path: 'params.url', message: `${url.protocol}//${url.host} is not a destination of the Runner's policy` };
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (!destination.privateAddresses && ipaddr.isValid(literal) && ipaddr.process(literal).range() !== 'unicast') {
    return { path: 'params.url', message: `${url.host} is not a public address, and destination ${destination.name} allows no other` };
  }
  const auth = params['auth'] as { binding?: string; header?: string } | undefined;
  if (!auth) return undefined;
  if (auth.binding === undefined) return undefined; // a bare secretRef: only the Runner knows which binding holds it
  const binding = summary.secretBindings.find((b) => b.name === auth.binding);
  if (!binding) return { path: 'params.auth.binding', message: `the Runner's policy has no secret binding named ${auth.binding}` };
  if (!binding.destinations.includes(destination.name)) {
    return { path: 'params.auth.binding', message: `secret binding ${binding.name} may not be sent to destination ${destination.name}` };
  }
  if (auth.header !== undefined && auth.header.toLowerCase() !== binding.header.toLowerCase()) {
    return { path: 'params.auth.header', message: `secret binding ${binding.name} may be sent only in the ${binding.header} header` };
  }
  return undefined;
}

/** `policyRefusal` of a `dns.resolve` task: its name must be one a destination covers. */
function dnsRefusal(summary: PolicySummary, name: string): { path: string; message: string } | undefined {
  if (destinationForName(summary.destinations, name)) return undefined;
  return { path: 'params.name', message: `${name} is not covered by a destination of the Runner's policy` };
}

/** `policyRefusal` of a `tls.endpoint` task: host and port under a `tls` or `https` destination, a literal address it allows. */
function tlsRefusal(summary: PolicySummary, rawHost: string, port: number): { path: string; message: string } | undefined {
  let host: string;
  try {
    host = endpointHost(rawHost);
  } catch {
    return { path: 'params.host', message: 'not a host' };
  }
  const destination = tlsDestinationFor(summary.destinations, host, port);
  if (!destination)
    return { path: 'params.host', message: `${host}:${port} is not under a tls or https destination of the Runner's policy` };
  const literal = host.replace(/^\[|\]$/g, '');
  if (!destination.privateAddresses && ipaddr.isValid(literal) && ipaddr.process(literal).range() !== 'unicast') {
    return { path: 'params.host', message: `${host} is not a public address, and destination ${destination.name} allows no other` };
  }
  return undefined;
}

const SSLMODE_STRENGTH: Readonly<Record<Sslmode, number>> = { disable: 0, require: 1, 'verify-full': 2 };

/** True when `destination` lets a check connect with `sslmode` (by default only `verify-full`). */
export function sslmodeAllowed(destination: Pick<Destination, 'allowSslmode'>, sslmode: Sslmode): boolean {
  return SSLMODE_STRENGTH[sslmode] >= SSLMODE_STRENGTH[destination.allowSslmode ?? 'verify-full'];
}

/** `policyRefusal` of a `postgres.health` task: its server, its sslmode and its password's binding. */
function postgresRefusal(summary: PolicySummary, params: PostgresHealthParams): { path: string; message: string } | undefined {
  const url = postgresUrl(params);
  const destination = destinationFor(summary.destinations, url);
  if (!destination)
    return { path: 'params.host', message: `${url.protocol}//${url.host}${url.pathname} is not a destination of the Runner's policy` };
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (!destination.privateAddresses && ipaddr.isValid(literal) && ipaddr.process(literal).range() !== 'unicast') {
    return { path: 'params.host', message: `${url.host} is not a public address, and destination ${destination.name} allows no other` };
  }
  if (!sslmodeAllowed(destination, params.sslmode)) {
    return {
      path: 'params.sslmode',
      message: `destination ${destination.name} allows sslmode ${destination.allowSslmode ?? 'verify-full'} or stronger only`,
    };
  }
  const binding = summary.secretBindings.find((b) => b.name === params.auth.binding);
  if (!binding) return { path: 'params.auth.binding', message: `the Runner's policy has no secret binding named ${params.auth.binding}` };
  if (!binding.destinations.includes(destination.name)) {
    return { path: 'params.auth.binding', message: `secret binding ${binding.name} may not be sent to destination ${destination.name}` };
  }
  return undefined;
}
