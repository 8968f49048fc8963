/**
 * Health: per Runner, the score of its latest sweep, per namespace (and for the cluster's own
 * resources and the endpoints it probes), and a chart of the score over its last 30 sweeps.
 * Runners from GET /v1/workspaces/{ws}/runners; sweeps from GET /v1/workspaces/{ws}/sweeps?runner=…
 * (whole-Runner sweeps, newest first); "Sweep now" is POST /v1/workspaces/{ws}/sweeps (runs.create).
 * Scores are stored 0..1 (common/score.ts: 1 = nothing wrong) and shown out of 100.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Ctx } from '../ctx';
import { api, wsPath } from '../api';
import type { Items, RunnerItem, StartSweepRequest, Sweep, SweepPart, SweepStarted } from '../api-types';
import { DataTable, SortableHead, type Sort } from '../table';
import { Empty, formatTime, Loading, PageHeader, ProblemBanner, StatusBadge, Time, useAction, useLoad } from '../ui';

const HISTORY = 30;
/** How often a Runner's sweeps are read again while one runs. */
const SWEEP_POLL_MS = 2000;

const percent = (score: number) => Math.round(score * 100);
const scoreClass = (score: number) => (score >= 0.9 ? 'good' : score >= 0.7 ? 'fair' : 'poor');

export function HealthPage({ ctx }: { ctx: Ctx }) {
  const runners = useLoad(() => api.get<Items<RunnerItem>>(wsPath(ctx.ws, '/runners')), [ctx.ws]);
  const items = runners.data ? [...runners.data.items].sort((a, b) => a.name.localeCompare(b.name)) : undefined;
  return (
    <>
      <PageHeader title="Health" />
      <p class="muted">
        Each sweep runs every task of a Runner at once and scores what they find: 100 is nothing wrong; each finding lowers the score by its
        severity.
      </p>
      <ProblemBanner error={runners.error} />
      {!items ? (
        runners.error ? null : (
          <Loading what="Runners" />
        )
      ) : items.length === 0 ? (
        <Empty>
          No Runner is registered yet: <a href="#/runners">register one</a> on the Runners page, then sweep it here.
        </Empty>
      ) : (
        items.map((r) => <RunnerHealth key={r.id} ctx={ctx} runner={r} />)
      )}
    </>
  );
}

