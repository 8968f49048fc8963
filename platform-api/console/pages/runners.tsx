/**
 * Runners: every Runner of the workspace with its presence, version, last poll and the policy it
 * reported (`GET /v1/workspaces/{ws}/runners`, refreshed every 30 s), and per Runner the checks it
 * can run with their parameters (`GET …/runners/{id}/checks`, read when its details are opened).
 * Owners register a Runner (`POST …/runners {name, attestationPublicKey?}`); the answer's key file,
 * Helm values and keys are shown this once, with the commands that install the Runner's chart
 * (`charts/runner`, as README "Deploying a Runner per cluster with Helm" describes).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Ctx } from '../ctx';
import { api, wsPath } from '../api';
import type { ChecksAnswer, Items, PolicySummary, Registration, RegisterRunnerRequest, RunnerItem, RunnerWithPresence } from '../api-types';
import { FormFooter, InputField } from '../fields';
import { asSchema, type JsonSchema } from '../schema-form';
import { DataTable } from '../table';
import { CopyButton, Empty, LoadedList, Loading, PageHeader, ProblemBanner, StatusBadge, Time, useAction, useLoad } from '../ui';

const NAMES_MODE: Record<string, string> = {
  clear: 'names in clear',
  hashed: 'names hashed',
  counts: 'counts only',
};

export function RunnersPage({ ctx }: { ctx: Ctx }) {
  const runners = useLoad(() => api.get<Items<RunnerWithPresence>>(wsPath(ctx.ws, '/runners')), [ctx.ws], { pollMs: 30_000 });
  const [registration, setRegistration] = useState<Registration>();

  return (
    <>
      <PageHeader title="Runners" />
      <p class="muted">
        A Runner runs checks inside a cluster, with its own read-only identity and its own policy as the ceiling of what it does.
      </p>
      {registration ? <RegisteredOnce registration={registration} onDone={() => setRegistration(undefined)} /> : null}
      <ProblemBanner error={runners.error} />
      <LoadedList
        loaded={runners}
        what="Runners"
        empty={<>No Runner is registered yet{ctx.can('runners.manage') ? ': register one below.' : '. An owner registers them.'}</>}
      >
        {({ items }) => (
          <>
            <DataTable caption="Runners" columns={['Name', 'Presence', 'Version', 'Last seen', 'Policy']}>
              {items.map((r) => (
                <tr key={r.id}>
                  <td>
                    {r.name}
                    <div class="muted mono small-text">{r.id}</div>
                  </td>
                  <td>
                    <StatusBadge status={r.online ? 'online' : 'offline'} />
                    {r.pollers > 1 ? <div class="muted">{r.pollers} replicas polling</div> : null}
                  </td>
                  <td>{r.version ?? '—'}</td>
                  <td>{r.lastPollAt ? <Time iso={r.lastPollAt} /> : 'never'}</td>
                  <td>{r.policy ? policyLine(r.policy) : <span class="muted">not reported yet (it reports once it connects)</span>}</td>
                </tr>
              ))}
            </DataTable>
            <h2>Details</h2>
            {items.map((r) => (
              <RunnerDetails key={r.id} ctx={ctx} runner={r} />
            ))}
          </>
        )}
      </LoadedList>
      {ctx.can('runners.manage') ? <RegisterForm ctx={ctx} onRegistered={(r) => (setRegistration(r), runners.reload())} /> : null}
    </>
  );
}

function policyLine(p: PolicySummary): string {
  const parts = [
    `${p.checks.length} check type${p.checks.length === 1 ? '' : 's'} allowed`,
    `${p.destinations.length} destination${p.destinations.length === 1 ? '' : 's'}`,
    `discovery: ${NAMES_MODE[p.discoveryNames] ?? p.discoveryNames}`,
  ];
  if (p.packs.length) parts.push(`${p.packs.length} pack${p.packs.length === 1 ? '' : 's'}`);
  if (p.rawData.length) parts.push(`raw excerpts allowed for ${p.rawData.join(', ')}`);
  return parts.join(' · ');
}

/** A Runner's reported policy and its checks; the checks are read the first time the details open. */
function RunnerDetails({ ctx, runner }: { ctx: Ctx; runner: RunnerItem }) {
  const [opened, setOpened] = useState(false);
  const p = runner.policy;
  return (
    <details class="card runner-details" onToggle={(e) => e.currentTarget.open && setOpened(true)}>
      <summary>
        Checks and policy of <strong>{runner.name}</strong>
      </summary>
      {p ? (
        <dl class="facts">
          <dt>Policy digest</dt>
          <dd class="mono">{p.digest}</dd>
          <dt>Discovery</dt>
          <dd>{NAMES_MODE[p.discoveryNames] ?? p.discoveryNames}</dd>
          <dt>Destinations</dt>
          <dd>
            {p.destinations.length === 0 ? (
              'none: checks reach no network endpoint'
            ) : (
              <ul class="plain">
                {p.destinations.map((d) => (
                  <li key={d.name}>
                    <strong>{d.name}</strong>{' '}
                    <code>
                      {d.scheme}://{d.host}
                      {d.port !== undefined ? `:${d.port}` : ''}
                      {d.pathPrefix !== '/' ? d.pathPrefix : ''}
                    </code>
                    {d.privateAddresses ? ' (private addresses allowed)' : ''}
                  </li>
                ))}
              </ul>
            )}
          </dd>
          <dt>Secret bindings</dt>
          <dd>
            {p.secretBindings.length === 0
              ? 'none'
              : p.secretBindings.map((b) => `${b.name} (${b.provider}, to ${b.destinations.join(', ')})`).join('; ')}
          </dd>
          <dt>Raw excerpts allowed</dt>
          <dd>{p.rawData.length ? p.rawData.join(', ') : 'none'}</dd>
          <dt>TLS Secrets readable in</dt>
          <dd>{p.tlsSecretNamespaces.length ? p.tlsSecretNamespaces.join(', ') : 'no namespace'}</dd>
          <dt>Platform keys pinned</dt>
          <dd class="mono">{p.platformKeyIds.join(', ') || 'none'}</dd>
          <dt>Task queue</dt>
          <dd class="mono">{runner.taskQueue}</dd>
        </dl>
      ) : (
        <p class="muted">This Runner has not reported its policy yet.</p>
      )}
      {opened ? <RunnerChecks ctx={ctx} runner={runner} /> : null}
    </details>
  );
}

