/**
 * Property-based fuzzing of every route of the table (fast-check): arbitrary JSON, bodies shaped
 * like the route's schema with wrong values, mutations of a valid request, huge and odd unicode
 * strings, deep nesting, malformed JSON and odd content types, arbitrary query strings, and path
 * parameters that are odd or not validly percent-encoded. Whatever
 * comes in: never a 5xx; every 4xx is an RFC 9457 problem without internals; and a 4xx writes
 * nothing — the rows of the addressed workspace and the global identity tables are the same before
 * and after (the audit log is left out: it records refusals by design).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { z } from 'zod';
import { createOidcLogin } from '../platform-api/auth/oidc';
import { createSamlLogin } from '../platform-api/auth/saml';
import { routesOf } from '../platform-api/app';
import type { RouteDef } from '../platform-api/routes/route';
import { newWorkspace, startPlatform, type TestPlatform } from './harness/env';
import { startOidcProvider, type TestOidcProvider } from './harness/oidc-provider';
import { inviteAndLogIn, send, sessionHeaders, type LoggedInUser } from './harness/principals';
import {
  declaredRoutes,
  exampleOf,
  routeKey,
  workspaceFixture,
  type Caller,
  type RouteCall,
  type WorkspaceFixture,
  withCallHeaders,
} from './harness/route-examples';
import { createTestSamlIdp } from './harness/saml-idp';

const NUM_RUNS = 50;

// Found by this test and fixed: a path parameter with broken percent-encoding answered 500 (the
// router's URIError is now a 400 problem), and a NUL character in a stored string answered 500
// (parseInput refuses U+0000 by path).
const REDIRECT_URI = 'https://lookout.test/v1/auth/oidc/callback';

/** Routes that are not fuzzed, with the reason. Every other route is. */
const NOT_FUZZED: Readonly<Record<string, string>> = {
  'GET /healthz': 'a public probe that reads no input and writes nothing',
  'GET /readyz': 'a public probe that reads no input and writes nothing',
  'GET /openapi.json': 'a public document that reads no input and writes nothing',
  'GET /.well-known/lookout/temporal-jwks.json': 'a public key set that reads no input and writes nothing',
};

/**
 * Valid requests to start mutating from, where the shared example would point the fuzzer at a real
 * account: wrong passwords and codes for a real account are counted towards its lockout, a write on
 * a 401 by design. These name no account and no login in progress, so that any write is a bug.
 */
const SEEDS: Readonly<Record<string, () => RouteCall>> = {
  'POST /v1/auth/password': () => ({
    path: '/v1/auth/password',
    body: { email: `nobody-${randomUUID()}@example.test`, password: 'not the password' },
  }),
  'POST /v1/auth/mfa': () => ({ path: '/v1/auth/mfa', body: { challenge: randomBytes(32).toString('base64url'), code: '123456' } }),
};

const ROUTES = declaredRoutes();
const fuzzedRoutes = ROUTES.filter((r) => !NOT_FUZZED[routeKey(r)]);

let platform: TestPlatform;
let op: TestOidcProvider;
/** The caller of the routes that need a user (any logged-in principal); owner of no fuzzed workspace. */
let user: LoggedInUser;

