/**
 * The declarative executor of check packs: reads the objects a check names through the Runner's raw
 * read-only client (any kind the API server serves, resolved by discovery), evaluates the check's
 * CEL predicate on each and turns the matching ones into issues from the check's CEL template. No
 * code of the pack runs besides CEL, which has no I/O, no unbounded loops and no access to the Runner.
 *
 * What an expression sees (the contract pack authors write against):
 *
 * - `object`: the object under test, as the API server serves it (JSON), with `apiVersion` and
 *   `kind` filled in (list items lack them) and without `metadata.managedFields`. Whole JSON numbers
 *   are CEL `int`s (`object.spec.replicas + 1`), other numbers `double`s.
 * - `params`: the task's parameters (validated against the check's schema), same conversion.
 * - each `context` name: the list of those objects, read in the same namespaces (or cluster-wide),
 *   complete before the first predicate runs.
 * - `read.namespaces` and `${…}` parts of a `labelSelector` see `params` only; an empty list of
 *   namespaces means every namespace (`has(params.namespaces) ? params.namespaces : []`).
 *
 * Selecting a missing field is an error, as in Kubernetes' own CEL: test with `has(a.b)` first. The
 * standard library and the `strings` extension of `@bufbuild/cel` are available; there are no
 * optional types (`a.?b`) and no `math` extension.
 */
import {
  celEnv,
  celList,
  celMap,
  isCelError,
  isCelList,
  isCelMap,
  isCelUint,
  parse,
  plan,
  type CelError,
  type CelValue,
} from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { ApplicationFailure } from '@temporalio/activity';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Issue } from '../../../common/contracts';
import { FailureType } from '../../../common/errors';
import type { DeclarativeSpec } from '../../../common/packs';
import type { CheckOutcome } from '../checks/check';
import { guarded } from '../checks/k8s/common';
import { KubeError, type KubeClients } from '../kube-api';
import type { DeclarativeRun } from './types';

/** Most objects one run reads (the objects under test and every context list together). */
export const MAX_OBJECTS = 50_000;
/** Most issues in a result (the result contract's cap); the most severe are kept. */
const MAX_ISSUES = 200;
/** How long a discovered API group version is trusted. */
const DISCOVERY_TTL_MS = 5 * 60_000;

/** The one CEL environment: the standard library and the strings extension. `plan` caches its planner per environment. */
const env = celEnv({ funcs: strings });

type ParsedExpr = ReturnType<typeof parse>;
type Expr = ParsedExpr['expr'];
type Program = ReturnType<typeof plan>;
type Bindings = Record<string, CelValue>;

/** One compiled CEL expression and what its errors need: the field it came from and its source positions. */
export interface CompiledExpression {
  /** The manifest field, e.g. `predicate` or `issue.nextSteps[1]`. */
  readonly field: string;
  readonly source: string;
  readonly program: Program;
  /** Offsets in `source` by expression id. */
  readonly positions: Readonly<Record<string, number>>;
}

/** A `labelSelector` with `${…}` parts (CEL over `params`; an expression may not contain `}`). */
type Template = ReadonlyArray<string | CompiledExpression>;

/** Every CEL expression of a {@link DeclarativeSpec}, parsed and planned once, evaluated many times. */
export interface CompiledDeclarative {
  readonly namespaces: CompiledExpression | undefined;
  readonly labelSelector: Template | undefined;
  readonly context: ReadonlyArray<{ readonly name: string; readonly labelSelector: Template | undefined }>;
  readonly predicate: CompiledExpression;
  readonly severity: Issue['severity'] | CompiledExpression;
  readonly title: CompiledExpression;
  readonly resource: { readonly kind?: CompiledExpression; readonly namespace?: CompiledExpression; readonly name?: CompiledExpression };
  readonly expected: CompiledExpression;
  readonly actual: CompiledExpression;
  readonly nextSteps: readonly CompiledExpression[];
}

// ---------------------------------------------------------------------------------------------
// Compiling

