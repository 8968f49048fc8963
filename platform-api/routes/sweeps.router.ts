import { ListSweepsQuery, StartSweepBody, type SweepsService } from '../services/sweeps.service';
import { defineRoute, type RouteDef } from './route';
import { IdParams, WorkspaceParams } from './params';

export function sweepsRoutes({ sweeps }: { sweeps: SweepsService }): RouteDef[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/sweeps',
      tag: 'sweeps',
      summary: 'Sweep every task of a Runner now',
      access: 'runs.create',
      params: WorkspaceParams,
      body: StartSweepBody,
      success: { status: 202, description: 'the sweep, started' },
      async handle({ req, res, access, body }) {
        res.status(202).json(await sweeps.start(access, access.workspaceId, body, req.ip));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/sweeps',
      tag: 'sweeps',
      summary: "Sweeps with their scores, newest first (a Runner's health history; of a namespace group with `group`)",
      access: 'runs.read',
      params: WorkspaceParams,
      query: ListSweepsQuery,
      success: { status: 200, description: 'sweeps' },
      async handle({ res, access, query }) {
        res.json({ items: await sweeps.list(access, query) });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/sweeps/:id',
      tag: 'sweeps',
      summary: 'A sweep with its scores and changes',
      access: 'runs.read',
      params: IdParams,
      workspaceOf: ({ id }) => sweeps.workspaceOf(id),
      success: { status: 200, description: 'the sweep' },
      async handle({ res, access, params }) {
        res.json(await sweeps.get(access, params.id));
      },
    }),
  ];
}
