/**
 * Settings → Sinks: where issue changes are sent (`GET /v1/workspaces/{ws}/sinks`: kind and routing,
 * never where a sink sends) and what was sent (`GET …/notifications?limit=20`, a dead one sent again
 * with `POST …/notifications/{id}/retry`). Owners create a sink (`POST …/sinks`; a webhook sink's
 * signing secret is in that answer only, shown once), test it (`POST …/sinks/{id}/test`) and delete it.
 * Runner names come from `GET …/runners`.
 */
import { useState } from 'preact/hooks';
import type { Ctx } from '../ctx';
import { api, wsPath } from '../api';
import { ConfirmButton, LocalProblems, lines } from '../schema-form';
import { CopyButton, Empty, Loading, ProblemBanner, StatusBadge, Time, severityName, useAction, useLoad } from '../ui';

type Kind = 'slack' | 'teams' | 'pagerduty' | 'webhook' | 'email';
const KINDS: [Kind, string][] = [
  ['slack', 'Slack'],
  ['teams', 'Microsoft Teams'],
  ['pagerduty', 'PagerDuty'],
  ['webhook', 'Webhook (signed)'],
  ['email', 'Email'],
];
const EVENTS = ['new', 'reopened', 'resolved'] as const;

interface Sink {
  id: string;
  name: string;
  kind: Kind;
  routing: { maxSeverity: number; runnerIds: string[]; namespaces: string[]; events: string[] };
  groupSeconds: number;
  maxPerMinute: number;
  createdBy: string;
  createdAt: string;
}

interface Notification {
  id: string;
  sinkId: string;
  transition: string;
  state: string;
  attempts: number;
  lastError: string | null;
  createdAt: string;
}

