/**
 * Process configuration: one zod schema per process, parsed once at start. A bad or missing
 * variable stops the process with one message that names every bad variable. Secrets have no
 * defaults, and their values never appear in an error.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import ipaddr from 'ipaddr.js';
import { CHECK_TYPES, isCheckType } from './checks';

function isIpOrCidr(v: string): boolean {
  try {
    if (v.includes('/')) ipaddr.parseCIDR(v);
    else ipaddr.parse(v);
    return true;
  } catch {
    return false;
  }
}

/** Raised by {@link parseConfig}; `message` lists every bad variable, one per line. */
export class ConfigError extends Error {
  constructor(
    readonly process: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid configuration for ${process}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const port = z.coerce.number().int().min(0).max(65535);
const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');
const postgresUrl = z
  .string()
  .min(1)
  .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// or postgresql:// URL');

/** 32 random bytes in base64; a secret, so no default and never echoed. */
/** The Platform's Ed25519 task-signing key: base64 of 32 bytes (`lookout keys signing-keygen`); default derived from the master key. */
const signingKey = z
  .string()
  .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes in base64 (lookout keys signing-keygen)')
  .optional();

const masterKey = z
  .string()
  .refine(
    (v) => /^[A-Za-z0-9+/]{43}=$/.test(v) && Buffer.from(v, 'base64').length === 32,
    'must be 32 bytes in base64 (openssl rand -base64 32)',
  );
/**
 * Older master keys, comma-separated, kept only while `lookout keys rewrap` moves what they wrapped
 * to LOOKOUT_MASTER_KEY; drop them once it reports nothing left.
 */
const previousMasterKeys = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean),
  )
  .pipe(z.array(masterKey).max(8))
  .optional();
/** A master key wrapped by Vault / OpenBao Transit (`vault:v<n>:…`). */
const wrappedMasterKey = z.string().regex(/^vault:v\d{1,9}:[A-Za-z0-9+/=]{20,2048}$/, 'must be a Transit ciphertext (vault:v<n>:…)');

/** Where Vault / OpenBao Transit is, with the key that wraps the master key. */
const kms = {
  LOOKOUT_KMS_ADDR: z.url({ protocol: /^https?$/ }).optional(),
  /** A token whose policy allows exactly the Transit key's decrypt (and, for the CLI, datakey and rewrap). */
  LOOKOUT_KMS_TOKEN: z.string().min(1).optional(),
  LOOKOUT_KMS_TRANSIT_MOUNT: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/)
    .default('transit'),
  LOOKOUT_KMS_TRANSIT_KEY: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/)
    .optional(),
  /** A private CA (PEM file) that signs the KMS's certificate. */
  LOOKOUT_KMS_CA_FILE: z.string().min(1).optional(),
};

/**
 * The master key, in clear (LOOKOUT_MASTER_KEY) or wrapped by the KMS (LOOKOUT_MASTER_KEY_WRAPPED,
 * unwrapped in memory at start); older keys for a rotation likewise.
 */
const masterKeys = {
  LOOKOUT_MASTER_KEY: masterKey.optional(),
  LOOKOUT_MASTER_KEY_PREVIOUS: previousMasterKeys,
  LOOKOUT_MASTER_KEY_WRAPPED: wrappedMasterKey.optional(),
  LOOKOUT_MASTER_KEY_PREVIOUS_WRAPPED: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean),
    )
    .pipe(z.array(wrappedMasterKey).max(8))
    .optional(),
  ...kms,
};
export type MasterKeyConfig = z.infer<z.ZodObject<typeof masterKeys>>;