beforeAll(async () => {
  op = await startOidcProvider({ redirectUris: [REDIRECT_URI] });
  const oidcLogin = await createOidcLogin({
    issuer: op.issuer,
    clientId: op.clientId,
    clientSecret: op.clientSecret,
    redirectUri: REDIRECT_URI,
    ca: op.caPem,
  });
  const idp = createTestSamlIdp();
  const saml = createSamlLogin({
    entryPoint: idp.ssoUrl,
    spEntityId: 'https://lookout.test/saml/metadata',
    acsUrl: 'https://lookout.test/v1/auth/saml/acs',
    idpEntityId: idp.entityId,
    idpCerts: [idp.certPem],
  });
  platform = await startPlatform({
    app: { bearer: oidcLogin, sso: { oidc: { login: oidcLogin, redirectUri: REDIRECT_URI }, saml } },
  });
  user = await inviteAndLogIn(platform.baseUrl, await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' }), 'owner', 'fuzz');
}, 180_000);

afterAll(async () => {
  await platform?.stop();
  await op?.stop();
});

// ---- what is compared before and after a 4xx ------------------------------------------------------

/** Rows of the addressed workspace, and the global tables a request of any route could write. */
const FINGERPRINTED: Readonly<Record<string, string>> = {
  workspace: 'select * from workspaces where id = $1',
  tasks: 'select * from tasks where workspace_id = $1',
  runs: 'select * from runs where workspace_id = $1 and not id = any($2::uuid[])',
  // Runs the example itself started move on with their workflow: only their identity is compared.
  live_runs:
    'select id, workspace_id, task_id, runner_id, check_type, trigger, requested_by, workflow_id from runs where id = any($2::uuid[])',
  results: 'select * from results where workspace_id = $1',
  schedules: 'select * from schedules where workspace_id = $1',
  sweeps: 'select * from sweeps where workspace_id = $1',
  runners: 'select * from runners where workspace_id = $1',
  memberships: 'select * from memberships where workspace_id = $1',
  secrets: 'select * from secrets where workspace_id = $1',
  invitations: 'select * from invitations where workspace_id = $1',
  // last_used_at moves on every use of a token, by design.
  api_tokens:
    'select id, workspace_id, created_by, name, token_hash, display_hint, role, expires_at, revoked_at, created_at from api_tokens where workspace_id = $1',
  workspaces: 'select id, name from workspaces',
  users: 'select * from users',
  // last_seen_at moves on every use of a session, by design.
  sessions: 'select id_hash, public_id, user_id, method, csrf_hash, created_at, expires_at, revoked_at from sessions',
  user_identities: 'select provider, issuer, subject, user_id from user_identities',
  auth_flows: 'select * from auth_flows',
  all_invitations: 'select * from invitations',
};

async function fingerprint({ ws, liveRuns }: Target): Promise<Record<string, string>> {
  const columns = Object.entries(FINGERPRINTED).map(
    ([name, sql]) => `(select count(*) || ':' || md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from (${sql}) t) as ${name}`,
  );
  const { rows } = await platform.pool.query<Record<string, string>>(`select ${columns.join(', ')}`, [ws.workspaceId, liveRuns]);
  return rows[0]!;
}

// ---- inputs ---------------------------------------------------------------------------------------

const ODD_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\u202egnp.exe',
  'e\u0301',
  '🦄'.repeat(40),
  '\uFEFF',
  '\r\n\t',
  '../../etc/passwd',
  "'; drop table users; --",
  '%s%n%x',
  '{{7*7}}',
  '${jndi:ldap://x}',
  '<script>alert(1)</script>',
  'null',
  'true',
  '-0',
  '1e309',
  'NaN',
  'Infinity',
  '__proto__',
  'constructor',
  ' '.repeat(300),
  'A'.repeat(10_000),
];
const oddString = fc.constantFrom(...ODD_STRINGS);
/** Characters that a valid string can carry in with it: NUL, lone surrogates, bidi and BOM marks, quotes, escapes. */
const ODD_CHARS = [
  '\u0000',
  '\ud800',
  '\udfff',
  '\u202e',
  '\uFEFF',
  '\u0301',
  '\u2028',
  '\u007f',
  '\n',
  '\r',
  '\t',
  '%',
  '%00',
  '\\',
  "'",
  '"',
  '`',
  '<',
  '&',
  '🦄',
  ' ',
];
/** `original` with odd characters put in: a value otherwise valid, so that it gets past the schema. */
const oddChar = fc.oneof({ weight: 1, arbitrary: fc.constant('\u0000') }, { weight: 3, arbitrary: fc.constantFrom(...ODD_CHARS) });
const tweaked = (original: string) =>
  fc
    .array(fc.tuple(fc.nat({ max: original.length }), oddChar), { minLength: 1, maxLength: 3 })
    .map((edits) => edits.reduce((s, [at, c]) => `${s.slice(0, at)}${c}${s.slice(at)}`, original));
