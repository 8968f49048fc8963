/** What every page gets from the shell (app.tsx); who is signed in (Me) is an API answer, in api-types.ts. */
import type { Permission, Role } from '../../platform/permissions';
import type { Me } from './api-types';

/** What every page gets. */
export interface Ctx {
  me: Me;
  ws: string;
  role: Role;
  can: (permission: Permission) => boolean;
  /** The part of the hash after the page's own path (`#/runs/<id>` gives ['<id>']). */
  rest: string[];
  query: URLSearchParams;
  navigate: (hash: string) => void;
}