/** Exactly one master key, and the KMS settings whenever a wrapped key is given. */
function refineMasterKeys(c: MasterKeyConfig, ctx: z.RefinementCtx): void {
  // It runs even when other variables are bad (MASTER_KEYS_CHECK), so values may be raw input here.
  if (!c.LOOKOUT_MASTER_KEY && !c.LOOKOUT_MASTER_KEY_WRAPPED)
    ctx.addIssue({ code: 'custom', path: ['LOOKOUT_MASTER_KEY'], message: 'required' });
  if (c.LOOKOUT_MASTER_KEY && c.LOOKOUT_MASTER_KEY_WRAPPED)
    ctx.addIssue({
      code: 'custom',
      path: ['LOOKOUT_MASTER_KEY'],
      message: 'give only one of LOOKOUT_MASTER_KEY and LOOKOUT_MASTER_KEY_WRAPPED',
    });
  if (c.LOOKOUT_MASTER_KEY_WRAPPED || c.LOOKOUT_MASTER_KEY_PREVIOUS_WRAPPED?.length)
    for (const name of ['LOOKOUT_KMS_ADDR', 'LOOKOUT_KMS_TOKEN', 'LOOKOUT_KMS_TRANSIT_KEY'] as const)
      if (!c[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'required with a wrapped master key' });
}

/** Reported with every other bad variable, not only once the rest is valid. */
const MASTER_KEYS_CHECK = { when: () => true };

/** `lookout kms …`: the KMS alone. */
export const KmsConfig = z.object(kms).superRefine((c, ctx) => {
  for (const name of ['LOOKOUT_KMS_ADDR', 'LOOKOUT_KMS_TOKEN', 'LOOKOUT_KMS_TRANSIT_KEY'] as const)
    if (!c[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'required' });
});
export type KmsConfig = z.infer<typeof KmsConfig>;

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');

/** `host:port` on which a process serves its Prometheus metrics, or `off`. */
const metricsListen = z.string().transform((v, ctx) => {
  // false, not undefined: zod puts the default in place of an undefined result.
  if (v === 'off') return false as const;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(v);
  const portNumber = m ? Number(m[2]) : NaN;
  if (!m || portNumber > 65535) {
    ctx.addIssue({ code: 'custom', message: 'must be host:port (e.g. 127.0.0.1:9464) or off' });
    return z.NEVER;
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: portNumber };
});

/**
 * Operator telemetry: Prometheus metrics on a port of their own (loopback unless told otherwise,
 * optionally behind a bearer token), and OpenTelemetry traces, off unless an OTLP/HTTP endpoint is
 * given. `defaultPort` differs per process so that all of them can run on one host.
 */
function telemetry(defaultPort: number) {
  return {
    LOOKOUT_METRICS_LISTEN: metricsListen.default({ host: '127.0.0.1', port: defaultPort }),
    /** Scrapers must send `Authorization: Bearer <token>`; without it, /metrics is open to whoever reaches the port. */
    LOOKOUT_METRICS_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
    /** An OTLP/HTTP collector (`http(s)://host:4318`, `/v1/traces` is appended unless given): traces are off without it. */
    LOOKOUT_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  };
}
export type TelemetrySettings = z.infer<z.ZodObject<ReturnType<typeof telemetry>>>;
/** Default metrics ports: the API, the platform worker and the Runner. */
export const METRICS_PORTS = { api: 9464, platformWorker: 9465, runner: 9466 } as const;

const temporal = {
  LOOKOUT_TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'must be host:port')
    .default('127.0.0.1:7233'),
  LOOKOUT_TEMPORAL_NAMESPACE: z.string().min(1).max(255).default('default'),
  /** TLS to Temporal; on by default when a CA, a client certificate or an API key is configured. */
  LOOKOUT_TEMPORAL_TLS: bool.optional(),
  /** Trust only this CA (PEM) for the server certificate. */
  LOOKOUT_TEMPORAL_TLS_CA_FILE: z.string().min(1).optional(),
  /** Client certificate and key (PEM) for mTLS. */
  LOOKOUT_TEMPORAL_TLS_CERT_FILE: z.string().min(1).optional(),
  LOOKOUT_TEMPORAL_TLS_KEY_FILE: z.string().min(1).optional(),
  LOOKOUT_TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** Sent as a bearer token (Temporal Cloud API keys). */
  LOOKOUT_TEMPORAL_API_KEY: z.string().min(1).optional(),
  LOOKOUT_LOG_LEVEL: logLevel,
};