// Around the 64 kB body limit: some fit, some are refused as too large.
const hugeString = fc.integer({ min: 1_000, max: 90_000 }).map((n) => 'x'.repeat(n));
const text = fc.oneof(
  { weight: 1, arbitrary: fc.string() },
  { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme' }) },
  { weight: 3, arbitrary: oddString },
  { weight: 1, arbitrary: hugeString },
);
const number = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -1, 1, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1e308, -1e-308, 0.5));
const scalar = fc.oneof(text, number, fc.boolean(), fc.constant(null));
const wild: fc.Arbitrary<unknown> = fc.oneof(
  scalar,
  fc.jsonValue({ maxDepth: 3 }),
  fc.array(scalar, { maxLength: 5 }),
  fc.dictionary(fc.oneof(fc.string(), oddString), scalar, { maxKeys: 4 }),
);

/** `depth` nested arrays or objects around a value, as JSON text (no recursion on either side). */
const deepJson = fc
  .tuple(fc.integer({ min: 20, max: 5_000 }), fc.boolean())
  .map(([depth, objects]) => (objects ? `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` : `${'['.repeat(depth)}1${']'.repeat(depth)}`));

type BodyInput = { kind: 'json'; value: unknown } | { kind: 'raw'; text: string; contentType: string } | { kind: 'none' };

const rawBody: fc.Arbitrary<BodyInput> = fc
  .tuple(
    fc.oneof(
      fc.string(),
      oddString,
      deepJson,
      fc.constantFrom('{', '{"a":', '[1,]', 'nul', '{"a":1}{"b":2}', '{"__proto__":{"admin":true}}', "{'a':1}", '\u0000{}'),
    ),
    fc.constantFrom(
      'application/json',
      'application/merge-patch+json',
      'text/plain',
      'application/json; charset=utf-16',
      'application/xml',
      'multipart/form-data; boundary=x',
    ),
  )
  .map(([body, contentType]) => ({ kind: 'raw', text: body, contentType }));

const formBody: fc.Arbitrary<BodyInput> = fc
  .array(fc.tuple(fc.oneof(fc.string(), oddString), fc.oneof(fc.string(), oddString)), { maxLength: 5 })
  .map((pairs) => ({ kind: 'raw', text: new URLSearchParams(pairs).toString(), contentType: 'application/x-www-form-urlencoded' }));

/** The top-level keys a schema declares (from its JSON Schema), to shape objects like it. */
function keysOf(schema: z.ZodType | undefined): string[] {
  if (!schema) return [];
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, unknown> };
  return Object.keys(json.properties ?? {});
}

/** The path of every value inside a JSON object (arrays count as single values). */
function valuePaths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([k, v]) => [[...prefix, k], ...valuePaths(v, [...prefix, k])]);
}

function valueAt(value: unknown, path: string[]): unknown {
  return path.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], value);
}

/** `seed` with the value at `path` replaced by `value` (or removed when `value` is `DELETE`), or a new key added. */
const DELETE = Symbol('delete');
function mutate(seed: unknown, path: string[], value: unknown): unknown {
  const copy = structuredClone(seed) as Record<string, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  const last = path.at(-1)!;
  if (value === DELETE) delete node[last];
  else node[last] = value;
  return copy;
}

