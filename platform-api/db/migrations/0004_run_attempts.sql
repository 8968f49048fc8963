-- Attempts of a run: a retry through the API (a workflow reset) starts the next one.
alter table runs add column attempt integer not null default 1;
