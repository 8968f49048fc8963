-- A schedule starts either runs of one task or health sweeps of one Runner.
alter table schedules alter column task_id drop not null;
alter table schedules add column runner_id uuid references runners (id) on delete cascade;
alter table schedules add constraint schedules_target_check check ((task_id is null) <> (runner_id is null));