/** Calls the planner handles itself rather than through the function resolver. */
const SPECIAL_CALLS = new Set(['_[_]', '_[?_]', '_?._', '_?_:_', '_&&_', '_||_', '@not_strictly_false', '__not_strictly_false__']);
/** Type names usable as values (`type(x) == string`). */
const TYPE_NAMES = new Set(['int', 'uint', 'double', 'bool', 'bytes', 'string', 'list', 'map', 'null_type', 'type', 'dyn']);
/** Words a context list may not be named: the built-in variables, CEL's reserved words, type names. */
const RESERVED_NAMES = new Set([
  'object',
  'params',
  ...TYPE_NAMES,
  ...'true false null in as break const continue else for function if import let loop package namespace return var void while'.split(' '),
]);

/** `line:column` (1-based) of an offset in a source text. */
function lineColumn(source: string, offset: number): string {
  const before = source.slice(0, offset).split('\n');
  return `${before.length}:${(before.at(-1)?.length ?? 0) + 1}`;
}

function qualifiedName(expr: Expr | undefined): string | undefined {
  const kind = expr?.exprKind;
  if (kind?.case === 'identExpr') return kind.value.name;
  if (kind?.case === 'selectExpr' && !kind.value.testOnly) {
    const operand = qualifiedName(kind.value.operand);
    return operand === undefined ? undefined : `${operand}.${kind.value.field}`;
  }
  return undefined;
}

/**
 * Refuses, at load time, what would otherwise fail on the first object only: a variable that does
 * not exist (a typo of `object`, a context list not declared) and a function the environment lacks.
 * Mirrors the planner's scoping: a comprehension's variables are bound in its condition, step and result.
 */
function checkNames(expr: Expr | undefined, scope: ReadonlySet<string>, fail: (id: bigint, message: string) => never): void {
  if (!expr) return;
  const kind = expr.exprKind;
  switch (kind.case) {
    case 'identExpr':
      if (!scope.has(kind.value.name) && !TYPE_NAMES.has(kind.value.name))
        fail(expr.id, `unknown variable ${kind.value.name} (there are ${[...scope].filter((v) => !v.startsWith('@')).join(', ')})`);
      return;
    case 'selectExpr':
      return checkNames(kind.value.operand, scope, fail);
    case 'callExpr': {
      const call = kind.value;
      const qualified = qualifiedName(call.target);
      if (qualified !== undefined && !scope.has(qualified.split('.')[0] ?? '') && env.funcs.find(`${qualified}.${call.function}`)) {
        // A namespaced function (`strings.quote(…)`): its target is a name, not a value.
      } else {
        if (!SPECIAL_CALLS.has(call.function) && !env.funcs.find(call.function)) fail(expr.id, `unknown function ${call.function}`);
        checkNames(call.target, scope, fail);
      }
      for (const arg of call.args) checkNames(arg, scope, fail);
      return;
    }
    case 'listExpr':
      for (const element of kind.value.elements) checkNames(element, scope, fail);
      return;
    case 'structExpr':
      for (const entry of kind.value.entries) {
        if (entry.keyKind.case === 'mapKey') checkNames(entry.keyKind.value, scope, fail);
        checkNames(entry.value, scope, fail);
      }
      return;
    case 'comprehensionExpr': {
      const c = kind.value;
      checkNames(c.iterRange, scope, fail);
      checkNames(c.accuInit, scope, fail);
      const loop = new Set([...scope, c.iterVar, c.accuVar, ...(c.iterVar2 ? [c.iterVar2] : [])]);
      checkNames(c.loopCondition, loop, fail);
      checkNames(c.loopStep, loop, fail);
      checkNames(c.result, new Set([...scope, c.accuVar]), fail);
      return;
    }
    default:
      return;
  }
}

