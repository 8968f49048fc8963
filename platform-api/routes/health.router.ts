import { Router } from 'express';
import type { Pool } from 'pg';
import { UnavailableError } from '../errors';

/** `/healthz`: the process is up. `/readyz`: it can reach PostgreSQL. Neither needs authentication nor reveals anything. */
export function createHealthRouter({ pool }: { pool: Pool }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    try {
      await pool.query('select 1');
    } catch {
      throw new UnavailableError('database unreachable');
    }
    res.json({ status: 'ready' });
  });
  return router;
}
