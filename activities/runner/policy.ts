/**
 * Enforcement of the Runner policy (common/runner-policy.ts), the Runner operator's ceiling. Every
 * decision is made on the Runner, before anything is resolved or contacted:
 *
 * - a check type outside `checks` is refused;
 * - `http.probe` reaches only URLs under a destination, and only addresses the network rules allow,
 *   checked on the address each connection actually dials (so DNS names that resolve to loopback,
 *   link-local, private or metadata addresses fail, as do decimal, hex and octal host forms);
 *   redirects are never followed; `postgres.health` likewise reaches only `postgres` destinations,
 *   dialling the one address it resolved and checked (`address`), with the sslmode they allow;
 * - `tls.endpoint` connects only to a host and port under a `tls` or `https` destination, through the
 *   same address check; `dns.resolve` looks up only names a destination's host covers, and only at
 *   the Runner's own DNS servers (LOOKOUT_DNS_SERVERS, else /etc/resolv.conf);
 * - a secret is resolved only through a binding that allows the destination and header it is for;
 *   `env:` names of the Runner's own credentials can never be resolved.
 *
 * A refusal is a non-retryable `PolicyDenied` failure whose message names the reference, the
 * destination or the check type only.
 */
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { ApplicationFailure } from '@temporalio/activity';
import ipaddr from 'ipaddr.js';
import type { Agent, Response } from 'undici';
import { parseDocument } from 'yaml';
import type { KeyObject } from 'node:crypto';
import type { TaskRequest } from '../../common/contracts';
import { endpointHost, type DnsRecordType } from '../../common/checks';
import { publicKeyFromRaw, signingKeyId, verifyTaskEnvelope, type TaskClaims } from '../../common/task-envelope';
import { FailureType } from '../../common/errors';
import {
  bindingCovers,
  destinationFor,
  destinationForName,
  tlsDestinationFor,
  RESERVED_ENV,
  RunnerPolicy,
  summarizePolicy,
  type Destination,
  type PolicySummary,
  type SecretBinding,
} from '../../common/runner-policy';

export function policyDenied(message: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: FailureType.PolicyDenied,
    message: `refused by the Runner policy: ${message}`,
    nonRetryable: true,
  });
}

/** A policy file that cannot be used; `problems` names every bad field (never a value). */
export class PolicyFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid Runner policy ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PolicyFileError';
  }
}

/** Parses a policy document (YAML or JSON); throws {@link PolicyFileError} naming every bad field. */
export function parsePolicy(text: string, file = 'policy'): RunnerPolicy {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length)
    throw new PolicyFileError(
      file,
      doc.errors.map((e) => `not valid YAML: ${e.code} at line ${e.linePos?.[0]?.line ?? '?'}`),
    );
  const parsed = RunnerPolicy.safeParse(doc.toJS() ?? {});
  if (!parsed.success)
    throw new PolicyFileError(
      file,
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  return parsed.data;
}

