/** Who is signed in and what every page gets from the shell (app.tsx). */
import type { Permission, Role } from '../../platform/permissions';

export interface Me {
  kind: 'session' | 'bearer' | 'api_token';
  user?: { id: string; email?: string; displayName: string | null; mfaEnrolled: boolean };
  workspaces: { id: string; name: string; role: Role }[];
}

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