/**
 * Where the Platform keeps each workspace in Temporal: `per-workspace` (default) registers a
 * namespace `<prefix><workspace id>` with each new workspace and deletes it on erasure; `shared`
 * keeps every workspace in LOOKOUT_TEMPORAL_NAMESPACE (a Temporal service where Lookout may not
 * create namespaces). Workspaces made before namespaces per workspace stay in the shared one until
 * moved (`lookout workspaces move-namespace`).
 */
/** Notification delivery (issue 19): the platform worker sends, the API sends `sinks test`. */
const notifications = {
  /**
   * Let sinks send to http:// and to loopback, private and link-local addresses. Off by default: a
   * sink URL is chosen by a workspace's owner, and the Platform must not be a way into its own network.
   */
  LOOKOUT_NOTIFY_ALLOW_PRIVATE: bool.default(false),
  /** Attempts per delivery before its notifications are dead-lettered. */
  LOOKOUT_NOTIFY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(8),
  /** The first retry's wait in ms; each next one doubles, up to five minutes. */
  LOOKOUT_NOTIFY_RETRY_MS: z.coerce.number().int().min(100).max(600_000).default(2_000),
};

const namespaces = {
  LOOKOUT_TEMPORAL_NAMESPACES: z.enum(['per-workspace', 'shared']).default('per-workspace'),
  LOOKOUT_TEMPORAL_NAMESPACE_PREFIX: z
    .string()
    .regex(/^[a-z][a-z0-9._-]{0,63}$/, 'must start with a letter and hold only a-z, 0-9, ".", "_" and "-" (at most 64)')
    .default('lookout-'),
  LOOKOUT_TEMPORAL_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
};
export type NamespaceSettings = { [K in keyof typeof namespaces]: z.infer<(typeof namespaces)[K]> } & {
  LOOKOUT_TEMPORAL_NAMESPACE: string;
};

