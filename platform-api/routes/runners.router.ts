import { Router } from 'express';
import type { Pool } from 'pg';
import { z } from 'zod';
import { authOf, requirePermission } from '../auth/auth-context';
import type { RunnersService } from '../services/runners.service';
import { parseInput } from '../validate';

const WorkspaceParams = z.object({ ws: z.uuid() });

export function createRunnersRouter({ pool, runners }: { pool: Pool; runners: RunnersService }): Router {
  const router = Router();
  router.post('/v1/workspaces/:ws/runners', requirePermission(pool, 'runners.manage'), async (req, res) => {
    const { ws } = parseInput('path', WorkspaceParams, req.params);
    const runner = await runners.register(authOf(req), ws, req.body ?? {}, req.ip);
    // The key file is in this answer only: never cache it.
    res.status(201).setHeader('Cache-Control', 'no-store').json(runner);
  });
  router.get('/v1/workspaces/:ws/runners', requirePermission(pool, 'runners.read'), async (req, res) => {
    const { ws } = parseInput('path', WorkspaceParams, req.params);
    res.json({ items: await runners.list(ws) });
  });
  return router;
}
