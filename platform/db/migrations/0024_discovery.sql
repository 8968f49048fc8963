-- Discovery (issue 20): a Runner's `k8s.discover` task and the tasks its inventory generated are
-- marked, so that rediscovery adds and removes generated tasks only and never touches a task made by
-- hand. A generated task's key names the rule and the namespace (hashed when the Runner hashes names).
alter table tasks add column origin text not null default 'manual' check (origin in ('manual', 'discovery', 'generated'));
alter table tasks add column discovery_key text check (discovery_key is null or length(discovery_key) between 1 and 200);
alter table tasks add constraint tasks_generated_key_check check ((origin = 'generated') = (discovery_key is not null));
create unique index tasks_discovery_key_idx on tasks (runner_id, discovery_key) where discovery_key is not null;
create unique index tasks_discovery_task_idx on tasks (runner_id) where origin = 'discovery';

-- A workspace's own generation rules; without a row, the built-in defaults apply.
create table discovery_rules (
  workspace_id  uuid primary key references workspaces (id) on delete cascade,
  rules         jsonb not null,
  updated_by    text not null,
  updated_at    timestamptz not null default now()
);
