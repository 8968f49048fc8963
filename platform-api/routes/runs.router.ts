import { Router } from 'express';
import type { Pool } from 'pg';
import { z } from 'zod';
import { authOf, requirePermission } from '../auth/auth-context';
import type { RunsService } from '../services/runs.service';
import { parseInput } from '../validate';

const WorkspaceParams = z.object({ ws: z.uuid() });
const RunParams = z.object({ id: z.uuid() });
const CreateRunBody = z.strictObject({ taskId: z.uuid() });
const ListRunsQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(200).default(50) });

/** Thin routes: each names its permission, parses its input, calls the service. */
export function createRunsRouter({ pool, runs }: { pool: Pool; runs: RunsService }): Router {
  const router = Router();

  router.post('/v1/workspaces/:ws/runs', requirePermission(pool, 'runs.create'), async (req, res) => {
    const { ws } = parseInput('path', WorkspaceParams, req.params);
    const body = parseInput('request body', CreateRunBody, req.body ?? {});
    const run = await runs.requestRun(authOf(req), ws, body.taskId, 'api', req.ip);
    res.status(202).location(`/v1/runs/${run.id}`).json(run);
  });

  router.get('/v1/workspaces/:ws/runs', requirePermission(pool, 'runs.read'), async (req, res) => {
    const { ws } = parseInput('path', WorkspaceParams, req.params);
    const { limit } = parseInput('query', ListRunsQuery, req.query);
    res.json({ items: await runs.listRunViews(ws, limit) });
  });

  router.get('/v1/runs/:id', requirePermission(pool, 'runs.read'), async (req, res) => {
    const { id } = parseInput('path', RunParams, req.params);
    res.json(await runs.getRunView(authOf(req), id));
  });

  router.post('/v1/runs/:id/cancel', requirePermission(pool, 'runs.cancel'), async (req, res) => {
    const { id } = parseInput('path', RunParams, req.params);
    res.status(202).json(await runs.cancelRun(authOf(req), id, req.ip));
  });

  router.post('/v1/runs/:id/retry', requirePermission(pool, 'runs.retry'), async (req, res) => {
    const { id } = parseInput('path', RunParams, req.params);
    res.status(202).json(await runs.retryRun(authOf(req), id, req.ip));
  });

  return router;
}
