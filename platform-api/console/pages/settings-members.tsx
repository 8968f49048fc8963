/**
 * Settings → Members (owners): the workspace's members with their role, changed in place
 * (`GET /v1/workspaces/{ws}/members`, `PATCH …/members/{userId} {role}`, `DELETE …/members/{userId}`),
 * the pending invitations (`GET …/invitations`, `DELETE …/invitations/{id}`) and the invitation form
 * (`POST …/members {email, role}`: the code goes by mail to that address only, never to the inviter).
 */
import { useState } from 'preact/hooks';
import { ROLES, type Role } from '../../../platform/permissions';
import type { Ctx } from '../ctx';
import { api, wsPath } from '../api';
import type { Invitation, InviteMemberRequest, Items, Member, MemberRoleChange } from '../api-types';
import { FormFooter, InputField, Options, SelectField } from '../fields';
import { DataTable } from '../table';
import { ConfirmButton, Empty, Loading, NoticeSlot, ProblemBanner, Time, useAction, useLoad } from '../ui';

export function MembersTab({ ctx }: { ctx: Ctx }) {
  const members = useLoad(() => api.get<Items<Member>>(wsPath(ctx.ws, '/members')), [ctx.ws]);
  const invitations = useLoad(() => api.get<Items<Invitation>>(wsPath(ctx.ws, '/invitations')), [ctx.ws]);
  const action = useAction();
  const [notice, setNotice] = useState('');
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('viewer');

  const run = async (doing: () => Promise<unknown>, done: string) => {
    setNotice('');
    if (await action.succeeded(doing)) setNotice(done);
    members.reload();
    invitations.reload();
  };

  const invite = (e: Event) => {
    e.preventDefault();
    const to = email.trim();
    void run(async () => {
      await api.post(wsPath(ctx.ws, '/members'), { email: to, role } satisfies InviteMemberRequest);
      setEmail('');
    }, `Invitation sent to ${to} as ${role}. The code goes to that mailbox only; the membership starts when it is accepted.`);
  };

  const me = ctx.me.user?.id;
  return (
    <section aria-labelledby="members-heading">
      <h2 id="members-heading">Members</h2>
      <NoticeSlot>{notice}</NoticeSlot>
      <ProblemBanner error={action.error ?? members.error} />
      {members.loading && !members.data ? (
        <Loading what="members" />
      ) : members.data ? (
        <DataTable caption="Members" hideCaption columns={['Email', 'Name', 'Role', 'Member since']} actions>
          {members.data.items.map((m) => (
            <tr key={m.userId}>
              <td>
                {m.email}
                {m.userId === me ? <span class="muted"> (you)</span> : null}
              </td>
              <td>{m.displayName ?? '—'}</td>
              <td>
                <label class="visually-hidden" for={`role-${m.userId}`}>
                  Role of {m.email}
                </label>
                <select
                  id={`role-${m.userId}`}
                  value={m.role}
                  disabled={action.busy}
                  onChange={(e) => {
                    const next = e.currentTarget.value as Role;
                    void run(
                      () => api.patch(wsPath(ctx.ws, `/members/${m.userId}`), { role: next } satisfies MemberRoleChange),
                      `${m.email} is now ${next}.${m.userId === me ? ' Reload the page to see what your new role allows.' : ''}`,
                    );
                  }}
                >
                  <Options values={ROLES} />
                </select>
              </td>
              <td>
                <Time iso={m.createdAt} />
              </td>
              <td class="row-actions">
                <ConfirmButton
                  label="Remove"
                  question={`Remove ${m.email} from the workspace?`}
                  busy={action.busy}
                  onConfirm={() => run(() => api.del(wsPath(ctx.ws, `/members/${m.userId}`)), `${m.email} removed.`)}
                />
              </td>
            </tr>
          ))}
        </DataTable>
      ) : null}

      <h3>Pending invitations</h3>
      <ProblemBanner error={invitations.error} />
      {invitations.data && invitations.data.items.length === 0 ? (
        <Empty>No invitation is pending.</Empty>
      ) : invitations.data ? (
        <DataTable caption="Pending invitations" hideCaption columns={['Email', 'Role', 'Invited by', 'Expires']} actions>
          {invitations.data.items.map((i) => (
            <tr key={i.id}>
              <td>{i.email}</td>
              <td>{i.role}</td>
              <td class="mono small-text">{i.invitedBy}</td>
              <td>
                <Time iso={i.expiresAt} />
              </td>
              <td class="row-actions">
                <ConfirmButton
                  label="Revoke"
                  question={`Revoke the invitation of ${i.email}?`}
                  busy={action.busy}
                  onConfirm={() => run(() => api.del(wsPath(ctx.ws, `/invitations/${i.id}`)), `Invitation of ${i.email} revoked.`)}
                />
              </td>
            </tr>
          ))}
        </DataTable>
      ) : null}

      <form class="card" aria-labelledby="invite-heading" onSubmit={invite}>
        <h3 id="invite-heading">Invite a member</h3>
        <div class="form-row">
          <InputField
            id="invite-email"
            label="Email"
            type="email"
            required
            maxLength={320}
            autoComplete="off"
            value={email}
            onValue={setEmail}
          />
          <SelectField id="invite-role" label="Role" value={role} onValue={setRole}>
            <Options values={ROLES} />
          </SelectField>
          <FormFooter busy={action.busy} label="Invite" />
        </div>
      </form>
    </section>
  );
}
