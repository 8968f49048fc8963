/**
 * Runs: the workspace's recent runs (GET /v1/workspaces/{ws}/runs?limit=…, newest first; task names
 * from GET /v1/workspaces/{ws}/tasks), live while any is queued or running. One run (`#/run/<id>`,
 * GET /v1/runs/{id}): its progress, facts, result or error, Retry (POST /v1/runs/{id}/retry) and Cancel
 * (POST /v1/runs/{id}/cancel), and a link into the Temporal Web UI when GET
 * /v1/workspaces/{ws}/temporal-ui names one.
 */
import { useState } from 'preact/hooks';
import { runWorkflowId } from '../../../common/ids';
import type { Ctx } from '../ctx';
import { api, wsPath } from '../api';
import type { Items, RunItem, RunnerItem, RunStatus, Task, TaskItem, TemporalUi } from '../api-types';
import { DataTable, SortableHead, type Sort } from '../table';
import {
  CopyButton,
  Empty,
  formatDuration,
  Loading,
  PageHeader,
  ProblemBanner,
  SeverityBadge,
  StatusBadge,
  Time,
  useAction,
  useLoad,
} from '../ui';

const LIVE: readonly RunStatus[] = ['queued', 'running'];
/** RETRYABLE_RUN_STATUSES in platform/repos/runs.repo.ts: the API refuses a retry of any other. */
const RETRYABLE: readonly RunStatus[] = ['failed', 'runner_unavailable', 'rejected'];
const isLive = (r: RunItem) => LIVE.includes(r.status);

/** Time between start and end, or since the start while it runs. */
const elapsed = (r: RunItem) => r.durationMs ?? (r.startedAt && isLive(r) ? Date.now() - Date.parse(r.startedAt) : null);

const FILTERS = {
  all: { label: 'All', test: () => true },
  live: { label: 'In progress', test: isLive },
  succeeded: { label: 'Succeeded', test: (r: RunItem) => r.status === 'succeeded' },
  problems: { label: 'Failed, unavailable or rejected', test: (r: RunItem) => RETRYABLE.includes(r.status) },
  cancelled: { label: 'Cancelled', test: (r: RunItem) => r.status === 'cancelled' },
} as const;
type FilterKey = keyof typeof FILTERS;

type Column = 'status' | 'checkType' | 'task' | 'trigger' | 'queuedAt' | 'startedAt' | 'finishedAt' | 'duration';
const COLUMNS: [Column, string][] = [
  ['status', 'Status'],
  ['checkType', 'Check type'],
  ['task', 'Task'],
  ['trigger', 'Trigger'],
  ['queuedAt', 'Queued'],
  ['startedAt', 'Started'],
  ['finishedAt', 'Finished'],
  ['duration', 'Duration'],
];