function compileExpression(field: string, source: string, variables: readonly string[]): CompiledExpression {
  let parsed: ParsedExpr;
  try {
    parsed = parse(source);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`${field}: syntax error ${message.replace(/^<input>:(\d+):(\d+): /, 'at $1:$2: ')}`, { cause: err });
  }
  const positions = parsed.sourceInfo?.positions ?? {};
  checkNames(parsed.expr, new Set(variables), (id, message) => {
    const offset = positions[id.toString()];
    throw new Error(`${field}: ${message}${offset === undefined ? '' : ` at ${lineColumn(source, offset)}`}`);
  });
  let program: Program;
  try {
    program = plan(env, parsed);
  } catch (err) {
    throw new Error(`${field}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return { field, source, program, positions };
}

function compileTemplate(field: string, text: string | undefined): Template | undefined {
  if (text === undefined) return undefined;
  const parts: (string | CompiledExpression)[] = [];
  let last = 0;
  for (const m of text.matchAll(/\$\{([^}]*)\}/g)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    parts.push(compileExpression(field, m[1] ?? '', ['params']));
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

/**
 * Compiles every CEL expression of a spec: parsed and planned once, so that a run evaluates without
 * parsing. Throws an Error naming the field (`predicate: syntax error at 1:5: …`, `issue.title:
 * unknown variable objet …`) on a syntax error, an unknown variable or function, or a context list
 * named after a built-in variable or a reserved word. Called when the pack is loaded; pure.
 */
export function compileDeclarative(spec: DeclarativeSpec): CompiledDeclarative {
  const contextNames = Object.keys(spec.context);
  for (const name of contextNames)
    if (RESERVED_NAMES.has(name))
      throw new Error(`context.${name}: the name is taken (object, params, CEL's reserved words and type names)`);
  const vars = ['object', 'params', ...contextNames];
  const expr = (field: string, source: string) => compileExpression(field, source, vars);
  const { issue } = spec;
  return {
    namespaces: spec.read.namespaces === undefined ? undefined : compileExpression('read.namespaces', spec.read.namespaces, ['params']),
    labelSelector: compileTemplate('read.labelSelector', spec.read.labelSelector),
    context: Object.entries(spec.context).map(([name, kind]) => ({
      name,
      labelSelector: compileTemplate(`context.${name}.labelSelector`, kind.labelSelector),
    })),
    predicate: expr('predicate', spec.predicate),
    severity: typeof issue.severity === 'number' ? severityOf(issue.severity) : expr('issue.severity', issue.severity),
    title: expr('issue.title', issue.title),
    resource: {
      ...(issue.resource.kind === undefined ? {} : { kind: expr('issue.resource.kind', issue.resource.kind) }),
      ...(issue.resource.namespace === undefined ? {} : { namespace: expr('issue.resource.namespace', issue.resource.namespace) }),
      ...(issue.resource.name === undefined ? {} : { name: expr('issue.resource.name', issue.resource.name) }),
    },
    expected: expr('issue.expected', issue.expected),
    actual: expr('issue.actual', issue.actual),
    nextSteps: issue.nextSteps.map((step, i) => expr(`issue.nextSteps[${i}]`, step)),
  };
}

function severityOf(n: number): Issue['severity'] {
  switch (n) {
    case 1:
    case 2:
    case 3:
    case 4:
      return n;
    default:
      throw new Error(`issue.severity: ${n} is not 1..4`);
  }
}

// ---------------------------------------------------------------------------------------------
// Values

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * JSON as CEL values, converted once, deeply: the library would otherwise convert a plain object
 * again on every field access, and a context list is read by every evaluation. Whole numbers become
 * `int`s, as Kubernetes' own CEL types integer fields.
 */
function toCel(v: unknown): CelValue {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return Number.isSafeInteger(v) ? BigInt(v) : v;
    case 'object':
      if (v === null) return null;
      if (Array.isArray(v)) return celList(v.map(toCel));
      return celMap(new Map(Object.entries(v).map(([k, x]) => [k, toCel(x)])));
    default:
      return null;
  }
}

/** A CEL type name for messages. */
function typeName(v: CelValue): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'bigint':
      return 'int';
    case 'number':
      return 'double';
    case 'string':
      return 'string';
    default:
      if (isCelList(v)) return 'list';
      if (isCelMap(v)) return 'map';
      if (isCelUint(v)) return 'uint';
      if (v instanceof Uint8Array) return 'bytes';
      return 'a message';
  }
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** A fault of the pack's check (an expression that fails or gives the wrong type): no retry can fix it. */
function packFault(message: string, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type: FailureType.InvalidConfiguration,
    message,
    nonRetryable: true,
    cause: cause instanceof Error ? cause : undefined,
  });
}

