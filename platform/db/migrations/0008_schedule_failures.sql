-- Pause a schedule after N consecutive failed runs.
alter table schedules add column pause_after_failures integer check (pause_after_failures between 1 and 100);
alter table schedules add column consecutive_failures integer not null default 0;
