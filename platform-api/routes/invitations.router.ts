import { z } from 'zod';
import { AcceptInvitationBody, AddMemberBody, type InvitationsService } from '../services/invitations.service';
import { defineRoute, type RouteDef } from './route';
import { WorkspaceParams } from './params';

const InvitationParams = z.strictObject({ ws: z.uuid(), invitationId: z.uuid() });
const MyInvitationParams = z.strictObject({ invitationId: z.uuid() });

/** Members join by invitation, accepted from their own mailbox (or by their signed-in, verified address). */
export function invitationsRoutes({ invitations }: { invitations: InvitationsService }): RouteDef[] {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/members',
      tag: 'members',
      summary: 'Invite a member by email (the code goes to that mailbox only; pending until accepted)',
      access: 'members.manage',
      params: WorkspaceParams,
      body: AddMemberBody,
      success: { status: 202, description: 'the pending invitation (the same answer whether the email has an account or not)' },
      async handle({ req, res, access, body }) {
        res.status(202).json(await invitations.invite(access, body, req.ip));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/invitations',
      tag: 'members',
      summary: 'Pending invitations',
      access: 'members.manage',
      params: WorkspaceParams,
      success: { status: 200, description: 'pending invitations' },
      async handle({ res, access }) {
        res.json({ items: await invitations.list(access) });
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/workspaces/:ws/invitations/:invitationId',
      tag: 'members',
      summary: 'Revoke a pending invitation',
      access: 'members.manage',
      params: InvitationParams,
      success: { status: 204, description: 'revoked' },
      async handle({ req, res, access, params }) {
        await invitations.revoke(access, params.invitationId, req.ip);
        res.status(204).end();
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/auth/invitations/accept',
      tag: 'auth',
      summary: 'Accept an invitation with the code from the mail (a new account chooses its password)',
      access: 'public',
      body: AcceptInvitationBody,
      success: { status: 200, description: 'the account email and the workspace joined; sign in next' },
      async handle({ req, res, body }) {
        res.setHeader('Cache-Control', 'no-store').json(await invitations.accept(body, req.ip));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/me/invitations',
      tag: 'identity',
      summary: "Pending invitations to the caller's verified email address",
      access: 'authenticated',
      success: { status: 200, description: 'pending invitations' },
      async handle({ res, auth }) {
        res.json({ items: await invitations.mine(auth) });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/me/invitations/:invitationId/accept',
      tag: 'identity',
      summary: "Accept an invitation to the caller's verified email address",
      access: 'authenticated',
      params: MyInvitationParams,
      success: { status: 200, description: 'the workspace joined' },
      async handle({ req, res, auth, params }) {
        res.json(await invitations.acceptMine(auth, params.invitationId, req.ip));
      },
    }),
  ];
}
