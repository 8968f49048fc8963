/**
 * Settings → API tokens (owners): the workspace's tokens, never their values
 * (`GET /v1/workspaces/{ws}/tokens`), a new one (`POST …/tokens {name, role, expiresInDays?}`: its
 * value is in that answer only and shown here once) and revocation (`DELETE …/tokens/{id}`).
 */
import { useState } from 'preact/hooks';
import { ROLES, roleAtMost, type Role } from '../../../platform/permissions';
import type { Ctx } from '../ctx';
import { api, wsPath } from '../api';
import type { CreatedToken, CreateTokenRequest, Items, Token } from '../api-types';
import { FormFooter, InputField, Options, SelectField } from '../fields';
import { DataTable } from '../table';
import { ConfirmButton, CopyButton, LoadedList, NoticeSlot, ProblemBanner, ShownOnce, StatusBadge, Time, useAction, useLoad } from '../ui';

function stateOf(t: Token): string {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt && Date.parse(t.expiresAt) <= Date.now()) return 'expired';
  return 'active';
}

export function TokensTab({ ctx }: { ctx: Ctx }) {
  const tokens = useLoad(() => api.get<Items<Token>>(wsPath(ctx.ws, '/tokens')), [ctx.ws]);
  const action = useAction();
  const [notice, setNotice] = useState('');
  const [created, setCreated] = useState<CreatedToken>();
  const [name, setName] = useState('');
  // A token never outranks its creator: offer only roles up to the caller's.
  const roles = ROLES.filter((r) => roleAtMost(r, ctx.role));
  const [role, setRole] = useState<Role>('viewer');
  const [days, setDays] = useState('90');

  const create = async (e: Event) => {
    e.preventDefault();
    setNotice('');
    setCreated(undefined);
    const body: CreateTokenRequest = { name: name.trim(), role, ...(days.trim() ? { expiresInDays: Number(days) } : {}) };
    const made = await action.run(() => api.post<CreatedToken>(wsPath(ctx.ws, '/tokens'), body));
    if (made) {
      setName('');
      setCreated(made);
      tokens.reload();
    }
  };

  const revoke = async (t: Token) => {
    setNotice('');
    if (await action.succeeded(() => api.del(wsPath(ctx.ws, `/tokens/${t.id}`)))) setNotice(`Token ${t.name} revoked.`);
    tokens.reload();
  };

  return (
    <section aria-labelledby="tokens-heading">
      <h2 id="tokens-heading">API tokens</h2>
      <p class="muted">Tokens let scripts and CI use the API with a role in this workspace only.</p>
      <NoticeSlot>{notice}</NoticeSlot>
      {created ? (
        <ShownOnce
          headingId="token-once-heading"
          heading={`Token ${created.name} created`}
          doneLabel="I copied it: hide it"
          onDone={() => setCreated(undefined)}
        >
          <p>
            <strong>Shown once:</strong> copy it now; the Platform keeps only its hash and cannot show it again.
          </p>
          <p>
            <code class="secret-value">{created.token}</code>
          </p>
          <CopyButton text={created.token} label="Copy the token" />
          <p class="muted">
            Send it as <code>Authorization: Bearer &lt;token&gt;</code>.
          </p>
        </ShownOnce>
      ) : null}
      <ProblemBanner error={action.error ?? tokens.error} />
      <LoadedList loaded={tokens} what="API tokens" empty="No API tokens yet.">
        {({ items }) => (
          <DataTable
            caption="API tokens"
            hideCaption
            columns={['Name', 'Role', 'Token', 'State', 'Created', 'Expires', 'Last used']}
            actions
          >
            {items.map((t) => (
              <tr key={t.id}>
                <td>{t.name}</td>
                <td>{t.role}</td>
                <td>
                  <code>{t.hint}</code>
                </td>
                <td>
                  <StatusBadge status={stateOf(t)} />
                </td>
                <td>
                  <Time iso={t.createdAt} />
                </td>
                <td>{t.expiresAt ? <Time iso={t.expiresAt} /> : 'never'}</td>
                <td>{t.lastUsedAt ? <Time iso={t.lastUsedAt} /> : 'never'}</td>
                <td class="row-actions">
                  {t.revokedAt ? null : (
                    <ConfirmButton
                      label="Revoke"
                      question={`Revoke token ${t.name}? What uses it stops working at once.`}
                      busy={action.busy}
                      onConfirm={() => revoke(t)}
                    />
                  )}
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </LoadedList>

      <form class="card" aria-labelledby="new-token-heading" onSubmit={(e) => void create(e)}>
        <h3 id="new-token-heading">Create an API token</h3>
        <div class="form-row">
          <InputField
            id="token-name"
            label="Token name"
            required
            maxLength={100}
            autoComplete="off"
            placeholder="ci-deploys"
            value={name}
            onValue={setName}
          />
          <SelectField id="token-role" label="Role" value={role} onValue={setRole}>
            <Options values={roles} />
          </SelectField>
          <InputField
            id="token-days"
            label="Expires in (days)"
            hint="Empty: it never expires."
            type="number"
            min={1}
            max={3650}
            step={1}
            value={days}
            onValue={setDays}
          />
          <FormFooter busy={action.busy} label="Create token" />
        </div>
      </form>
    </section>
  );
}
