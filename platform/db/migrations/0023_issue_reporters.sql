-- One finding is one issue, whichever checks report it (issue 20): fingerprints are made from what was
-- found (the resource and the kind of problem) and no longer from the check type. An issue resolves
-- when every task that reported it has since run without finding it: each task that reports an issue
-- is a reporter until one of its runs no longer finds it. Issues recorded before keep their one task
-- as their reporter; their fingerprints (made with the check type) are replaced the next time a run
-- finds them (the sealed detail is bound to the fingerprint, so the Platform, not SQL, rekeys them).
create table issue_reporters (
  issue_id      uuid not null references issues (id) on delete cascade,
  task_id       uuid not null references tasks (id) on delete cascade,
  last_seen_at  timestamptz not null default now(),
  primary key (issue_id, task_id)
);
create index issue_reporters_task_idx on issue_reporters (task_id);
insert into issue_reporters (issue_id, task_id, last_seen_at)
  select i.id, i.task_id, i.last_seen_at from issues i join tasks t on t.id = i.task_id;
