-- Workspace keys (envelope-encrypted under the master key), the `rejected` run status, and
-- application-level encryption of sensitive columns.

create table workspace_keys (
  workspace_id  uuid not null references workspaces (id) on delete cascade,
  purpose       text not null check (purpose in ('payload', 'data')),
  version       integer not null check (version > 0),
  -- AES-256-GCM(master key, root key): nonce || ciphertext || tag; never the key in clear.
  wrapped       bytea not null,
  state         text not null check (state in ('active', 'retired')),
  created_at    timestamptz not null default now(),
  retired_at    timestamptz,
  primary key (workspace_id, purpose, version)
);
create unique index workspace_keys_one_active on workspace_keys (workspace_id, purpose) where state = 'active';

alter table runs drop constraint runs_status_check;
alter table runs add constraint runs_status_check
  check (status in ('queued', 'running', 'succeeded', 'failed', 'runner_unavailable', 'cancelled', 'rejected'));

-- Sealed columns: AES-256-GCM under the workspace's data key, bound to the row.
alter table runs drop column error_message;
alter table runs add column error_sealed bytea;

alter table tasks drop column params;
alter table tasks add column params_sealed bytea not null;

alter table results drop column summary, drop column score, drop column issues, drop column metrics;
alter table results add column sealed bytea not null;
alter table results add column attestation_key_id text not null;
