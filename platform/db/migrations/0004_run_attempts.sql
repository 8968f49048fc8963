-- Attempts of a run: a retry through the API (a workflow reset) starts the next one.
alter table runs add column attempt integer not null default 1;

-- The Temporal run that recorded the terminal status: a finish from another Temporal run of the same
-- workflow comes from a reset (the API's retry or the Temporal UI's Reset) and starts a new attempt.
alter table runs add column finished_by_temporal_run text;