export const ApiConfig = z
  .object({
    ...temporal,
    ...namespaces,
    DATABASE_URL: postgresUrl,
    ...masterKeys,
    /** The task-signing key, when not the one derived from the master key: its public key goes into Runner registrations. */
    LOOKOUT_PLATFORM_SIGNING_KEY: signingKey,
    /** Vault / OpenBao where workspace secrets are written; the secrets endpoints answer 503 without it. */
    LOOKOUT_VAULT_ADDR: z.url().optional(),
    /** The Platform's token: its policy may create, update, list and delete, never read. */
    LOOKOUT_VAULT_TOKEN: z.string().min(1).optional(),
    LOOKOUT_VAULT_MOUNT: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/)
      .default('lookout'),
    LOOKOUT_API_HOST: z.string().min(1).default('127.0.0.1'),
    LOOKOUT_API_PORT: port.default(8080),
    /** PostgreSQL connections the API keeps at most (the change feed holds one more). */
    LOOKOUT_DB_POOL_MAX: z.coerce.number().int().min(2).max(500).default(20),
    /** Finished runs whose views the API keeps in memory (0: none); the change feed empties them on retry, erasure and key changes. */
    LOOKOUT_API_RUN_CACHE_SIZE: z.coerce.number().int().min(0).max(1_000_000).default(2_000),
    /** How often counted API token uses are written to the audit log, one row per token (and `last_used_at`). */
    LOOKOUT_TOKEN_USE_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
    /** The Temporal endpoint Runners dial, handed out at registration; defaults to LOOKOUT_TEMPORAL_ADDRESS. */
    LOOKOUT_RUNNER_TEMPORAL_ADDRESS: z
      .string()
      .regex(/^[^\s:]+:\d+$/, 'must be host:port')
      .optional(),
    /**
     * A P-256 private key (PEM, `lookout temporal-keygen`): registrations then answer each Runner a
     * Temporal token for its workspace's namespace with the worker role, and the API publishes the
     * public key at /.well-known/lookout/temporal-jwks.json for the Temporal server to trust.
     */
    LOOKOUT_TEMPORAL_TOKEN_KEY_FILE: z.string().min(1).optional(),
    LOOKOUT_TEMPORAL_TOKEN_TTL_DAYS: z.coerce.number().int().min(1).max(825).default(90),
    /**
     * The proxies in front of the API whose X-Forwarded-For is believed (client addresses in the
     * audit log and the per-address login delays): a hop count (`1` behind one Ingress), or
     * addresses and CIDRs (and `loopback`, `linklocal`, `uniquelocal`), comma-separated. Unset:
     * none, the socket's peer is the client.
     */
    LOOKOUT_TRUST_PROXY: z
      .string()
      .transform((v, ctx) => {
        if (/^\d+$/.test(v.trim())) return Number(v.trim());
        const entries = v
          .split(',')
          .map((e) => e.trim())
          .filter(Boolean);
        for (const e of entries)
          if (!['loopback', 'linklocal', 'uniquelocal'].includes(e) && !isIpOrCidr(e))
            ctx.addIssue({ code: 'custom', message: `"${e}" is not a hop count, an address, a CIDR or loopback/linklocal/uniquelocal` });
        return entries;
      })
      .optional(),
    /** The URL users and Runners see; shown in links and in the quick start; the base of the OIDC and SAML callbacks. */
    LOOKOUT_PUBLIC_URL: z.url().optional(),
    /** The Temporal Web UI (http/https) the console links operators to, to replay a run; none by default. */
    LOOKOUT_TEMPORAL_UI_URL: z.url({ protocol: /^https?$/ }).optional(),
    /** Serve HTTPS (TLS 1.2+, AEAD suites only) with this certificate chain and key (PEM files). */
    LOOKOUT_API_TLS_CERT_FILE: z.string().min(1).optional(),
    LOOKOUT_API_TLS_KEY_FILE: z.string().min(1).optional(),
    /** OpenID Connect login and bearer JWTs: the provider's issuer URL (https) and this client. */
    LOOKOUT_OIDC_ISSUER: z.url({ protocol: /^https$/ }).optional(),
    LOOKOUT_OIDC_CLIENT_ID: z.string().min(1).optional(),
    LOOKOUT_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
    /** Audiences accepted on bearer JWTs, comma-separated; default the client id. */
    LOOKOUT_OIDC_AUDIENCES: z.string().min(1).optional(),
    /** A private CA (PEM file) that signs the provider's certificate. */
    LOOKOUT_OIDC_CA_FILE: z.string().min(1).optional(),
    /** SAML 2.0 login: the IdP's SSO URL, entity id and signing certificate (PEM file). */
    LOOKOUT_SAML_ENTRY_POINT: z.url().optional(),
    LOOKOUT_SAML_IDP_ENTITY_ID: z.string().min(1).optional(),
    LOOKOUT_SAML_IDP_CERT_FILE: z.string().min(1).optional(),
    /** This service provider's entity id; default <public URL>/v1/auth/saml/metadata. */
    LOOKOUT_SAML_SP_ENTITY_ID: z.string().min(1).optional(),
    /** The SAML IdP verifies the emails it asserts: SAML logins may then link to the account with that email. */
    LOOKOUT_SAML_EMAIL_VERIFIED: bool.default(false),
    /**
     * Where invitation mail goes out: smtps://[user:pass@]host[:465] or smtp://… (STARTTLS
     * required unless the host is loopback). Without it, members are invited with `lookout users invite`.
     */
    LOOKOUT_SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
    LOOKOUT_SMTP_FROM: z.string().min(3).max(320).default('Lookout <lookout@localhost>'),
    /** A private CA (PEM file) that signs the SMTP server's certificate. */
    LOOKOUT_SMTP_CA_FILE: z.string().min(1).optional(),
    ...notifications,
    ...telemetry(METRICS_PORTS.api),
  })
  .superRefine((c, ctx) => {
    /** When any of `names` is given, all of `names` and `also` are required. */
    const together = (names: (keyof typeof c)[], also: (keyof typeof c)[], why: string) => {
      const given = names.filter((n) => c[n] !== undefined);
      if (given.length === 0) return;
      for (const n of [...names, ...also].filter((x) => c[x] === undefined))
        ctx.addIssue({ code: 'custom', path: [n], message: `required with ${given.join(', ')} (${why})` });
    };
    together(['LOOKOUT_API_TLS_CERT_FILE', 'LOOKOUT_API_TLS_KEY_FILE'], [], 'HTTPS needs both');
    together(['LOOKOUT_OIDC_ISSUER', 'LOOKOUT_OIDC_CLIENT_ID'], ['LOOKOUT_PUBLIC_URL'], 'OIDC login');
    together(
      ['LOOKOUT_SAML_ENTRY_POINT', 'LOOKOUT_SAML_IDP_ENTITY_ID', 'LOOKOUT_SAML_IDP_CERT_FILE'],
      ['LOOKOUT_PUBLIC_URL'],
      'SAML login',
    );
  })
  .superRefine(refineMasterKeys, MASTER_KEYS_CHECK);
