-- Health sweeps: every task of one Runner at once, scored per namespace and for the cluster, and
-- compared with the previous sweep of the same Runner.
alter table runs drop constraint runs_trigger_check;
alter table runs add constraint runs_trigger_check check (trigger in ('api', 'schedule', 'retry', 'sweep'));

create table sweeps (
  id             uuid primary key,
  workspace_id   uuid not null references workspaces (id) on delete cascade,
  runner_id      uuid not null references runners (id) on delete cascade,
  status         text not null check (status in ('running', 'completed', 'failed')),
  requested_by   text not null,
  score          double precision check (score between 0 and 1),
  -- Per-namespace scores name customer namespaces: sealed like results.
  namespaces_sealed bytea,
  issues_new     integer,
  issues_open    integer,
  issues_resolved integer,
  started_at     timestamptz not null default now(),
  finished_at    timestamptz
);
create index sweeps_runner_idx on sweeps (runner_id, started_at desc);
alter table runs add column sweep_id uuid references sweeps (id) on delete set null;

-- One row per finding of a sweep, by an opaque fingerprint (a hash of check type, resource and title).
create table sweep_findings (
  sweep_id     uuid not null references sweeps (id) on delete cascade,
  fingerprint  text not null,
  severity     integer not null,
  state        text not null check (state in ('new', 'open', 'resolved')),
  primary key (sweep_id, fingerprint)
);
