import { CreateScheduleBody, UpdateScheduleBody, type SchedulesService } from '../services/schedules.service';
import { defineRoute, type RouteDef } from './route';
import { WorkspaceIdParams, WorkspaceParams } from './params';

export function schedulesRoutes({ schedules }: { schedules: SchedulesService }): RouteDef[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/schedules',
      tag: 'schedules',
      summary: 'Create a schedule',
      access: 'schedules.manage',
      params: WorkspaceParams,
      body: CreateScheduleBody,
      success: { status: 201, description: 'the schedule' },
      async handle({ req, res, access, body }) {
        const created = await schedules.create(access, access.workspaceId, body, req.ip);
        res.status(201).location(`/v1/workspaces/${access.workspaceId}/schedules/${created.id}`).json(created);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/schedules',
      tag: 'schedules',
      summary: 'List schedules',
      access: 'schedules.read',
      params: WorkspaceParams,
      success: { status: 200, description: 'schedules' },
      async handle({ res, access }) {
        res.json({ items: await schedules.list(access.workspaceId) });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/schedules/:id',
      tag: 'schedules',
      summary: 'A schedule',
      access: 'schedules.read',
      params: WorkspaceIdParams,
      success: { status: 200, description: 'the schedule' },
      async handle({ res, access, params }) {
        res.json(await schedules.get(access.workspaceId, params.id));
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/workspaces/:ws/schedules/:id',
      tag: 'schedules',
      summary: 'Change a schedule',
      access: 'schedules.manage',
      params: WorkspaceIdParams,
      body: UpdateScheduleBody,
      success: { status: 200, description: 'the schedule' },
      async handle({ req, res, access, params, body }) {
        res.json(await schedules.update(access, access.workspaceId, params.id, body, req.ip));
      },
    }),
    ...(['pause', 'resume'] as const).map((verb) =>
      defineRoute({
        method: 'post',
        path: `/v1/workspaces/:ws/schedules/:id/${verb}`,
        tag: 'schedules',
        summary: `${verb === 'pause' ? 'Pause' : 'Resume'} a schedule`,
        access: 'schedules.manage',
        params: WorkspaceIdParams,
        success: { status: 200, description: 'the schedule' },
        async handle({ req, res, access, params }) {
          res.json(await schedules.setPaused(access, access.workspaceId, params.id, verb === 'pause', req.ip));
        },
      }),
    ),
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/schedules/:id/trigger',
      tag: 'schedules',
      summary: 'Run a schedule now (skipped while a run is open)',
      access: 'schedules.trigger',
      params: WorkspaceIdParams,
      success: { status: 202, description: 'triggered' },
      async handle({ req, res, access, params }) {
        await schedules.trigger(access, access.workspaceId, params.id, req.ip);
        res.status(202).json({ triggered: true });
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/workspaces/:ws/schedules/:id',
      tag: 'schedules',
      summary: 'Delete a schedule',
      access: 'schedules.manage',
      params: WorkspaceIdParams,
      success: { status: 204, description: 'deleted' },
      async handle({ req, res, access, params }) {
        await schedules.remove(access, access.workspaceId, params.id, req.ip);
        res.status(204).end();
      },
    }),
  ];
}
