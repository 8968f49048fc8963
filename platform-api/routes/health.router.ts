import { UnavailableError } from '../../common/problem';
import { defineRoute, type RouteDef } from './route';

/** `/healthz`: the process is up. `/readyz`: it can reach PostgreSQL. Neither needs authentication nor reveals anything. */
export function healthRoutes({ ping }: { ping: () => Promise<void> }): RouteDef[] {
  return [
    defineRoute({
      method: 'get',
      path: '/healthz',
      tag: 'health',
      summary: 'Liveness',
      access: 'public',
      success: { status: 200, description: 'up' },
      async handle({ res }) {
        res.json({ status: 'ok' });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/readyz',
      tag: 'health',
      summary: 'Readiness (PostgreSQL reachable)',
      access: 'public',
      success: { status: 200, description: 'ready' },
      async handle({ res }) {
        try {
          await ping();
        } catch {
          throw new UnavailableError('database unreachable');
        }
        res.json({ status: 'ready' });
      },
    }),
  ];
}
