import { Router } from 'express';
import type { Pool } from 'pg';
import { z } from 'zod';
import { authOf, requirePermission } from '../auth/auth-context';
import type { SweepsService } from '../services/sweeps.service';
import { parseInput } from '../validate';

export function createSweepsRouter({ pool, sweeps }: { pool: Pool; sweeps: SweepsService }): Router {
  const router = Router();
  router.post('/v1/workspaces/:ws/sweeps', requirePermission(pool, 'runs.create'), async (req, res) => {
    const { ws } = parseInput('path', z.object({ ws: z.uuid() }), req.params);
    res.status(202).json(await sweeps.start(authOf(req), ws, req.body ?? {}, req.ip));
  });
  router.get('/v1/sweeps/:id', requirePermission(pool, 'runs.read'), async (req, res) => {
    const { id } = parseInput('path', z.object({ id: z.uuid() }), req.params);
    res.json(await sweeps.get(authOf(req), id));
  });
  return router;
}
