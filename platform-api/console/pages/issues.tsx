/**
 * Issues: what is wrong now, across runs (GET /v1/workspaces/{ws}/issues, filtered by Runner,
 * namespace and state; Runner names from GET /v1/workspaces/{ws}/runners). People with
 * issues.manage acknowledge, ignore until a date, or reopen (PATCH /v1/workspaces/{ws}/issues/{id}).
 * The filters live in the address (`#/issues?state=all&runner=…`) so a filtered view can be shared.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Ctx } from '../ctx';
import { api, wsPath } from '../api';
import type { IssueChange, IssueItem, Items, RunnerItem } from '../api-types';
import { CopyButton, Empty, Loading, PageHeader, ProblemBanner, SeverityBadge, StatusBadge, Time, useAction, useLoad } from '../ui';

const STATES = ['open', 'acknowledged', 'ignored', 'resolved', 'all'] as const;
const LIMIT = 200;

const SORTS = {
  severity: {
    label: 'Severity, then last seen',
    compare: (a: IssueItem, b: IssueItem) => a.severity - b.severity || byTime(b.lastSeenAt, a.lastSeenAt),
  },
  lastSeen: { label: 'Last seen', compare: (a: IssueItem, b: IssueItem) => byTime(b.lastSeenAt, a.lastSeenAt) },
  firstSeen: { label: 'First seen (newest)', compare: (a: IssueItem, b: IssueItem) => byTime(b.firstSeenAt, a.firstSeenAt) },
} as const;
type SortKey = keyof typeof SORTS;

function byTime(a: string, b: string): number {
  return Date.parse(a) - Date.parse(b);
}

const resourceText = (r: IssueItem['resource']) => `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;

export function IssuesPage({ ctx }: { ctx: Ctx }) {
  const state = (STATES as readonly string[]).includes(ctx.query.get('state') ?? '') ? ctx.query.get('state')! : 'open';
  const runner = ctx.query.get('runner') ?? '';
  const namespace = ctx.query.get('namespace') ?? '';
  const sort: SortKey = Object.hasOwn(SORTS, ctx.query.get('sort') ?? '') ? (ctx.query.get('sort') as SortKey) : 'severity';
  const [namespaceDraft, setNamespaceDraft] = useState(namespace);
  const [notice, setNotice] = useState('');
  // The address may change under the input (the navigation's own link clears the filters).
  useEffect(() => setNamespaceDraft(namespace), [namespace]);

  const setFilter = (changes: Record<string, string>) => {
    const next = new URLSearchParams({ state, runner, namespace, sort, ...changes });
    for (const [k, v] of [...next]) if (!v || (k === 'state' && v === 'open') || (k === 'sort' && v === 'severity')) next.delete(k);
    const qs = next.toString();
    ctx.navigate(`#/issues${qs ? `?${qs}` : ''}`);
  };

  const runners = useLoad(() => api.get<Items<RunnerItem>>(wsPath(ctx.ws, '/runners'), { presence: false }), [ctx.ws]);
  const issues = useLoad(
    () =>
      api.get<Items<IssueItem>>(wsPath(ctx.ws, '/issues'), {
        state: state === 'all' ? undefined : state,
        runnerId: runner || undefined,
        namespace: namespace || undefined,
        limit: LIMIT,
      }),
    [ctx.ws, state, runner, namespace],
  );
  const runnerName = (id: string) => runners.data?.items.find((r) => r.id === id)?.name ?? id;
  const items = issues.data ? [...issues.data.items].sort(SORTS[sort].compare) : undefined;

  return (
    <>
      <PageHeader title="Issues">
        <button type="button" class="secondary" onClick={issues.reload} disabled={issues.loading} aria-busy={issues.loading}>
          Refresh
        </button>
      </PageHeader>
      <form
        class="filters"
        aria-label="Filter issues"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter({ namespace: namespaceDraft.trim() });
        }}
      >
        <label>
          Runner
          <select value={runner} onChange={(e) => setFilter({ runner: e.currentTarget.value })}>
            <option value="">All Runners</option>
            {runners.data?.items.map((r) => (
              <option key={r.id} value={r.id}>
                {r.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Namespace
          <input
            value={namespaceDraft}
            placeholder="any"
            spellcheck={false}
            onInput={(e) => setNamespaceDraft(e.currentTarget.value)}
            onChange={(e) => setFilter({ namespace: e.currentTarget.value.trim() })}
          />
        </label>
        <label>
          State
          <select value={state} onChange={(e) => setFilter({ state: e.currentTarget.value })}>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Sort by
          <select value={sort} onChange={(e) => setFilter({ sort: e.currentTarget.value })}>
            {(Object.keys(SORTS) as SortKey[]).map((k) => (
              <option key={k} value={k}>
                {SORTS[k].label}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ProblemBanner error={issues.error} />
      <p class="muted" role="status" aria-live="polite">
        {notice}
        {notice && items ? ' ' : ''}
        {items
          ? `${items.length === LIMIT ? `The first ${LIMIT}` : items.length} ${state === 'all' ? '' : `${state} `}issue${items.length === 1 ? '' : 's'}${
              items.length === LIMIT ? ': narrow the filters to see the rest.' : '.'
            }`
          : ''}
      </p>
      {!items ? (
        issues.error ? null : (
          <Loading what="issues" />
        )
      ) : items.length === 0 ? (
        <Empty>
          {state === 'open' && !runner && !namespace
            ? 'Nothing is open: every check that ran last found nothing wrong.'
            : 'No issue matches these filters.'}
        </Empty>
      ) : (
        items.map((issue) => (
          <IssueCard
            key={issue.id}
            ctx={ctx}
            issue={issue}
            runnerName={runnerName(issue.runnerId)}
            onChanged={(message) => {
              setNotice(message);
              issues.reload();
            }}
          />
        ))
      )}
    </>
  );
}

function IssueCard({
  ctx,
  issue,
  runnerName,
  onChanged,
}: {
  ctx: Ctx;
  issue: IssueItem;
  runnerName: string;
  onChanged: (message: string) => void;
}) {
  const action = useAction();
  const [ignoring, setIgnoring] = useState(false);
  const titleId = `issue-${issue.id}`;
  const change = (body: IssueChange, done: string) =>
    void action
      .run(() => api.patch(wsPath(ctx.ws, `/issues/${issue.id}`), body))
      .then((answer) => {
        if (answer === undefined) return;
        setIgnoring(false);
        onChanged(`“${issue.title}” ${done}.`);
      });
  // A resolved issue is reopened only by a run that finds it again (the API refuses a person's reopen).
  const manageable = ctx.can('issues.manage') && issue.state !== 'resolved';

  return (
    <article class="card issue" aria-labelledby={titleId}>
      <header class="issue-head">
        <h2 id={titleId}>{issue.title}</h2>
        <span class="badges">
          <SeverityBadge severity={issue.severity} /> <StatusBadge status={issue.state} />
        </span>
      </header>
      <dl class="facts">
        <dt>Resource</dt>
        <dd>
          <code>{resourceText(issue.resource)}</code>
        </dd>
        <dt>Expected</dt>
        <dd>{issue.expected || '—'}</dd>
        <dt>Actual</dt>
        <dd>{issue.actual || '—'}</dd>
        <dt>Runner</dt>
        <dd>{runnerName}</dd>
        <dt>Check type</dt>
        <dd>
          <code>{issue.checkType}</code>
        </dd>
        <dt>First seen</dt>
        <dd>
          <Time iso={issue.firstSeenAt} />
        </dd>
        <dt>Last seen</dt>
        <dd>
          <Time iso={issue.lastSeenAt} /> ({issue.seenCount} time{issue.seenCount === 1 ? '' : 's'}
          {issue.reopenedCount ? `, reopened ${issue.reopenedCount}×` : ''})
          {issue.lastRunId ? (
            <>
              {' · '}
              <a href={`#/run/${issue.lastRunId}`}>last run</a>
            </>
          ) : null}
        </dd>
        {issue.resolvedAt ? (
          <>
            <dt>Resolved</dt>
            <dd>
              <Time iso={issue.resolvedAt} />
            </dd>
          </>
        ) : null}
        {issue.ignoredUntil ? (
          <>
            <dt>Ignored until</dt>
            <dd>
              <Time iso={issue.ignoredUntil} />
            </dd>
          </>
        ) : null}
        {issue.reason ? (
          <>
            <dt>Reason</dt>
            <dd>{issue.reason}</dd>
          </>
        ) : null}
      </dl>
      {issue.details ? <pre>{issue.details}</pre> : null}
      {issue.nextSteps.length ? (
        <>
          <h3>Next steps</h3>
          <ol class="next-steps">
            {issue.nextSteps.map((step, i) => (
              <li key={i}>
                <code class="break">{step}</code> <CopyButton text={step} />
              </li>
            ))}
          </ol>
        </>
      ) : null}
      {issue.nextChecks.length ? (
        <>
          <h3>Next checks</h3>
          <ul class="next-checks">
            {issue.nextChecks.map((c, i) => (
              <li key={i}>
                <code>{c.type}</code>{' '}
                <span class="muted">
                  {Object.entries(c.params)
                    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
                    .join(' ')}
                </span>
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {manageable ? (
        <div class="issue-actions">
          <ProblemBanner error={action.error} />
          <div class="toolbar">
            {issue.state === 'open' || issue.state === 'ignored' ? (
              <button type="button" disabled={action.busy} onClick={() => change({ state: 'acknowledged' }, 'acknowledged')}>
                Acknowledge
              </button>
            ) : null}
            {issue.state !== 'ignored' ? (
              <button
                type="button"
                class="secondary"
                aria-expanded={ignoring}
                disabled={action.busy}
                onClick={() => setIgnoring(!ignoring)}
              >
                Ignore
              </button>
            ) : null}
            {issue.state !== 'open' ? (
              <button type="button" class="secondary" disabled={action.busy} onClick={() => change({ state: 'open' }, 'reopened')}>
                Reopen
              </button>
            ) : null}
          </div>
          {ignoring ? (
            <IgnoreForm busy={action.busy} onIgnore={(until, reason) => change({ state: 'ignored', until, reason }, 'ignored')} />
          ) : null}
        </div>
      ) : null}
    </article>
  );
}

/** yyyy-mm-dd of a local date, for <input type="date">. */
const dateInput = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

function IgnoreForm({ busy, onIgnore }: { busy: boolean; onIgnore: (until: string, reason: string | undefined) => void }) {
  const day = 24 * 3600_000;
  // The API takes an end in the future and at most a year ahead.
  const min = dateInput(new Date(Date.now() + day));
  const max = dateInput(new Date(Date.now() + 365 * day));
  const [until, setUntil] = useState(dateInput(new Date(Date.now() + 7 * day)));
  const [reason, setReason] = useState('');
  return (
    <form
      class="toolbar ignore-form"
      onSubmit={(e) => {
        e.preventDefault();
        // The ignore ends when the chosen day begins, in the person's own time zone.
        onIgnore(new Date(`${until}T00:00:00`).toISOString(), reason.trim() || undefined);
      }}
    >
      <label>
        Ignore until
        <input type="date" required min={min} max={max} value={until} onInput={(e) => setUntil(e.currentTarget.value)} />
      </label>
      <label class="grow">
        Reason (optional)
        <input maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </label>
      <button type="submit" disabled={busy} aria-busy={busy}>
        Ignore until this date
      </button>
    </form>
  );
}
