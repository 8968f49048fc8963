-- Names and metadata of workspace secrets. Values live only in Vault / OpenBao, written through a
-- policy without `read`; nothing here can reveal one.
create table secrets (
  workspace_id  uuid not null references workspaces (id) on delete cascade,
  name          text not null check (name ~ '^[a-z0-9]([-_.a-z0-9]*[a-z0-9])?$' and length(name) <= 128),
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  updated_by    text not null,
  version       integer not null default 1,
  primary key (workspace_id, name)
);
