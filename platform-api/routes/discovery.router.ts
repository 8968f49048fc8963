import { DiscoverBody, DiscoverQuery, PutRulesBody, type DiscoveryService } from '../services/discovery.service';
import { defineRoute, type RouteDef } from './route';
import { WorkspaceIdParams, WorkspaceParams } from './params';

export function discoveryRoutes({ discovery }: { discovery: DiscoveryService }): RouteDef[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/runners/:id/discover',
      tag: 'discovery',
      summary: "Discover a Runner's cluster and plan its checks (with ?apply, create them)",
      access: 'tasks.manage',
      params: WorkspaceIdParams,
      query: DiscoverQuery,
      body: DiscoverBody,
      success: {
        status: 200,
        description: 'the inventory and the plan (and what was applied); 202 with the run while it is still running',
      },
      async handle({ req, res, access, params, query, body }) {
        const answer = await discovery.discover(access, access.workspaceId, params.id, body, query.apply, req.ip);
        res.status(answer.status === 'queued' || answer.status === 'running' ? 202 : 200).json(answer);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/discovery/rules',
      tag: 'discovery',
      summary: "The workspace's generation rules (the built-in defaults unless it saved its own)",
      access: 'tasks.read',
      params: WorkspaceParams,
      success: { status: 200, description: 'the rules' },
      async handle({ res, access }) {
        res.json(await discovery.rules(access.workspaceId));
      },
    }),
    defineRoute({
      method: 'put',
      path: '/v1/workspaces/:ws/discovery/rules',
      tag: 'discovery',
      summary: "Replace the workspace's generation rules",
      access: 'tasks.manage',
      params: WorkspaceParams,
      body: PutRulesBody,
      success: { status: 200, description: 'the rules saved' },
      async handle({ req, res, access, body }) {
        res.json(await discovery.putRules(access, access.workspaceId, body, req.ip));
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/workspaces/:ws/discovery/rules',
      tag: 'discovery',
      summary: 'Go back to the built-in generation rules',
      access: 'tasks.manage',
      params: WorkspaceParams,
      success: { status: 200, description: 'the rules now in force' },
      async handle({ req, res, access }) {
        res.json(await discovery.resetRules(access, access.workspaceId, req.ip));
      },
    }),
  ];
}
