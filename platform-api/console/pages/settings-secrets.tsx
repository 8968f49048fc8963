/**
 * Settings → Secrets (owners): names only (`GET /v1/workspaces/{ws}/secrets`: name, reference,
 * version, who wrote it when), written with `PUT …/secrets/{name} {value}` and deleted with
 * `DELETE …/secrets/{name}`. A value goes to the secret store and never comes back: there is no
 * route that reads one, and this page forgets it as soon as it is saved.
 */
import { useRef, useState } from 'preact/hooks';
import type { Ctx } from '../ctx';
import { api, wsPath } from '../api';
import type { Items, PutSecretRequest, SecretItem, SecretSaved } from '../api-types';
import { FormFooter, InputField, TextareaField } from '../fields';
import { DataTable } from '../table';
import { ConfirmButton, CopyButton, LoadedList, NoticeSlot, ProblemBanner, Time, useAction, useLoad } from '../ui';

export function SecretsTab({ ctx }: { ctx: Ctx }) {
  const secrets = useLoad(() => api.get<Items<SecretItem>>(wsPath(ctx.ws, '/secrets')), [ctx.ws]);
  const action = useAction();
  const [notice, setNotice] = useState<{ text: string; reference?: string }>();
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const valueField = useRef<HTMLTextAreaElement>(null);

  const save = async (e: Event) => {
    e.preventDefault();
    setNotice(undefined);
    const saved = await action.run(() =>
      api.put<SecretSaved>(wsPath(ctx.ws, `/secrets/${encodeURIComponent(name.trim())}`), {
        value,
      } satisfies PutSecretRequest),
    );
    if (saved) {
      // The value is not kept in the page once the store has it.
      setValue('');
      setName('');
      setNotice({ text: `Secret ${saved.name} saved (version ${saved.version}). Tasks refer to it as`, reference: saved.reference });
    }
    secrets.reload();
  };

  const remove = async (s: SecretItem) => {
    setNotice(undefined);
    if (await action.succeeded(() => api.del(wsPath(ctx.ws, `/secrets/${encodeURIComponent(s.name)}`))))
      setNotice({ text: `Secret ${s.name} deleted.` });
    secrets.reload();
  };

  return (
    <section aria-labelledby="secrets-heading">
      <h2 id="secrets-heading">Secrets</h2>
      <p class="muted">
        Values are written to the secret store and can never be read back through the Platform; Runners read them with their own identity.
      </p>
      <NoticeSlot>
        {notice ? (
          <>
            {notice.text}
            {notice.reference ? (
              <>
                {' '}
                <code>{notice.reference}</code> <CopyButton text={notice.reference} label="Copy the reference" />
              </>
            ) : null}
          </>
        ) : null}
      </NoticeSlot>
      <ProblemBanner error={action.error ?? secrets.error} />
      <LoadedList loaded={secrets} what="secrets" empty="No secrets yet.">
        {({ items }) => (
          <DataTable caption="Secrets" hideCaption columns={['Name', 'Reference', 'Version', 'Updated']} actions>
            {items.map((s) => (
              <tr key={s.name}>
                <td id={`secret-${s.name}`}>{s.name}</td>
                <td>
                  <code class="small-text">{s.reference}</code>
                </td>
                <td>{s.version ?? '—'}</td>
                <td>
                  {s.updatedAt ? <Time iso={s.updatedAt} /> : '—'}
                  {s.updatedBy ? <div class="muted small-text">{s.updatedBy}</div> : null}
                </td>
                <td class="row-actions">
                  <button
                    type="button"
                    class="secondary small"
                    aria-describedby={`secret-${s.name}`}
                    onClick={() => {
                      setName(s.name);
                      valueField.current?.focus();
                    }}
                  >
                    Replace value
                  </button>
                  <ConfirmButton
                    label="Delete"
                    question={`Delete secret ${s.name}? Tasks that use it will fail.`}
                    describedBy={`secret-${s.name}`}
                    busy={action.busy}
                    onConfirm={() => remove(s)}
                  />
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </LoadedList>

      <form class="card" aria-labelledby="write-secret-heading" onSubmit={(e) => void save(e)}>
        <h3 id="write-secret-heading">Write a secret</h3>
        <InputField
          id="secret-name"
          label="Secret name"
          hint="Lower-case letters, digits, dot, dash and underscore. Writing an existing name replaces its value."
          required
          maxLength={128}
          autoComplete="off"
          spellcheck={false}
          value={name}
          onValue={setName}
        />
        <TextareaField
          id="secret-value"
          label="Value"
          hint="Not shown again once saved."
          inputRef={valueField}
          required
          rows={3}
          maxLength={65_536}
          autoComplete="off"
          spellcheck={false}
          value={value}
          onValue={setValue}
        />
        <FormFooter busy={action.busy} label="Save secret" busyLabel="Saving…" />
      </form>
    </section>
  );
}