export type ApiConfig = z.infer<typeof ApiConfig>;

export const PlatformWorkerConfig = z
  .object({
    ...temporal,
    ...namespaces,
    /**
     * `i/n`: this replica serves the namespaces whose hash modulo n is i (workspaces spread over n
     * platform worker replicas); unset, it serves all.
     */
    LOOKOUT_WORKER_SHARD: z
      .string()
      .regex(/^\d+\/\d+$/, 'must be i/n, e.g. 0/3')
      .transform((v) => v.split('/').map(Number) as [number, number])
      .refine(([i, n]) => n >= 1 && i < n, 'i must be below n')
      .optional(),
    /** Comma-separated: serve only these namespaces (of those workspaces live in), e.g. a replica for one large workspace. */
    LOOKOUT_WORKER_NAMESPACES: z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      )
      .optional(),
    DATABASE_URL: postgresUrl,
    ...masterKeys,
    LOOKOUT_PLATFORM_SIGNING_KEY: signingKey,
    ...notifications,
    /** Links in notifications point here. */
    LOOKOUT_PUBLIC_URL: z.url().optional(),
    /** Email sinks without an SMTP server of their own send through this one (as invitations do). */
    LOOKOUT_SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
    LOOKOUT_SMTP_FROM: z.string().min(3).max(320).default('Lookout <lookout@localhost>'),
    LOOKOUT_SMTP_CA_FILE: z.string().min(1).optional(),
    ...telemetry(METRICS_PORTS.platformWorker),
  })
  .superRefine(refineMasterKeys, MASTER_KEYS_CHECK);
export type PlatformWorkerConfig = z.infer<typeof PlatformWorkerConfig>;

/** What `lookout keys signing-public` needs: the master key, and the configured signing key if any. */
export const SigningConfig = z
  .object({ ...masterKeys, LOOKOUT_PLATFORM_SIGNING_KEY: signingKey })
  .superRefine(refineMasterKeys, MASTER_KEYS_CHECK);

/** `ip`, `ip:port` or `[ipv6]:port` entries, comma-separated; as Node's `Resolver.setServers` takes them. */
const dnsServers = z
  .string()
  .max(1024)
  .transform((v, ctx) => {
    const items = v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const item of items) {
      const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+))(?::(\d{1,5}))?$|^([0-9a-fA-F:.]*:[0-9a-fA-F:.]*)$/.exec(item);
      const address = m?.[1] ?? m?.[2] ?? m?.[4];
      const port = m?.[3] === undefined ? 53 : Number(m[3]);
      const ip = address !== undefined && (z.regexes.ipv4.test(address) || z.regexes.ipv6.test(address));
      if (!ip || port < 1 || port > 65535)
        ctx.addIssue({ code: 'custom', message: 'must list IP addresses, each optionally with :port (IPv6 in brackets then)' });
    }
    if (!items.length) ctx.addIssue({ code: 'custom', message: 'must name at least one server' });
    return items;
  });

