import { CreateSinkBody, NotificationQuery, type SinksService } from '../services/sinks.service';
import { defineRoute, type RouteDef } from './route';
import { WorkspaceIdParams, WorkspaceParams } from './params';

export function sinksRoutes({ sinks }: { sinks: SinksService }): RouteDef[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/sinks',
      tag: 'notifications',
      summary: 'Create a notification sink (Slack, Teams, PagerDuty, webhook, email); where it sends is never shown again',
      access: 'sinks.manage',
      params: WorkspaceParams,
      body: CreateSinkBody,
      success: { status: 201, description: 'the sink (a webhook sink with its signing secret, shown this once)' },
      async handle({ req, res, access, body }) {
        const sink = await sinks.create(access, body, req.ip);
        res.status(201).location(`/v1/workspaces/${access.workspaceId}/sinks/${sink.id}`).json(sink);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/sinks',
      tag: 'notifications',
      summary: 'List notification sinks: kind and routing, never where they send',
      access: 'sinks.read',
      params: WorkspaceParams,
      success: { status: 200, description: 'sinks' },
      async handle({ res, access }) {
        res.json({ items: await sinks.list(access.workspaceId) });
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/workspaces/:ws/sinks/:id',
      tag: 'notifications',
      summary: 'Delete a notification sink (and what it still owed)',
      access: 'sinks.manage',
      params: WorkspaceIdParams,
      success: { status: 204, description: 'deleted' },
      async handle({ req, res, access, params }) {
        await sinks.remove(access, params.id, req.ip);
        res.status(204).end();
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/sinks/:id/test',
      tag: 'notifications',
      summary: 'Send a test message through a sink now: whether it was delivered, and if not why',
      access: 'sinks.manage',
      params: WorkspaceIdParams,
      success: { status: 200, description: '{delivered, reason?}' },
      async handle({ req, res, access, params }) {
        res.json(await sinks.test(access, params.id, req.ip));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/notifications',
      tag: 'notifications',
      summary: 'Notifications, newest first: pending, sending, delivered, dead (every retry failed), with attempts and the last error',
      access: 'sinks.read',
      params: WorkspaceParams,
      query: NotificationQuery,
      success: { status: 200, description: 'notifications' },
      async handle({ res, access, query }) {
        res.json({ items: await sinks.notifications(access.workspaceId, query) });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/notifications/:id/retry',
      tag: 'notifications',
      summary: 'Send a dead-lettered notification again',
      access: 'notifications.retry',
      params: WorkspaceIdParams,
      success: { status: 202, description: 'queued again' },
      async handle({ req, res, access, params }) {
        await sinks.retry(access, params.id, req.ip);
        res.status(202).json({ queued: true });
      },
    }),
  ];
}
