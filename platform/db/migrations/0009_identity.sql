-- Identity: passwords with mandatory TOTP, recovery codes, lockout, external identities (OIDC,
-- SAML), browser sessions, invitations, short-lived login flows, and an append-only audit log whose
-- chain heads are kept apart so that a deleted tail row is detected too.

alter table users
  add column totp_secret        bytea,          -- wrapped under the master key, bound to the user id
  add column totp_confirmed_at  timestamptz,
  add column totp_last_step     bigint,         -- the last accepted time step: a code works once
  add column failed_logins      integer not null default 0,
  add column locked_until       timestamptz,
  add column password_changed_at timestamptz;

create table recovery_codes (
  user_id    uuid not null references users (id) on delete cascade,
  code_hash  bytea not null check (length(code_hash) = 32),
  used_at    timestamptz,
  primary key (user_id, code_hash)
);

-- A user's identity at an external provider: (provider, issuer, subject) is unique.
create table user_identities (
  provider    text not null check (provider in ('oidc', 'saml')),
  issuer      text not null,
  subject     text not null,
  user_id     uuid not null references users (id) on delete cascade,
  created_at  timestamptz not null default now(),
  last_login_at timestamptz,
  primary key (provider, issuer, subject)
);
create index user_identities_user_idx on user_identities (user_id);

-- Browser sessions: only the SHA-256 of the cookie value and of the CSRF token are kept.
create table sessions (
  id_hash       bytea primary key check (length(id_hash) = 32),
  public_id     uuid not null unique,
  user_id       uuid not null references users (id) on delete cascade,
  method        text not null check (method in ('password', 'oidc', 'saml')),
  csrf_hash     bytea not null check (length(csrf_hash) = 32),
  created_at    timestamptz not null default now(),
  last_seen_at  timestamptz not null default now(),
  expires_at    timestamptz not null,
  revoked_at    timestamptz,
  ip            text,
  user_agent    text
);
create index sessions_user_idx on sessions (user_id);

-- One-use links that let an invited user set a password.
create table invitations (
  token_hash  bytea primary key check (length(token_hash) = 32),
  user_id     uuid not null references users (id) on delete cascade,
  workspace_id uuid references workspaces (id) on delete cascade,
  created_by  text not null,
  expires_at  timestamptz not null,
  used_at     timestamptz,
  created_at  timestamptz not null default now()
);

-- Short-lived state of a login in progress (password awaiting MFA, OIDC state, SAML request),
-- keyed by the SHA-256 of the value the browser holds; consumed once.
create table auth_flows (
  id_hash      bytea primary key check (length(id_hash) = 32),
  kind         text not null check (kind in ('mfa', 'oidc', 'saml')),
  user_id      uuid references users (id) on delete cascade,
  data         bytea,            -- wrapped under the master key when it holds anything secret
  attempts     integer not null default 0,
  expires_at   timestamptz not null,
  consumed_at  timestamptz,
  created_at   timestamptz not null default now()
);

-- SAML assertion ids seen, kept until the assertion expires: a replayed assertion is refused.
create table saml_assertions (
  issuer        text not null,
  assertion_id  text not null,
  expires_at    timestamptz not null,
  primary key (issuer, assertion_id)
);

-- The head of each audit chain ('system' or a workspace id): its last hash and row count, updated in
-- the same transaction as every append, so that deleting the newest rows is detected as well.
create table audit_heads (
  chain      text primary key,
  last_id    bigint not null,
  last_hash  bytea not null,
  row_count  bigint not null
);
insert into audit_heads (chain, last_id, last_hash, row_count)
select coalesce(workspace_id::text, 'system'), max(id), (array_agg(hash order by id desc))[1], count(*)
  from audit_events group by workspace_id;

-- Append-only: rows cannot be updated, and deleted only when a workspace is erased (GDPR), which
-- sets lookout.audit_erase to that workspace's id inside its transaction.
create function audit_events_guard() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' and old.workspace_id is not null
     and old.workspace_id::text = current_setting('lookout.audit_erase', true) then
    return old;
  end if;
  raise exception 'audit_events is append-only' using errcode = 'insufficient_privilege';
end
$$;
create trigger audit_events_append_only before update or delete on audit_events
  for each row execute function audit_events_guard();
