/**
 * The console's shell: who is signed in, which workspace, the role there, the hash router and the
 * navigation. Pages get a `Ctx` and offer only what the role allows (platform/permissions.ts, the
 * same table the API enforces).
 */
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ROLE_PERMISSIONS } from '../../platform/permissions';
import type { Me } from './api-types';
import type { Ctx } from './ctx';
import { api, ProblemError, whenUnauthenticated } from './api';
import { Loading, ProblemBanner } from './ui';
import { LoginPage } from './pages/login';
import { ClaimPage } from './pages/claim';
import { IssuesPage } from './pages/issues';
import { HealthPage } from './pages/health';
import { RunsPage, RunPage } from './pages/runs';
import { TasksPage } from './pages/tasks';
import { RunnersPage } from './pages/runners';
import { SettingsPage } from './pages/settings';

export interface Route {
  path: string;
  title: string;
  page: ComponentType<{ ctx: Ctx }>;
  /** Shown in the navigation (false: reached from another page). */
  nav: boolean;
}

export const ROUTES: Route[] = [
  { path: 'issues', title: 'Issues', page: IssuesPage, nav: true },
  { path: 'health', title: 'Health', page: HealthPage, nav: true },
  { path: 'runs', title: 'Runs', page: RunsPage, nav: true },
  { path: 'run', title: 'Run', page: RunPage, nav: false },
  { path: 'tasks', title: 'Tasks and schedules', page: TasksPage, nav: true },
  { path: 'runners', title: 'Runners', page: RunnersPage, nav: true },
  { path: 'settings', title: 'Settings', page: SettingsPage, nav: true },
];

interface Location {
  parts: string[];
  query: URLSearchParams;
}

function readLocation(): Location {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path = '', search = ''] = hash.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(search) };
}

export function navigate(hash: string): void {
  location.hash = hash.startsWith('#') ? hash : `#${hash}`;
}

function useLocation(): Location {
  const [loc, setLoc] = useState(readLocation);
  useEffect(() => {
    const onChange = () => setLoc(readLocation());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return loc;
}

const WS_KEY = 'lookout.workspace';

export function App() {
  const loc = useLocation();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [error, setError] = useState<ProblemError | undefined>(undefined);
  const [ws, setWs] = useState<string | null>(() => sessionStorage.getItem(WS_KEY));

  const loadMe = () =>
    api.get<Me>('/v1/me').then(
      (value) => {
        setMe(value);
        setError(undefined);
      },
      (err: unknown) => {
        if (err instanceof ProblemError && err.status === 401) setMe(null);
        else setError(err instanceof ProblemError ? err : new ProblemError({ title: String(err), status: 0 }));
      },
    );

  useEffect(() => {
    whenUnauthenticated(() => setMe(null));
    void loadMe();
  }, []);

  const page = loc.parts[0] ?? '';
  // Focus the page's heading after navigation, so keyboard and screen-reader users start there.
  useEffect(() => {
    document.getElementById('page-title')?.focus();
  }, [page]);

  if (page === 'claim') return <ClaimPage query={loc.query} />;
  if (me === undefined)
    return (
      <main id="main">
        <ProblemBanner error={error} />
        {error ? null : <Loading what="the console" />}
      </main>
    );
  if (me === null) return <LoginPage onSignedIn={() => void loadMe()} />;

  const workspace = me.workspaces.find((w) => w.id === ws) ?? me.workspaces[0];
  if (!workspace)
    return (
      <main id="main" class="narrow">
        <h1>No workspace yet</h1>
        <p>You are signed in as {me.user?.email}, but no workspace has you as a member. An owner can invite you.</p>
        <SignOut onSignedOut={() => setMe(null)} />
      </main>
    );
  const route = ROUTES.find((r) => r.path === page) ?? ROUTES[0]!;
  const role = workspace.role;
  const ctx: Ctx = {
    me,
    ws: workspace.id,
    role,
    can: (permission) => ROLE_PERMISSIONS[role].has(permission),
    rest: loc.parts.slice(1),
    query: loc.query,
    navigate,
  };
  const Page = route.page;
  document.title = `${route.title} · Lookout`;
  return (
    <div class="layout">
      <a class="skip-link" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('page-title')?.focus())}>
        Skip to content
      </a>
      <header class="topbar">
        <span class="brand">Lookout</span>
        <label class="workspace-select">
          Workspace
          <select
            value={workspace.id}
            onChange={(e) => {
              const id = (e.target as HTMLSelectElement).value;
              sessionStorage.setItem(WS_KEY, id);
              setWs(id);
            }}
          >
            {me.workspaces.map((w) => (
              <option key={w.id} value={w.id}>
                {w.name} ({w.role})
              </option>
            ))}
          </select>
        </label>
        <span class="whoami">
          {me.user?.email} · <span class="role">{role}</span>
        </span>
        <SignOut onSignedOut={() => setMe(null)} />
      </header>
      <nav aria-label="Main" class="sidebar">
        <ul>
          {ROUTES.filter((r) => r.nav).map((r) => (
            <li key={r.path}>
              <a
                href={`#/${r.path}`}
                aria-current={r.path === route.path || (route.path === 'run' && r.path === 'runs') ? 'page' : undefined}
              >
                {r.title}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" class="content">
        <Page key={`${workspace.id}/${route.path}`} ctx={ctx} />
      </main>
    </div>
  );
}

function SignOut({ onSignedOut }: { onSignedOut: () => void }) {
  return (
    <button
      type="button"
      class="secondary small"
      onClick={() => {
        void api.post('/v1/auth/logout').finally(onSignedOut);
      }}
    >
      Sign out
    </button>
  );
}