const checkList = z
  .string()
  .default(CHECK_TYPES.join(','))
  .transform((v, ctx) => {
    const items = v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const item of items) {
      if (!isCheckType(item)) ctx.addIssue({ code: 'custom', message: `unknown check type "${item}"` });
    }
    return items;
  });

export const RunnerConfig = z.object({
  ...temporal,
  LOOKOUT_RUNNER_ID: z.uuid(),
  LOOKOUT_WORKSPACE_ID: z.uuid(),
  /** The workspace's key file (from `lookout keys export`, mounted from a Kubernetes Secret). */
  LOOKOUT_RUNNER_KEYS_FILE: z.string().min(1),
  /**
   * The Runner's own Ed25519 key (base64 seed, the registration's `runnerKey`): results are signed
   * with it, so a stored result proves this Runner made it. Required once the Runner was registered
   * with one (the Platform then refuses results without its signature).
   */
  LOOKOUT_RUNNER_ATTESTATION_KEY_FILE: z.string().min(1).optional(),
  /**
   * The key (≥ 32 bytes, base64) under which names are hashed when the Runner policy says
   * `discovery.names: hashed`; it never leaves the Runner. Keep it: a new key renames everything.
   */
  LOOKOUT_RUNNER_NAMES_KEY_FILE: z.string().min(1).optional(),
  /** Vault / OpenBao for `vault:` references; without it, such references fail clearly. */
  LOOKOUT_VAULT_ADDR: z.url().optional(),
  LOOKOUT_VAULT_AUTH: z.enum(['approle', 'kubernetes', 'token']).default('approle'),
  LOOKOUT_VAULT_ROLE_ID: z.string().min(1).optional(),
  LOOKOUT_VAULT_SECRET_ID: z.string().min(1).optional(),
  LOOKOUT_VAULT_TOKEN: z.string().min(1).optional(),
  LOOKOUT_VAULT_K8S_ROLE: z.string().min(1).optional(),
  /** A kubeconfig for the Runner's cluster identity; without it, in a pod, the pod's service account. */
  LOOKOUT_KUBECONFIG: z.string().min(1).optional(),
  /** Longest wait for one Kubernetes API call; a check that hits it reports an `error` result. */
  LOOKOUT_KUBE_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(15_000),
  /**
   * The DNS servers `dns.resolve` asks, comma-separated: `10.96.0.10`, `10.96.0.10:53`, `[fd00::a]:53`
   * (e.g. the cluster's DNS Service). Unset: the servers of the Runner's /etc/resolv.conf.
   */
  LOOKOUT_DNS_SERVERS: dnsServers.optional(),
  /**
   * The Runner policy file (YAML): check types, destinations, secret bindings, raw-data rules. The
   * ceiling of everything the Runner does; without it, the Runner runs the checks of
   * LOOKOUT_RUNNER_ALLOWED_CHECKS and contacts no destination.
   */
  LOOKOUT_RUNNER_POLICY_FILE: z.string().min(1).optional(),
  /** Without a policy file: whether raw excerpts (logs, response bodies) may leave this Runner. */
  LOOKOUT_RUNNER_RAW_LOGS: z.enum(['deny', 'allow']).default('deny'),
  /** Without a policy file: the Platform public keys (base64, comma-separated) whose signed tasks this Runner runs. */
  LOOKOUT_RUNNER_PLATFORM_KEYS: z.string().max(4096).optional(),
  /** The Runner's local allowlist; with a policy file, it can only narrow the file's `checks`. */
  LOOKOUT_RUNNER_ALLOWED_CHECKS: checkList,
  /** Where the Runner keeps the packs it fetched (git objects and extracted folders); private to the Runner. */
  LOOKOUT_RUNNER_PACK_CACHE_DIR: z
    .string()
    .min(1)
    .default(path.join(os.tmpdir(), `lookout-packs-${process.getuid?.() ?? 'user'}`)),
  /** Simultaneous checks on this Runner. */
  LOOKOUT_RUNNER_MAX_CONCURRENT: z.coerce.number().int().min(1).max(256).default(8),
  /** How long a stopping Runner waits for running checks before it cancels them. */
  LOOKOUT_RUNNER_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  /** Loopback by default: the Runner opens nothing to the network unless its owner says so. */
  ...telemetry(METRICS_PORTS.runner),
});
export type RunnerConfig = z.infer<typeof RunnerConfig>;

