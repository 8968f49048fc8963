import { RegisterRunnerBody, type RunnersService } from '../services/runners.service';
import { defineRoute, type RouteDef } from './route';
import { WorkspaceParams } from './params';

export function runnersRoutes({ runners }: { runners: RunnersService }): RouteDef[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/runners',
      tag: 'runners',
      summary: 'Register a Runner (answers its Helm values and key file, once)',
      access: 'runners.manage',
      params: WorkspaceParams,
      body: RegisterRunnerBody,
      success: { status: 201, description: 'the Runner, its Helm values and its key file' },
      async handle({ req, res, access, body }) {
        const runner = await runners.register(access, access.workspaceId, body, req.ip);
        // The key file is in this answer only: never cache it.
        res.status(201).setHeader('Cache-Control', 'no-store').json(runner);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/runners',
      tag: 'runners',
      summary: 'List Runners with their presence',
      access: 'runners.read',
      params: WorkspaceParams,
      success: { status: 200, description: 'Runners' },
      async handle({ res, access }) {
        res.json({ items: await runners.list(access.workspaceId) });
      },
    }),
  ];
}
