-- The change feed (issue 17): API processes cache verified tokens and finished runs, and must forget
-- them as soon as anything that decides them changes, whichever process or tool made the change.
-- Triggers publish on the channel `lookout_changes` (NOTIFY is delivered at commit, never for a
-- rolled-back change); each API process LISTENs and caches nothing while it is not listening.
-- Payloads name a kind of change and at most an id: never a value.
create function lookout_notify_change() returns trigger language plpgsql as $$
begin
  perform pg_notify('lookout_changes', tg_argv[0]);
  return null;
end
$$;

create function lookout_notify_run_change() returns trigger language plpgsql as $$
begin
  perform pg_notify('lookout_changes', 'run:' || old.id::text);
  return null;
end
$$;

-- What authentication reads of a token: the token itself, and its creator's role in its workspace.
-- `last_used_at` is not in the list: recording a use does not invalidate anything.
create trigger api_tokens_changed
  after update of token_hash, workspace_id, created_by, role, expires_at, revoked_at or delete on api_tokens
  for each statement execute function lookout_notify_change('tokens');
create trigger memberships_changed
  after insert or update or delete on memberships
  for each statement execute function lookout_notify_change('tokens');

-- A finished run changes only when it is retried or erased; runs in flight are never cached.
create trigger runs_finished_changed
  after update on runs
  for each row when (old.status in ('succeeded', 'failed', 'runner_unavailable', 'cancelled', 'rejected'))
  execute function lookout_notify_run_change();
create trigger runs_deleted
  after delete on runs
  for each statement execute function lookout_notify_change('runs');
create trigger results_changed
  after update or delete on results
  for each statement execute function lookout_notify_change('runs');
-- A retired or revoked data key: what was opened with it must not be served from memory either.
create trigger workspace_keys_changed
  after update or delete on workspace_keys
  for each statement execute function lookout_notify_change('keys');