/** An API status with the API server's own words (its Status message, clipped; never a body otherwise). */
class ApiStatusError extends KubeError {
  constructor(status: number, what: string, said: string | undefined) {
    super(status, what);
    if (said) this.message += `; the API server said: ${clip(said, 200)}`;
  }
}

function statusMessage(body: Buffer): string | undefined {
  try {
    const status: unknown = JSON.parse(body.subarray(0, 16_384).toString('utf8'));
    return isRecord(status) && typeof status['message'] === 'string' ? status['message'] : undefined;
  } catch {
    return undefined;
  }
}

function evaluate(e: CompiledExpression, bindings: Bindings, what: string): CelValue {
  const result = e.program(bindings);
  if (isCelError(result)) throw packFault(`${e.field} on ${what}: ${clip(result.message, 300)}${at(e, result)}`, result);
  return result;
}

function at(e: CompiledExpression, err: CelError): string {
  const offset = err.exprId === undefined ? undefined : e.positions[err.exprId.toString()];
  return offset === undefined ? '' : ` (at ${lineColumn(e.source, offset)})`;
}

/** A string field of an issue: strings as they are, other scalars printed, clipped to `max`. */
function text(e: CompiledExpression, bindings: Bindings, what: string, max: number): string {
  const v = evaluate(e, bindings, what);
  if (typeof v === 'string') return clip(v, max);
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return clip(String(v), max);
  throw packFault(`${e.field} on ${what}: gave ${typeName(v)}, not a string`);
}

// ---------------------------------------------------------------------------------------------
// Reading

interface ApiResource {
  apiVersion: string;
  kind: string;
  /** `/api/v1` or `/apis/<group>/<version>`. */
  base: string;
  /** The plural resource name, e.g. `deployments`. */
  resource: string;
  namespaced: boolean;
}

interface Discovered {
  name: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
}

/** Discovery per client: the resources of each group version, for {@link DISCOVERY_TTL_MS}. */
const discoveryCache = new WeakMap<KubeClients, Map<string, { expires: number; resources: Discovered[] }>>();

/** One run's reads: requests made and objects held, against {@link MAX_OBJECTS}. */
class Reader {
  requests = 0;
  objects = 0;
  constructor(readonly run: DeclarativeRun) {}

