/**
 * Tasks and schedules: the workspace's tasks (`GET /v1/workspaces/{ws}/tasks`) with "Run now"
 * (`POST …/runs {taskId}`, then the run's page) and delete; a new task's form, whose parameter
 * fields are generated from the chosen check's JSON Schema (`GET …/runners/{id}/checks`) and which
 * posts `POST …/tasks {name, runnerId, checkType, params, policy}`; and the schedules
 * (`GET …/schedules`) with pause, resume, trigger and delete, and a form for a new one
 * (`POST …/schedules`: a task's runs or a Runner's health sweeps, every N minutes or by cron).
 * Runner names come from `GET …/runners`.
 */
import { useState } from 'preact/hooks';
import type { Ctx } from '../ctx';
import { api, wsPath } from '../api';
import type {
  ChecksAnswer,
  CreateRunRequest,
  CreateScheduleRequest,
  CreateTaskRequest,
  Items,
  RunItem,
  RunnerItem,
  ScheduleItem,
  ScheduleOverlap,
  ScheduleSpec,
  Task,
  TaskItem,
  TaskPolicy,
} from '../api-types';
import { FormFooter, InputField, Options, SelectField, TextareaField, lines } from '../fields';
import { SchemaFields, asSchema, buildParams, initialValues, type RawValues } from '../schema-form';
import { DataTable } from '../table';
import { ConfirmButton, Empty, LoadedList, NoticeSlot, PageHeader, ProblemBanner, StatusBadge, Time, useAction, useLoad } from '../ui';

