/**
 * Settings → Hooks: alert hooks that start runs when an alerting system calls them
 * (`GET /v1/workspaces/{ws}/hooks`: no secrets, routes by count). Owners create one
 * (`POST …/hooks {name, format, auth, routes: [{match, taskId, params?}], ratePerMinute, secret?}`;
 * the answer's secret is shown once with the hook's URL) and delete one (`DELETE …/hooks/{id}`).
 * Task names come from `GET …/tasks`.
 */
import { useState } from 'preact/hooks';
import type { Ctx } from '../ctx';
import { api, wsPath } from '../api';
import type { CreatedHook, CreateHookRequest, Hook, HookAuth, HookFormat, Items, TaskItem } from '../api-types';
import { FormFooter, InputField, Options, SelectField, TextareaField, lines } from '../fields';
import { DataTable } from '../table';
import { ConfirmButton, CopyButton, Empty, LoadedList, NoticeSlot, ProblemBanner, ShownOnce, Time, useAction, useLoad } from '../ui';

interface RouteDraft {
  taskId: string;
  match: string;
  params: string;
}

const FORMATS: [HookFormat, string][] = [
  ['alertmanager', 'Prometheus Alertmanager (webhook v4)'],
  ['generic', 'Generic ({alerts: [{id, status, labels}]})'],
  ['pagerduty', 'PagerDuty (V3 webhook)'],
];

/** The absolute URL alerting systems call (the API answers it relative to this origin). */
const absolute = (path: string) => new URL(path, location.origin).toString();

/** `name=value` (exact) or `name=~regex` lines into a route's matchers. */
function parseMatch(text: string, where: string, problems: string[]): Record<string, string | { regex: string }> {
  const match: Record<string, string | { regex: string }> = {};
  for (const line of lines(text)) {
    const at = line.indexOf('=');
    if (at <= 0) {
      problems.push(`${where}: "${line}" is not name=value or name=~regex`);
      continue;
    }
    const name = line.slice(0, at).trim();
    const value = line.slice(at + 1);
    match[name] = value.startsWith('~') ? { regex: value.slice(1).trim() } : value.trim();
  }
  return match;
}

