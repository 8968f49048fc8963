-- Issues (issue 19): a finding as a first-class object, across every run that reports it, keyed by the
-- finding's fingerprint (an opaque hash of workspace, check type, resource and title, as sweeps use).
-- What a person needs to sort and filter by (state, severity, Runner, task, check type, times, counts)
-- is in clear; what the finding says (title, resource, expected, actual, next steps) is sealed under
-- the workspace's key, as results are.
create table issues (
  id               uuid primary key,
  workspace_id     uuid not null references workspaces (id) on delete cascade,
  fingerprint      text not null,
  runner_id        uuid not null,
  task_id          uuid,
  check_type       text not null,
  severity         smallint not null check (severity between 1 and 4),
  state            text not null check (state in ('open', 'acknowledged', 'resolved', 'ignored')),
  ignored_until    timestamptz,
  first_seen_at    timestamptz not null,
  last_seen_at     timestamptz not null,
  resolved_at      timestamptz,
  seen_count       integer not null default 1,
  reopened_count   integer not null default 0,
  last_run_id      uuid,
  detail_sealed    bytea not null,
  -- Why it was acknowledged or ignored, sealed (a person's words).
  reason_sealed    bytea,
  state_changed_at timestamptz not null,
  unique (workspace_id, fingerprint),
  check (state <> 'ignored' or ignored_until is not null)
);
create index issues_list_idx on issues (workspace_id, state, severity, last_seen_at desc);
create index issues_task_idx on issues (workspace_id, task_id) where state in ('open', 'acknowledged');
