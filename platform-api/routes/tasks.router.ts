import { z } from 'zod';
import { CreateTaskBody, type TasksService } from '../services/tasks.service';
import { defineRoute, type RouteDef } from './route';
import { Limit, WorkspaceIdParams, WorkspaceParams } from './params';

const ListQuery = z.strictObject({ limit: Limit(500, 100) });

export function tasksRoutes({ tasks }: { tasks: TasksService }): RouteDef[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/tasks',
      tag: 'tasks',
      summary: 'Create a task',
      access: 'tasks.manage',
      params: WorkspaceParams,
      body: CreateTaskBody,
      success: { status: 201, description: 'the task' },
      async handle({ req, res, access, body }) {
        const task = await tasks.create(access, access.workspaceId, body, req.ip);
        res.status(201).location(`/v1/workspaces/${access.workspaceId}/tasks/${task.id}`).json(task);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/tasks',
      tag: 'tasks',
      summary: 'List tasks',
      access: 'tasks.read',
      params: WorkspaceParams,
      query: ListQuery,
      success: { status: 200, description: 'tasks' },
      async handle({ res, access, query }) {
        res.json({ items: await tasks.list(access.workspaceId, query.limit) });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/tasks/:id',
      tag: 'tasks',
      summary: 'A task',
      access: 'tasks.read',
      params: WorkspaceIdParams,
      success: { status: 200, description: 'the task' },
      async handle({ res, access, params }) {
        res.json(await tasks.get(access.workspaceId, params.id));
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/workspaces/:ws/tasks/:id',
      tag: 'tasks',
      summary: 'Delete a task',
      access: 'tasks.manage',
      params: WorkspaceIdParams,
      success: { status: 204, description: 'deleted' },
      async handle({ req, res, access, params }) {
        await tasks.remove(access, access.workspaceId, params.id, req.ip);
        res.status(204).end();
      },
    }),
  ];
}