  /** A GET answering JSON; API failures as {@link KubeError}s naming `what` and the path. */
  async getJson(path: string, what: string): Promise<unknown> {
    const { signal, kube } = this.run;
    signal.throwIfAborted();
    this.requests++;
    let res: Awaited<ReturnType<KubeClients['get']>>;
    try {
      res = await kube.get(path, { signal });
    } catch (err) {
      signal.throwIfAborted();
      if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) throw new KubeError('timeout', what);
      if (err instanceof TypeError) throw new KubeError('network', what);
      throw err;
    }
    if (res.status < 200 || res.status > 299) throw new ApiStatusError(res.status, what, statusMessage(res.body));
    try {
      return JSON.parse(res.body.toString('utf8')) as unknown;
    } catch (err) {
      throw new Error(`cannot ${what}: the Kubernetes API answered something other than JSON`, { cause: err });
    }
  }

  async resolve(apiVersion: string, kind: string): Promise<ApiResource> {
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const found = (await this.discover(apiVersion, base)).find((r) => r.kind === kind);
    if (!found) throw packFault(`${apiVersion} has no kind ${kind}`);
    if (!found.verbs.includes('list')) throw packFault(`${apiVersion} ${kind} cannot be listed`);
    // The Runner's identity reads more than any one check may (other checks' kinds, bound Secrets):
    // a check lists only what its declared rules cover, and never Secrets.
    const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
    if (group === '' && found.name === 'secrets') throw packFault(`${apiVersion} ${kind}: Secrets are read through secret bindings only`);
    if (!this.run.rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(found.name) && r.verbs.includes('list')))
      throw packFault(
        `${apiVersion} ${kind} (${found.name}) is not covered by the check's needs.kubernetes: declare list on it (and have the policy grant it)`,
      );
    return { apiVersion, kind, base, resource: found.name, namespaced: found.namespaced };
  }

  private async discover(apiVersion: string, base: string): Promise<Discovered[]> {
    const kube = this.run.kube;
    let cache = discoveryCache.get(kube);
    if (!cache) discoveryCache.set(kube, (cache = new Map<string, { expires: number; resources: Discovered[] }>()));
    const hit = cache.get(apiVersion);
    if (hit && hit.expires > Date.now()) return hit.resources;
    let body: unknown;
    try {
      body = await this.getJson(base, `discover ${apiVersion} (GET ${base})`);
    } catch (err) {
      if (err instanceof KubeError && err.status === 404)
        throw packFault(`the cluster does not serve ${apiVersion} (GET ${base} answered 404)`, err);
      throw err;
    }
    const list = isRecord(body) && Array.isArray(body['resources']) ? body['resources'] : [];
    const resources: Discovered[] = [];
    for (const r of list) {
      // Subresources (`deployments/scale`) share their parent's kind: never list them.
      if (!isRecord(r) || typeof r['name'] !== 'string' || r['name'].includes('/') || typeof r['kind'] !== 'string') continue;
      const verbs = Array.isArray(r['verbs']) ? r['verbs'].filter((v): v is string => typeof v === 'string') : [];
      resources.push({ name: r['name'], kind: r['kind'], namespaced: r['namespaced'] === true, verbs });
    }
    cache.set(apiVersion, { expires: Date.now() + DISCOVERY_TTL_MS, resources });
    return resources;
  }

  /**
   * Reads every object of a resource page by page (`limit` = the client's page size), in each of
   * `namespaces` or cluster-wide (always cluster-wide for a cluster-scoped kind), handing each page
   * to `onPage`. Heartbeats per page; fails past {@link MAX_OBJECTS}. Resolves with the count.
   */
  async each(
    res: ApiResource,
    namespaces: readonly string[] | undefined,
    labelSelector: string | undefined,
    onPage: (items: Json[]) => Promise<void> | void,
  ): Promise<number> {
    let count = 0;
    for (const ns of res.namespaced && namespaces ? namespaces : [undefined]) {
      const path = `${res.base}${ns === undefined ? '' : `/namespaces/${ns}`}/${res.resource}`;
      const what = `list ${res.apiVersion} ${res.resource}${ns === undefined ? '' : ` in namespace ${ns}`} (GET ${path})`;
      let cont: string | undefined;
      do {
        const query = new URLSearchParams({ limit: String(this.run.kube.pageSize) });
        if (labelSelector) query.set('labelSelector', labelSelector);
        if (cont) query.set('continue', cont);
        const body = await this.getJson(`${path}?${query.toString()}`, what);
        if (!isRecord(body) || !Array.isArray(body['items'])) throw new Error(`cannot ${what}: the Kubernetes API answered no list`);
        const items = body['items'].filter(isRecord);
        this.objects += items.length;
        count += items.length;
        if (this.objects > MAX_OBJECTS)
          throw packFault(
            `more than ${MAX_OBJECTS} objects to read (at ${res.apiVersion} ${res.kind}): narrow the check with read.namespaces or a labelSelector`,
          );
        const metadata = body['metadata'];
        cont = isRecord(metadata) && typeof metadata['continue'] === 'string' && metadata['continue'] ? metadata['continue'] : undefined;
        await onPage(items);
        this.run.heartbeat();
      } while (cont);
    }
    return count;
  }
}

