import { z } from 'zod';
import type { RunsService } from '../services/runs.service';
import { defineRoute, type RouteDef } from './route';
import { IdParams, Limit, WorkspaceParams } from './params';

export const CreateRunBody = z.strictObject({ taskId: z.uuid() });
const ListRunsQuery = z.strictObject({ limit: Limit(200, 50) });

/** Thin routes: each names its permission and schemas and calls the service. */
export function runsRoutes({
  runs,
  temporalUi,
}: {
  runs: RunsService;
  /** Where operators replay runs: the Temporal Web UI's address (none when not configured) and each workspace's namespace. */
  temporalUi: { url: string | undefined; namespaceOf: (workspaceId: string) => Promise<string> };
}): RouteDef[] {
  const runWorkspace = ({ id }: { id: string }) => runs.workspaceOf(id);
  return [
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/temporal-ui',
      tag: 'runs',
      summary: "The Temporal Web UI showing this workspace's runs (its address, or null when none is configured, and the namespace)",
      access: 'runs.retry',
      params: WorkspaceParams,
      success: { status: 200, description: 'the Temporal Web UI and namespace' },
      async handle({ res, access }) {
        res.json({ url: temporalUi.url ?? null, namespace: await temporalUi.namespaceOf(access.workspaceId) });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/runs',
      tag: 'runs',
      summary: 'Run a task now',
      access: 'runs.create',
      params: WorkspaceParams,
      body: CreateRunBody,
      success: { status: 202, description: 'the run, queued' },
      async handle({ req, res, access, body }) {
        const run = await runs.requestRun(access, access.workspaceId, body.taskId, 'api', req.ip);
        res.status(202).location(`/v1/runs/${run.id}`).json(run);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/runs',
      tag: 'runs',
      summary: 'List recent runs',
      access: 'runs.read',
      params: WorkspaceParams,
      query: ListRunsQuery,
      success: { status: 200, description: 'runs, newest first' },
      async handle({ res, access, query }) {
        res.json({ items: await runs.listRunViews(access.workspaceId, query.limit) });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/runs/:id',
      tag: 'runs',
      summary: 'A run with its result',
      access: 'runs.read',
      params: IdParams,
      workspaceOf: ({ id }) => runs.locate(id),
      success: { status: 200, description: 'the run' },
      async handle({ res, access, params, resource }) {
        res.json(await runs.getRunView(access, params.id, resource));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/runs/:id/cancel',
      tag: 'runs',
      summary: 'Cancel a run',
      access: 'runs.cancel',
      params: IdParams,
      workspaceOf: runWorkspace,
      success: { status: 202, description: 'cancellation requested' },
      async handle({ req, res, access, params }) {
        res.status(202).json(await runs.cancelRun(access, params.id, req.ip));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/runs/:id/retry',
      tag: 'runs',
      summary: 'Retry a failed run from where it failed',
      access: 'runs.retry',
      params: IdParams,
      workspaceOf: runWorkspace,
      success: { status: 202, description: 'the retried run' },
      async handle({ req, res, access, params }) {
        res.status(202).json(await runs.retryRun(access, params.id, req.ip));
      },
    }),
  ];
}