function bodyInputs(route: RouteDef, seed: unknown): fc.Arbitrary<BodyInput> {
  const keys = keysOf(route.body);
  const shaped = fc.record(Object.fromEntries(keys.map((k) => [k, wild])), { requiredKeys: [] });
  const paths = valuePaths(seed);
  const strings = paths.filter((p) => typeof valueAt(seed, p) === 'string');
  const tweakedStrings =
    strings.length > 0
      ? fc.constantFrom(...strings).chain((p) => tweaked(valueAt(seed, p) as string).map((v) => mutate(seed, p, v)))
      : wild;
  const mutated =
    paths.length > 0
      ? fc
          .tuple(fc.constantFrom(...paths, ['extraField']), fc.oneof(wild, fc.constant<unknown>(DELETE)))
          .map(([path, value]) => mutate(seed, path, value))
      : wild;
  return fc.oneof(
    { weight: 3, arbitrary: mutated.map((value): BodyInput => ({ kind: 'json', value })) },
    { weight: 5, arbitrary: tweakedStrings.map((value): BodyInput => ({ kind: 'json', value })) },
    { weight: 2, arbitrary: shaped.map((value): BodyInput => ({ kind: 'json', value })) },
    { weight: 2, arbitrary: fc.jsonValue().map((value): BodyInput => ({ kind: 'json', value })) },
    { weight: 1, arbitrary: fc.anything().map((value): BodyInput => ({ kind: 'json', value })) },
    { weight: 1, arbitrary: rawBody },
    { weight: 1, arbitrary: formBody },
    { weight: 1, arbitrary: fc.constant<BodyInput>({ kind: 'none' }) },
  );
}

/** Percent-encodes the UTF-8 bytes of `s` (lone surrogates become U+FFFD, as a browser would send them). */
const pct = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

/** A non-empty query string: pairs with the schema's keys and others, odd values, raw bytes, repeated keys. */
function queryInputs(route: RouteDef): fc.Arbitrary<string> {
  const keys = [...keysOf(route.query), 'limit', 'after', 'x', 'limit[]', 'a[b]', '__proto__', 'constructor'];
  const key = fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 12 }));
  const value = fc.oneof(
    fc.constantFrom('', '0', '-1', '5', '1e3', '1.5', '99999999999999999999', 'NaN', 'null', '[]'),
    text.filter((s) => s.length < 3_000),
    number.map(String),
  );
  const pairs = fc
    .array(fc.tuple(key, value), { minLength: 1, maxLength: 5 })
    .map((kv) => kv.map(([k, v]) => `${pct(k)}=${pct(v)}`).join('&'));
  // Bytes that are not UTF-8, and characters left for the client to encode.
  const raw = fc.oneof(
    fc
      .uint8Array({ minLength: 1, maxLength: 40 })
      .map((bytes) => `q=${[...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`),
    fc.string({ minLength: 1, maxLength: 200 }).map((s) => `${s.replace(/#/g, '')}=`),
    fc.constantFrom('%', '%zz=1', 'limit=%', '&&&', '=', 'limit=1&limit=2', 'limit[$gt]=1'),
  );
  return fc.oneof({ weight: 3, arbitrary: pairs }, { weight: 1, arbitrary: raw });
}

