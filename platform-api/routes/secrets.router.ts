import { Router } from 'express';
import type { Pool } from 'pg';
import { z } from 'zod';
import { authOf, requirePermission } from '../auth/auth-context';
import type { SecretsService } from '../services/secrets.service';
import { parseInput } from '../validate';

const WorkspaceParams = z.object({ ws: z.uuid() });
const SecretParams = z.object({ ws: z.uuid(), name: z.string().max(200) });

/** Write, list and delete; there is deliberately no route that returns a secret's value. */
export function createSecretsRouter({ pool, secrets }: { pool: Pool; secrets: SecretsService }): Router {
  const router = Router();
  router.put('/v1/workspaces/:ws/secrets/:name', requirePermission(pool, 'secrets.manage'), async (req, res) => {
    const { ws, name } = parseInput('path', SecretParams, req.params);
    res.status(200).json(await secrets.put(authOf(req), ws, name, req.body ?? {}, req.ip));
  });
  router.get('/v1/workspaces/:ws/secrets', requirePermission(pool, 'secrets.manage'), async (req, res) => {
    const { ws } = parseInput('path', WorkspaceParams, req.params);
    res.json({ items: await secrets.list(authOf(req), ws, req.ip) });
  });
  router.delete('/v1/workspaces/:ws/secrets/:name', requirePermission(pool, 'secrets.manage'), async (req, res) => {
    const { ws, name } = parseInput('path', SecretParams, req.params);
    await secrets.remove(authOf(req), ws, name, req.ip);
    res.status(204).end();
  });
  return router;
}