/** A list item as CEL: `apiVersion` and `kind` filled in, `metadata.managedFields` (bulky bookkeeping) left out. */
function objectOf(
  item: Json,
  res: ApiResource,
): { value: CelValue; kind: string; name: string; namespace: string | undefined; what: string } {
  const metadata = isRecord(item['metadata']) ? item['metadata'] : {};
  const kept = { ...metadata };
  delete kept['managedFields'];
  const name = typeof metadata['name'] === 'string' ? metadata['name'] : '(unnamed)';
  const namespace = typeof metadata['namespace'] === 'string' && metadata['namespace'] ? metadata['namespace'] : undefined;
  return {
    value: toCel({ ...item, apiVersion: res.apiVersion, kind: res.kind, metadata: kept }),
    kind: res.kind,
    name,
    namespace,
    what: `${res.kind} ${namespace === undefined ? '' : `${namespace}/`}${name}`,
  };
}

const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function namespacesOf(e: CompiledExpression, params: Bindings): string[] {
  const v = evaluate(e, params, 'params');
  if (!isCelList(v)) throw packFault(`read.namespaces: gave ${typeName(v)}, not a list of strings`);
  const names = new Set<string>();
  for (const ns of v) {
    if (typeof ns !== 'string') throw packFault(`read.namespaces: gave a list holding ${typeName(ns)}, not only strings`);
    if (ns.length > 63 || !NAMESPACE.test(ns)) throw packFault(`read.namespaces: ${JSON.stringify(clip(ns, 70))} is not a namespace name`);
    names.add(ns);
  }
  return [...names];
}

function selectorOf(template: Template | undefined, params: Bindings): string | undefined {
  if (!template) return undefined;
  return template
    .map((part) => {
      if (typeof part === 'string') return part;
      const v = evaluate(part, params, 'params');
      if (typeof v === 'string' || typeof v === 'bigint') return String(v);
      throw packFault(`${part.field}: gave ${typeName(v)}, not a string`);
    })
    .join('');
}

// ---------------------------------------------------------------------------------------------
// Running

function plural(kind: string, n: number): string {
  if (n === 1) return kind;
  if (/[^aeiou]y$/.test(kind)) return `${kind.slice(0, -1)}ies`;
  if (/(s|x|z|ch|sh)$/.test(kind)) return kind.endsWith('Endpoints') ? kind : `${kind}es`;
  return `${kind}s`;
}

/**
 * Runs a declarative check: resolves the kinds by discovery (cached per client), reads the context
 * lists completely, then folds the objects under test page by page, evaluating the predicate on
 * each and the issue template on the matching ones. `compiled` is {@link compileDeclarative} of
 * `run.spec` (compiled here when absent). Read-only and idempotent.
 *
 * Outcome: `issues` when any object matches (the {@link MAX_ISSUES} most severe, the summary counting
 * the rest), else `ok`; score 1 - matched/read. An API failure (403, 404, 410, timeout) is an
 * `error` outcome naming the status and path; a fault of the check itself (an expression failing on
 * an object, a predicate not giving a bool, an unknown kind, too many objects) throws a
 * non-retryable `ApplicationFailure` (InvalidConfiguration) naming the field and the object.
 */
export async function runDeclarative(
  run: DeclarativeRun,
  compiled: CompiledDeclarative = compileDeclarative(run.spec),
): Promise<CheckOutcome> {
  return guarded(() => execute(run, compiled));
}

