import { ChangeIssueBody, ListIssuesQuery, type IssuesService } from '../services/issues.service';
import { defineRoute, type RouteDef } from './route';
import { WorkspaceIdParams, WorkspaceParams } from './params';

export function issuesRoutes({ issues }: { issues: IssuesService }): RouteDef[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/issues',
      tag: 'issues',
      summary: 'Issues: findings across runs, most severe and most recent first (filter by state, severity, Runner, check type, namespace)',
      access: 'issues.read',
      params: WorkspaceParams,
      query: ListIssuesQuery,
      success: { status: 200, description: 'issues' },
      async handle({ res, access, query }) {
        res.json({ items: await issues.list(access.workspaceId, query) });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/issues/:id',
      tag: 'issues',
      summary: 'An issue',
      access: 'issues.read',
      params: WorkspaceIdParams,
      success: { status: 200, description: 'the issue' },
      async handle({ res, access, params }) {
        res.json(await issues.get(access.workspaceId, params.id));
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/workspaces/:ws/issues/:id',
      tag: 'issues',
      summary: 'Acknowledge an issue, ignore it until a date, or open it again',
      access: 'issues.manage',
      params: WorkspaceIdParams,
      body: ChangeIssueBody,
      success: { status: 200, description: 'the issue' },
      async handle({ req, res, access, params, body }) {
        res.json(await issues.change(access, access.workspaceId, params.id, body, req.ip));
      },
    }),
  ];
}
