-- Namespace groups (issue 20): a workspace's discovery settings may group namespaces (`team-a`:
-- `payments-*`, `checkout`); the tasks discovery generates for a namespace of a group belong to it,
-- and a sweep (and its schedule) may cover one group of a Runner instead of all its tasks. A group's
-- sweeps are compared with the previous sweep of the same group.
alter table tasks add column sweep_group text check (sweep_group is null or sweep_group ~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$');
alter table schedules add column sweep_group text check (sweep_group is null or sweep_group ~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$');
alter table schedules add constraint schedules_group_check check (sweep_group is null or runner_id is not null);
alter table sweeps add column sweep_group text;
alter table discovery_rules add column groups jsonb not null default '[]';