async function execute(run: DeclarativeRun, compiled: CompiledDeclarative): Promise<CheckOutcome> {
  const { spec } = run;
  const reader = new Reader(run);
  const params = toCel(run.params);
  const paramsOnly: Bindings = { params };
  const listed = compiled.namespaces ? namespacesOf(compiled.namespaces, paramsOnly) : undefined;
  // An empty list reads every namespace, as no list does: a check's default scope is the cluster.
  const namespaces = listed?.length ? listed : undefined;

  const target = await reader.resolve(spec.read.apiVersion, spec.read.kind);
  const bindings: Bindings = { params };
  let contextObjects = 0;
  for (const { name, labelSelector } of compiled.context) {
    const kind = spec.context[name];
    if (!kind) throw new Error(`context ${name} is compiled but not in the spec`);
    const res = await reader.resolve(kind.apiVersion, kind.kind);
    const items: CelValue[] = [];
    contextObjects += await reader.each(res, namespaces, selectorOf(labelSelector, paramsOnly), (page) => {
      for (const item of page) items.push(objectOf(item, res).value);
    });
    bindings[name] = celList(items);
  }

  let issues: Issue[] = [];
  let matched = 0;
  const total = await reader.each(target, namespaces, selectorOf(compiled.labelSelector, paramsOnly), async (page) => {
    for (const item of page) {
      const o = objectOf(item, target);
      // Evaluation is synchronous: one bindings record serves every object.
      bindings['object'] = o.value;
      const hit = evaluate(compiled.predicate, bindings, o.what);
      if (typeof hit !== 'boolean') throw packFault(`predicate on ${o.what}: gave ${typeName(hit)}, not a bool`);
      if (!hit) continue;
      matched++;
      issues.push(issueOf(compiled, bindings, o));
      // Bounded memory however many match: keep the most severe (stable: the first read among equals).
      if (issues.length >= 2 * MAX_ISSUES) issues = worst(issues);
    }
    // Let the heartbeat and cancellation through between pages of evaluation.
    await nextTurn();
    run.signal.throwIfAborted();
  });
  issues = worst(issues);

  const kinds = plural(target.kind, total);
  const sameTitle =
    issues.length > 0 && issues.every((i) => i.title === issues[0]?.title) ? `: ${issues[0]?.title ?? ''}` : ' have the problem';
  const more = matched > issues.length ? `; the ${issues.length} most severe are listed, and ${matched - issues.length} more` : '';
  return {
    status: issues.length ? 'issues' : 'ok',
    summary: clip(
      issues.length
        ? `${matched} of ${total} ${kinds}${sameTitle}${more}`
        : (spec.okSummary ?? `${total} ${kinds} read, none with the problem`),
      1000,
    ),
    score: total ? Math.round((1 - matched / total) * 1000) / 1000 : 1,
    issues,
    metrics: {
      'objects.read': total,
      'objects.matched': matched,
      'objects.context': contextObjects,
      'api.requests': reader.requests,
      'issues.total': matched,
    },
  };
}

function worst(issues: Issue[]): Issue[] {
  return issues.sort((a, b) => a.severity - b.severity).slice(0, MAX_ISSUES);
}

function issueOf(c: CompiledDeclarative, bindings: Bindings, o: ReturnType<typeof objectOf>): Issue {
  let severity: Issue['severity'];
  if (typeof c.severity === 'number') severity = c.severity;
  else {
    const v = evaluate(c.severity, bindings, o.what);
    const n = typeof v === 'bigint' || typeof v === 'number' ? Number(v) : Number.NaN;
    if (n !== 1 && n !== 2 && n !== 3 && n !== 4)
      throw packFault(
        `issue.severity on ${o.what}: gave ${typeof v === 'bigint' || typeof v === 'number' ? String(v) : typeName(v)}, not an int 1..4`,
      );
    severity = n;
  }
  const title = text(c.title, bindings, o.what, 200);
  if (!title) throw packFault(`issue.title on ${o.what}: gave an empty string`);
  const kind = c.resource.kind ? text(c.resource.kind, bindings, o.what, 64) : o.kind;
  const name = c.resource.name ? text(c.resource.name, bindings, o.what, 512) : o.name;
  const namespace = c.resource.namespace ? text(c.resource.namespace, bindings, o.what, 253) : o.namespace;
  if (!kind || !name) throw packFault(`issue.resource on ${o.what}: gave an empty ${kind ? 'name' : 'kind'}`);
  return {
    severity,
    title,
    resource: { kind, ...(namespace ? { namespace } : {}), name },
    expected: text(c.expected, bindings, o.what, 500),
    actual: text(c.actual, bindings, o.what, 500),
    // An empty step is left out, so that a step can be conditional (`cond ? "…" : ""`).
    nextSteps: c.nextSteps.map((step) => text(step, bindings, o.what, 500)).filter((s) => s !== ''),
  };
}