export function TasksPage({ ctx }: { ctx: Ctx }) {
  const tasks = useLoad(() => api.get<Items<TaskItem>>(wsPath(ctx.ws, '/tasks'), { limit: 500 }), [ctx.ws]);
  const runners = useLoad(() => api.get<Items<RunnerItem>>(wsPath(ctx.ws, '/runners')), [ctx.ws]);
  const schedules = useLoad(() => api.get<Items<ScheduleItem>>(wsPath(ctx.ws, '/schedules')), [ctx.ws]);
  const [creating, setCreating] = useState(false);
  const [notice, setNotice] = useState('');
  const action = useAction();
  const [busyId, setBusyId] = useState<string>();

  const runnerName = (id: string | null) => (id ? (runners.data?.items.find((r) => r.id === id)?.name ?? id.slice(0, 8)) : '—');
  const taskName = (id: string | null) => (id ? (tasks.data?.items.find((t) => t.id === id)?.name ?? id.slice(0, 8)) : '—');

  /** One row's action: busy while it runs, a notice when it is done, the list reloaded either way. */
  const act = async (id: string, doing: () => Promise<unknown>, done: string, reload: () => void) => {
    setBusyId(id);
    setNotice('');
    const ok = await action.succeeded(doing);
    setBusyId(undefined);
    if (ok) setNotice(done);
    reload();
  };

  /** A schedule's row button that posts `…/schedules/{id}/{verb}`. */
  const scheduleButton = (s: ScheduleItem, label: string, verb: 'pause' | 'resume' | 'trigger', done: string) => (
    <button
      type="button"
      class="secondary small"
      aria-describedby={`schedule-${s.id}`}
      disabled={busyId === s.id}
      onClick={() => void act(s.id, () => api.post(wsPath(ctx.ws, `/schedules/${s.id}/${verb}`)), done, schedules.reload)}
    >
      {label}
    </button>
  );

  const runNow = async (task: TaskItem) => {
    setBusyId(task.id);
    const run = await action.run(() => api.post<RunItem>(wsPath(ctx.ws, '/runs'), { taskId: task.id } satisfies CreateRunRequest));
    setBusyId(undefined);
    if (run) ctx.navigate(`#/run/${run.id}`);
  };

  const taskList = tasks.data?.items ?? [];
  return (
    <>
      <PageHeader title="Tasks and schedules">
        {ctx.can('tasks.manage') && !creating ? (
          <button type="button" onClick={() => (setCreating(true), setNotice(''))}>
            New task
          </button>
        ) : null}
      </PageHeader>
      <NoticeSlot>{notice}</NoticeSlot>
      <ProblemBanner error={action.error} />

      {creating ? (
        <NewTaskForm
          ctx={ctx}
          runners={runners.data?.items ?? []}
          onCancel={() => setCreating(false)}
          onCreated={(task) => {
            setCreating(false);
            setNotice(`Task ${task.name} created.`);
            tasks.reload();
          }}
        />
      ) : null}

      <section aria-labelledby="tasks-heading">
        <h2 id="tasks-heading">Tasks</h2>
        <ProblemBanner error={tasks.error ?? runners.error} />
        <LoadedList
          loaded={tasks}
          what="tasks"
          empty={
            <>
              No tasks yet.{' '}
              {ctx.can('tasks.manage')
                ? 'Create one with "New task", or let discovery create them for a Runner.'
                : 'An owner creates them.'}
            </>
          }
        >
          {({ items }) => (
            <DataTable caption="Tasks" hideCaption columns={['Name', 'Check type', 'Runner', 'Origin', 'Group']} actions>
              {items.map((t) => (
                <tr key={t.id}>
                  <td id={`task-${t.id}`}>{t.name}</td>
                  <td>
                    <code>{t.checkType}</code>
                  </td>
                  <td>{runnerName(t.runnerId)}</td>
                  <td>{t.origin ?? '—'}</td>
                  <td>{t.sweepGroup ?? '—'}</td>
                  <td class="row-actions">
                    {ctx.can('runs.create') ? (
                      <button
                        type="button"
                        class="small"
                        aria-describedby={`task-${t.id}`}
                        aria-busy={busyId === t.id}
                        disabled={busyId === t.id}
                        onClick={() => void runNow(t)}
                      >
                        Run now
                      </button>
                    ) : null}
                    {ctx.can('tasks.manage') ? (
                      <ConfirmButton
                        label="Delete"
                        question={`Delete task ${t.name} and its runs?`}
                        describedBy={`task-${t.id}`}
                        busy={busyId === t.id}
                        onConfirm={() =>
                          void act(t.id, () => api.del(wsPath(ctx.ws, `/tasks/${t.id}`)), `Task ${t.name} deleted.`, tasks.reload)
                        }
                      />
                    ) : null}
                  </td>
                </tr>
              ))}
            </DataTable>
          )}
        </LoadedList>
      </section>

      <section aria-labelledby="schedules-heading">
        <h2 id="schedules-heading">Schedules</h2>
        <ProblemBanner error={schedules.error} />
        <LoadedList
          loaded={schedules}
          what="schedules"
          empty="No schedules yet: tasks run only when someone starts them or an alert hook calls."
        >
          {({ items }) => (
            <DataTable caption="Schedules" hideCaption columns={['Runs', 'Repeats', 'Overlap', 'State', 'Next run']} actions>
              {items.map((s) => {
                const what = s.taskId
                  ? `Task ${taskName(s.taskId)}`
                  : `Health sweep of ${runnerName(s.runnerId)}${s.group ? ` (group ${s.group})` : ''}`;
                return (
                  <tr key={s.id}>
                    <td id={`schedule-${s.id}`}>
                      {what}
                      {s.note ? <div class="muted">{s.note}</div> : null}
                    </td>
                    <td>{describeSpec(s.spec)}</td>
                    <td>{s.overlap.replace(/_/g, ' ')}</td>
                    <td>
                      <StatusBadge status={s.paused ? 'paused' : 'active'} />
                    </td>
                    <td>{s.paused ? '—' : <Time iso={s.nextRuns[0]} />}</td>
                    <td class="row-actions">
                      {ctx.can('schedules.manage')
                        ? scheduleButton(
                            s,
                            s.paused ? 'Resume' : 'Pause',
                            s.paused ? 'resume' : 'pause',
                            `Schedule ${s.paused ? 'resumed' : 'paused'}: ${what}.`,
                          )
                        : null}
                      {ctx.can('schedules.trigger')
                        ? scheduleButton(
                            s,
                            'Trigger now',
                            'trigger',
                            `Triggered: ${what} runs now (skipped while its previous run is still open). See Runs.`,
                          )
                        : null}
                      {ctx.can('schedules.manage') ? (
                        <ConfirmButton
                          label="Delete"
                          question={`Delete the schedule of ${what}?`}
                          describedBy={`schedule-${s.id}`}
                          busy={busyId === s.id}
                          onConfirm={() =>
                            void act(s.id, () => api.del(wsPath(ctx.ws, `/schedules/${s.id}`)), 'Schedule deleted.', schedules.reload)
                          }
                        />
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </DataTable>
          )}
        </LoadedList>
        {ctx.can('schedules.manage') ? (
          <NewScheduleForm
            ctx={ctx}
            tasks={taskList}
            runners={runners.data?.items ?? []}
            onCreated={(text) => {
              setNotice(text);
              schedules.reload();
            }}
          />
        ) : null}
      </section>
    </>
  );
}

function describeSpec(spec: ScheduleItem['spec']): string {
  const tz = spec.timezone ? ` (${spec.timezone})` : '';
  if (spec.cron?.length) return `cron ${spec.cron.join('; ')}${tz}`;
  const s = spec.intervalSeconds ?? 0;
  if (s % 86_400 === 0) return `every ${s / 86_400} d`;
  if (s % 3600 === 0) return `every ${s / 3600} h`;
  if (s % 60 === 0) return `every ${s / 60} min`;
  return `every ${s} s`;
}

/** The execution bounds a task may set (ExecutionPolicy), asked in seconds and sent in milliseconds. */
const BOUNDS = [
  { key: 'scheduleToStartMs', label: 'Wait for the Runner (seconds)', min: 1, max: 3600, fallback: 60, ms: true },
  { key: 'startToCloseMs', label: 'Time limit per attempt (seconds)', min: 1, max: 3600, fallback: 300, ms: true },
  { key: 'heartbeatMs', label: 'Heartbeat timeout (seconds)', min: 1, max: 600, fallback: 30, ms: true },
  { key: 'maxAttempts', label: 'Attempts', min: 1, max: 10, fallback: 3, ms: false },
  { key: 'initialRetryIntervalMs', label: 'First retry after (seconds)', min: 0.1, max: 600, fallback: 1, ms: true },
] as const;

function NewTaskForm({
  ctx,
  runners,
  onCreated,
  onCancel,
}: {
  ctx: Ctx;
  runners: RunnerItem[];
  onCreated: (task: Task) => void;
  onCancel: () => void;
}) {
  const [runnerId, setRunnerId] = useState(runners.length === 1 ? runners[0]!.id : '');
  const [checkType, setCheckType] = useState('');
  const [name, setName] = useState('');
  const [values, setValues] = useState<RawValues>({});
  const [bounds, setBounds] = useState<Record<string, string>>({});
  const [problems, setProblems] = useState<string[]>([]);
  const action = useAction();
  const checks = useLoad(
    () => (runnerId ? api.get<ChecksAnswer>(wsPath(ctx.ws, `/runners/${runnerId}/checks`)) : Promise.resolve(undefined)),
    [ctx.ws, runnerId],
  );
  const check = checks.data?.items.find((c) => c.type === checkType);
  const schema = asSchema(check?.parameters);

  const submit = async (e: Event) => {
    e.preventDefault();
    const built = buildParams(schema, values);
    const policy: TaskPolicy = {};
    for (const b of BOUNDS) {
      const text = bounds[b.key]?.trim();
      if (!text) continue;
      const n = Number(text);
      if (!Number.isFinite(n)) built.problems.push(`${b.label}: "${text}" is not a number`);
      else policy[b.key] = Math.round(b.ms ? n * 1000 : n);
    }
    setProblems(built.problems);
    if (built.problems.length) return;
    const task = await action.run(() =>
      api.post<Task>(wsPath(ctx.ws, '/tasks'), {
        name: name.trim(),
        runnerId,
        checkType,
        params: built.params,
        policy,
      } satisfies CreateTaskRequest),
    );
    if (task) onCreated(task);
  };

  return (
    <section class="card" aria-labelledby="new-task-heading">
      <h2 id="new-task-heading">New task</h2>
      {runners.length === 0 ? (
        <Empty>
          No Runner is registered yet: <a href="#/runners">register one</a> first.
        </Empty>
      ) : null}
      <form onSubmit={(e) => void submit(e)} aria-labelledby="new-task-heading">
        <div class="form-row">
          <SelectField
            id="task-runner"
            label="Runner"
            required
            value={runnerId}
            onValue={(id) => {
              setRunnerId(id);
              setCheckType('');
              setValues({});
            }}
          >
            <option value="">Choose a Runner…</option>
            {runners.map((r) => (
              <option key={r.id} value={r.id}>
                {r.name}
                {r.online ? '' : ' (offline)'}
              </option>
            ))}
          </SelectField>
          <SelectField
            id="task-check"
            label="Check"
            hint={
              !runnerId
                ? 'Choose a Runner first: its policy says which checks it runs.'
                : checks.loading && !checks.data
                  ? 'Loading the checks of this Runner…'
                  : checks.data && !checks.data.reported
                    ? 'This Runner has not reported its checks yet: it reports them once it connects.'
                    : 'The checks this Runner’s policy allows, as it last reported them.'
            }
            required
            value={checkType}
            disabled={!checks.data?.items.length}
            onValue={(type) => {
              setCheckType(type);
              setValues(initialValues(asSchema(checks.data?.items.find((c) => c.type === type)?.parameters)));
            }}
          >
            <option value="">Choose a check…</option>
            {checks.data?.items.map((c) => (
              <option key={c.type} value={c.type}>
                {c.type}
                {c.pack ? ` (pack ${c.pack.name} ${c.pack.version})` : ''}
              </option>
            ))}
          </SelectField>
          <InputField
            id="task-name"
            label="Task name"
            hint="Unique in the workspace: letters, digits, space, dot, dash and underscore."
            required
            maxLength={100}
            autoComplete="off"
            value={name}
            onValue={setName}
          />
        </div>
        <ProblemBanner error={checks.error} />
        {check ? (
          <fieldset class="schema-group">
            <legend>Parameters of {check.type}</legend>
            {check.description ? <p class="muted">{check.description}</p> : null}
            <p class="hint">
              Fields marked <span aria-hidden="true">*</span> are required; empty fields take the check’s defaults.
            </p>
            <SchemaFields schema={schema} values={values} onChange={setValues} idPrefix="param" disabled={action.busy} />
          </fieldset>
        ) : null}
        <details class="bounds">
          <summary>Execution bounds (optional)</summary>
          <div class="form-row">
            {BOUNDS.map((b) => (
              <InputField
                key={b.key}
                id={`bound-${b.key}`}
                label={b.label}
                type="number"
                min={b.min}
                max={b.max}
                step={b.min < 1 ? 'any' : 1}
                placeholder={String(b.fallback)}
                value={bounds[b.key] ?? ''}
                onValue={(text) => setBounds({ ...bounds, [b.key]: text })}
              />
            ))}
          </div>
        </details>
        <FormFooter
          problems={problems}
          error={action.error}
          busy={action.busy}
          disabled={!checkType}
          label="Create task"
          busyLabel="Creating…"
        >
          <button type="button" class="secondary" onClick={onCancel}>
            Cancel
          </button>
        </FormFooter>
      </form>
    </section>
  );
}

const OVERLAP: [ScheduleOverlap, string][] = [
  ['skip', 'Skip this run'],
  ['buffer_one', 'Run once after it'],
  ['buffer_all', 'Run each after it'],
  ['cancel_other', 'Cancel the previous run'],
  ['terminate_other', 'Terminate the previous run'],
  ['allow_all', 'Run both at once'],
];

function NewScheduleForm({
  ctx,
  tasks,
  runners,
  onCreated,
}: {
  ctx: Ctx;
  tasks: TaskItem[];
  runners: RunnerItem[];
  onCreated: (notice: string) => void;
}) {
  const [target, setTarget] = useState('');
  const [mode, setMode] = useState<'interval' | 'cron'>('interval');
  const [minutes, setMinutes] = useState('60');
  const [cron, setCron] = useState('');
  const [timezone, setTimezone] = useState(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
  const [overlap, setOverlap] = useState<ScheduleOverlap>('skip');
  const [note, setNote] = useState('');
  const [problems, setProblems] = useState<string[]>([]);
  const action = useAction();

  const submit = async (e: Event) => {
    e.preventDefault();
    const found: string[] = [];
    const spec: ScheduleSpec = {};
    if (mode === 'interval') {
      const m = Number(minutes);
      if (!Number.isInteger(m) || m < 1) found.push('Every (minutes): a whole number of minutes, at least 1');
      else spec.intervalSeconds = m * 60;
    } else {
      const expressions = lines(cron);
      if (expressions.length === 0) found.push('Cron expression: give at least one');
      spec.cron = expressions;
      if (timezone.trim()) spec.timezone = timezone.trim();
    }
    setProblems(found);
    if (found.length) return;
    const [kind, id] = target.split(':');
    const body: CreateScheduleRequest = {
      ...(kind === 'runner' ? { runnerId: id } : { taskId: id }),
      spec,
      overlap,
      ...(note.trim() ? { note: note.trim() } : {}),
    };
    const created = await action.run(() => api.post<ScheduleItem>(wsPath(ctx.ws, '/schedules'), body));
    if (created) {
      setNote('');
      onCreated('Schedule created.');
    }
  };

  return (
    <form class="card" aria-labelledby="new-schedule-heading" onSubmit={(e) => void submit(e)}>
      <h3 id="new-schedule-heading">New schedule</h3>
      <div class="form-row">
        <SelectField id="schedule-target" label="Task" required value={target} onValue={setTarget}>
          <option value="">Choose a task…</option>
          <optgroup label="Runs of a task">
            {tasks.map((t) => (
              <option key={t.id} value={`task:${t.id}`}>
                {t.name}
              </option>
            ))}
          </optgroup>
          <optgroup label="Health sweeps of a Runner">
            {runners.map((r) => (
              <option key={r.id} value={`runner:${r.id}`}>
                Health sweep of {r.name}
              </option>
            ))}
          </optgroup>
        </SelectField>
        <SelectField id="schedule-mode" label="Repeat" value={mode} onValue={setMode}>
          <option value="interval">At an interval</option>
          <option value="cron">By cron expression</option>
        </SelectField>
        {mode === 'interval' ? (
          <InputField
            id="schedule-minutes"
            label="Every (minutes)"
            type="number"
            required
            min={1}
            max={44_640}
            step={1}
            value={minutes}
            onValue={setMinutes}
          />
        ) : (
          <>
            <TextareaField
              id="schedule-cron"
              label="Cron expression"
              hint="One per line: 5 to 7 fields, or @hourly, @daily, @weekly…"
              required
              rows={2}
              spellcheck={false}
              placeholder="*/15 * * * *"
              value={cron}
              onValue={setCron}
            />
            <InputField id="schedule-tz" label="Time zone" autoComplete="off" placeholder="UTC" value={timezone} onValue={setTimezone} />
          </>
        )}
        <SelectField id="schedule-overlap" label="If the previous run is still open" value={overlap} onValue={setOverlap}>
          <Options values={OVERLAP} />
        </SelectField>
        <InputField id="schedule-note" label="Note" maxLength={200} value={note} onValue={setNote} />
      </div>
      <FormFooter problems={problems} error={action.error} busy={action.busy} label="Create schedule" busyLabel="Creating…" />
    </form>
  );
}
