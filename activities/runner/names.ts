/**
 * How Kubernetes names leave this Runner, as its policy's `discovery.names` says (common/discovery.ts).
 *
 * Under `hashed`, every namespace and resource name a result carries becomes `h-<20 hex>`: an
 * HMAC-SHA256 under the Runner's names key, which never leaves it, so whoever holds the Platform
 * cannot confirm a guess ("is there a namespace called payments?"). The same name always hashes the
 * same way, so issues, sweeps and rediscovery still follow a resource across runs. Tasks name
 * namespaces by their hash; the Runner maps a hash back by listing its namespaces.
 */
import { createHmac } from 'node:crypto';
import { HASHED_NAME, NAMESPACE_PARAMS, type NamesMode } from '../../common/discovery';
import type { NextCheck } from '../../common/contracts';
import type { CheckOutcome } from './checks/check';
import { eachPage, type KubeClients } from './kube-api';

/** Param fields that hold namespace names, in the built-in checks' schemas. */

/** How long a listing of the cluster's namespaces is reused to map hashes back and to scrub text. */
const NAMESPACE_CACHE_MS = 30_000;

export class RunnerNames {
  readonly #key: Buffer | undefined;
  #namespaces: { at: number; names: Promise<string[]> } | undefined;

  constructor(
    readonly mode: NamesMode,
    key: Buffer | undefined,
    private readonly listNamespaces?: () => Promise<string[]>,
  ) {
    if (mode === 'hashed' && (!key || key.length < 32)) {
      throw new Error(
        'the Runner policy hashes names (discovery.names: hashed) but no names key of at least 32 bytes is set (LOOKOUT_RUNNER_NAMES_KEY_FILE)',
      );
    }
    this.#key = mode === 'hashed' ? key : undefined;
  }

  get hashes(): boolean {
    return this.#key !== undefined;
  }

