import { Router } from 'express';
import type { Pool } from 'pg';
import { z } from 'zod';
import { authOf, requirePermission } from '../auth/auth-context';
import type { SchedulesService } from '../services/schedules.service';
import { parseInput } from '../validate';

const WorkspaceParams = z.object({ ws: z.uuid() });
const ScheduleParams = z.object({ ws: z.uuid(), id: z.uuid() });

export function createSchedulesRouter({ pool, schedules }: { pool: Pool; schedules: SchedulesService }): Router {
  const router = Router();
  router.post('/v1/workspaces/:ws/schedules', requirePermission(pool, 'schedules.manage'), async (req, res) => {
    const { ws } = parseInput('path', WorkspaceParams, req.params);
    const created = await schedules.create(authOf(req), ws, req.body ?? {}, req.ip);
    res.status(201).location(`/v1/workspaces/${ws}/schedules/${created.id}`).json(created);
  });
  router.get('/v1/workspaces/:ws/schedules', requirePermission(pool, 'schedules.read'), async (req, res) => {
    const { ws } = parseInput('path', WorkspaceParams, req.params);
    res.json({ items: await schedules.list(ws) });
  });
  router.get('/v1/workspaces/:ws/schedules/:id', requirePermission(pool, 'schedules.read'), async (req, res) => {
    const { ws, id } = parseInput('path', ScheduleParams, req.params);
    res.json(await schedules.get(ws, id));
  });
  router.patch('/v1/workspaces/:ws/schedules/:id', requirePermission(pool, 'schedules.manage'), async (req, res) => {
    const { ws, id } = parseInput('path', ScheduleParams, req.params);
    res.json(await schedules.update(authOf(req), ws, id, req.body ?? {}, req.ip));
  });
  router.post('/v1/workspaces/:ws/schedules/:id/pause', requirePermission(pool, 'schedules.manage'), async (req, res) => {
    const { ws, id } = parseInput('path', ScheduleParams, req.params);
    res.json(await schedules.setPaused(authOf(req), ws, id, true, req.ip));
  });
  router.post('/v1/workspaces/:ws/schedules/:id/resume', requirePermission(pool, 'schedules.manage'), async (req, res) => {
    const { ws, id } = parseInput('path', ScheduleParams, req.params);
    res.json(await schedules.setPaused(authOf(req), ws, id, false, req.ip));
  });
  router.post('/v1/workspaces/:ws/schedules/:id/trigger', requirePermission(pool, 'schedules.trigger'), async (req, res) => {
    const { ws, id } = parseInput('path', ScheduleParams, req.params);
    await schedules.trigger(authOf(req), ws, id, req.ip);
    res.status(202).json({ triggered: true });
  });
  router.delete('/v1/workspaces/:ws/schedules/:id', requirePermission(pool, 'schedules.manage'), async (req, res) => {
    const { ws, id } = parseInput('path', ScheduleParams, req.params);
    await schedules.remove(authOf(req), ws, id, req.ip);
    res.status(204).end();
  });
  return router;
}
