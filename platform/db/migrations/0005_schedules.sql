-- Recurring runs. The Temporal Schedule is the source of truth for firing; this mirror is what the
-- API lists and what ties a schedule to its workspace and task.
create table schedules (
  id              uuid primary key,
  workspace_id    uuid not null references workspaces (id) on delete cascade,
  task_id         uuid not null references tasks (id) on delete cascade,
  spec            jsonb not null,
  overlap         text not null,
  catchup_seconds integer not null,
  pause_on_failure boolean not null default false,
  paused          boolean not null default false,
  note            text,
  created_by      text not null,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now()
);
create index schedules_workspace_idx on schedules (workspace_id);
alter table runs add column schedule_id uuid references schedules (id) on delete set null;
