-- Next checks (issue 20): a finding may name follow-up checks, which a sweep runs (bounded depth).
-- Each distinct follow-up (type and parameters) of a Runner is one task of origin `followup`, keyed
-- by a hash of what it checks, so that later sweeps reuse it. Sweeps run follow-ups only when a
-- finding asks for them; discovery never touches them.
alter table tasks drop constraint tasks_origin_check;
alter table tasks add constraint tasks_origin_check check (origin in ('manual', 'discovery', 'generated', 'followup'));
alter table tasks drop constraint tasks_generated_key_check;
alter table tasks add constraint tasks_generated_key_check check ((origin in ('generated', 'followup')) = (discovery_key is not null));
