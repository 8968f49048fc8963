-- A Temporal namespace per workspace (issue 15). NULL: the shared namespace of the deployment
-- (LOOKOUT_TEMPORAL_NAMESPACE), where every workspace made before this migration stays until it is
-- moved (`lookout workspaces move-namespace`). Names are opaque: a prefix and the workspace id.
alter table workspaces add column temporal_namespace text;
create unique index workspaces_temporal_namespace on workspaces (temporal_namespace) where temporal_namespace is not null;
-- The platform worker and the API learn of a new or erased workspace's namespace at once.
create function notify_workspace_namespace() returns trigger language plpgsql as $$
begin
  perform pg_notify('lookout_workspace_namespaces', coalesce(new.temporal_namespace, old.temporal_namespace, ''));
  return null;
end $$;
create trigger workspaces_namespace_changed after insert or delete or update of temporal_namespace on workspaces
  for each row execute function notify_workspace_namespace();
-- The namespace each run's workflow was started in (NULL: the shared one), so that a run keeps
-- being found, cancelled and retried where it is after its workspace moved, and so that a platform
-- activity refuses a workflow of another namespace claiming the run.
alter table runs add column temporal_namespace text;
create index runs_unfinished_namespace on runs (temporal_namespace) where finished_at is null;