/** A path parameter (by its index among the path's segments) replaced with an odd value, percent-encoded or not validly encoded. */
function segmentInputs(route: RouteDef, examplePath: string): fc.Arbitrary<{ index: number; value: string }> | undefined {
  const segments = examplePath.split('?')[0]!.split('/');
  const params = route.path.split('/').flatMap((s, i) => (s.startsWith(':') ? [i] : []));
  if (params.length === 0) return undefined;
  return fc.constantFrom(...params).chain((index) =>
    fc
      .oneof(
        tweaked(decodeURIComponent(segments[index]!)).map(pct),
        text.filter((t) => t.length > 0 && t.length < 3_000).map(pct),
        fc
          .uint8Array({ minLength: 1, maxLength: 12 })
          .map((bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')),
        fc.constantFrom(
          '%',
          '%zz',
          '%C0',
          '%C0%AE',
          '%E0%80',
          '%ff%fe',
          '%00',
          '%2e%2e',
          '%2F',
          segments[index]!.toUpperCase(),
          `{${segments[index]!}}`,
          'a'.repeat(300),
        ),
      )
      .map((value) => ({ index, value })),
  );
}

// ---- the properties -------------------------------------------------------------------------------

/** A workspace with its resources and the route's valid request against it; made again after any successful write. */
interface Target {
  ws: WorkspaceFixture;
  request: RouteCall;
  /** Runs that making the request started (with a workflow that is still going). */
  liveRuns: string[];
}

function callerOf(route: RouteDef): Caller {
  if (route.access === 'public') return { kind: 'anonymous' };
  if (route.access === 'authenticated') return { kind: 'session', user };
  return { kind: 'api_token' };
}

async function newTarget(route: RouteDef): Promise<Target> {
  const ws = await workspaceFixture(platform);
  const seed = SEEDS[routeKey(route)];
  const request = seed ? seed() : await exampleOf(route).call({ platform, ws, caller: callerOf(route), account: user });
  const { rows } = await platform.pool.query<{ id: string }>('select id from runs where workspace_id = $1 and not id = any($2::uuid[])', [
    ws.workspaceId,
    [ws.runId, ws.succeededRunId],
  ]);
  return { ws, request, liveRuns: rows.map((r) => r.id) };
}

function headersOf(route: RouteDef, target: Target): Record<string, string> {
  const method = route.method.toUpperCase();
  if (route.access === 'public') return {};
  if (route.access === 'authenticated') return sessionHeaders(target.request.session ?? user.session, method);
  return { authorization: `Bearer ${target.ws.token}` };
}

const INTERNALS = /\bat \S+ \(|\bat .+:\d+:\d+|node_modules|platform-api\/|\.ts:\d+|ECONNREFUSED|duplicate key|violates|syntax error at/;

describe('the route table', () => {
  it('is the table of the app under test', () => {
    const shape = (routes: readonly RouteDef[]) => routes.map((r) => `${routeKey(r)} ${r.access}`);
    expect(shape(routesOf(platform.app))).toEqual(shape(ROUTES));
  });

  it('has every route fuzzed or excluded with a reason, and excludes only routes that exist', () => {
    const keys = ROUTES.map(routeKey);
    expect(Object.keys(NOT_FUZZED).filter((k) => !keys.includes(k))).toEqual([]);
    expect(Object.keys(SEEDS).filter((k) => !keys.includes(k))).toEqual([]);
    // The public routes that take input (the logins, the alert hooks) are fuzzed; a new public route must be placed.
    expect(
      ROUTES.filter(
        (r) => r.access === 'public' && !r.path.startsWith('/v1/auth/') && !r.path.startsWith('/v1/hooks/') && !NOT_FUZZED[routeKey(r)],
      ).map(routeKey),
    ).toEqual([]);
  });
});

interface FuzzInput {
  body: BodyInput;
  query?: string | undefined;
  segment?: { index: number; value: string } | undefined;
}

function describeBody(body: BodyInput): string {
  if (body.kind === 'none') return 'no body';
  if (body.kind === 'raw') return `${body.contentType} ${JSON.stringify(body.text.slice(0, 300))}`;
  try {
    return `JSON ${(JSON.stringify(body.value) ?? 'undefined').slice(0, 300)}`;
  } catch {
    return 'JSON (unprintable)';
  }
}

/**
 * Inputs tried first, whatever the random ones turn out to be: each string of the valid body with a
 * NUL, a lone surrogate and a bidi override put in (values that pass most schemas but not every store).
 */
function bodyExamples(seed: unknown): FuzzInput[] {
  return valuePaths(seed)
    .filter((p) => typeof valueAt(seed, p) === 'string')
    .flatMap((p) =>
      ['\u0000', '\ud800', '\u202e'].map((c): FuzzInput => ({
        body: { kind: 'json', value: mutate(seed, p, `${valueAt(seed, p) as string}${c}`) },
      })),
    );
}

/** Sends `NUM_RUNS` inputs (after `examples`) to `route` and checks each answer; fresh resources after each successful write. */
async function fuzz(
  route: RouteDef,
  inputs: (target: Target) => fc.Arbitrary<FuzzInput>,
  examples: (target: Target) => FuzzInput[] = () => [],
): Promise<void> {
  let target = await newTarget(route);
  const method = route.method.toUpperCase();
  const first = examples(target);
  await fc.assert(
    fc.asyncProperty(inputs(target), async ({ body, query, segment }) => {
      const [examplePath, exampleQuery] = target.request.path.split('?') as [string, string | undefined];
      const segments = examplePath.split('/');
      if (segment) segments[segment.index] = segment.value;
      const q = query ?? exampleQuery;
      const path = `${segments.join('/')}${q === undefined ? '' : `?${q}`}`;
      const before = await fingerprint(target);
      const res = await send(platform.baseUrl, method, path, {
        headers: withCallHeaders(headersOf(route, target), target.request),
        ...(body.kind === 'json' ? { body: body.value } : body.kind === 'raw' ? { rawBody: body.text, contentType: body.contentType } : {}),
      });
      const after = await fingerprint(target);
      const problems: string[] = [];
      if (res.status >= 500) problems.push('a server error');
      if (res.status >= 400) {
        if (!/^application\/problem\+json/.test(res.headers.get('content-type') ?? ''))
          problems.push(`content-type ${res.headers.get('content-type')}, not application/problem+json`);
        const p = res.json ?? {};
        if (
          typeof p['type'] !== 'string' ||
          typeof p['title'] !== 'string' ||
          p['status'] !== res.status ||
          typeof p['detail'] !== 'string'
        )
          problems.push('not a problem document {type, title, status, detail}');
        if (INTERNALS.test(res.text)) problems.push('internals (a stack, a file or a database message) in the answer');
        const written = Object.keys(before).filter((table) => before[table] !== after[table]);
        if (written.length > 0) problems.push(`rows written on a ${res.status}: ${written.join(', ')}`);
      }
      if (problems.length > 0) {
        throw new Error(
          `${method} ${path.slice(0, 300)} with ${describeBody(body)}\n  → ${res.status} ${res.text.slice(0, 300)}\n  ${problems.join('; ')}`,
        );
      }
      if (res.status < 400 && method !== 'GET') {
        // It did what it was asked: the next input gets fresh resources, and no workflow it started
        // writes into the workspace whose rows are compared.
        target = await newTarget(route);
      }
    }),
    { numRuns: NUM_RUNS + first.length, examples: first.map((e) => [e]) },
  );
}

describe.each(fuzzedRoutes.map((r) => [`${routeKey(r)} (${r.access})`, r] as const))('%s', (_name, route) => {
  it('answers arbitrary bodies and query strings without a 5xx, with a problem on a 4xx, and writes nothing on a 4xx', async () => {
    await fuzz(
      route,
      (target) =>
        route.body
          ? // Mostly the example's query: a bad query is refused before the body is looked at.
            fc.record({
              body: bodyInputs(route, target.request.body),
              query: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: queryInputs(route) }),
            })
          : fc.record({ body: fc.constant<BodyInput>({ kind: 'none' }), query: queryInputs(route) }),
      (target) => bodyExamples(target.request.body),
    );
  });

  if (route.path.includes('/:')) {
    it('answers odd path parameters without a 5xx, with a problem on a 4xx, and writes nothing on a 4xx', async () => {
      await fuzz(
        route,
        (target) =>
          fc.record({
            body: fc.constant<BodyInput>(
              target.request.body === undefined ? { kind: 'none' } : { kind: 'json', value: target.request.body },
            ),
            segment: segmentInputs(route, target.request.path)!,
          }),
        // Each parameter once with a bare `%` (not a valid percent-encoding).
        (target) =>
          route.path.split('/').flatMap((s, index) =>
            s.startsWith(':')
              ? [
                  {
                    body:
                      target.request.body === undefined ? { kind: 'none' as const } : { kind: 'json' as const, value: target.request.body },
                    segment: { index, value: '%' },
                  },
                ]
              : [],
          ),
      );
    });
  }
});