function parameterSummary(parameters: unknown): string {
  const schema: JsonSchema = asSchema(parameters);
  const required = new Set(schema.required ?? []);
  const names = Object.keys(schema.properties ?? {});
  if (names.length === 0) return 'none';
  return names.map((n) => (required.has(n) ? `${n} (required)` : n)).join(', ');
}

function RunnerChecks({ ctx, runner }: { ctx: Ctx; runner: RunnerItem }) {
  const checks = useLoad(() => api.get<ChecksAnswer>(wsPath(ctx.ws, `/runners/${runner.id}/checks`)), [ctx.ws, runner.id]);
  if (checks.loading && !checks.data) return <Loading what={`the checks of ${runner.name}`} />;
  if (checks.error) return <ProblemBanner error={checks.error} />;
  if (!checks.data?.reported) return <Empty>No checks reported yet: the Runner reports them once it connects.</Empty>;
  return (
    <DataTable
      caption={
        <>
          Checks of {runner.name}
          {checks.data.reportedAt ? (
            <span class="muted">
              {' '}
              (reported <Time iso={checks.data.reportedAt} />)
            </span>
          ) : null}
        </>
      }
      columns={['Check type', 'Source', 'Parameters', 'Raw excerpts']}
    >
      {checks.data.items.map((c) => (
        <tr key={c.type}>
          <td>
            <code>{c.type}</code>
            {c.description ? <div class="muted">{c.description}</div> : null}
          </td>
          <td>
            {c.pack ? (
              <>
                pack {c.pack.name} {c.pack.version} ({c.kind ?? 'check'})
                <div class="muted small-text">
                  {c.pack.source.kind}
                  {c.pack.source.commit ? ` @ ${c.pack.source.commit.slice(0, 12)}` : ''}
                  {c.pack.source.signed ? ', signed' : ', not signed'}
                </div>
              </>
            ) : (
              'built-in'
            )}
          </td>
          <td>{parameterSummary(c.parameters)}</td>
          <td>{c.rawData ? 'allowed' : 'no'}</td>
        </tr>
      ))}
    </DataTable>
  );
}