/**
 * Parses `env` with `schema`. Unknown variables are ignored; every problem is collected so that one
 * start names them all. Messages name the variable and the rule, never the value.
 */
export function parseConfig<S extends z.ZodObject>(
  processName: string,
  schema: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<S> {
  // Empty strings are treated as unset, as shells and Helm often produce them.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(environment)';
    const missing = issue.code === 'invalid_type' && issue.input === undefined;
    return missing ? `${name}: required` : `${name}: ${issue.message}`;
  });
  throw new ConfigError(processName, [...new Set(problems)]);
}

/** `lookout temporal-token`: the token key only. */
export const TemporalTokenConfig = z.object({
  LOOKOUT_TEMPORAL_TOKEN_KEY_FILE: z.string().min(1),
  LOOKOUT_TEMPORAL_TOKEN_TTL_DAYS: z.coerce.number().int().min(1).max(825).default(90),
});

export const CliConfig = z
  .object({
    ...temporal,
    ...namespaces,
    DATABASE_URL: postgresUrl,
    ...masterKeys,
    LOOKOUT_LOG_LEVEL: logLevel,
  })
  .superRefine(refineMasterKeys, MASTER_KEYS_CHECK);
export type CliConfig = z.infer<typeof CliConfig>;

/** The CLI's commands that act through the API as a person would (`lookout issues …`): where, and with which token. */
export const ApiClientConfig = z.object({
  /** The API's base URL, e.g. https://lookout.example.com. */
  LOOKOUT_API_URL: z
    .url()
    .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
    .default('http://127.0.0.1:8080'),
  /** An API token of the workspace (never given on the command line, where other users of the host could read it). */
  LOOKOUT_TOKEN: z.string().min(1).max(512),
});
export type ApiClientConfig = z.infer<typeof ApiClientConfig>;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;
/** A comma-separated list of non-empty entries. */
const list = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean),
  )
  .refine((v) => v.length > 0, 'must name at least one entry');

