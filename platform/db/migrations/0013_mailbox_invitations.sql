-- Invitations go to the mailbox, not to the inviter (issue 16). An owner adding a member makes a
-- pending invitation for an email; the code goes by mail to that address only, and the membership
-- starts when it is accepted with that code (or by the signed-in user whose email is verified).
-- The earlier table answered a code for an existing user to whoever added them: its unused codes
-- stop working here, on purpose (`lookout users invite` makes a new one for the operator).
drop table invitations;

create table invitations (
  id            uuid primary key,
  token_hash    bytea not null unique check (length(token_hash) = 32),
  -- null: an operator's claim code for an account (`lookout users invite`), no membership
  workspace_id  uuid references workspaces (id) on delete cascade,
  email         text not null check (length(email) between 3 and 320),
  role          text check (role in ('owner', 'operator', 'viewer')),
  created_by    text not null,
  created_at    timestamptz not null default now(),
  expires_at    timestamptz not null,
  accepted_at   timestamptz,
  accepted_by   uuid references users (id) on delete set null,
  revoked_at    timestamptz,
  check ((workspace_id is null) = (role is null))
);
-- One open invitation per workspace and address: inviting again replaces it.
create unique index invitations_open_key on invitations (workspace_id, lower(email))
  where accepted_at is null and revoked_at is null and workspace_id is not null;
create index invitations_email_idx on invitations (lower(email)) where accepted_at is null and revoked_at is null;

-- When the owner of the mailbox proved it (accepted an emailed code, or logged in through a
-- provider that verified the address). Until then, whatever credentials the account holds were set
-- by someone who never proved the mailbox, and the mailbox owner's claim revokes them.
alter table users add column email_verified_at timestamptz;

-- The MFA step of a password login is bound to the browser that passed the password step: the
-- SHA-256 of a cookie set then (login CSRF: another site's form cannot carry that cookie).
alter table auth_flows add column browser_hash bytea check (browser_hash is null or length(browser_hash) = 32);
