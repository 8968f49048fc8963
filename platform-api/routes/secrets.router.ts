import { z } from 'zod';
import { PutSecretBody, type SecretsService } from '../services/secrets.service';
import { defineRoute, type RouteDef } from './route';
import { WorkspaceParams } from './params';

const SecretParams = z.strictObject({ ws: z.uuid(), name: z.string().max(200) });

/** Write, list and delete; there is deliberately no route that returns a secret's value. */
export function secretsRoutes({ secrets }: { secrets: SecretsService }): RouteDef[] {
  return [
    defineRoute({
      method: 'put',
      path: '/v1/workspaces/:ws/secrets/:name',
      tag: 'secrets',
      summary: 'Write a secret (it can never be read back through the Platform)',
      access: 'secrets.manage',
      params: SecretParams,
      body: PutSecretBody,
      success: { status: 200, description: 'the reference and version' },
      async handle({ req, res, access, params, body }) {
        res.status(200).json(await secrets.put(access, access.workspaceId, params.name, body, req.ip));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/secrets',
      tag: 'secrets',
      summary: 'List secret names',
      access: 'secrets.manage',
      params: WorkspaceParams,
      success: { status: 200, description: 'names and versions, never values' },
      async handle({ req, res, access }) {
        res.json({ items: await secrets.list(access, access.workspaceId, req.ip) });
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/workspaces/:ws/secrets/:name',
      tag: 'secrets',
      summary: 'Delete a secret',
      access: 'secrets.manage',
      params: SecretParams,
      success: { status: 204, description: 'deleted' },
      async handle({ req, res, access, params }) {
        await secrets.remove(access, access.workspaceId, params.name, req.ip);
        res.status(204).end();
      },
    }),
  ];
}
