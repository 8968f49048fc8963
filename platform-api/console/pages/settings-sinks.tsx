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
import type {
  CreatedSink,
  CreateSinkRequest,
  Items,
  Notification,
  RunnerItem,
  Sink,
  SinkEvent,
  SinkKind,
  SinkTargetRequest,
  SinkTestAnswer,
} from '../api-types';
import { FormFooter, InputField, Options, SelectField, TextareaField, lines } from '../fields';
import { DataTable } from '../table';
import {
  ConfirmButton,
  CopyButton,
  Empty,
  LoadedList,
  NoticeSlot,
  ProblemBanner,
  ShownOnce,
  severityName,
  StatusBadge,
  Time,
  useAction,
  useLoad,
} from '../ui';

const KINDS: [SinkKind, string][] = [
  ['slack', 'Slack'],
  ['teams', 'Microsoft Teams'],
  ['pagerduty', 'PagerDuty'],
  ['webhook', 'Webhook (signed)'],
  ['email', 'Email'],
];
const EVENTS = ['new', 'reopened', 'resolved'] as const;

export function SinksTab({ ctx }: { ctx: Ctx }) {
  const sinks = useLoad(() => api.get<Items<Sink>>(wsPath(ctx.ws, '/sinks')), [ctx.ws]);
  const runners = useLoad(() => api.get<Items<RunnerItem>>(wsPath(ctx.ws, '/runners'), { presence: false }), [ctx.ws]);
  const notifications = useLoad(() => api.get<Items<Notification>>(wsPath(ctx.ws, '/notifications'), { limit: 20 }), [ctx.ws]);
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
    const answer = await action.run(() => api.post<SinkTestAnswer>(wsPath(ctx.ws, `/sinks/${s.id}/test`)));
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
    if (await action.succeeded(() => api.del(wsPath(ctx.ws, `/sinks/${s.id}`)))) setNotice(`Sink ${s.name} deleted.`);
    sinks.reload();
  };

  const retry = async (n: Notification) => {
    setNotice('');
    if (await action.run(() => api.post(wsPath(ctx.ws, `/notifications/${n.id}/retry`)))) setNotice('Notification queued again.');
    notifications.reload();
  };

  return (
    <section aria-labelledby="sinks-heading">
      <h2 id="sinks-heading">Sinks</h2>
      <p class="muted">
        Sinks send new, reopened and resolved issues to chat, paging, webhooks or email. Where a sink sends is never shown again.
      </p>
      <NoticeSlot>{notice}</NoticeSlot>
      {signing ? (
        <ShownOnce
          headingId="signing-once-heading"
          heading={`Signing secret of ${signing.name}`}
          doneLabel="I copied it: hide it"
          onDone={() => setSigning(undefined)}
        >
          <p>
            <strong>Shown once:</strong> the receiver verifies the <code>Lookout-Signature</code> header of each message with it.
          </p>
          <p>
            <code class="secret-value">{signing.secret}</code>
          </p>
          <CopyButton text={signing.secret} label="Copy the signing secret" />{' '}
        </ShownOnce>
      ) : null}
      <ProblemBanner error={action.error ?? sinks.error} />
      <LoadedList loaded={sinks} what="sinks" empty="No sinks yet: issues are seen in the console only.">
        {({ items }) => (
          <DataTable caption="Sinks" hideCaption columns={['Name', 'Kind', 'Sends', 'Pace', 'Created']} actions={manage}>
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
                      question={`Delete sink ${s.name} and what it still owes?`}
                      describedBy={`sink-${s.id}`}
                      busy={action.busy}
                      onConfirm={() => remove(s)}
                    />
                  </td>
                ) : null}
              </tr>
            ))}
          </DataTable>
        )}
      </LoadedList>

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
        <DataTable
          caption="Recent notifications"
          hideCaption
          columns={['Time', 'Sink', 'Change', 'State', 'Attempts', 'Last error']}
          actions={ctx.can('notifications.retry')}
        >
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
        </DataTable>
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
  runners: Pick<RunnerItem, 'id' | 'name'>[];
  onCreated: (sink: CreatedSink) => void;
}) {
  const [name, setName] = useState('');
  const [kind, setKind] = useState<SinkKind>('slack');
  const [url, setUrl] = useState('');
  const [routingKey, setRoutingKey] = useState('');
  const [recipients, setRecipients] = useState('');
  const [smtpUrl, setSmtpUrl] = useState('');
  const [maxSeverity, setMaxSeverity] = useState('3');
  const [events, setEvents] = useState<SinkEvent[]>([...EVENTS]);
  const [runnerIds, setRunnerIds] = useState<string[]>([]);
  const [namespaces, setNamespaces] = useState('');
  const [groupSeconds, setGroupSeconds] = useState('30');
  const [maxPerMinute, setMaxPerMinute] = useState('10');
  const [problems, setProblems] = useState<string[]>([]);
  const action = useAction();

  const toggle = <T,>(list: T[], item: T, on: boolean) => (on ? [...list, item] : list.filter((x) => x !== item));

  const submit = async (e: Event) => {
    e.preventDefault();
    const found = events.length === 0 ? ['Changes: choose at least one'] : [];
    setProblems(found);
    if (found.length) return;
    const target: SinkTargetRequest =
      kind === 'pagerduty'
        ? { kind, routingKey: routingKey.trim() }
        : kind === 'email'
          ? { kind, to: lines(recipients), ...(smtpUrl.trim() ? { smtpUrl: smtpUrl.trim() } : {}) }
          : { kind, url: url.trim() };
    const body: CreateSinkRequest = {
      name: name.trim(),
      target,
      maxSeverity: Number(maxSeverity),
      events,
      runnerIds,
      namespaces: lines(namespaces),
      ...(groupSeconds.trim() ? { groupSeconds: Number(groupSeconds) } : {}),
      ...(maxPerMinute.trim() ? { maxPerMinute: Number(maxPerMinute) } : {}),
    };
    const created = await action.run(() => api.post<CreatedSink>(wsPath(ctx.ws, '/sinks'), body));
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
        <InputField id="sink-name" label="Sink name" required maxLength={60} autoComplete="off" value={name} onValue={setName} />
        <SelectField id="sink-kind" label="Kind" value={kind} onValue={setKind}>
          <Options values={KINDS} />
        </SelectField>
        {kind === 'pagerduty' ? (
          <InputField
            id="sink-routing-key"
            label="Routing key"
            hint="The Events API v2 integration key: 32 letters and digits."
            required
            autoComplete="off"
            spellcheck={false}
            value={routingKey}
            onValue={setRoutingKey}
          />
        ) : kind === 'email' ? (
          <>
            <TextareaField
              id="sink-to"
              label="Recipients"
              hint="One address per line, at most 20."
              required
              rows={2}
              spellcheck={false}
              value={recipients}
              onValue={setRecipients}
            />
            <InputField
              id="sink-smtp"
              label="SMTP server URL (optional)"
              hint="smtp:// or smtps://; empty: the Platform’s mail server."
              autoComplete="off"
              spellcheck={false}
              value={smtpUrl}
              onValue={setSmtpUrl}
            />
          </>
        ) : (
          <InputField
            id="sink-url"
            label="Webhook URL"
            wide
            required
            type="url"
            autoComplete="off"
            spellcheck={false}
            value={url}
            onValue={setUrl}
          />
        )}
      </div>
      <div class="form-row">
        <SelectField id="sink-severity" label="Severity at most" value={maxSeverity} onValue={setMaxSeverity}>
          {[1, 2, 3, 4].map((n) => (
            <option key={n} value={String(n)}>
              {severityName(n)}
              {n > 1 ? ' and worse' : ' only'}
            </option>
          ))}
        </SelectField>
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
        <InputField
          id="sink-group"
          label="Group changes over (seconds)"
          type="number"
          min={0}
          max={3600}
          step={1}
          value={groupSeconds}
          onValue={setGroupSeconds}
        />
        <InputField
          id="sink-rate"
          label="Messages a minute at most"
          type="number"
          min={1}
          max={600}
          step={1}
          value={maxPerMinute}
          onValue={setMaxPerMinute}
        />
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
        <TextareaField
          id="sink-namespaces"
          label="Only these namespaces"
          hint="One per line; empty: all."
          rows={2}
          spellcheck={false}
          value={namespaces}
          onValue={setNamespaces}
        />
      </div>
      <FormFooter problems={problems} error={action.error} busy={action.busy} label="Create sink" busyLabel="Creating…" />
    </form>
  );
}
