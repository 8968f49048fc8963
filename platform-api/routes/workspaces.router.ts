import { z } from 'zod';
import type { WorkspacesService } from '../services/workspaces.service';
import { AuditQuery, CreateTokenBody, CreateWorkspaceBody, UpdateMemberBody } from '../services/workspaces.service';
import { defineRoute, type RouteDef } from './route';
import { WorkspaceParams } from './params';

const MemberParams = z.strictObject({ ws: z.uuid(), userId: z.uuid() });
const TokenParams = z.strictObject({ ws: z.uuid(), tokenId: z.uuid() });

export function workspacesRoutes({ workspaces }: { workspaces: WorkspacesService }): RouteDef[] {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/me',
      tag: 'identity',
      summary: 'Who the caller is and the workspaces they can use',
      access: 'authenticated',
      success: { status: 200, description: 'the caller' },
      async handle({ res, auth }) {
        res.json(await workspaces.me(auth));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces',
      tag: 'workspaces',
      summary: "The caller's workspaces",
      access: 'authenticated',
      success: { status: 200, description: 'workspaces with the caller role in each' },
      async handle({ res, auth }) {
        res.json({ items: (await workspaces.me(auth)).workspaces });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/workspaces',
      tag: 'workspaces',
      summary: 'Create a workspace (the caller becomes its owner)',
      access: 'authenticated',
      body: CreateWorkspaceBody,
      success: { status: 201, description: 'the workspace' },
      async handle({ req, res, auth, body }) {
        const ws = await workspaces.create(auth, body, req.ip);
        res.status(201).location(`/v1/workspaces/${ws.id}`).json(ws);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws',
      tag: 'workspaces',
      summary: 'A workspace',
      access: 'workspace.read',
      params: WorkspaceParams,
      success: { status: 200, description: 'the workspace' },
      async handle({ res, access }) {
        res.json(await workspaces.get(access));
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/workspaces/:ws',
      tag: 'workspaces',
      summary: 'Erase a workspace and everything it holds (GDPR)',
      access: 'workspace.delete',
      params: WorkspaceParams,
      success: { status: 200, description: 'what was erased' },
      async handle({ req, res, access }) {
        res.json(await workspaces.erase(access, req.ip));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/export',
      tag: 'workspaces',
      summary: 'Export everything the workspace holds as JSON (GDPR); secrets by name only',
      access: 'workspace.export',
      params: WorkspaceParams,
      success: { status: 200, description: 'the export' },
      async handle({ req, res, access }) {
        const data = await workspaces.exportAll(access, req.ip);
        res.setHeader('Cache-Control', 'no-store');
        res.attachment(`lookout-workspace-${access.workspaceId}.json`).json(data);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/members',
      tag: 'members',
      summary: 'List members',
      access: 'members.manage',
      params: WorkspaceParams,
      success: { status: 200, description: 'members' },
      async handle({ res, access }) {
        res.json({ items: await workspaces.members(access) });
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/workspaces/:ws/members/:userId',
      tag: 'members',
      summary: "Change a member's role",
      access: 'members.manage',
      params: MemberParams,
      body: UpdateMemberBody,
      success: { status: 200, description: 'the member' },
      async handle({ req, res, access, params, body }) {
        res.json(await workspaces.updateMember(access, params.userId, body, req.ip));
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/workspaces/:ws/members/:userId',
      tag: 'members',
      summary: 'Remove a member',
      access: 'members.manage',
      params: MemberParams,
      success: { status: 204, description: 'removed' },
      async handle({ req, res, access, params }) {
        await workspaces.removeMember(access, params.userId, req.ip);
        res.status(204).end();
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/tokens',
      tag: 'tokens',
      summary: 'List API tokens (never their values)',
      access: 'tokens.manage',
      params: WorkspaceParams,
      success: { status: 200, description: 'tokens' },
      async handle({ res, access }) {
        res.json({ items: await workspaces.tokens(access) });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/tokens',
      tag: 'tokens',
      summary: 'Create an API token (its value is in this answer only)',
      access: 'tokens.manage',
      params: WorkspaceParams,
      body: CreateTokenBody,
      success: { status: 201, description: 'the token, with its value' },
      async handle({ req, res, access, body }) {
        res
          .status(201)
          .setHeader('Cache-Control', 'no-store')
          .json(await workspaces.createToken(access, body, req.ip));
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/workspaces/:ws/tokens/:tokenId',
      tag: 'tokens',
      summary: 'Revoke an API token',
      access: 'tokens.manage',
      params: TokenParams,
      success: { status: 204, description: 'revoked' },
      async handle({ req, res, access, params }) {
        await workspaces.revokeToken(access, params.tokenId, req.ip);
        res.status(204).end();
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/audit',
      tag: 'audit',
      summary: 'The audit log, oldest first, with the verification of its hash chain',
      access: 'audit.read',
      params: WorkspaceParams,
      query: AuditQuery,
      success: { status: 200, description: 'events and chain verification' },
      async handle({ res, access, query }) {
        res.json(await workspaces.audit(access, query));
      },
    }),
  ];
}