function RunnerHealth({ ctx, runner }: { ctx: Ctx; runner: RunnerItem }) {
  // The sweep this page started: its workflow records it a moment after the API answers, so the page
  // keeps reading until it is listed and finished, not only while a listed sweep runs.
  const [started, setStarted] = useState<string | undefined>(undefined);
  const sweeps = useLoad(
    () => api.get<Items<Sweep>>(wsPath(ctx.ws, '/sweeps'), { runner: runner.id, limit: HISTORY }),
    [ctx.ws, runner.id],
    {
      pollMs: SWEEP_POLL_MS,
      poll: (d) => d.items.some((s) => s.status === 'running') || (started !== undefined && !d.items.some((s) => s.id === started)),
    },
  );
  const action = useAction();
  const headingId = `runner-${runner.id}`;
  const list = sweeps.data?.items ?? [];
  const pending = started !== undefined && !list.some((s) => s.id === started);
  const running = list.find((s) => s.status === 'running') ?? (pending ? { startedAt: new Date().toISOString() } : undefined);
  const completed = list.filter((s) => s.status === 'completed' && s.score !== null);
  const latest = completed[0];
  const previous = completed[1];
  const lastFailed = list[0]?.status === 'failed' ? list[0] : undefined;

  return (
    <section class="card runner-health" aria-labelledby={headingId}>
      <header class="issue-head">
        <h2 id={headingId}>{runner.name}</h2>
        <span class="badges">
          <StatusBadge status={runner.online ? 'online' : 'offline'} />
        </span>
        {ctx.can('runs.create') ? (
          <button
            type="button"
            class="secondary"
            disabled={action.busy || Boolean(running)}
            aria-busy={action.busy}
            onClick={() =>
              void action
                .run(() => api.post<SweepStarted>(wsPath(ctx.ws, '/sweeps'), { runnerId: runner.id } satisfies StartSweepRequest))
                .then((sweep) => {
                  if (sweep) setStarted(sweep.id);
                  sweeps.reload();
                })
            }
          >
            Sweep now
          </button>
        ) : null}
      </header>
      <ProblemBanner error={action.error ?? sweeps.error} />
      <div aria-live="polite">
        {running ? (
          <p class="live">
            <progress aria-label={`Sweep of ${runner.name} in progress`} /> A sweep is running since {formatTime(running.startedAt)}.
          </p>
        ) : null}
        {lastFailed ? (
          <p class="problem">
            The last sweep, started {formatTime(lastFailed.startedAt)}, failed: the scores below are from the one before.
          </p>
        ) : null}
      </div>
      {!sweeps.data ? (
        sweeps.error ? null : (
          <Loading what={`the sweeps of ${runner.name}`} />
        )
      ) : !latest ? (
        running ? null : (
          <Empty>No completed sweep yet{ctx.can('runs.create') ? ': sweep now to see how this cluster is doing.' : '.'}</Empty>
        )
      ) : (
        <>
          <div class="health-summary">
            <p>
              <span class={`score ${scoreClass(latest.score!)}`}>{percent(latest.score!)}</span>
              <span class="muted"> / 100</span>
              {previous ? <span class="muted"> ({trend(latest.score!, previous.score!)} since the sweep before)</span> : null}
            </p>
            <p class="muted">
              Latest sweep finished <Time iso={latest.finishedAt} />
              {latest.issues
                ? ` · ${latest.issues.new ?? 0} new, ${latest.issues.open ?? 0} still open, ${latest.issues.resolved ?? 0} resolved`
                : ''}
              {latest.cluster ? ` · cluster resources ${percent(latest.cluster.score)} (${plural(latest.cluster.issues, 'issue')})` : ''}
            </p>
          </div>
          <ScoreChart runnerName={runner.name} sweeps={completed} />
          <PartsTable
            caption={`Namespaces of ${runner.name}`}
            first="Namespace"
            parts={latest.namespaces}
            history={(name) => [...completed].reverse().map((s) => s.namespaces?.[name]?.score ?? 1)}
            runnerId={runner.id}
          />
          {latest.endpoints && Object.keys(latest.endpoints).length ? (
            <PartsTable
              caption={`Endpoints of ${runner.name}`}
              first="Endpoint"
              parts={latest.endpoints}
              history={(name) => [...completed].reverse().map((s) => s.endpoints?.[name]?.score ?? 1)}
            />
          ) : null}
        </>
      )}
    </section>
  );
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function trend(now: number, before: number): string {
  const d = percent(now) - percent(before);
  return d === 0 ? 'unchanged' : d > 0 ? `up ${d}` : `down ${-d}`;
}

type PartColumn = 'name' | 'score' | 'issues';

/**
 * Parts of a sweep (namespaces or endpoints), worst first by default; the headers sort. With
 * `runnerId` (namespaces), an issue count links to those issues.
 */
function PartsTable({
  caption,
  first,
  parts,
  history,
  runnerId,
}: {
  caption: string;
  first: string;
  parts: Record<string, SweepPart> | null;
  /** A part's scores over the sweeps shown, oldest first (a sweep without findings there counts as 1). */
  history: (name: string) => number[];
  runnerId?: string;
}) {
  const [sort, setSort] = useState<Sort<PartColumn>>({ key: 'score', asc: true });
  const rows = Object.entries(parts ?? {}).map(([name, p]) => ({ name, ...p }));
  rows.sort((a, b) => {
    const d = sort.key === 'name' ? a.name.localeCompare(b.name) : a[sort.key] - b[sort.key] || a.name.localeCompare(b.name);
    return sort.asc ? d : -d;
  });
  const columns: [PartColumn, string][] = [
    ['name', first],
    ['score', 'Score'],
    ['issues', 'Issues'],
  ];
  return (
    <DataTable
      caption={caption}
      scroll={false}
      head={<SortableHead columns={columns} sort={sort} onSort={setSort} ascFirst={(key) => key === 'name'} unsorted={['History']} />}
    >
      {rows.length === 0 ? (
        <tr>
          <td colSpan={4} class="muted">
            No {first.toLowerCase()} had findings in this sweep.
          </td>
        </tr>
      ) : null}
      {rows.map((r) => (
        <tr key={r.name}>
          <td>
            <code>{r.name}</code>
          </td>
          <td>
            <span class={`score-cell ${scoreClass(r.score)}`}>{percent(r.score)}</span>
          </td>
          <td>
            {runnerId && r.issues > 0 ? (
              <a href={`#/issues?runner=${encodeURIComponent(runnerId)}&namespace=${encodeURIComponent(r.name)}`}>{r.issues}</a>
            ) : (
              r.issues
            )}
          </td>
          <td>
            <Sparkline name={r.name} scores={history(r.name)} />
          </td>
        </tr>
      ))}
    </DataTable>
  );
}

/**
 * A part's score over the last sweeps as a small line (SVG: no style attribute, no script), with the
 * numbers as its accessible name.
 */
function Sparkline({ name, scores }: { name: string; scores: number[] }) {
  const width = 96;
  const height = 22;
  const step = scores.length > 1 ? width / (scores.length - 1) : 0;
  const points = scores.map((score, i) => `${(i * step).toFixed(1)},${(2 + (1 - score) * (height - 4)).toFixed(1)}`).join(' ');
  return (
    <svg
      class="sparkline"
      role="img"
      aria-label={`Score of ${name} over the last ${scores.length} sweeps: ${scores.map(percent).join(', ')}`}
      viewBox={`-2 0 ${width + 4} ${height}`}
      width={width + 4}
      height={height}
    >
      {scores.length > 1 ? <polyline points={points} /> : <circle cx={0} cy={2 + (1 - scores[0]!) * (height - 4)} r={2} />}
    </svg>
  );
}

/**
 * The score history as a uPlot line (oldest left). The canvas is drawn for sighted users; the same
 * numbers are in the figure's label and a visually hidden table for everyone else.
 */
function ScoreChart({ runnerName, sweeps }: { runnerName: string; sweeps: Sweep[] }) {
  const box = useRef<HTMLDivElement>(null);
  const points = [...sweeps].reverse().map((s) => ({ t: Date.parse(s.finishedAt ?? s.startedAt), score: percent(s.score!) }));
  const key = points.map((p) => `${p.t}:${p.score}`).join(',');

  useEffect(() => {
    const el = box.current;
    if (!el || points.length === 0) return;
    const width = () => Math.max(240, el.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 150,
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { size: 7 } },
        select: { show: false, left: 0, top: 0, width: 0, height: 0 },
        // One sweep alone would stretch the time axis over years: an hour either side of it instead.
        scales: {
          x: { time: true, range: (_u, min, max) => (min === max ? [min - 3600, max + 3600] : [min, max]) },
          y: { range: [0, 100] },
        },
        axes: [
          { stroke: '#4f5763', grid: { stroke: '#e3e7ec' } },
          { stroke: '#4f5763', grid: { stroke: '#e3e7ec' }, size: 40 },
        ],
        series: [{}, { label: 'Score', stroke: '#0b57d0', width: 2, fill: 'rgba(11, 87, 208, 0.08)', points: { show: true, size: 5 } }],
      },
      [points.map((p) => p.t / 1000), points.map((p) => p.score)],
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: width(), height: 150 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
    // The points are rebuilt every render; `key` says when they actually changed.
  }, [key]);

  if (points.length === 0) return null;
  const scores = points.map((p) => p.score);
  const label = `Score history of ${runnerName}: ${points.length} sweep${points.length === 1 ? '' : 's'}, lowest ${Math.min(...scores)}, highest ${Math.max(
    ...scores,
  )}, latest ${scores[scores.length - 1]} out of 100.`;
  return (
    <figure class="score-chart">
      <div class="chart" ref={box} role="img" aria-label={label} />
      <figcaption class="muted">Score of the last {points.length} sweeps (0–100, higher is healthier)</figcaption>
      <DataTable caption={`Score history of ${runnerName}`} columns={['Sweep finished', 'Score']} scroll={false} class="visually-hidden">
        {points.map((p) => (
          <tr key={p.t}>
            <td>{formatTime(new Date(p.t).toISOString())}</td>
            <td>{p.score}</td>
          </tr>
        ))}
      </DataTable>
    </figure>
  );
}
