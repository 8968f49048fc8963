-- Core tables. Ids are opaque UUIDs made by the application.

create table workspaces (
  id          uuid primary key,
  name        text not null check (length(name) between 1 and 100),
  created_at  timestamptz not null default now()
);

create table users (
  id             uuid primary key,
  email          text not null check (length(email) between 3 and 320),
  display_name   text,
  password_hash  text,
  created_at     timestamptz not null default now(),
  disabled_at    timestamptz
);
create unique index users_email_key on users (lower(email));

create table memberships (
  workspace_id  uuid not null references workspaces (id) on delete cascade,
  user_id       uuid not null references users (id) on delete cascade,
  role          text not null check (role in ('owner', 'operator', 'viewer')),
  created_at    timestamptz not null default now(),
  primary key (workspace_id, user_id)
);
create index memberships_user_idx on memberships (user_id);

create table api_tokens (
  id            uuid primary key,
  workspace_id  uuid not null references workspaces (id) on delete cascade,
  created_by    uuid references users (id) on delete set null,
  name          text not null check (length(name) between 1 and 100),
  -- SHA-256 of the whole token; the token itself is shown once and never stored.
  token_hash    bytea not null unique check (length(token_hash) = 32),
  -- The first characters after the prefix, to tell tokens apart in listings.
  display_hint  text not null,
  role          text not null check (role in ('owner', 'operator', 'viewer')),
  expires_at    timestamptz,
  revoked_at    timestamptz,
  last_used_at  timestamptz,
  created_at    timestamptz not null default now()
);
create index api_tokens_workspace_idx on api_tokens (workspace_id);

create table runners (
  id              uuid primary key,
  workspace_id    uuid not null references workspaces (id) on delete cascade,
  name            text not null check (length(name) between 1 and 100),
  task_queue      text not null unique,
  version         text,
  enabled_checks  text[] not null default '{}',
  last_seen_at    timestamptz,
  created_at      timestamptz not null default now(),
  unique (workspace_id, name)
);

create table tasks (
  id            uuid primary key,
  workspace_id  uuid not null references workspaces (id) on delete cascade,
  runner_id     uuid not null references runners (id) on delete restrict,
  name          text not null check (length(name) between 1 and 100),
  check_type    text not null,
  params        jsonb not null default '{}',
  policy        jsonb not null default '{}',
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  unique (workspace_id, name)
);

create table runs (
  id              uuid primary key,
  workspace_id    uuid not null references workspaces (id) on delete cascade,
  task_id         uuid not null references tasks (id) on delete cascade,
  runner_id       uuid not null references runners (id) on delete cascade,
  check_type      text not null,
  status          text not null check (status in ('queued', 'running', 'succeeded', 'failed', 'runner_unavailable', 'cancelled')),
  trigger         text not null check (trigger in ('api', 'schedule', 'retry')),
  requested_by    text not null,
  workflow_id     text not null unique,
  error_type      text,
  error_message   text,
  queued_at       timestamptz not null default now(),
  started_at      timestamptz,
  finished_at     timestamptz
);
create index runs_workspace_queued_idx on runs (workspace_id, queued_at desc);
create index runs_task_idx on runs (task_id, queued_at desc);

create table results (
  run_id        uuid primary key references runs (id) on delete cascade,
  workspace_id  uuid not null references workspaces (id) on delete cascade,
  check_type    text not null,
  status        text not null check (status in ('ok', 'issues', 'error')),
  summary       text not null,
  score         double precision check (score between 0 and 1),
  issues        jsonb not null,
  metrics       jsonb not null,
  started_at    timestamptz not null,
  finished_at   timestamptz not null,
  duration_ms   integer not null,
  exit_code     integer not null,
  stored_at     timestamptz not null default now()
);

-- Append-only and hash-chained per workspace (workspace_id null: the system chain).
create table audit_events (
  id            bigint generated always as identity primary key,
  workspace_id  uuid,
  at            timestamptz not null,
  actor         text not null,
  action        text not null,
  target        text,
  outcome       text not null check (outcome in ('success', 'failure', 'denied')),
  details       jsonb not null default '{}',
  ip            text,
  prev_hash     bytea not null,
  hash          bytea not null unique
);
create index audit_events_workspace_idx on audit_events (workspace_id, id);
