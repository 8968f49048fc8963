/**
 * The route table. Every route is declared once, with its access (a permission, `authenticated` or
 * `public`), its path, query and body schemas and its success answer; the same declarations mount
 * the Express handlers, generate the OpenAPI document and drive the authorization-matrix and fuzzing
 * tests. A route cannot be mounted without declaring its access.
 *
 * Order of checks, the same for every route: authentication (401) → path parameters (400) → the
 * workspace the route acts in, which another workspace's caller cannot see (404) → the permission
 * (403, audited) → query and body (400) → the handler.
 */
import type { Request, RequestHandler, Response, Router } from 'express';
import { z } from 'zod';
import type { Permission } from '../../platform/permissions';
import type { AuthContext, Authenticator, WorkspaceAccess } from '../auth/auth-context';
import { NotFoundError } from '../../common/problem';
import { parseInput } from '../validate';

export type RouteAccess = Permission | 'authenticated' | 'public';
export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

type AnyObject = z.ZodType<Record<string, unknown>>;

export interface RouteContext<P, Q, B> {
  req: Request;
  res: Response;
  params: P;
  query: Q;
  body: B;
  /** Set on every route but `public` ones. */
  auth: AuthContext;
  /** Set on routes that declare a permission: the workspace they act in and the caller's role there. */
  access: WorkspaceAccess;
  /** What `workspaceOf` read to find the workspace, when it hands it on (one read instead of two). */
  resource: unknown;
}

/** A resource found by `workspaceOf`: its workspace, and what was read, for the handler. */
export interface Located {
  workspaceId: string;
  resource: unknown;
}

export interface RouteSpec<P extends AnyObject, Q extends AnyObject, B extends z.ZodType> {
  method: HttpMethod;
  /** Express syntax (`/v1/workspaces/:ws/runs`); OpenAPI paths are derived from it. */
  path: string;
  summary: string;
  tag: string;
  access: RouteAccess;
  /**
   * For permission routes without `:ws`: the workspace the addressed resource belongs to, or
   * undefined when it does not exist (404). It may hand what it read on to the handler (`Located`);
   * the handler then sees it only after authorization passed.
   */
  workspaceOf?: (params: z.infer<P>) => Promise<string | Located | undefined>;
  params?: P;
  query?: Q;
  body?: B;
  /** The success answer, for the OpenAPI document. */
  success: { status: number; description: string; schema?: z.ZodType };
  handle(ctx: RouteContext<z.infer<P>, z.infer<Q>, z.infer<B>>): Promise<void>;
}

/** A declared route with its types erased, as the table holds it. */
export type RouteDef = RouteSpec<AnyObject, AnyObject, z.ZodType>;

const NoParams = z.object({});
const NoQuery = z.strictObject({});

/** Declares a route; the handler's `params`, `query` and `body` are typed from the schemas. */
export function defineRoute<
  P extends AnyObject = typeof NoParams,
  Q extends AnyObject = typeof NoQuery,
  B extends z.ZodType = z.ZodUndefined,
>(spec: RouteSpec<P, Q, B>): RouteDef {
  return spec;
}

export interface MountDeps {
  authenticate: Authenticator;
  authorize(auth: AuthContext, workspaceId: string, permission: Permission, req: Request, route: RouteDef): Promise<WorkspaceAccess>;
}

/** Mounts every route of the table on `router` with the checks above, in that order. */
export function mountRoutes(router: Router, routes: readonly RouteDef[], deps: MountDeps): void {
  for (const route of routes) {
    if (!route.access) throw new Error(`route ${route.method.toUpperCase()} ${route.path} declares no access`);
    router[route.method](route.path, handlerFor(route, deps));
  }
}

function handlerFor(route: RouteDef, deps: MountDeps): RequestHandler {
  const paramsSchema = route.params ?? NoParams;
  const querySchema = route.query ?? NoQuery;
  return (req, res, next) => {
    void (async () => {
      const auth = route.access === 'public' ? undefined : await deps.authenticate(req, route);
      const params = parseInput('path', paramsSchema, req.params);
      let access: WorkspaceAccess | undefined;
      let resource: unknown;
      if (auth && route.access !== 'public' && route.access !== 'authenticated') {
        const located = await workspaceFor(route, params);
        resource = located.resource;
        access = await deps.authorize(auth, located.workspaceId, route.access, req, route);
      }
      const query = parseInput('query', querySchema, req.query);
      const body = route.body ? parseInput('request body', route.body, req.body ?? {}) : undefined;
      await route.handle({ req, res, params, query, body, auth: auth as AuthContext, access: access as WorkspaceAccess, resource });
    })().catch(next);
  };
}

async function workspaceFor(route: RouteDef, params: Record<string, unknown>): Promise<Located> {
  const ws = params['ws'];
  if (typeof ws === 'string') return { workspaceId: ws, resource: undefined };
  if (!route.workspaceOf) throw new Error(`route ${route.method.toUpperCase()} ${route.path} names neither :ws nor workspaceOf`);
  const found = await route.workspaceOf(params);
  // No such resource: the same answer as for a resource of a workspace the caller cannot see.
  if (!found) throw new NotFoundError('resource');
  return typeof found === 'string' ? { workspaceId: found, resource: undefined } : found;
}
