-- Notification sinks (issue 19): where a workspace's issue changes are sent (Slack, Teams, PagerDuty
-- Events v2, a signed webhook, email). Where a sink sends (URLs that hold tokens, routing keys, the
-- webhook's signing secret, mail addresses) is sealed under the workspace's key and never returned;
-- what it is routed by is not secret and stays queryable.
create table sinks (
  id                   uuid primary key,
  workspace_id         uuid not null references workspaces (id) on delete cascade,
  name                 text not null,
  kind                 text not null check (kind in ('slack', 'teams', 'pagerduty', 'webhook', 'email')),
  target_sealed        bytea not null,
  -- Routing: issues of at most this severity (1 = the most severe only), of these Runners and
  -- namespaces (empty: any), on these changes.
  max_severity         smallint not null check (max_severity between 1 and 4),
  runner_ids           uuid[] not null default '{}',
  namespaces           text[] not null default '{}',
  events               text[] not null check (events <@ array['new', 'reopened', 'resolved'] and cardinality(events) > 0),
  -- Changes within this many seconds go out as one message (PagerDuty: one event per issue, still paced).
  group_seconds        integer not null check (group_seconds between 0 and 3600),
  -- At most this many messages a minute; what waits is grouped into the next one.
  max_per_minute       integer not null check (max_per_minute between 1 and 600),
  created_by           text not null,
  created_at           timestamptz not null default now(),
  unique (workspace_id, name)
);

-- One issue change owed to one sink. `pending` until a delivery takes it (`sending`, under a delivery
-- id stable across retries), then `delivered` or, when every retry failed, `dead` (visible in the
-- API, and sent again on request). Holds ids and states only: what is sent is read at sending time.
create table notifications (
  id            uuid primary key,
  workspace_id  uuid not null references workspaces (id) on delete cascade,
  sink_id       uuid not null references sinks (id) on delete cascade,
  issue_id      uuid not null references issues (id) on delete cascade,
  transition    text not null check (transition in ('new', 'reopened', 'resolved')),
  run_id        uuid references runs (id) on delete set null,
  state         text not null default 'pending' check (state in ('pending', 'sending', 'delivered', 'dead')),
  delivery_id   uuid,
  attempts      integer not null default 0,
  last_error    text,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  delivered_at  timestamptz,
  -- A run's change is owed once per sink, however often the run's result is stored.
  unique (sink_id, issue_id, transition, run_id)
);
create index notifications_sink_state_idx on notifications (sink_id, state, created_at);
create index notifications_delivery_idx on notifications (delivery_id);
create index notifications_workspace_idx on notifications (workspace_id, created_at desc);
create index notifications_run_idx on notifications (run_id) where state = 'pending';
