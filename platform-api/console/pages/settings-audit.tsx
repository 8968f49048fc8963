/**
 * Settings → Audit log (owners): the workspace's audit events, newest first, a page at a time
 * (`GET /v1/workspaces/{ws}/audit?order=newest&before=<event id>&limit=100`; the answer's `next` is
 * the cursor of the older page), with the verification of the whole hash chain the same answer
 * carries (`chain: {ok, rows, brokenAt?}`).
 */
import { useState } from 'preact/hooks';
import type { Ctx } from '../ctx';
import { api, wsPath } from '../api';
import type { AuditPage } from '../api-types';
import { DataTable } from '../table';
import { LoadedList, ProblemBanner, StatusBadge, Time, useLoad } from '../ui';

const PAGE = 100;

export function AuditTab({ ctx }: { ctx: Ctx }) {
  // The cursors of the newer pages, so that "Newer events" can go back (undefined: the latest).
  const [cursors, setCursors] = useState<(string | undefined)[]>([]);
  const [before, setBefore] = useState<string | undefined>(undefined);
  const audit = useLoad(() => api.get<AuditPage>(wsPath(ctx.ws, '/audit'), { order: 'newest', before, limit: PAGE }), [ctx.ws, before]);
  const page = audit.data;
  const first = cursors.length * PAGE + 1;
  // The paging buttons are below a long table: a new page starts at its top.
  const go = (nextBefore: string | undefined, nextCursors: (string | undefined)[]) => {
    setCursors(nextCursors);
    setBefore(nextBefore);
    document.getElementById('audit-heading')?.scrollIntoView();
  };

  return (
    <section aria-labelledby="audit-heading">
      <h2 id="audit-heading">Audit log</h2>
      <ProblemBanner error={audit.error} />
      {page ? (
        page.chain.ok ? (
          <p class="chain-ok" role="status">
            Chain verified: {page.chain.rows} event{page.chain.rows === 1 ? '' : 's'}, none changed or removed.
          </p>
        ) : (
          <p class="problem" role="alert">
            Chain verification failed
            {page.chain.brokenAt === 'head'
              ? ': events after the last verified one are missing'
              : page.chain.brokenAt
                ? ` at event ${page.chain.brokenAt}: it or an event before it was changed or removed`
                : ''}{' '}
            ({page.chain.rows} events read).
          </p>
        )
      ) : null}
      <LoadedList loaded={audit} what="the audit log" empty={<>No events{cursors.length ? ' before these' : ''}.</>}>
        {({ items }) => (
          <DataTable
            caption={`Audit events ${first}–${first + items.length - 1}, newest first`}
            columns={['Time', 'Actor', 'Action', 'Target', 'Outcome', 'Details']}
            busy={audit.loading}
          >
            {items.map((e) => (
              <tr key={e.id}>
                <td>
                  <Time iso={e.at} />
                </td>
                <td class="mono small-text">{e.actor}</td>
                <td>
                  <code>{e.action}</code>
                </td>
                <td class="mono small-text">{e.target ?? '—'}</td>
                <td>
                  <StatusBadge status={e.outcome} />
                </td>
                <td class="mono small-text audit-details">
                  {e.details && Object.keys(e.details).length ? JSON.stringify(e.details) : ''}
                  {e.ip ? <div class="muted">from {e.ip}</div> : null}
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </LoadedList>
      <div class="toolbar">
        <button
          type="button"
          class="secondary"
          disabled={cursors.length === 0 || audit.loading}
          onClick={() => go(cursors.at(-1), cursors.slice(0, -1))}
        >
          Newer events
        </button>
        <button
          type="button"
          class="secondary"
          disabled={!page?.next || audit.loading}
          onClick={() => page?.next && go(page.next, [...cursors, before])}
        >
          Older events
        </button>
      </div>
    </section>
  );
}