export function SinksTab({ ctx }: { ctx: Ctx }) {
  const sinks = useLoad(() => api.get<{ items: Sink[] }>(wsPath(ctx.ws, '/sinks')), [ctx.ws]);
  const runners = useLoad(() => api.get<{ items: { id: string; name: string }[] }>(wsPath(ctx.ws, '/runners')), [ctx.ws]);
  const notifications = useLoad(() => api.get<{ items: Notification[] }>(wsPath(ctx.ws, '/notifications'), { limit: 20 }), [ctx.ws]);
  const action = useAction();
  const [notice, setNotice] = useState('');
  const [busyId, setBusyId] = useState<string>();
  const [signing, setSigning] = useState<{ name: string; secret: string }>();
  const manage = ctx.can('sinks.manage');

  const runnerName = (id: string) => runners.data?.items.find((r) => r.id === id)?.name ?? id.slice(0, 8);
  const sinkName = (id: string) => sinks.data?.items.find((s) => s.id === id)?.name ?? id.slice(0, 8);

  const test = async (s: Sink) => {
    setBusyId(s.id);
    setNotice('');
    const answer = await action.run(() => api.post<{ delivered: boolean; reason?: string }>(wsPath(ctx.ws, `/sinks/${s.id}/test`)));
    setBusyId(undefined);
    if (answer)
      setNotice(
        answer.delivered
          ? `Test message delivered through ${s.name}.`
          : `${s.name} did not deliver: ${answer.reason ?? 'no reason given'}.`,
      );
    notifications.reload();
  };

  const remove = async (s: Sink) => {
    setNotice('');
    if (await action.run(async () => (await api.del(wsPath(ctx.ws, `/sinks/${s.id}`)), true))) setNotice(`Sink ${s.name} deleted.`);
    sinks.reload();
  };

  const retry = async (n: Notification) => {
    setNotice('');
    if (await action.run(() => api.post(wsPath(ctx.ws, `/notifications/${n.id}/retry`)))) setNotice('Notification queued again.');
    notifications.reload();
  };

  const items = sinks.data?.items ?? [];
  return (
    <section aria-labelledby="sinks-heading">
      <h2 id="sinks-heading">Sinks</h2>
      <p class="muted">
        Sinks send new, reopened and resolved issues to chat, paging, webhooks or email. Where a sink sends is never shown again.
      </p>
      <p class="notice-slot" aria-live="polite">
        {notice ? <span class="notice">{notice}</span> : null}
      </p>
      {signing ? (
        <div class="secret-once" role="region" aria-labelledby="signing-once-heading">
          <h3 id="signing-once-heading">Signing secret of {signing.name}</h3>
          <p>
            <strong>Shown once:</strong> the receiver verifies the <code>Lookout-Signature</code> header of each message with it.
          </p>
          <p>
            <code class="secret-value">{signing.secret}</code>
          </p>
          <CopyButton text={signing.secret} label="Copy the signing secret" />{' '}
          <button type="button" class="secondary small" onClick={() => setSigning(undefined)}>
            I copied it: hide it
          </button>
        </div>
      ) : null}
      <ProblemBanner error={action.error ?? sinks.error} />
      {sinks.loading && !sinks.data ? (
        <Loading what="sinks" />
      ) : sinks.data && items.length === 0 ? (
        <Empty>No sinks yet: issues are seen in the console only.</Empty>
      ) : items.length > 0 ? (
        <div class="table-scroll">
          <table>
            <caption class="visually-hidden">Sinks</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Sends</th>
                <th scope="col">Pace</th>
                <th scope="col">Created</th>
                {manage ? (
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {items.map((s) => (
                <tr key={s.id}>
                  <td id={`sink-${s.id}`}>{s.name}</td>
                  <td>{KINDS.find(([k]) => k === s.kind)?.[1] ?? s.kind}</td>
                  <td>
                    {s.routing.events.join(', ')} issues of severity {severityName(s.routing.maxSeverity)} or worse
                    <div class="muted small-text">
                      Runners: {s.routing.runnerIds.length ? s.routing.runnerIds.map(runnerName).join(', ') : 'all'}; namespaces:{' '}
                      {s.routing.namespaces.length ? s.routing.namespaces.join(', ') : 'all'}
                    </div>
                  </td>
                  <td>
                    grouped over {s.groupSeconds} s, at most {s.maxPerMinute} a minute
                  </td>
                  <td>
                    <Time iso={s.createdAt} />
                  </td>
                  {manage ? (
                    <td class="row-actions">
                      <button
                        type="button"
                        class="secondary small"
                        aria-describedby={`sink-${s.id}`}
                        aria-busy={busyId === s.id}
                        disabled={busyId === s.id}
                        onClick={() => void test(s)}
                      >
                        Send a test
                      </button>
                      <ConfirmButton
                        label="Delete"
                        confirmLabel="Yes, delete"
                        question={`Delete sink ${s.name} and what it still owes?`}
                        describedBy={`sink-${s.id}`}
                        busy={action.busy}
                        onConfirm={() => remove(s)}
                      />
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}

      {manage ? (
        <NewSinkForm
          ctx={ctx}
          runners={runners.data?.items ?? []}
          onCreated={(sink) => {
            setNotice(`Sink ${sink.name} created.`);
            if (sink.signingSecret) setSigning({ name: sink.name, secret: sink.signingSecret });
            sinks.reload();
          }}
        />
      ) : null}

      <h3>Recent notifications</h3>
      <ProblemBanner error={notifications.error} />
      {notifications.data && notifications.data.items.length === 0 ? (
        <Empty>Nothing sent yet.</Empty>
      ) : notifications.data ? (
        <div class="table-scroll">
          <table>
            <caption class="visually-hidden">Recent notifications</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Sink</th>
                <th scope="col">Change</th>
                <th scope="col">State</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last error</th>
                {ctx.can('notifications.retry') ? (
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {notifications.data.items.map((n) => (
                <tr key={n.id}>
                  <td>
                    <Time iso={n.createdAt} />
                  </td>
                  <td>{sinkName(n.sinkId)}</td>
                  <td>{n.transition}</td>
                  <td>
                    <StatusBadge status={n.state} />
                  </td>
                  <td>{n.attempts}</td>
                  <td>{n.lastError ?? '—'}</td>
                  {ctx.can('notifications.retry') ? (
                    <td>
                      {n.state === 'dead' ? (
                        <button type="button" class="secondary small" disabled={action.busy} onClick={() => void retry(n)}>
                          Send again
                        </button>
                      ) : null}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

function NewSinkForm({
  ctx,
  runners,
  onCreated,
}: {
  ctx: Ctx;
  runners: { id: string; name: string }[];
  onCreated: (sink: Sink & { signingSecret?: string }) => void;
}) {
  const [name, setName] = useState('');
  const [kind, setKind] = useState<Kind>('slack');
  const [url, setUrl] = useState('');
  const [routingKey, setRoutingKey] = useState('');
  const [recipients, setRecipients] = useState('');
  const [smtpUrl, setSmtpUrl] = useState('');
  const [maxSeverity, setMaxSeverity] = useState('3');
  const [events, setEvents] = useState<string[]>([...EVENTS]);
  const [runnerIds, setRunnerIds] = useState<string[]>([]);
  const [namespaces, setNamespaces] = useState('');
  const [groupSeconds, setGroupSeconds] = useState('30');
  const [maxPerMinute, setMaxPerMinute] = useState('10');
  const [problems, setProblems] = useState<string[]>([]);
  const action = useAction();

  const toggle = (list: string[], item: string, on: boolean) => (on ? [...list, item] : list.filter((x) => x !== item));

  const submit = async (e: Event) => {
    e.preventDefault();
    const found = events.length === 0 ? ['Changes: choose at least one'] : [];
    setProblems(found);
    if (found.length) return;
    const target =
      kind === 'pagerduty'
        ? { kind, routingKey: routingKey.trim() }
        : kind === 'email'
          ? { kind, to: lines(recipients), ...(smtpUrl.trim() ? { smtpUrl: smtpUrl.trim() } : {}) }
          : { kind, url: url.trim() };
    const body = {
      name: name.trim(),
      target,
      maxSeverity: Number(maxSeverity),
      events,
      runnerIds,
      namespaces: lines(namespaces),
      ...(groupSeconds.trim() ? { groupSeconds: Number(groupSeconds) } : {}),
      ...(maxPerMinute.trim() ? { maxPerMinute: Number(maxPerMinute) } : {}),
    };
    const created = await action.run(() => api.post<Sink & { signingSecret?: string }>(wsPath(ctx.ws, '/sinks'), body));
    if (created) {
      setName('');
      setUrl('');
      setRoutingKey('');
      setRecipients('');
      setSmtpUrl('');
      onCreated(created);
    }
  };

  return (
    <form class="card" aria-labelledby="new-sink-heading" onSubmit={(e) => void submit(e)}>
      <h3 id="new-sink-heading">New sink</h3>
      <div class="form-row">
        <div class="field">
          <label for="sink-name">Sink name</label>
          <input id="sink-name" required maxLength={60} autoComplete="off" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="sink-kind">Kind</label>
          <select id="sink-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as Kind)}>
            {KINDS.map(([k, text]) => (
              <option key={k} value={k}>
                {text}
              </option>
            ))}
          </select>
        </div>
        {kind === 'pagerduty' ? (
          <div class="field">
            <label for="sink-routing-key">Routing key</label>
            <input
              id="sink-routing-key"
              required
              autoComplete="off"
              spellcheck={false}
              aria-describedby="sink-routing-key-hint"
              value={routingKey}
              onInput={(e) => setRoutingKey(e.currentTarget.value)}
            />
            <span class="hint" id="sink-routing-key-hint">
              The Events API v2 integration key: 32 letters and digits.
            </span>
          </div>
        ) : kind === 'email' ? (
          <>
            <div class="field">
              <label for="sink-to">Recipients</label>
              <textarea
                id="sink-to"
                required
                rows={2}
                spellcheck={false}
                aria-describedby="sink-to-hint"
                value={recipients}
                onInput={(e) => setRecipients(e.currentTarget.value)}
              />
              <span class="hint" id="sink-to-hint">
                One address per line, at most 20.
              </span>
            </div>
            <div class="field">
              <label for="sink-smtp">SMTP server URL (optional)</label>
              <input
                id="sink-smtp"
                autoComplete="off"
                spellcheck={false}
                aria-describedby="sink-smtp-hint"
                value={smtpUrl}
                onInput={(e) => setSmtpUrl(e.currentTarget.value)}
              />
              <span class="hint" id="sink-smtp-hint">
                smtp:// or smtps://; empty: the Platform’s mail server.
              </span>
            </div>
          </>
        ) : (
          <div class="field wide">
            <label for="sink-url">Webhook URL</label>
            <input
              id="sink-url"
              required
              type="url"
              autoComplete="off"
              spellcheck={false}
              value={url}
              onInput={(e) => setUrl(e.currentTarget.value)}
            />
          </div>
        )}
      </div>
      <div class="form-row">
        <div class="field">
          <label for="sink-severity">Severity at most</label>
          <select id="sink-severity" value={maxSeverity} onChange={(e) => setMaxSeverity(e.currentTarget.value)}>
            {[1, 2, 3, 4].map((n) => (
              <option key={n} value={String(n)}>
                {severityName(n)}
                {n > 1 ? ' and worse' : ' only'}
              </option>
            ))}
          </select>
        </div>
        <fieldset class="inline-group">
          <legend>Changes</legend>
          {EVENTS.map((ev) => (
            <label class="inline" key={ev}>
              <input
                type="checkbox"
                checked={events.includes(ev)}
                onChange={(e) => setEvents(toggle(events, ev, e.currentTarget.checked))}
              />
              {ev}
            </label>
          ))}
        </fieldset>
        <div class="field">
          <label for="sink-group">Group changes over (seconds)</label>
          <input
            id="sink-group"
            type="number"
            min={0}
            max={3600}
            step={1}
            value={groupSeconds}
            onInput={(e) => setGroupSeconds(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="sink-rate">Messages a minute at most</label>
          <input
            id="sink-rate"
            type="number"
            min={1}
            max={600}
            step={1}
            value={maxPerMinute}
            onInput={(e) => setMaxPerMinute(e.currentTarget.value)}
          />
        </div>
      </div>
      <div class="form-row">
        {runners.length > 0 ? (
          <fieldset class="inline-group">
            <legend>Only issues of these Runners (none checked: all)</legend>
            {runners.map((r) => (
              <label class="inline" key={r.id}>
                <input
                  type="checkbox"
                  checked={runnerIds.includes(r.id)}
                  onChange={(e) => setRunnerIds(toggle(runnerIds, r.id, e.currentTarget.checked))}
                />
                {r.name}
              </label>
            ))}
          </fieldset>
        ) : null}
        <div class="field">
          <label for="sink-namespaces">Only these namespaces</label>
          <textarea
            id="sink-namespaces"
            rows={2}
            spellcheck={false}
            aria-describedby="sink-namespaces-hint"
            value={namespaces}
            onInput={(e) => setNamespaces(e.currentTarget.value)}
          />
          <span class="hint" id="sink-namespaces-hint">
            One per line; empty: all.
          </span>
        </div>
      </div>
      <LocalProblems problems={problems} />
      <ProblemBanner error={action.error} />
      <div class="form-actions">
        <button type="submit" disabled={action.busy} aria-busy={action.busy}>
          {action.busy ? 'Creating…' : 'Create sink'}
        </button>
      </div>
    </form>
  );
}
