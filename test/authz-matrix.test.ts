/**
 * The authorization matrix, generated from the route table: every route × every kind of principal
 * (API token, browser session, OIDC bearer JWT) × role (owner, operator, viewer, none: logged in but
 * not a member / a token of another workspace) × workspace (the principals' own, another one), plus
 * no credentials at all, each with the exact status. Every call is a request that passes validation
 * (test/harness/route-examples.ts), against real resources, so that an allowed call shows the route's
 * own answer and a refusal can only come from authentication or authorization.
 */
import { randomUUID } from 'node:crypto';
import type { AuthContext } from '../platform-api/auth/auth-context';
import { createOidcLogin } from '../platform-api/auth/oidc';
import { PERMISSIONS, type Permission, type Role } from '../platform/permissions';
import { createSamlLogin } from '../platform-api/auth/saml';
import { routesOf } from '../platform-api/app';
import { linkIdentity } from '../platform/repos/users.repo';
import { addMembership } from '../platform/repos/workspaces.repo';
import type { RouteDef } from '../platform-api/routes/route';
import type { BootstrapOutput } from '../platform-api/services/bootstrap.service';
import { createToken } from '../platform-api/services/tokens.service';
import { newWorkspace, startPlatform, type TestPlatform } from './harness/env';
import { startOidcProvider, type TestOidcProvider } from './harness/oidc-provider';
import { inviteAndLogIn, send, sessionHeaders, type LoggedInUser, type Session } from './harness/principals';
import {
  declaredRoutes,
  exampleOf,
  ROUTE_EXAMPLES,
  routeKey,
  workspaceFixture,
  type Caller,
  type WorkspaceFixture,
  withCallHeaders,
} from './harness/route-examples';
import { createTestSamlIdp } from './harness/saml-idp';

type Kind = AuthContext['kind'];
type RoleOrNone = Role | 'none';
type Where = 'own' | 'other';

const KINDS: readonly Kind[] = ['api_token', 'session', 'oidc_bearer'];
const ROLES_AND_NONE: readonly RoleOrNone[] = ['owner', 'operator', 'viewer', 'none'];
const WHERE: readonly Where[] = ['own', 'other'];
const REDIRECT_URI = 'https://lookout.test/v1/auth/oidc/callback';
const API_AUDIENCE = 'https://api.lookout.test';

const isPermission = (access: string): access is Permission => (PERMISSIONS as readonly string[]).includes(access);

/**
 * The policy under test (DESIGN.md §5), stated here rather than read from permissions.ts so that a
 * change of the roles shows up as failures: the least role that holds each permission.
 */
const LEAST_ROLE: Readonly<Record<Permission, Role>> = {
  'workspace.read': 'viewer',
  'tasks.read': 'viewer',
  'runs.read': 'viewer',
  'results.read': 'viewer',
  'schedules.read': 'viewer',
  'runners.read': 'viewer',
  'issues.read': 'viewer',
  'hooks.read': 'viewer',
  'sinks.read': 'viewer',
  'runs.create': 'operator',
  'runs.cancel': 'operator',
  'runs.retry': 'operator',
  'schedules.trigger': 'operator',
  'issues.manage': 'operator',
  'notifications.retry': 'operator',
  'tasks.manage': 'owner',
  'schedules.manage': 'owner',
  'members.manage': 'owner',
  'tokens.manage': 'owner',
  'runners.manage': 'owner',
  'secrets.manage': 'owner',
  'hooks.manage': 'owner',
  'sinks.manage': 'owner',
  'audit.read': 'owner',
  'workspace.export': 'owner',
  'workspace.delete': 'owner',
};
const RANK: Readonly<Record<Role, number>> = { viewer: 0, operator: 1, owner: 2 };
const roleAllows = (role: Role, permission: Permission) => RANK[role] >= RANK[LEAST_ROLE[permission]];

/** Allowed calls whose answer is not the route's declared success, with the reason. */
const ALLOWED_STATUS: Readonly<Record<string, { status: number; why: string }>> = {
  'POST /v1/workspaces/:ws/runners/:id/discover': {
    status: 400,
    why: "the fixture's Runner reported a policy without k8s.discover, which is refused before anything is written; discovery.test.ts discovers a real cluster through a real Runner",
  },
  'POST /v1/runs/:id/retry': {
    status: 409,
    why: 'a real retry needs a failed run with its workflow history (run-lifecycle.test.ts retries one); the fixture run succeeded, which the service refuses after authorization',
  },
};