export const CodecServerConfig = z
  .object({
    LOOKOUT_TEMPORAL_NAMESPACE: z.string().min(1).max(255).default('default'),
    LOOKOUT_LOG_LEVEL: logLevel,
    /** The workspace's key file, as the Runner has it. */
    LOOKOUT_CODEC_KEYS_FILE: z.string().min(1),
    LOOKOUT_CODEC_HOST: z.string().min(1).default('127.0.0.1'),
    LOOKOUT_CODEC_PORT: port.default(8089),
    /**
     * `token`: one shared bearer token (the Temporal CLI's `--codec-auth`); `oidc`: the signed-in
     * user's access token, which the Temporal Web UI passes on, verified against the provider and
     * audited by user; `none`: loopback only (the quick start).
     */
    LOOKOUT_CODEC_AUTH: z.enum(['token', 'oidc', 'none']).default('token'),
    /** With LOOKOUT_CODEC_AUTH=oidc: the provider (https), the audiences its tokens must carry, a private CA (PEM file). */
    LOOKOUT_CODEC_OIDC_ISSUER: z.url({ protocol: /^https$/ }).optional(),
    LOOKOUT_CODEC_OIDC_AUDIENCES: list.optional(),
    LOOKOUT_CODEC_OIDC_CA_FILE: z.string().min(1).optional(),
    /**
     * With LOOKOUT_CODEC_AUTH=oidc, who may decode, comma-separated: verified email addresses, or
     * `sub:<subject>`. Unset: every user the provider issues a token for these audiences.
     */
    LOOKOUT_CODEC_ALLOWED_USERS: list.optional(),
    /** The bearer token the UI or CLI sends (`--codec-auth`); required with LOOKOUT_CODEC_AUTH=token. */
    LOOKOUT_CODEC_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
    /** A token of its own for `/encode`; without it the codec server does not encode at all. */
    LOOKOUT_CODEC_ENCODE_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
    LOOKOUT_CODEC_ALLOWED_ORIGINS: z
      .string()
      .default('http://127.0.0.1:8233,http://localhost:8233')
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      ),
    LOOKOUT_CODEC_TLS_CERT_FILE: z.string().min(1).optional(),
    LOOKOUT_CODEC_TLS_KEY_FILE: z.string().min(1).optional(),
  })
  .superRefine((c, ctx) => {
    if (c.LOOKOUT_CODEC_ENCODE_TOKEN && c.LOOKOUT_CODEC_ENCODE_TOKEN === c.LOOKOUT_CODEC_TOKEN)
      ctx.addIssue({ code: 'custom', path: ['LOOKOUT_CODEC_ENCODE_TOKEN'], message: 'must differ from LOOKOUT_CODEC_TOKEN' });
    if (c.LOOKOUT_CODEC_AUTH === 'oidc')
      for (const name of ['LOOKOUT_CODEC_OIDC_ISSUER', 'LOOKOUT_CODEC_OIDC_AUDIENCES'] as const)
        if (!c[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'required when LOOKOUT_CODEC_AUTH=oidc' });
    if (c.LOOKOUT_CODEC_AUTH === 'token' && !c.LOOKOUT_CODEC_TOKEN)
      ctx.addIssue({ code: 'custom', path: ['LOOKOUT_CODEC_TOKEN'], message: 'required when LOOKOUT_CODEC_AUTH=token' });
    if (c.LOOKOUT_CODEC_AUTH === 'none' && !LOOPBACK.test(c.LOOKOUT_CODEC_HOST)) {
      ctx.addIssue({ code: 'custom', path: ['LOOKOUT_CODEC_AUTH'], message: 'none is allowed only when listening on loopback' });
    }
    if (Boolean(c.LOOKOUT_CODEC_TLS_CERT_FILE) !== Boolean(c.LOOKOUT_CODEC_TLS_KEY_FILE)) {
      ctx.addIssue({ code: 'custom', path: ['LOOKOUT_CODEC_TLS_KEY_FILE'], message: 'TLS needs both a certificate and a key file' });
    }
  });
export type CodecServerConfig = z.infer<typeof CodecServerConfig>;

/** `lookout vault bootstrap`: an administrator's token, used once and never stored. */
export const VaultAdminConfig = z.object({
  LOOKOUT_VAULT_ADDR: z.url(),
  LOOKOUT_VAULT_ADMIN_TOKEN: z.string().min(1),
});

/** A 32-byte key in base64 (a backup key file holds one such line). */
export const Base64Key32 = masterKey;

/**
 * `lookout backup create | restore`: the database, and the backup key unless `--key-file` names a
 * file that holds it. The master key is optional here and only compared with the backup key, which
 * must differ from it.
 */
export const BackupConfig = z.object({
  DATABASE_URL: postgresUrl,
  LOOKOUT_BACKUP_KEY: masterKey.optional(),
  LOOKOUT_MASTER_KEY: masterKey.optional(),
});
export type BackupConfig = z.infer<typeof BackupConfig>;
