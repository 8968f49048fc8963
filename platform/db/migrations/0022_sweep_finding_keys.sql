-- Sweeps count each finding once (issue 20): a sweep's findings are keyed by what was found (the
-- resource and the kind of problem), not by which check found it, so the same crash-looping pod seen
-- by k8s.pod-restarts and by k8s.namespace-health is one finding. Rows keyed the old way (with the
-- check type) are version 1: a sweep whose previous sweep has them starts a new baseline rather than
-- calling every finding resolved and new again.
alter table sweep_findings add column key_version smallint not null default 1;
