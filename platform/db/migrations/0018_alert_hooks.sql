-- Alert hooks (issue 19): an alerting system (Prometheus Alertmanager, or anything posting the generic
-- shape) starts runs by calling POST /v1/hooks/{id}. The secret is stored only as its SHA-256; the
-- routes (which may name namespaces and endpoints) are sealed under the workspace's key.
alter table runs drop constraint runs_trigger_check;
alter table runs add constraint runs_trigger_check check (trigger in ('api', 'schedule', 'retry', 'sweep', 'alert'));

create table hooks (
  id              uuid primary key,
  workspace_id    uuid not null references workspaces (id) on delete cascade,
  name            text not null,
  auth            text not null check (auth in ('bearer', 'hmac')),
  format          text not null check (format in ('alertmanager', 'generic')),
  secret_hash     bytea not null check (length(secret_hash) = 32),
  routes_sealed   bytea not null,
  rate_per_minute integer not null check (rate_per_minute between 1 and 6000),
  created_by      text not null,
  created_at      timestamptz not null default now(),
  unique (workspace_id, name)
);

-- (hook, alert, task) → the last run an alert started: a firing alert that Alertmanager repeats
-- starts no second run while the first is queued or running; a resolved one starts one confirming run.
create table hook_alerts (
  hook_id           uuid not null references hooks (id) on delete cascade,
  -- SHA-256 (hex) of the alert's fingerprint (Alertmanager's) or id (generic shape).
  alert_fingerprint text not null,
  task_id           uuid not null references tasks (id) on delete cascade,
  workspace_id      uuid not null references workspaces (id) on delete cascade,
  last_run_id       uuid references runs (id) on delete set null,
  last_alert_status text not null check (last_alert_status in ('firing', 'resolved')),
  updated_at        timestamptz not null default now(),
  primary key (hook_id, alert_fingerprint, task_id)
);

-- HMAC signatures seen within the accepted clock window: a replayed call is refused on every API process.
create table hook_signatures (
  hook_id        uuid not null references hooks (id) on delete cascade,
  signature_hash bytea not null,
  expires_at     timestamptz not null,
  primary key (hook_id, signature_hash)
);
create index hook_signatures_expiry_idx on hook_signatures (expires_at);