export function loadPolicyFile(file: string): RunnerPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PolicyFileError(file, [`cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  return parsePolicy(text, file);
}

/**
 * The Runner's policy from its configuration: the file when one is given (`allowedChecks`, when set
 * explicitly, can only narrow its `checks`); else the checks of `allowedChecks`, raw excerpts for all
 * of them or none, and no destination and no secret binding at all.
 */
export function resolveRunnerPolicy(options: {
  file?: string | undefined;
  allowedChecks: readonly string[];
  allowedChecksSet: boolean;
  rawLogs: 'deny' | 'allow';
  platformKeys?: string | undefined;
}): RunnerPolicy {
  if (options.file) {
    const policy = loadPolicyFile(options.file);
    if (!options.allowedChecksSet) return policy;
    const narrowed = new Set(options.allowedChecks);
    return { ...policy, checks: policy.checks.filter((c) => narrowed.has(c)) };
  }
  return RunnerPolicy.parse({
    checks: options.allowedChecks,
    rawData: { allow: options.rawLogs === 'allow' ? options.allowedChecks : [] },
  });
}

/** Host names of cloud metadata services: reachable only through a destination that names them exactly. */
export const METADATA_HOSTS: ReadonlySet<string> = new Set([
  'metadata.google.internal',
  'metadata.goog',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.azure.internal',
]);

/** Why an address may not be dialled for `destination`, or undefined when it may. */
export function addressRefusal(address: string, destination: Pick<Destination, 'allowAddresses'>): string | undefined {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.process(address);
  } catch {
    return 'not an IP address';
  }
  const range = ip.range();
  if (range === 'unicast') return undefined;
  for (const cidr of destination.allowAddresses) {
    try {
      const [net, bits] = ipaddr.parseCIDR(cidr);
      if (net.kind() === ip.kind() && ip.match(net, bits)) return undefined;
    } catch {
      // an unparsable range allows nothing
    }
  }
  return `${range} address`;
}

const DENIED_CODE = 'LOOKOUT_POLICY_DENIED';

/** An error of our own DNS hook, found again in fetch's cause chain. */
function deniedAddress(err: unknown): string | undefined {
  for (let e = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === DENIED_CODE) return (e as Error).message;
  }
  return undefined;
}

/** A DNS lookup hook that refuses (code LOOKOUT_POLICY_DENIED) a name with any address `destination` does not allow. */
function guardedLookup(destination: Destination): net.LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses;
      for (const a of list) {
        const why = addressRefusal(a.address, destination);
        if (why) return callback(Object.assign(new Error(why), { code: DENIED_CODE }), '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      const first = list[0];
      if (!first) return callback(Object.assign(new Error('no address'), { code: 'ENOTFOUND' }), '', 0);
      return callback(null, first.address, first.family);
    });
  };
}

/** One DNS record as `dns.resolve` compares it: an address, a target name or a TXT string; TTL for A and AAAA. */
export interface DnsAnswer {
  value: string;
  ttl?: number | undefined;
}

async function queryRecords(resolver: dns.promises.Resolver, name: string, type: DnsRecordType): Promise<DnsAnswer[]> {
  const target = (n: string) => n.toLowerCase().replace(/\.$/, '');
  switch (type) {
    case 'A':
      return (await resolver.resolve4(name, { ttl: true })).map((r) => ({ value: r.address, ttl: r.ttl }));
    case 'AAAA':
      return (await resolver.resolve6(name, { ttl: true })).map((r) => ({ value: r.address, ttl: r.ttl }));
    case 'CNAME':
      return (await resolver.resolveCname(name)).map((n) => ({ value: target(n) }));
    case 'MX':
      return (await resolver.resolveMx(name)).map((r) => ({ value: target(r.exchange) }));
    case 'SRV':
      return (await resolver.resolveSrv(name)).map((r) => ({ value: target(r.name) }));
    case 'TXT':
      return (await resolver.resolveTxt(name)).map((chunks) => ({ value: chunks.join('') }));
  }
}

export interface SecretResolver {
  resolve(ref: string): Promise<string>;
}

/** What a check may ask of the policy while it runs (see CheckContext). */
export interface PolicyGate {
  /** The destination `url` falls under, or a `PolicyDenied` failure. */
  destination(url: URL): Destination;
  /**
   * The header to send to `destination` with a secret: the binding named by `auth.binding`, or the
   * one binding that holds `auth.secretRef`. Refused, before anything is resolved, unless the binding
   * allows this destination, this header and this scheme.
   */
  boundHeader(
    auth: { binding?: string | undefined; secretRef?: string | undefined; header?: string | undefined; scheme?: string | undefined },
    destination: Destination,
  ): Promise<{ name: string; value: string }>;
  /**
   * The value of the secret binding named `binding`, for a destination that takes it other than as
   * an HTTP header (the password `postgres.health` answers SCRAM with; the binding's header and
   * scheme do not apply). Refused, before anything is resolved, unless the binding allows `destination`.
   */
  boundSecret(binding: string, destination: Destination): Promise<string>;
  /**
   * The one address to dial for `url` under `destination`, for clients that connect by themselves
   * (`pg`): an IP literal as it is, a name resolved once; refused when that or any address the name
   * resolves to is one the destination's network rules do not allow. Dial it, and keep the name
   * for TLS (SNI and the certificate check). DNS failures are thrown as they are (not refusals).
   */
  address(url: URL, destination: Destination): Promise<{ address: string; family: number }>;
  /**
   * The records of `name`, asked of the Runner's DNS servers: refused, before any query, unless a
   * destination's host covers the name. Resolver errors keep their c-ares code (`ENOTFOUND` for
   * NXDOMAIN, `ENODATA`, `ESERVFAIL`, `EREFUSED`, …); no answer within `timeoutMs` is `ETIMEOUT`.
   */
  resolveName(name: string, type: DnsRecordType, options: { timeoutMs: number; signal: AbortSignal }): Promise<DnsAnswer[]>;
  /** The `tls` or `https` destination `host`:`port` falls under, or a `PolicyDenied` failure. */
  tlsDestination(host: string, port: number): Destination;
  /**
   * A TLS connection to `host`:`port`, handshake done, dialling only addresses `destination`
   * allows. The certificate is not verified here (the caller reads `authorized` and checks the
   * name), and protocols down to TLS 1.0 are accepted so that an old one can be reported: nothing
   * is sent on it. The caller destroys the socket.
   */
  connectTls(
    host: string,
    port: number,
    destination: Destination,
    options: { servername?: string | undefined; timeoutMs: number; signal: AbortSignal },
  ): Promise<tls.TLSSocket>;
  /** `fetch` that dials only addresses the destination allows and never follows a redirect. */
  fetch(
    url: URL,
    destination: Destination,
    init: { method: string; headers: Record<string, string>; signal: AbortSignal },
  ): Promise<Response>;
}

/** The policy of one Runner: decisions and the summary it reports. */
export class RunnerPolicyEnforcer {
  readonly summary: PolicySummary;
  readonly #checks: ReadonlySet<string>;
  readonly #raw: ReadonlySet<string>;
  readonly #agents = new Map<string, Agent>();
  readonly #platformKeys: ReadonlyMap<string, KeyObject>;
  readonly #dnsServers: readonly string[];

  /** `dnsServers`: what `dns.resolve` asks (LOOKOUT_DNS_SERVERS); none: the servers of /etc/resolv.conf. */
  constructor(
    readonly policy: RunnerPolicy,
    options: { dnsServers?: readonly string[] | undefined } = {},
  ) {
    this.#dnsServers = options.dnsServers ?? [];
    this.summary = summarizePolicy(policy);
    this.#checks = new Set(policy.checks);
    this.#raw = new Set(policy.rawData.allow);
    this.#platformKeys = new Map(policy.platformKeys.map((k) => [signingKeyId(Buffer.from(k, 'base64')), publicKeyFromRaw(k)]));
  }

  /**
   * Checks that the Platform signed exactly this task for this Runner and workflow, and that the
   * signature is current; answers the refusal otherwise (before anything is resolved).
   */
  verifyEnvelope(request: TaskRequest, runnerId: string, workflowId: string): { claims: TaskClaims } | { refused: string } {
    if (this.#platformKeys.size === 0) return { refused: 'this Runner pins no Platform key (policy platformKeys)' };
    return verifyTaskEnvelope(request.envelope, this.#platformKeys, {
      workspaceId: request.workspaceId,
      runnerId,
      runId: request.runId,
      workflowId,
      taskId: request.taskId,
      checkType: request.checkType,
      params: request.params,
    });
  }

  get digest(): string {
    return this.summary.digest;
  }

  allowsCheck(checkType: string): boolean {
    return this.#checks.has(checkType);
  }

  allowsRawData(checkType: string): boolean {
    return this.#raw.has(checkType);
  }

  /** The namespaces whose TLS Secrets `k8s.tls-expiry` may read. */
  get tlsSecretNamespaces(): readonly string[] {
    return this.policy.tlsSecrets.namespaces;
  }

  /** The gate a run's check uses: the policy, this run's secrets. */
  gate(secrets: SecretResolver): PolicyGate {
    return {
      destination: (url) => {
        const host = url.hostname.toLowerCase();
        const found = destinationFor(this.policy.destinations, url);
        // A wildcard never reaches a metadata service: only a destination naming it does.
        if (!found || (METADATA_HOSTS.has(host) && found.host !== host))
          throw policyDenied(`${url.protocol}//${url.host} is not a destination of this Runner`);
        return found;
      },
      boundHeader: async (auth, destination) => {
        const binding = this.#bindingFor(auth);
        if (!binding.destinations.includes(destination.name)) {
          throw policyDenied(`secret binding ${binding.name} may not be sent to destination ${destination.name}`);
        }
        if (auth.header !== undefined && auth.header.toLowerCase() !== binding.header.toLowerCase()) {
          throw policyDenied(`secret binding ${binding.name} may be sent only in the ${binding.header} header`);
        }
        if (auth.scheme !== undefined && auth.scheme !== binding.scheme)
          throw policyDenied(`secret binding ${binding.name} fixes its own scheme`);
        if (auth.secretRef === undefined && binding.ref.includes('*'))
          throw policyDenied(`secret binding ${binding.name} covers several secrets: name the secretRef`);
        const ref = auth.secretRef ?? binding.ref;
        if (ref.startsWith('env:') && RESERVED_ENV.test(ref.slice(4))) throw policyDenied(`${ref} is one of the Runner's own credentials`);
        const value = await secrets.resolve(ref);
        // A header value with CR, LF or NUL could split the request; fetch would echo it in its error.
        if (/[\r\n\0]/.test(`${binding.scheme}${value}`))
          throw policyDenied(`the value of secret binding ${binding.name} is not a valid header value (it holds a line break or NUL)`);
        return { name: binding.header, value: `${binding.scheme}${value}` };
      },
      boundSecret: async (name, destination) => {
        const binding = this.#bindingFor({ binding: name });
        if (!binding.destinations.includes(destination.name)) {
          throw policyDenied(`secret binding ${binding.name} may not be sent to destination ${destination.name}`);
        }
        if (binding.ref.includes('*')) throw policyDenied(`secret binding ${binding.name} covers several secrets, not one value`);
        return secrets.resolve(binding.ref);
      },
      address: async (url, destination) => {
        const literal = url.hostname.replace(/^\[|\]$/g, '');
        const refused = (why: string) => policyDenied(`${url.hostname} is a ${why}, which destination ${destination.name} does not allow`);
        if (net.isIP(literal)) {
          const why = addressRefusal(literal, destination);
          if (why) throw refused(why);
          return { address: literal, family: net.isIP(literal) };
        }
        // Every address the name has must be allowed, as in fetch's lookup: a name cannot pass on one and be dialled on another.
        const addresses = await dns.promises.lookup(literal, { all: true });
        for (const a of addresses) {
          const why = addressRefusal(a.address, destination);
          if (why) throw policyDenied(`${url.hostname} resolves to a ${why}, which destination ${destination.name} does not allow`);
        }
        const first = addresses[0];
        if (!first) throw Object.assign(new Error('no address'), { code: 'ENOTFOUND' });
        return first;
      },
      resolveName: async (name, type, options) => {
        const host = name.toLowerCase();
        const found = destinationForName(this.policy.destinations, host);
        if (!found || (METADATA_HOSTS.has(host) && found.host !== host))
          throw policyDenied(`${host} is not covered by a destination of this Runner`);
        // One try per server, and a timer of our own: c-ares' timeout grows between tries.
        const resolver = new dns.promises.Resolver({ timeout: options.timeoutMs, tries: 1 });
        if (this.#dnsServers.length) resolver.setServers(this.#dnsServers);
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          resolver.cancel();
        }, options.timeoutMs);
        const abort = () => resolver.cancel();
        options.signal.addEventListener('abort', abort, { once: true });
        try {
          return await queryRecords(resolver, host, type);
        } catch (err) {
          if (timedOut && (err as { code?: unknown }).code === dns.CANCELLED)
            throw Object.assign(new Error('no answer in time'), { code: dns.TIMEOUT });
          throw err;
        } finally {
          clearTimeout(timer);
          options.signal.removeEventListener('abort', abort);
        }
      },
      tlsDestination: (rawHost, port) => {
        const host = endpointHost(rawHost);
        const found = tlsDestinationFor(this.policy.destinations, host, port);
        if (!found || (METADATA_HOSTS.has(host) && found.host !== host))
          throw policyDenied(`${host}:${port} is not a tls or https destination of this Runner`);
        return found;
      },
      connectTls: async (rawHost, port, destination, options) => {
        const host = endpointHost(rawHost);
        const literal = host.replace(/^\[|\]$/g, '');
        if (net.isIP(literal)) {
          const why = addressRefusal(literal, destination);
          if (why) throw policyDenied(`${host} is a ${why}, which destination ${destination.name} does not allow`);
        }
        options.signal.throwIfAborted();
        return new Promise<tls.TLSSocket>((resolve, reject) => {
          const socket = tls.connect({
            host: literal,
            port,
            ...(options.servername ? { servername: options.servername } : {}),
            lookup: guardedLookup(destination),
            rejectUnauthorized: false,
            // Only a handshake: accepting old protocols lets the check report them instead of failing blind.
            minVersion: 'TLSv1',
            ciphers: 'DEFAULT:@SECLEVEL=0',
          });
          const done = () => {
            clearTimeout(timer);
            options.signal.removeEventListener('abort', onAbort);
            socket.removeListener('error', fail);
            // Later errors (a reset while the caller reads the certificate) must not crash the Runner.
            socket.on('error', () => undefined);
          };
          const fail = (err: unknown) => {
            done();
            socket.destroy();
            const denied = deniedAddress(err);
            if (denied) reject(policyDenied(`${host} resolves to a ${denied}, which destination ${destination.name} does not allow`));
            else reject(err instanceof Error ? err : new Error('TLS connection failed', { cause: err }));
          };
          const onAbort = () => fail(options.signal.reason);
          const timer = setTimeout(
            () => fail(Object.assign(new Error('TLS handshake timed out'), { code: 'ETIMEDOUT' })),
            options.timeoutMs,
          );
          options.signal.addEventListener('abort', onAbort, { once: true });
          socket.once('error', fail);
          socket.once('secureConnect', () => {
            done();
            resolve(socket);
          });
        });
      },
      fetch: async (url, destination, init) => {
        const literal = url.hostname.replace(/^\[|\]$/g, '');
        if (net.isIP(literal)) {
          const why = addressRefusal(literal, destination);
          if (why) throw policyDenied(`${url.host} is a ${why}, which destination ${destination.name} does not allow`);
        }
        // undici (some 6 MiB) is loaded with the first probe, not with the Runner.
        const undici = await import('undici');
        try {
          return await undici.fetch(url, {
            method: init.method,
            headers: init.headers,
            signal: init.signal,
            redirect: 'manual',
            dispatcher: this.#agentFor(destination, undici.Agent),
          });
        } catch (err) {
          const denied = deniedAddress(err);
          if (denied) throw policyDenied(`${url.hostname} resolves to a ${denied}, which destination ${destination.name} does not allow`);
          throw err;
        }
      },
    };
  }

  #bindingFor(auth: { binding?: string | undefined; secretRef?: string | undefined }): SecretBinding {
    if (auth.binding !== undefined) {
      const named = this.policy.secretBindings.find((b) => b.name === auth.binding);
      if (!named) throw policyDenied(`no secret binding named ${auth.binding}`);
      if (auth.secretRef !== undefined && !bindingCovers(named.ref, auth.secretRef))
        throw policyDenied(`secret binding ${named.name} does not hold ${auth.secretRef}`);
      return named;
    }
    if (auth.secretRef === undefined) throw policyDenied('no secret binding named');
    const holding = this.policy.secretBindings.filter((b) => bindingCovers(b.ref, auth.secretRef!));
    if (holding.length !== 1) {
      throw policyDenied(
        holding.length ? `${auth.secretRef} is held by several bindings: name one` : `${auth.secretRef} is not held by any secret binding`,
      );
    }
    return holding[0]!;
  }

  /** One connection pool per destination, whose DNS hook refuses the addresses it does not allow. */
  #agentFor(destination: Destination, AgentClass: typeof Agent): Agent {
    let agent = this.#agents.get(destination.name);
    if (!agent) {
      agent = new AgentClass({ connect: { lookup: guardedLookup(destination) }, keepAliveTimeout: 4_000 });
      this.#agents.set(destination.name, agent);
    }
    return agent;
  }

  /** Closes the connection pools (the Runner is stopping). */
  async close(): Promise<void> {
    await Promise.all([...this.#agents.values()].map((a) => a.close()));
    this.#agents.clear();
  }
}