/** Public routes whose answer to the example call is not the declared success, with the reason. */
const PUBLIC_STATUS: Readonly<Record<string, { status: number; why: string }>> = {
  'GET /v1/auth/oidc/callback': { status: 401, why: 'no login was started in this browser (no flow cookie): refused as login CSRF' },
  'POST /v1/auth/saml/acs': { status: 401, why: 'no login was started in this browser (no RelayState cookie): refused as login CSRF' },
};

/** Routes open to any logged-in principal: the answer by kind of principal (their role does not matter). */
const AUTHENTICATED_STATUS: Readonly<Record<string, Record<Kind, number>>> = {
  'GET /v1/me': { api_token: 200, session: 200, oidc_bearer: 200 },
  'GET /v1/workspaces': { api_token: 200, session: 200, oidc_bearer: 200 },
  // A token is bound to one workspace: it cannot make another.
  'POST /v1/workspaces': { api_token: 403, session: 201, oidc_bearer: 201 },
  // Only a browser session can end itself.
  'POST /v1/auth/logout': { api_token: 403, session: 204, oidc_bearer: 403 },
  // Sessions belong to users, not to API tokens.
  'GET /v1/auth/sessions': { api_token: 403, session: 200, oidc_bearer: 200 },
  'DELETE /v1/auth/sessions/:id': { api_token: 403, session: 204, oidc_bearer: 204 },
  // Invitations are addressed to people: a token has none to list or accept.
  'GET /v1/me/invitations': { api_token: 200, session: 200, oidc_bearer: 200 },
  'POST /v1/me/invitations/:invitationId/accept': { api_token: 404, session: 200, oidc_bearer: 200 },
};

// Generated before the platform starts (jest collects cases synchronously); checked below to be the
// table of the app under test.
const ROUTES = declaredRoutes();
const permissionRoutes = ROUTES.filter((r) => isPermission(r.access));
const authenticatedRoutes = ROUTES.filter((r) => r.access === 'authenticated');
const publicRoutes = ROUTES.filter((r) => r.access === 'public');
const writeRoutes = ROUTES.filter((r) => r.access !== 'public' && r.method !== 'get');

interface Principal {
  kind: Kind;
  role: RoleOrNone;
  /** The user behind a session or bearer principal. */
  user?: LoggedInUser;
  token?: string;
  jwt?: () => Promise<string>;
}

let platform: TestPlatform;
let op: TestOidcProvider;
/** The principals' workspace (own), another workspace (other). */
let own: WorkspaceFixture;
let other: WorkspaceFixture;
/** A user with a password, for the public login routes. */
let account: LoggedInUser;
const principals = {} as Record<Kind, Record<RoleOrNone, Principal>>;

/** A bearer JWT from the provider for `sub`, renewed before it expires (the provider issues them for 5 minutes). */
function jwtFor(sub: string): () => Promise<string> {
  let jwt: string | undefined;
  let issuedAt = 0;
  return async () => {
    if (!jwt || Date.now() - issuedAt > 4 * 60_000) {
      jwt = await op.issueAccessToken(sub, API_AUDIENCE);
      issuedAt = Date.now();
    }
    return jwt;
  };
}

