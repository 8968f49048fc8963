import express, { type Request, type RequestHandler } from 'express';
import { z } from 'zod';
import { CreateHookBody, HOOK_BODY_LIMIT, type HooksService } from '../services/hooks.service';
import { defineRoute, type RouteDef } from './route';
import { WorkspaceIdParams, WorkspaceParams } from './params';

/** Where alerting systems call hooks; `hookBodies` is mounted here, before the app's JSON parser. */
export const HOOK_CALL_PREFIX = '/v1/hooks';

const HookParams = z.strictObject({ hookId: z.uuid() });

type HookRequest = Request & { hookBodyError?: { status: number } };

/**
 * Reads a hook call's body as raw bytes (at most 256 KiB): an HMAC signature covers the bytes as
 * sent, and the handler, not the body parser, answers a body it cannot use, so that the refusal is
 * audited against the hook. Mounted on HOOK_CALL_PREFIX before the app's JSON parser, which then
 * leaves the request alone (its body has been read).
 */
export function hookBodies(): RequestHandler {
  const raw = express.raw({ type: () => true, limit: HOOK_BODY_LIMIT });
  return (req, res, next) => {
    raw(req, res, (err?: unknown) => {
      if (err) {
        const status = (err as { status?: unknown }).status;
        (req as HookRequest).hookBodyError = { status: typeof status === 'number' ? status : 400 };
      }
      next();
    });
  };
}

export function hooksRoutes({ hooks }: { hooks: HooksService }): RouteDef[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/hooks',
      tag: 'hooks',
      summary: 'Create an alert hook; the answer holds its secret, shown this once',
      access: 'hooks.manage',
      params: WorkspaceParams,
      body: CreateHookBody,
      success: { status: 201, description: 'the hook, with its secret' },
      async handle({ req, res, access, body }) {
        const hook = await hooks.create(access, body, req.ip);
        res.status(201).location(`/v1/workspaces/${access.workspaceId}/hooks/${hook.id}`).json(hook);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/hooks',
      tag: 'hooks',
      summary: 'List alert hooks (no secrets, no routes)',
      access: 'hooks.read',
      params: WorkspaceParams,
      success: { status: 200, description: 'hooks' },
      async handle({ res, access }) {
        res.json({ items: await hooks.list(access.workspaceId) });
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/workspaces/:ws/hooks/:id',
      tag: 'hooks',
      summary: 'Delete an alert hook',
      access: 'hooks.manage',
      params: WorkspaceIdParams,
      success: { status: 204, description: 'deleted' },
      async handle({ req, res, access, params }) {
        await hooks.remove(access, params.id, req.ip);
        res.status(204).end();
      },
    }),
    defineRoute({
      method: 'post',
      path: `${HOOK_CALL_PREFIX}/:hookId`,
      tag: 'hooks',
      summary:
        'Call an alert hook (Alertmanager webhook v4, PagerDuty V3 webhook, or {alerts:[{id,status,labels}]}); authenticated by the hook secret (Bearer, X-Lookout-Timestamp + X-Lookout-Signature, or X-PagerDuty-Signature)',
      // Not a user's credential: the hook's own secret, checked by the service.
      access: 'public',
      params: HookParams,
      success: { status: 202, description: 'the runs started, or already in flight, per task' },
      async handle({ req, res, params }) {
        const result = await hooks.receive({
          hookId: params.hookId,
          authorization: req.get('authorization'),
          timestamp: req.get('x-lookout-timestamp'),
          signature: req.get('x-lookout-signature'),
          pagerdutySignature: req.get('x-pagerduty-signature'),
          body: Buffer.isBuffer(req.body) ? req.body : undefined,
          bodyError: (req as HookRequest).hookBodyError,
          ip: req.ip,
        });
        res.status(202).json(result);
      },
    }),
  ];
}
