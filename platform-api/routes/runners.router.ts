import { z } from 'zod';
import { AttestationKeyBody, ListRunnersQuery, RegisterRunnerBody, type RunnersService } from '../services/runners.service';
import { defineRoute, type RouteDef } from './route';
import { WorkspaceParams } from './params';

const RunnerParams = WorkspaceParams.extend({ runnerId: z.uuid() });

export function runnersRoutes({ runners }: { runners: RunnersService }): RouteDef[] {
  return [
    defineRoute({
      method: 'get',
      path: '/.well-known/lookout/temporal-jwks.json',
      tag: 'runners',
      summary: "The public key of the Runners' Temporal tokens, as a JWKS for the Temporal server's JWT key provider",
      access: 'public',
      success: { status: 200, description: 'JWKS (empty when the Platform issues no Temporal tokens)' },
      async handle({ res }) {
        res.setHeader('Cache-Control', 'public, max-age=300').json(runners.temporalJwks());
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/runners/:runnerId/temporal-token',
      tag: 'runners',
      summary: "A new Temporal token for a Runner (its workspace's namespace, worker role), once",
      access: 'runners.manage',
      params: RunnerParams,
      success: { status: 201, description: 'the token and its expiry' },
      async handle({ req, res, access, params }) {
        const issued = await runners.issueTemporalToken(access, access.workspaceId, params.runnerId, req.ip);
        res.status(201).setHeader('Cache-Control', 'no-store').json(issued);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/runners/:runnerId/attestation-key',
      tag: 'runners',
      summary: "Give a Runner a new result-attestation key (its owner's public key, or a new pair answered once)",
      access: 'runners.manage',
      params: RunnerParams,
      body: AttestationKeyBody,
      success: { status: 201, description: 'the key id; with a pair made here, its private half (runnerKey), once' },
      async handle({ req, res, access, params, body }) {
        const rotated = await runners.rotateAttestationKey(access, access.workspaceId, params.runnerId, body, req.ip);
        res.status(201).setHeader('Cache-Control', 'no-store').json(rotated);
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/workspaces/:ws/runners/:runnerId/attestation-key',
      tag: 'runners',
      summary: "Revoke a Runner's result-attestation key: its results are refused until it gets a new one",
      access: 'runners.manage',
      params: RunnerParams,
      success: { status: 204, description: 'revoked' },
      async handle({ req, res, access, params }) {
        await runners.revokeAttestationKey(access, access.workspaceId, params.runnerId, req.ip);
        res.status(204).end();
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/workspaces/:ws/runners',
      tag: 'runners',
      summary: 'Register a Runner (answers its Helm values and key file, once)',
      access: 'runners.manage',
      params: WorkspaceParams,
      body: RegisterRunnerBody,
      success: { status: 201, description: 'the Runner, its Helm values and its key file' },
      async handle({ req, res, access, body }) {
        const runner = await runners.register(access, access.workspaceId, body, req.ip);
        // The key file is in this answer only: never cache it.
        res.status(201).setHeader('Cache-Control', 'no-store').json(runner);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/runners/:runnerId/checks',
      tag: 'runners',
      summary: 'What a Runner can run: built-in checks its policy allows and its pack checks, with parameter schemas and digests',
      access: 'runners.read',
      params: RunnerParams,
      success: { status: 200, description: 'checks, as the Runner last reported them' },
      async handle({ res, access, params }) {
        res.json(await runners.checks(access.workspaceId, params.runnerId));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/workspaces/:ws/runners',
      tag: 'runners',
      summary: 'List Runners with their presence (`presence=false`: without asking Temporal, presence fields null)',
      access: 'runners.read',
      params: WorkspaceParams,
      query: ListRunnersQuery,
      success: { status: 200, description: 'Runners' },
      async handle({ res, access, query }) {
        res.json({ items: await runners.list(access.workspaceId, query) });
      },
    }),
  ];
}
