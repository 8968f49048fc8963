import { Router } from 'express';
import type { Pool } from 'pg';
import { z } from 'zod';
import { authOf, requirePermission } from '../auth/auth-context';
import type { TasksService } from '../services/tasks.service';
import { parseInput } from '../validate';

const WorkspaceParams = z.object({ ws: z.uuid() });
const TaskParams = z.object({ ws: z.uuid(), id: z.uuid() });
const ListQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(100) });

export function createTasksRouter({ pool, tasks }: { pool: Pool; tasks: TasksService }): Router {
  const router = Router();

  router.post('/v1/workspaces/:ws/tasks', requirePermission(pool, 'tasks.manage'), async (req, res) => {
    const { ws } = parseInput('path', WorkspaceParams, req.params);
    const task = await tasks.create(authOf(req), ws, req.body ?? {}, req.ip);
    res.status(201).location(`/v1/workspaces/${ws}/tasks/${task.id}`).json(task);
  });

  router.get('/v1/workspaces/:ws/tasks', requirePermission(pool, 'tasks.read'), async (req, res) => {
    const { ws } = parseInput('path', WorkspaceParams, req.params);
    const { limit } = parseInput('query', ListQuery, req.query);
    res.json({ items: await tasks.list(ws, limit) });
  });

  router.get('/v1/workspaces/:ws/tasks/:id', requirePermission(pool, 'tasks.read'), async (req, res) => {
    const { ws, id } = parseInput('path', TaskParams, req.params);
    res.json(await tasks.get(ws, id));
  });

  router.delete('/v1/workspaces/:ws/tasks/:id', requirePermission(pool, 'tasks.manage'), async (req, res) => {
    const { ws, id } = parseInput('path', TaskParams, req.params);
    await tasks.remove(authOf(req), ws, id, req.ip);
    res.status(204).end();
  });

  return router;
}
