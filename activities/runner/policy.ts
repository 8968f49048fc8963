/**
 * Enforcement of the Runner policy (common/runner-policy.ts), the Runner operator's ceiling. Every
 * decision is made on the Runner, before anything is resolved or contacted:
 *
 * - a check type outside `checks` is refused;
 * - `http.probe` reaches only URLs under a destination, and only addresses the network rules allow,
 *   checked on the address each connection actually dials (so DNS names that resolve to loopback,
 *   link-local, private or metadata addresses fail, as do decimal, hex and octal host forms);
 *   redirects are never followed;
 * - a secret is resolved only through a binding that allows the destination and header it is for;
 *   `env:` names of the Runner's own credentials can never be resolved.
 *
 * A refusal is a non-retryable `PolicyDenied` failure whose message names the reference, the
 * destination or the check type only.
 */
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { ApplicationFailure } from '@temporalio/activity';
import ipaddr from 'ipaddr.js';
import type { Agent, Response } from 'undici';
import { parseDocument } from 'yaml';
import type { KeyObject } from 'node:crypto';
import type { TaskRequest } from '../../common/contracts';
import { publicKeyFromRaw, signingKeyId, verifyTaskEnvelope, type TaskClaims } from '../../common/task-envelope';
import { FailureType } from '../../common/errors';
import {
  bindingCovers,
  destinationFor,
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

  constructor(readonly policy: RunnerPolicy) {
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
      const lookup: net.LookupFunction = (hostname, options, callback) => {
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
      agent = new AgentClass({ connect: { lookup }, keepAliveTimeout: 4_000 });
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
