/**
 * The OpenAPI 3.1 document, generated from the route table: the same zod schemas that parse every
 * request describe it (zod's own JSON Schema output; OpenAPI 3.1 uses JSON Schema 2020-12).
 */
import { z } from 'zod';
import { LOOKOUT_VERSION } from '../common/version';
import type { RouteDef } from './routes/route';

const PROBLEM = {
  type: 'object',
  description: 'RFC 9457 problem details',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
  },
  required: ['type', 'title', 'status', 'detail'],
};

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  delete out['$schema'];
  return out;
}

function problem(description: string) {
  return { description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };
}

export function openApiDocument(routes: readonly RouteDef[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters: unknown[] = [];
    const params = route.params ? (jsonSchema(route.params)['properties'] as Record<string, unknown> | undefined) : undefined;
    for (const [name, schema] of Object.entries(params ?? {})) parameters.push({ name, in: 'path', required: true, schema });
    const query = route.query ? jsonSchema(route.query) : undefined;
    const required = new Set((query?.['required'] as string[] | undefined) ?? []);
    for (const [name, schema] of Object.entries((query?.['properties'] as Record<string, unknown> | undefined) ?? {})) {
      parameters.push({ name, in: 'query', required: required.has(name), schema });
    }
    const responses: Record<string, unknown> = {
      [String(route.success.status)]: {
        description: route.success.description,
        ...(route.success.schema ? { content: { 'application/json': { schema: jsonSchema(route.success.schema) } } } : {}),
      },
      400: problem('invalid path, query or body'),
    };
    if (route.access !== 'public') {
      responses['401'] = problem('not authenticated');
      responses['403'] = problem('authenticated, but not allowed (or a cookie write without its CSRF token)');
    }
    if (route.access !== 'public' && route.access !== 'authenticated')
      responses['404'] = problem('no such resource in a workspace the caller can see');
    paths[path] ??= {};
    paths[path][route.method] = {
      operationId: `${route.method}${path
        .replace(/[{}]/g, '')
        .split(/[/.-]/)
        .filter(Boolean)
        .map((p) => p[0]!.toUpperCase() + p.slice(1))
        .join('')}`,
      summary: route.summary,
      tags: [route.tag],
      'x-lookout-access': route.access,
      ...(route.access === 'public' ? { security: [] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body) } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Lookout Platform API',
      version: LOOKOUT_VERSION,
      description: 'Every route names the permission it needs in x-lookout-access.',
    },
    servers: [{ url: '/' }],
    security: [{ apiToken: [] }, { oidcBearer: [] }, { session: [] }],
    components: {
      schemas: { Problem: PROBLEM },
      securitySchemes: {
        apiToken: { type: 'http', scheme: 'bearer', description: 'An API token (lk_…), bound to one workspace' },
        oidcBearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT from the configured OpenID provider' },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: '__Host-lookout_session',
          description: 'A browser session; writes also need the X-CSRF-Token header',
        },
      },
    },
    paths,
  };
}
