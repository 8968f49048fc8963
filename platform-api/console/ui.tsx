/** Small building blocks every page uses: loading data, errors as problems, notices, times, copying, confirming. */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ProblemError } from './api';

export interface Loaded<T> {
  data: T | undefined;
  error: ProblemError | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Loads `load()` when `deps` change, and again every `pollMs` while `poll` says so (live views of runs
 * in flight). A failed reload keeps the last data and shows the problem.
 */
export function useLoad<T>(
  load: () => Promise<T>,
  deps: unknown[],
  options: { pollMs?: number; poll?: (data: T) => boolean } = {},
): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ProblemError | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const value = await latest.current();
        if (!live) return;
        setData(value);
        setError(undefined);
        if (options.pollMs && (!options.poll || options.poll(value))) timer = setTimeout(() => void run(), options.pollMs);
      } catch (err) {
        if (!live) return;
        setError(err instanceof ProblemError ? err : new ProblemError({ title: String(err), status: 0 }));
      } finally {
        if (live) setLoading(false);
      }
    };
    setLoading(true);
    void run();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { data, error, loading, reload };
}

/** A problem from the API, shown to the person (never a stack trace: the API sends none). */
export function ProblemBanner({ error }: { error: ProblemError | undefined }) {
  if (!error) return null;
  const p = error.problem;
  return (
    <div class="problem" role="alert">
      <strong>{p.title}</strong>
      {p.detail ? <span>: {p.detail}</span> : null}
      {p.errors?.length ? (
        <ul>
          {p.errors.map((e) => (
            <li key={e.path + e.message}>
              {e.path ? <code>{e.path}</code> : null} {e.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/**
 * Where a page says what an action did. Always rendered (a live region must exist before its text
 * changes); the notice shows while `children` is not empty.
 */
export function NoticeSlot({ children }: { children: ComponentChildren }) {
  return (
    <p class="notice-slot" aria-live="polite">
      {children ? <span class="notice">{children}</span> : null}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status">
      Loading {what}…
    </p>
  );
}

/**
 * Runs an action, keeping its problem to show; `busy` while it runs. `succeeded` is for an action
 * whose answer does not matter: a 204 answers nothing, which `run` would not tell from a failure.
 */
export function useAction(): {
  busy: boolean;
  error: ProblemError | undefined;
  run: <T>(action: () => Promise<T>) => Promise<T | undefined>;
  succeeded: (action: () => Promise<unknown>) => Promise<boolean>;
  clear: () => void;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ProblemError | undefined>(undefined);
  const run = useCallback(async <T,>(action: () => Promise<T>) => {
    setBusy(true);
    setError(undefined);
    try {
      return await action();
    } catch (err) {
      setError(err instanceof ProblemError ? err : new ProblemError({ title: String(err), status: 0 }));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  const succeeded = async (action: () => Promise<unknown>) => (await run(async () => (await action(), true))) === true;
  return { busy, error, run, succeeded, clear: () => setError(undefined) };
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function Time({ iso }: { iso: string | null | undefined }) {
  return iso ? <time dateTime={iso}>{formatTime(iso)}</time> : <span>—</span>;
}

/** Copies `text` to the clipboard; the button says it did (announced to screen readers). */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="secondary small"
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(
          () => setDone(true),
          () => setDone(false),
        );
        setTimeout(() => setDone(false), 2000);
      }}
    >
      {done ? 'Copied' : label}
      <span class="visually-hidden" aria-live="polite">
        {done ? ' copied to the clipboard' : ''}
      </span>
    </button>
  );
}

/**
 * A destructive action asked twice, in the page (no browser dialog): the first button (`label`)
 * shows the question with `confirmLabel` ("Yes, <label>" unless given) and "Cancel"; focus moves to
 * "Cancel", so that a second Enter does nothing harmful.
 */
export function ConfirmButton({
  label,
  confirmLabel = `Yes, ${label.toLowerCase()}`,
  question,
  onConfirm,
  busy = false,
  describedBy,
}: {
  label: string;
  confirmLabel?: string;
  question: string;
  onConfirm: () => void | Promise<void>;
  busy?: boolean;
  describedBy?: string;
}) {
  const [asking, setAsking] = useState(false);
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) cancel.current?.focus();
  }, [asking]);
  if (!asking) {
    return (
      <button type="button" class="secondary small" disabled={busy} aria-describedby={describedBy} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span class="confirm" role="group" aria-label={question}>
      <span class="confirm-question">{question}</span>
      <button
        type="button"
        class="danger small"
        disabled={busy}
        onClick={() => {
          setAsking(false);
          void onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" class="secondary small" ref={cancel} onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

/**
 * What is shown once (a new token, a signing secret, a hook's secret): `heading`, `children`, and a
 * button that hides it for good.
 */
export function ShownOnce({
  headingId,
  heading,
  doneLabel,
  onDone,
  children,
}: {
  headingId: string;
  heading: ComponentChildren;
  doneLabel: string;
  onDone: () => void;
  children: ComponentChildren;
}) {
  return (
    <div class="secret-once" role="region" aria-labelledby={headingId}>
      <h3 id={headingId}>{heading}</h3>
      {children}
      <button type="button" class="secondary small" onClick={onDone}>
        {doneLabel}
      </button>
    </div>
  );
}

/** Severity (common/contracts.ts): 1 unavailable, 2 degraded, 3 should be looked at, 4 informational. */
const SEVERITY_NAMES: Record<number, string> = { 1: 'critical', 2: 'degraded', 3: 'warning', 4: 'info' };

export function severityName(severity: number): string {
  return SEVERITY_NAMES[severity] ?? `severity ${severity}`;
}

export function SeverityBadge({ severity }: { severity: number }) {
  return <span class={`badge sev-${severity}`}>{severityName(severity)}</span>;
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge status-${status.replace(/[^a-z_]/g, '')}`}>{status.replace(/_/g, ' ')}</span>;
}

export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <header class="page-header">
      <h1 tabIndex={-1} id="page-title">
        {title}
      </h1>
      {children ? <div class="actions">{children}</div> : null}
    </header>
  );
}

/** What a role may not do is not offered; a page the role may not see says so instead. */
export function NotAllowed({ role, need }: { role: string; need: string }) {
  return (
    <section class="card" role="alert">
      <h2>Not available to your role</h2>
      <p>
        This page needs the <strong>{need}</strong> role; you are <strong>{role}</strong> in this workspace. Ask an owner if you need it.
      </p>
    </section>
  );
}

/**
 * A list as it loads: "Loading" the first time, `empty` when it has no items, else `children` of it.
 * A reload keeps the last list on screen.
 */
export function LoadedList<D extends { items: unknown[] }>({
  loaded,
  what,
  empty,
  children,
}: {
  loaded: Loaded<D>;
  what: string;
  empty: ComponentChildren;
  children: (data: D) => ComponentChildren;
}) {
  if (!loaded.data) return loaded.loading ? <Loading what={what} /> : null;
  return loaded.data.items.length === 0 ? <Empty>{empty}</Empty> : <>{children(loaded.data)}</>;
}

/** An empty list, said plainly. */
export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="muted empty">{children}</p>;
}
