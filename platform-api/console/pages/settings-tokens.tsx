/**
 * Settings → API tokens (owners): the workspace's tokens, never their values
 * (`GET /v1/workspaces/{ws}/tokens`), a new one (`POST …/tokens {name, role, expiresInDays?}`: its
 * value is in that answer only and shown here once) and revocation (`DELETE …/tokens/{id}`).
 */
import { useState } from 'preact/hooks';
import { ROLES, roleAtMost, type Role } from '../../../platform/permissions';
import type { Ctx } from '../ctx';
import { api, wsPath } from '../api';
import { ConfirmButton } from '../schema-form';
import { CopyButton, Empty, Loading, ProblemBanner, StatusBadge, Time, useAction, useLoad } from '../ui';

interface Token {
  id: string;
  name: string;
  role: Role;
  hint: string;
  createdBy: string | null;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

function stateOf(t: Token): string {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt && Date.parse(t.expiresAt) <= Date.now()) return 'expired';
  return 'active';
}

export function TokensTab({ ctx }: { ctx: Ctx }) {
  const tokens = useLoad(() => api.get<{ items: Token[] }>(wsPath(ctx.ws, '/tokens')), [ctx.ws]);
  const action = useAction();
  const [notice, setNotice] = useState('');
  const [created, setCreated] = useState<Token & { token: string }>();
  const [name, setName] = useState('');
  // A token never outranks its creator: offer only roles up to the caller's.
  const roles = ROLES.filter((r) => roleAtMost(r, ctx.role));
  const [role, setRole] = useState<Role>('viewer');
  const [days, setDays] = useState('90');

  const create = async (e: Event) => {
    e.preventDefault();
    setNotice('');
    setCreated(undefined);
    const body = { name: name.trim(), role, ...(days.trim() ? { expiresInDays: Number(days) } : {}) };
    const made = await action.run(() => api.post<Token & { token: string }>(wsPath(ctx.ws, '/tokens'), body));
    if (made) {
      setName('');
      setCreated(made);
      tokens.reload();
    }
  };

  const revoke = async (t: Token) => {
    setNotice('');
    if (await action.run(async () => (await api.del(wsPath(ctx.ws, `/tokens/${t.id}`)), true))) setNotice(`Token ${t.name} revoked.`);
    tokens.reload();
  };

  const items = tokens.data?.items ?? [];
  return (
    <section aria-labelledby="tokens-heading">
      <h2 id="tokens-heading">API tokens</h2>
      <p class="muted">Tokens let scripts and CI use the API with a role in this workspace only.</p>
      <p class="notice-slot" aria-live="polite">
        {notice ? <span class="notice">{notice}</span> : null}
      </p>
      {created ? (
        <div class="secret-once" role="region" aria-labelledby="token-once-heading">
          <h3 id="token-once-heading">Token {created.name} created</h3>
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
          <button type="button" class="secondary small" onClick={() => setCreated(undefined)}>
            I copied it: hide it
          </button>
        </div>
      ) : null}
      <ProblemBanner error={action.error ?? tokens.error} />
      {tokens.loading && !tokens.data ? (
        <Loading what="API tokens" />
      ) : tokens.data && items.length === 0 ? (
        <Empty>No API tokens yet.</Empty>
      ) : items.length > 0 ? (
        <div class="table-scroll">
          <table>
            <caption class="visually-hidden">API tokens</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Token</th>
                <th scope="col">State</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
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
                        confirmLabel="Yes, revoke"
                        question={`Revoke token ${t.name}? What uses it stops working at once.`}
                        busy={action.busy}
                        onConfirm={() => revoke(t)}
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}

      <form class="card" aria-labelledby="new-token-heading" onSubmit={(e) => void create(e)}>
        <h3 id="new-token-heading">Create an API token</h3>
        <div class="form-row">
          <div class="field">
            <label for="token-name">Token name</label>
            <input
              id="token-name"
              required
              maxLength={100}
              autoComplete="off"
              placeholder="ci-deploys"
              value={name}
              onInput={(e) => setName(e.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="token-role">Role</label>
            <select id="token-role" value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
              {roles.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="token-days">Expires in (days)</label>
            <input
              id="token-days"
              type="number"
              min={1}
              max={3650}
              step={1}
              aria-describedby="token-days-hint"
              value={days}
              onInput={(e) => setDays(e.currentTarget.value)}
            />
            <span class="hint" id="token-days-hint">
              Empty: it never expires.
            </span>
          </div>
          <div class="form-actions">
            <button type="submit" disabled={action.busy} aria-busy={action.busy}>
              Create token
            </button>
          </div>
        </div>
      </form>
    </section>
  );
}