/** `name=template` lines into a route's parameters. */
function parseParams(text: string, where: string, problems: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (const line of lines(text)) {
    const at = line.indexOf('=');
    if (at <= 0) problems.push(`${where}: "${line}" is not name=template`);
    else params[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return Object.keys(params).length ? params : undefined;
}

export function HooksTab({ ctx }: { ctx: Ctx }) {
  const hooks = useLoad(() => api.get<Items<Hook>>(wsPath(ctx.ws, '/hooks')), [ctx.ws]);
  const action = useAction();
  const [notice, setNotice] = useState('');
  const [created, setCreated] = useState<CreatedHook>();
  const manage = ctx.can('hooks.manage');

  const remove = async (h: Hook) => {
    setNotice('');
    if (await action.succeeded(() => api.del(wsPath(ctx.ws, `/hooks/${h.id}`)))) setNotice(`Hook ${h.name} deleted.`);
    hooks.reload();
  };

  return (
    <section aria-labelledby="hooks-heading">
      <h2 id="hooks-heading">Hooks</h2>
      <p class="muted">An alert hook starts runs of tasks when an alerting system calls it, so the checks run while the alert fires.</p>
      <NoticeSlot>{notice}</NoticeSlot>
      {created ? <CreatedOnce hook={created} onDone={() => setCreated(undefined)} /> : null}
      <ProblemBanner error={action.error ?? hooks.error} />
      <LoadedList loaded={hooks} what="hooks" empty="No alert hooks yet.">
        {({ items }) => (
          <DataTable
            caption="Hooks"
            hideCaption
            columns={['Name', 'Format', 'Authentication', 'Routes', 'Calls a minute', 'URL', 'Created']}
            actions={manage}
          >
            {items.map((h) => (
              <tr key={h.id}>
                <td>{h.name}</td>
                <td>{h.format}</td>
                <td>{h.auth === 'hmac' ? 'HMAC signature' : 'bearer secret'}</td>
                <td>{h.routeCount}</td>
                <td>{h.ratePerMinute}</td>
                <td>
                  <code class="small-text">{absolute(`/v1/hooks/${h.id}`)}</code>{' '}
                  <CopyButton text={absolute(`/v1/hooks/${h.id}`)} label="Copy URL" />
                </td>
                <td>
                  <Time iso={h.createdAt} />
                </td>
                {manage ? (
                  <td class="row-actions">
                    <ConfirmButton
                      label="Delete"
                      question={`Delete hook ${h.name}? Calls to it will be refused.`}
                      busy={action.busy}
                      onConfirm={() => remove(h)}
                    />
                  </td>
                ) : null}
              </tr>
            ))}
          </DataTable>
        )}
      </LoadedList>
      {manage ? (
        <NewHookForm
          ctx={ctx}
          onCreated={(hook) => {
            setCreated(hook);
            setNotice(`Hook ${hook.name} created.`);
            hooks.reload();
          }}
        />
      ) : null}
    </section>
  );
}

function CreatedOnce({ hook, onDone }: { hook: CreatedHook; onDone: () => void }) {
  const url = absolute(hook.url);
  return (
    <ShownOnce headingId="hook-once-heading" heading={`Hook ${hook.name} created`} doneLabel="I saved it: hide it" onDone={onDone}>
      <dl class="facts">
        <dt>URL</dt>
        <dd>
          <code>{url}</code> <CopyButton text={url} label="Copy the URL" />
        </dd>
        {hook.secret ? (
          <>
            <dt>Secret</dt>
            <dd>
              <code class="secret-value">{hook.secret}</code> <CopyButton text={hook.secret} label="Copy the secret" />
            </dd>
          </>
        ) : null}
      </dl>
      {hook.secret ? (
        <p>
          <strong>Shown once:</strong> the Platform keeps only a hash of the secret.{' '}
          {hook.auth === 'bearer' ? (
            <>
              Callers send <code>Authorization: Bearer &lt;secret&gt;</code>.
            </>
          ) : (
            <>
              Callers sign each call: <code>X-Lookout-Timestamp</code> (unix seconds) and{' '}
              <code>X-Lookout-Signature: sha256=&lt;hex HMAC-SHA256(secret, "timestamp.body")&gt;</code>.
            </>
          )}
        </p>
      ) : (
        <p>PagerDuty signs its calls with the signing secret you gave; give PagerDuty this URL as the webhook subscription’s URL.</p>
      )}
    </ShownOnce>
  );
}

function NewHookForm({ ctx, onCreated }: { ctx: Ctx; onCreated: (hook: CreatedHook) => void }) {
  const tasks = useLoad(() => api.get<Items<TaskItem>>(wsPath(ctx.ws, '/tasks'), { limit: 500 }), [ctx.ws]);
  const [name, setName] = useState('');
  const [format, setFormat] = useState<HookFormat>('alertmanager');
  const [auth, setAuth] = useState<HookAuth>('bearer');
  const [secret, setSecret] = useState('');
  const [rate, setRate] = useState('60');
  const [routes, setRoutes] = useState<RouteDraft[]>([{ taskId: '', match: '', params: '' }]);
  const [problems, setProblems] = useState<string[]>([]);
  const action = useAction();
  // PagerDuty signs its own calls: such a hook is always HMAC, with PagerDuty's secret.
  const effectiveAuth: HookAuth = format === 'pagerduty' ? 'hmac' : auth;

  const setRoute = (i: number, patch: Partial<RouteDraft>) => setRoutes(routes.map((r, j) => (j === i ? { ...r, ...patch } : r)));

  const submit = async (e: Event) => {
    e.preventDefault();
    const found: string[] = [];
    const body: CreateHookRequest = {
      name: name.trim(),
      format,
      auth: effectiveAuth,
      ...(rate.trim() ? { ratePerMinute: Number(rate) } : {}),
      ...(format === 'pagerduty' ? { secret: secret.trim() } : {}),
      routes: routes.map((r, i) => {
        const params = parseParams(r.params, `Route ${i + 1} parameters`, found);
        return { taskId: r.taskId, match: parseMatch(r.match, `Route ${i + 1} labels`, found), ...(params ? { params } : {}) };
      }),
    };
    setProblems(found);
    if (found.length) return;
    const hook = await action.run(() => api.post<CreatedHook>(wsPath(ctx.ws, '/hooks'), body));
    if (hook) {
      setName('');
      setSecret('');
      setRoutes([{ taskId: '', match: '', params: '' }]);
      onCreated(hook);
    }
  };

  const taskItems = tasks.data?.items ?? [];
  return (
    <form class="card" aria-labelledby="new-hook-heading" onSubmit={(e) => void submit(e)}>
      <h3 id="new-hook-heading">New hook</h3>
      <ProblemBanner error={tasks.error} />
      {tasks.data && taskItems.length === 0 ? <Empty>A hook starts runs of tasks: create a task first.</Empty> : null}
      <div class="form-row">
        <InputField id="hook-name" label="Hook name" required maxLength={60} autoComplete="off" value={name} onValue={setName} />
        <SelectField id="hook-format" label="Format" value={format} onValue={setFormat}>
          <Options values={FORMATS} />
        </SelectField>
        <SelectField id="hook-auth" label="Authentication" value={effectiveAuth} disabled={format === 'pagerduty'} onValue={setAuth}>
          <option value="bearer">Bearer secret</option>
          <option value="hmac">HMAC signature</option>
        </SelectField>
        {format === 'pagerduty' ? (
          <InputField
            id="hook-secret"
            label="PagerDuty signing secret"
            required
            autoComplete="off"
            spellcheck={false}
            value={secret}
            onValue={setSecret}
          />
        ) : null}
        <InputField
          id="hook-rate"
          label="Calls a minute at most"
          type="number"
          min={1}
          max={6000}
          step={1}
          value={rate}
          onValue={setRate}
        />
      </div>
      {routes.map((r, i) => (
        <fieldset class="schema-group" key={i}>
          <legend>Route {i + 1}</legend>
          <div class="form-row">
            <SelectField id={`route-${i}-task`} label="Task" required value={r.taskId} onValue={(taskId) => setRoute(i, { taskId })}>
              <option value="">Choose a task…</option>
              {taskItems.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.name}
                </option>
              ))}
            </SelectField>
            <TextareaField
              id={`route-${i}-match`}
              label="Match labels"
              hint="One per line: name=value, or name=~regex for a regular expression. Empty: every alert."
              rows={2}
              spellcheck={false}
              placeholder={'alertname=KubePodCrashLooping\nnamespace=~prod-.*'}
              value={r.match}
              onValue={(match) => setRoute(i, { match })}
            />
            <TextareaField
              id={`route-${i}-params`}
              label="Parameters"
              hint="Optional, one per line: name=template, with {{ labels.<name> }} placeholders. Empty: the task’s own parameters."
              rows={2}
              spellcheck={false}
              placeholder="namespace={{ labels.namespace }}"
              value={r.params}
              onValue={(params) => setRoute(i, { params })}
            />
          </div>
          {routes.length > 1 ? (
            <button type="button" class="secondary small" onClick={() => setRoutes(routes.filter((_, j) => j !== i))}>
              Remove route {i + 1}
            </button>
          ) : null}
        </fieldset>
      ))}
      <FormFooter
        problems={problems}
        error={action.error}
        busy={action.busy}
        label="Create hook"
        busyLabel="Creating…"
        before={
          <button type="button" class="secondary" onClick={() => setRoutes([...routes, { taskId: '', match: '', params: '' }])}>
            Add a route
          </button>
        }
      />
    </form>
  );
}