beforeAll(async () => {
  op = await startOidcProvider({ redirectUris: [REDIRECT_URI] });
  const oidcLogin = await createOidcLogin({
    issuer: op.issuer,
    clientId: op.clientId,
    clientSecret: op.clientSecret,
    redirectUri: REDIRECT_URI,
    ca: op.caPem,
    audiences: [op.clientId, API_AUDIENCE],
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

  own = await workspaceFixture(platform);
  other = await workspaceFixture(platform);
  // The workspace of the principals who are members of neither.
  const elsewhere: BootstrapOutput = await newWorkspace(platform, { probeUrl: 'http://127.0.0.1:9/' });
  account = await inviteAndLogIn(platform.baseUrl, own, 'viewer', 'account');

  for (const kind of KINDS) principals[kind] = {} as Record<RoleOrNone, Principal>;
  for (const role of ROLES_AND_NONE) {
    const user =
      role === 'none'
        ? await inviteAndLogIn(platform.baseUrl, elsewhere, 'owner', 'none')
        : await inviteAndLogIn(platform.baseUrl, own, role);
    let token = elsewhere.token;
    if (role !== 'none') {
      const made = await send(platform.baseUrl, 'POST', `/v1/workspaces/${own.workspaceId}/tokens`, {
        headers: { authorization: `Bearer ${own.token}` },
        body: { name: `matrix-${role}`, role },
      });
      if (made.status !== 201) throw new Error(`token: ${made.status} ${made.text}`);
      token = String(made.json?.['token']);
    }
    // The user has logged in through the provider before: their identity there is linked.
    const sub = `matrix-${role}-${randomUUID()}`;
    op.addAccount({ sub, email: user.email });
    await linkIdentity(platform.pool, { provider: 'oidc', issuer: op.issuer, subject: sub, userId: user.id });
    principals.api_token[role] = { kind: 'api_token', role, token };
    principals.session[role] = { kind: 'session', role, user };
    principals.oidc_bearer[role] = { kind: 'oidc_bearer', role, user, jwt: jwtFor(sub) };
  }
}, 300_000);

afterAll(async () => {
  await platform?.stop();
  await op?.stop();
});

async function headersOf(
  principal: Principal | undefined,
  method: string,
  session?: Session,
  csrf = true,
): Promise<Record<string, string>> {
  if (!principal) return {};
  if (session !== undefined || principal.kind === 'session') return sessionHeaders(session ?? principal.user!.session, method, { csrf });
  if (principal.kind === 'api_token') return { authorization: `Bearer ${principal.token!}` };
  return { authorization: `Bearer ${await principal.jwt!()}` };
}

/** The same principal with `role` in a fresh workspace: a membership for a user, a new token for a token. */
async function grant(principal: Principal, ws: WorkspaceFixture, role: Role): Promise<Principal> {
  if (principal.kind === 'api_token') {
    const made = await createToken(platform.pool, {
      workspaceId: ws.workspaceId,
      createdBy: ws.ownerId,
      name: `matrix-${role}`,
      role,
      expiresAt: null,
    });
    return { ...principal, token: made.token };
  }
  await addMembership(platform.pool, { workspaceId: ws.workspaceId, userId: principal.user!.id, role });
  return principal;
}

/** Makes the route's example call as `principal` (none: anonymous) in `ws`, or in a fresh workspace for a route that erases it. */
async function call(route: RouteDef, principal: Principal | undefined, where: Where, options: { csrf?: boolean } = {}) {
  const example = exampleOf(route);
  let ws = where === 'own' ? own : other;
  let caller = principal;
  if (example.consumesWorkspace) {
    ws = await workspaceFixture(platform);
    if (principal && where === 'own' && principal.role !== 'none') caller = await grant(principal, ws, principal.role);
  }
  const who: Caller = { kind: principal?.kind ?? 'anonymous', user: principal?.user };
  const request = await example.call({ platform, ws, caller: who, account });
  const method = route.method.toUpperCase();
  const res = await send(platform.baseUrl, method, request.path, {
    headers: withCallHeaders(await headersOf(caller, method, request.session, options.csrf ?? true), request),
    body: request.body,
  });
  return {
    status: res.status,
    detail: res.json?.['detail'],
    body: res.text.slice(0, 400),
    wwwAuthenticate: res.headers.get('www-authenticate'),
  };
}

describe('the route table', () => {
  it('is the table of the app under test', () => {
    const shape = (routes: readonly RouteDef[]) => routes.map((r) => `${routeKey(r)} ${r.access}`);
    expect(shape(routesOf(platform.app))).toEqual(shape(ROUTES));
  });

  it('gives every route an access the matrix knows', () => {
    const unknown = ROUTES.filter((r) => !(isPermission(r.access) || r.access === 'authenticated' || r.access === 'public')).map(
      (r) => `${routeKey(r)}: ${String(r.access)}`,
    );
    expect(unknown).toEqual([]);
  });

  it('states the least role of every permission there is', () => {
    expect(Object.keys(LEAST_ROLE).sort()).toEqual([...PERMISSIONS].sort());
  });

  it('has an example request for every route, and none for a route that is gone', () => {
    const keys = ROUTES.map(routeKey);
    expect(keys.filter((k) => !ROUTE_EXAMPLES[k])).toEqual([]);
    expect(Object.keys(ROUTE_EXAMPLES).filter((k) => !keys.includes(k))).toEqual([]);
  });

  it('has expectations only for routes of the table, and one for every authenticated route', () => {
    const keys = ROUTES.map(routeKey);
    const stale = [...Object.keys(ALLOWED_STATUS), ...Object.keys(PUBLIC_STATUS), ...Object.keys(AUTHENTICATED_STATUS)].filter(
      (k) => !keys.includes(k),
    );
    expect(stale).toEqual([]);
    expect(Object.keys(AUTHENTICATED_STATUS).sort()).toEqual(authenticatedRoutes.map(routeKey).sort());
  });
});

interface PermissionCase {
  title: string;
  kind: Kind;
  role: RoleOrNone;
  where: Where;
}

function permissionCases(route: RouteDef & { access: Permission }): PermissionCase[] {
  return KINDS.flatMap((kind) =>
    ROLES_AND_NONE.flatMap((role) =>
      WHERE.map((where) => {
        const expected =
          role === 'none' || where === 'other'
            ? 404
            : roleAllows(role, route.access)
              ? (ALLOWED_STATUS[routeKey(route)]?.status ?? route.success.status)
              : 403;
        return {
          title: `${kind} ${role === 'none' ? 'of no member' : role} in ${where === 'own' ? 'its own' : 'another'} workspace → ${expected}`,
          kind,
          role,
          where,
        };
      }),
    ),
  );
}

describe.each(permissionRoutes.map((r) => [`${routeKey(r)} (${r.access})`, r as RouteDef & { access: Permission }] as const))(
  '%s',
  (_name, route) => {
    it('answers 401 without credentials', async () => {
      const res = await call(route, undefined, 'own');
      expect(res).toMatchObject({ status: 401, detail: 'missing credentials', wwwAuthenticate: 'Bearer' });
    });

    it.each(permissionCases(route))('$title', async ({ kind, role, where }) => {
      const res = await call(route, principals[kind][role], where);
      if (role === 'none' || where === 'other') {
        // Authorization's answer, not the handler's: the resource exists in the other workspace.
        expect(res).toMatchObject({ status: 404, detail: route.path.includes(':ws') ? 'workspace not found' : 'resource not found' });
      } else if (!roleAllows(role, route.access)) {
        expect(res).toMatchObject({ status: 403, detail: `role ${role} lacks ${route.access}` });
      } else {
        expect(res).toMatchObject({ status: ALLOWED_STATUS[routeKey(route)]?.status ?? route.success.status });
      }
    });
  },
);

describe.each(authenticatedRoutes.map((r) => [routeKey(r), r] as const))('%s (any logged-in principal)', (key, route) => {
  it('answers 401 without credentials', async () => {
    expect(await call(route, undefined, 'own')).toMatchObject({ status: 401, detail: 'missing credentials', wwwAuthenticate: 'Bearer' });
  });

  const cases = KINDS.flatMap((kind) =>
    ROLES_AND_NONE.map((role) => ({
      kind,
      role,
      title: `${kind} ${role === 'none' ? 'of no member' : role} → ${AUTHENTICATED_STATUS[key]?.[kind] ?? '(no expectation)'}`,
    })),
  );
  it.each(cases)('$title', async ({ kind, role }) => {
    const expected = AUTHENTICATED_STATUS[key]?.[kind];
    if (expected === undefined) throw new Error(`no expected status for ${key} as ${kind}: add it to AUTHENTICATED_STATUS`);
    expect(await call(route, principals[kind][role], 'own')).toMatchObject({ status: expected });
  });
});

describe.each(publicRoutes.map((r) => [routeKey(r), r] as const))('%s (public)', (key, route) => {
  const expected = PUBLIC_STATUS[key]?.status ?? route.success.status;
  it(`answers ${expected} without credentials`, async () => {
    expect(await call(route, undefined, 'own')).toMatchObject({ status: expected });
  });
});

describe.each(writeRoutes.map((r) => [routeKey(r), r] as const))('%s with a session', (_key, route) => {
  it('answers 403 to an owner session without the CSRF header', async () => {
    expect(await call(route, principals.session.owner, 'own', { csrf: false })).toMatchObject({
      status: 403,
      detail: 'missing or wrong CSRF token',
    });
  });
});