  /** `h-<20 hex>` of a name under the Runner's key. */
  hash(name: string): string {
    if (!this.#key) return name;
    return `h-${createHmac('sha256', this.#key).update(name, 'utf8').digest('hex').slice(0, 20)}`;
  }

  async #clusterNamespaces(): Promise<string[]> {
    if (!this.listNamespaces) return [];
    const now = Date.now();
    if (!this.#namespaces || now - this.#namespaces.at > NAMESPACE_CACHE_MS) {
      const names = this.listNamespaces();
      this.#namespaces = { at: now, names };
      names.catch(() => (this.#namespaces = undefined));
    }
    return this.#namespaces.names;
  }

  /**
   * A task's parameters with hashed namespace names mapped back to the cluster's names (hashed
   * mode only). A hash that matches no namespace is kept, and matches nothing when the check runs.
   */
  async resolveParams(params: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (!this.hashes) return params;
    const wanted = NAMESPACE_PARAMS.flatMap((f) => {
      const v = params[f];
      return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string' && HASHED_NAME.test(x));
    });
    if (!wanted.length) return params;
    const byHash = new Map((await this.#clusterNamespaces()).map((n) => [this.hash(n), n]));
    const back = (v: unknown) => (typeof v === 'string' ? (byHash.get(v) ?? v) : v);
    const out = { ...params };
    for (const f of NAMESPACE_PARAMS) {
      const v = out[f];
      if (v !== undefined) out[f] = Array.isArray(v) ? v.map(back) : back(v);
    }
    return out;
  }

  /** Replaces every whole occurrence of a name in `text` by its hash (longest names first). */
  #scrubber(names: Iterable<string>): (text: string) => string {
    const list = [...new Set(names)].filter((n) => n.length > 0 && !HASHED_NAME.test(n)).sort((a, b) => b.length - a.length);
    if (!list.length) return (text) => text;
    const escaped = list.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    const pattern = new RegExp(`(?<![A-Za-z0-9-])(?:${escaped.join('|')})(?![A-Za-z0-9-])`, 'g');
    return (text) => text.replace(pattern, (m) => this.hash(m));
  }

  /**
   * The outcome as it may leave under hashed names: resource names and namespaces hashed, the
   * inventory's namespaces hashed, and every occurrence of those names and of the cluster's
   * namespaces in the summary and the issues' text replaced by its hash.
   */
  async hashOutcome(outcome: CheckOutcome): Promise<CheckOutcome> {
    if (!this.hashes) return outcome;
    const issues = Array.isArray(outcome.issues) ? outcome.issues : [];
    const names = new Set(await this.#clusterNamespaces().catch(() => [] as string[]));
    // An `Endpoint` is named by the URL its task gave: the Platform knows it already.
    const kubernetes = (i: (typeof issues)[number]) => i?.resource?.kind !== 'Endpoint';
    for (const i of issues) {
      if (!kubernetes(i)) continue;
      if (i?.resource?.name) names.add(i.resource.name);
      if (i?.resource?.namespace) names.add(i.resource.namespace);
    }
    for (const ns of outcome.inventory?.namespaces ?? []) names.add(ns.name);
    const scrub = this.#scrubber(names);
    return {
      ...outcome,
      summary: scrub(outcome.summary),
      issues: issues.map((i) => ({
        ...i,
        title: scrub(i.title),
        resource: !kubernetes(i)
          ? i.resource
          : {
              ...i.resource,
              name: this.hash(i.resource.name),
              ...(i.resource.namespace ? { namespace: this.hash(i.resource.namespace) } : {}),
            },
        expected: scrub(i.expected),
        actual: scrub(i.actual),
        nextSteps: i.nextSteps.map(scrub),
        ...(i.details === undefined ? {} : { details: scrub(i.details) }),
        ...(i.nextChecks === undefined
          ? {}
          : { nextChecks: i.nextChecks.map((c) => ({ type: c.type, params: this.#hashParams(c.params) })) }),
      })),
      ...(outcome.inventory
        ? { inventory: { ...outcome.inventory, namespaces: outcome.inventory.namespaces.map((n) => ({ ...n, name: this.hash(n.name) })) } }
        : {}),
    };
  }

  /**
   * A next check's parameters as they may leave: namespace fields hashed (the Runner maps them back
   * when the check runs), numbers and booleans kept, and any other name (a node's) dropped.
   */
  #hashParams(params: NextCheck['params']): NextCheck['params'] {
    const out: NextCheck['params'] = {};
    for (const [key, value] of Object.entries(params)) {
      if ((NAMESPACE_PARAMS as readonly string[]).includes(key))
        out[key] = Array.isArray(value) ? value.map((v) => this.hash(v)) : typeof value === 'string' ? this.hash(value) : value;
      else if (typeof value === 'number' || typeof value === 'boolean') out[key] = value;
    }
    return out;
  }

  /** An error message as it may leave: the cluster's namespace names hashed. */
  async hashMessage(message: string): Promise<string> {
    if (!this.hashes) return message;
    return this.#scrubber(await this.#clusterNamespaces().catch(() => [] as string[]))(message);
  }
}

/** The names handling of a Runner: its policy's mode, its names key, and its cluster's namespaces (listed when hashing). */
export function runnerNames(mode: NamesMode, key: Buffer | undefined, kube: KubeClients | undefined): RunnerNames {
  const list = kube
    ? async () => {
        const names: string[] = [];
        const call = { signal: AbortSignal.timeout(kube.timeoutMs * 10), timeoutMs: kube.timeoutMs };
        await eachPage(
          'list namespaces',
          (cont) => kube.core.listNamespace({ limit: kube.pageSize, ...(cont ? { _continue: cont } : {}) }),
          call,
          (items) => names.push(...items.flatMap((n) => (n.metadata?.name ? [n.metadata.name] : []))),
        );
        return names;
      }
    : undefined;
  return new RunnerNames(mode, key, list);
}