function RegisterForm({ ctx, onRegistered }: { ctx: Ctx; onRegistered: (r: Registration) => void }) {
  const [name, setName] = useState('');
  const [publicKey, setPublicKey] = useState('');
  const action = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    const body: RegisterRunnerRequest = { name: name.trim(), ...(publicKey.trim() ? { attestationPublicKey: publicKey.trim() } : {}) };
    const registered = await action.run(() => api.post<Registration>(wsPath(ctx.ws, '/runners'), body));
    if (registered) {
      setName('');
      setPublicKey('');
      onRegistered(registered);
    }
  };
  return (
    <form class="card" aria-labelledby="register-heading" onSubmit={(e) => void submit(e)}>
      <h2 id="register-heading">Register a Runner</h2>
      <div class="form-row">
        <InputField
          id="runner-name"
          label="Runner name"
          hint="Lower-case letters, digits and dashes; usually the cluster’s name."
          required
          maxLength={100}
          autoComplete="off"
          spellcheck={false}
          placeholder="prod-eu-1"
          value={name}
          onValue={setName}
        />
        <InputField
          id="runner-public-key"
          label="Attestation public key (optional)"
          wide
          hint={
            <>
              The public half printed by <code>lookout runner keygen</code>, so that the private half never passes the Platform. Empty: the
              Platform makes the key pair and shows its private half once.
            </>
          }
          autoComplete="off"
          spellcheck={false}
          value={publicKey}
          onValue={setPublicKey}
        />
      </div>
      <FormFooter error={action.error} busy={action.busy} label="Register" busyLabel="Registering…" />
    </form>
  );
}

/** What the Runner's Kubernetes Secret and Helm release need, from the registration's answer. */
function installCommands(r: Registration): string {
  const secret = r.helmValues.existingSecret ?? `lookout-runner-${r.name}`;
  const files = ['keys.json', 'runner-key', ...(r.temporalApiKey ? ['temporal-api-key'] : [])];
  return [
    'kubectl create namespace lookout --dry-run=client -o yaml | kubectl apply -f -',
    `kubectl -n lookout create secret generic ${secret} \\\n  ${files.map((f) => `--from-file=${f}=./${f}`).join(' \\\n  ')}`,
    `helm install ${secret} charts/runner -n lookout -f ./values.json`,
    // The key material now lives in the Secret only; the Runner's own key too if the Platform made it.
    `rm keys.json${r.runnerKey ? ' runner-key' : ''}${r.temporalApiKey ? ' temporal-api-key' : ''}`,
  ].join('\n');
}

/** One file to save: its name, its content as text and a copy button. */
function SecretFile({ name, content, note }: { name: string; content: string; note?: string }) {
  return (
    <div class="secret-file">
      <h4>
        <code>{name}</code>
      </h4>
      {note ? <p class="muted">{note}</p> : null}
      <pre>{content}</pre>
      <CopyButton text={content} label={`Copy ${name}`} />
    </div>
  );
}

function RegisteredOnce({ registration: r, onDone }: { registration: Registration; onDone: () => void }) {
  const commands = installCommands(r);
  const heading = useRef<HTMLHeadingElement>(null);
  // Once, when it appears: the answer is above the form that asked for it.
  useEffect(() => heading.current?.focus(), []);
  return (
    <section class="secret-once" aria-labelledby="registered-heading">
      <h2 id="registered-heading" tabIndex={-1} ref={heading}>
        Runner {r.name} registered
      </h2>
      <p role="alert">
        <strong>Shown once.</strong> The key file and keys below are not shown again and the Platform keeps no copy of the Runner’s private
        key: save them now, and keep them only in the Runner’s Kubernetes Secret.
      </p>
      <h3>1. Save these files</h3>
      <SecretFile name="values.json" content={JSON.stringify(r.helmValues, null, 2)} note="The Runner’s Helm values (no secret in it)." />
      <SecretFile name="keys.json" content={JSON.stringify(r.keyFile, null, 2)} note="The workspace key file, for the Runner’s Secret." />
      {r.runnerKey ? (
        <SecretFile name="runner-key" content={r.runnerKey} note={`The Runner’s attestation key (key id ${r.attestationKeyId}).`} />
      ) : (
        <p>
          <code>runner-key</code>: the private half of the key you made with <code>lookout runner keygen</code> (key id{' '}
          <code>{r.attestationKeyId}</code>).
        </p>
      )}
      {r.temporalApiKey ? (
        <SecretFile
          name="temporal-api-key"
          content={r.temporalApiKey}
          note={`The Runner’s Temporal credential${r.temporalApiKeyExpiresAt ? `, valid until ${new Date(r.temporalApiKeyExpiresAt).toLocaleString()}` : ''}.`}
        />
      ) : null}
      <h3>2. Install the Runner with Helm</h3>
      <p class="muted">
        From a checkout of the Lookout repository (the chart is <code>charts/runner</code>), in the folder holding the files:
      </p>
      <pre>{commands}</pre>
      <CopyButton text={commands} label="Copy the commands" />
      {r.next ? (
        <>
          <h3>3. Once it is online, discover its cluster</h3>
          <pre>{r.next.cli}</pre>
          <CopyButton text={r.next.cli} label="Copy the discovery command" />
        </>
      ) : null}
      <div class="form-actions">
        <button type="button" onClick={onDone}>
          I saved them: hide this
        </button>
      </div>
    </section>
  );
}