export function RunsPage({ ctx }: { ctx: Ctx }) {
  const [limit, setLimit] = useState(50);
  const [filter, setFilter] = useState<FilterKey>('all');
  const [sort, setSort] = useState<Sort<Column>>({ key: 'queuedAt', asc: false });
  const runs = useLoad(() => api.get<Items<RunItem>>(wsPath(ctx.ws, '/runs'), { limit }), [ctx.ws, limit], {
    pollMs: 2000,
    poll: (d) => d.items.some(isLive),
  });
  // Names only: a missing task list shows ids instead of failing the page.
  const tasks = useLoad(() => api.get<Items<TaskItem>>(wsPath(ctx.ws, '/tasks'), { limit: 500 }), [ctx.ws]);
  const taskName = (id: string) => tasks.data?.items.find((t) => t.id === id)?.name;

  const all = runs.data?.items ?? [];
  const live = all.some(isLive);
  const cell = (r: RunItem, c: Column): string | number => {
    if (c === 'task') return taskName(r.taskId) ?? r.taskId;
    if (c === 'duration') return elapsed(r) ?? -1;
    if (c === 'queuedAt' || c === 'startedAt' || c === 'finishedAt') return r[c] ? Date.parse(r[c]) : 0;
    return r[c];
  };
  const rows = all.filter(FILTERS[filter].test).sort((a, b) => {
    const x = cell(a, sort.key);
    const y = cell(b, sort.key);
    const d = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    return sort.asc ? d : -d;
  });

  return (
    <>
      <PageHeader title="Runs">
        {ctx.can('runs.create') ? (
          <a class="button-link secondary" href="#/tasks">
            Run a task
          </a>
        ) : null}
      </PageHeader>
      <div class="toolbar">
        <label>
          Status
          <select value={filter} onChange={(e) => setFilter(e.currentTarget.value as FilterKey)}>
            {(Object.keys(FILTERS) as FilterKey[]).map((k) => (
              <option key={k} value={k}>
                {FILTERS[k].label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Show
          <select value={limit} onChange={(e) => setLimit(Number(e.currentTarget.value))}>
            {[50, 100, 200].map((n) => (
              <option key={n} value={n}>
                the last {n}
              </option>
            ))}
          </select>
        </label>
        <button type="button" class="secondary" onClick={runs.reload} disabled={runs.loading} aria-busy={runs.loading}>
          Refresh
        </button>
        <p class="live" aria-live="polite">
          {live ? (
            <>
              <progress aria-label="Runs in progress" /> updating live
            </>
          ) : null}
        </p>
      </div>
      <ProblemBanner error={runs.error} />
      {!runs.data ? (
        runs.error ? null : (
          <Loading what="runs" />
        )
      ) : all.length === 0 ? (
        <Empty>
          No run yet. Runs start from a task (<a href="#/tasks">Tasks and schedules</a>), a schedule or a sweep (
          <a href="#/health">Health</a>).
        </Empty>
      ) : (
        <DataTable
          caption="Runs"
          head={
            // Times and durations sort newest or longest first.
            <SortableHead columns={COLUMNS} sort={sort} onSort={setSort} ascFirst={(c) => !c.endsWith('At') && c !== 'duration'} />
          }
        >
          {rows.length === 0 ? (
            <tr>
              <td colSpan={COLUMNS.length} class="muted">
                No run among the last {limit} is {FILTERS[filter].label.toLowerCase()}.
              </td>
            </tr>
          ) : null}
          {rows.map((r) => (
            <tr key={r.id}>
              <td>
                <StatusBadge status={r.status} />
              </td>
              <td>
                <a href={`#/run/${r.id}`}>{r.checkType}</a>
              </td>
              <td>{taskName(r.taskId) ?? <code>{r.taskId}</code>}</td>
              <td>{r.trigger}</td>
              <td>
                <Time iso={r.queuedAt} />
              </td>
              <td>
                <Time iso={r.startedAt} />
              </td>
              <td>
                <Time iso={r.finishedAt} />
              </td>
              <td>{formatDuration(elapsed(r))}</td>
            </tr>
          ))}
        </DataTable>
      )}
    </>
  );
}

const STEPS = ['Queued', 'Running', 'Finished'] as const;

export function RunPage({ ctx }: { ctx: Ctx }) {
  const id = ctx.rest[0] ?? '';
  const run = useLoad(() => api.get<RunItem>(`/v1/runs/${encodeURIComponent(id)}`), [id], {
    pollMs: 1000,
    poll: (r) => isLive(r),
  });
  const r = run.data;
  const taskId = r?.taskId;
  const task = useLoad(
    () => (taskId ? api.get<Task>(wsPath(ctx.ws, `/tasks/${taskId}`)).catch(() => undefined) : Promise.resolve(undefined)),
    [ctx.ws, taskId],
  );
  const runners = useLoad(
    () => api.get<Items<RunnerItem>>(wsPath(ctx.ws, '/runners'), { presence: false }).catch(() => undefined),
    [ctx.ws],
  );
  const mayRetry = ctx.can('runs.retry');
  // Only roles that may retry see where runs are replayed (the route's own permission).
  const temporal = useLoad(
    () => (mayRetry ? api.get<TemporalUi>(wsPath(ctx.ws, '/temporal-ui')).catch(() => undefined) : Promise.resolve(undefined)),
    [ctx.ws, mayRetry],
  );
  const action = useAction();
  const [notice, setNotice] = useState('');

  const act = (verb: 'retry' | 'cancel', done: string) =>
    void action
      .run(() => api.post<RunItem>(`/v1/runs/${encodeURIComponent(id)}/${verb}`))
      .then((answer) => {
        if (!answer) return;
        setNotice(done);
        run.reload();
      });

  const phase = !r ? -1 : r.status === 'queued' ? 0 : r.status === 'running' ? 1 : 2;
  const temporalUrl =
    temporal.data?.url && r
      ? `${temporal.data.url.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(temporal.data.namespace)}/workflows/${encodeURIComponent(
          runWorkflowId(r.workspaceId, r.id),
        )}`
      : undefined;

  return (
    <>
      <PageHeader title="Run">
        {r && mayRetry && RETRYABLE.includes(r.status) ? (
          <button type="button" disabled={action.busy} aria-busy={action.busy} onClick={() => act('retry', 'Retry requested.')}>
            Retry
          </button>
        ) : null}
        {r && ctx.can('runs.cancel') && isLive(r) ? (
          <button
            type="button"
            class="danger"
            disabled={action.busy}
            aria-busy={action.busy}
            onClick={() => act('cancel', 'Cancellation requested.')}
          >
            Cancel
          </button>
        ) : null}
      </PageHeader>
      <p>
        <a href="#/runs">All runs</a>
      </p>
      <ProblemBanner error={action.error ?? run.error} />
      {!r ? (
        run.error ? null : (
          <Loading what="the run" />
        )
      ) : (
        <>
          <ol class="steps" aria-label="Progress">
            {STEPS.map((label, i) => (
              <li
                key={label}
                class={
                  i === 2 && phase === 2 && r.status !== 'succeeded'
                    ? 'ended-badly'
                    : i < phase || phase === 2
                      ? 'done'
                      : i === phase
                        ? 'current'
                        : ''
                }
                aria-current={i === phase && phase < 2 ? 'step' : undefined}
              >
                {label}
                {i === 2 && phase === 2 ? `: ${r.status.replace(/_/g, ' ')}` : ''}
              </li>
            ))}
          </ol>
          <div class="live" aria-live="polite">
            {notice ? <p class="notice">{notice}</p> : null}
            {phase < 2 ? (
              <p>
                <progress aria-label="Run in progress" />{' '}
                {/* The elapsed time stays out of this live region: it would be read out every second. */}
                {r.status === 'queued' ? 'Waiting for the Runner to pick the check up…' : 'Running on the Runner…'}
              </p>
            ) : (
              <p>
                Finished: <StatusBadge status={r.status} />
              </p>
            )}
          </div>
          <dl class="facts">
            <dt>Task</dt>
            <dd>{task.data?.name ?? <code>{r.taskId}</code>}</dd>
            <dt>Runner</dt>
            <dd>{runners.data?.items.find((x) => x.id === r.runnerId)?.name ?? <code>{r.runnerId}</code>}</dd>
            <dt>Check type</dt>
            <dd>
              <code>{r.checkType}</code>
            </dd>
            <dt>Trigger</dt>
            <dd>{r.trigger}</dd>
            <dt>Attempt</dt>
            <dd>{r.attempt}</dd>
            <dt>Queued</dt>
            <dd>
              <Time iso={r.queuedAt} />
            </dd>
            <dt>Started</dt>
            <dd>
              <Time iso={r.startedAt} />
            </dd>
            <dt>Finished</dt>
            <dd>
              <Time iso={r.finishedAt} />
            </dd>
            <dt>Duration</dt>
            <dd>{formatDuration(elapsed(r))}</dd>
            <dt>Run id</dt>
            <dd>
              <code>{r.id}</code>
            </dd>
          </dl>
          {temporalUrl ? (
            <p>
              <a href={temporalUrl} target="_blank" rel="noopener noreferrer">
                Open in Temporal Web UI
              </a>
            </p>
          ) : null}
          {r.error ? (
            <section class="card run-section" aria-labelledby="run-error">
              <h2 id="run-error">Error</h2>
              <dl class="facts">
                <dt>Type</dt>
                <dd>
                  <code>{r.error.type}</code>
                </dd>
                <dt>Message</dt>
                <dd>{r.error.message ?? '—'}</dd>
              </dl>
            </section>
          ) : null}
          {r.result ? <Result result={r.result} /> : phase === 2 && !r.error ? <Empty>This run stored no result.</Empty> : null}
        </>
      )}
    </>
  );
}

function Result({ result }: { result: NonNullable<RunItem['result']> }) {
  const metrics = Object.entries(result.metrics).sort(([a], [b]) => a.localeCompare(b));
  return (
    <section class="card run-section" aria-labelledby="run-result">
      <h2 id="run-result">Result</h2>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={result.status} />
        </dd>
        <dt>Summary</dt>
        <dd>{result.summary}</dd>
        {result.score !== undefined ? (
          <>
            <dt>Score</dt>
            <dd>{Math.round(result.score * 100)} / 100</dd>
          </>
        ) : null}
        <dt>Exit code</dt>
        <dd>{result.exitCode}</dd>
      </dl>
      {metrics.length ? (
        <DataTable caption="Metrics" columns={['Metric', 'Value']} scroll={false} class="compact">
          {metrics.map(([k, v]) => (
            <tr key={k}>
              <td>
                <code>{k}</code>
              </td>
              <td>{v}</td>
            </tr>
          ))}
        </DataTable>
      ) : null}
      <h3>Issues found</h3>
      {result.issues.length === 0 ? (
        <Empty>None.</Empty>
      ) : (
        <ul class="result-issues">
          {[...result.issues]
            .sort((a, b) => a.severity - b.severity)
            .map((i, n) => (
              <li key={n}>
                <p>
                  <SeverityBadge severity={i.severity} /> <strong>{i.title}</strong>
                </p>
                <dl class="facts">
                  <dt>Resource</dt>
                  <dd>
                    <code>
                      {i.resource.kind} {i.resource.namespace ? `${i.resource.namespace}/` : ''}
                      {i.resource.name}
                    </code>
                  </dd>
                  <dt>Expected</dt>
                  <dd>{i.expected || '—'}</dd>
                  <dt>Actual</dt>
                  <dd>{i.actual || '—'}</dd>
                  {i.nextSteps.length ? (
                    <>
                      <dt>Next steps</dt>
                      <dd>
                        <ol>
                          {i.nextSteps.map((s, k) => (
                            <li key={k}>
                              <code class="break">{s}</code> <CopyButton text={s} />
                            </li>
                          ))}
                        </ol>
                      </dd>
                    </>
                  ) : null}
                </dl>
                {i.details ? <pre>{i.details}</pre> : null}
              </li>
            ))}
        </ul>
      )}
    </section>
  );
}
