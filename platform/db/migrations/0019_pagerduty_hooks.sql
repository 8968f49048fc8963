-- PagerDuty V3 webhooks as a hook format. PagerDuty generates a subscription's signing secret itself
-- (it cannot be given one), and that secret is not guaranteed to be longer than SHA-256's block, so
-- the RFC 2104 trick that lets HMAC hooks be verified from the secret's SHA-256 does not apply: a
-- PagerDuty hook keeps its signing secret sealed under the workspace's key, as routes are.
alter table hooks drop constraint hooks_format_check;
alter table hooks add constraint hooks_format_check check (format in ('alertmanager', 'generic', 'pagerduty'));
alter table hooks add column secret_sealed bytea;
alter table hooks add constraint hooks_pagerduty_secret_check
  check ((format = 'pagerduty') = (secret_sealed is not null) and (format <> 'pagerduty' or auth = 'hmac'));
-- hook_signatures also remembers PagerDuty event ids (as SHA-256 of 'pagerduty-event:<id>') for 24 h:
-- PagerDuty signs the body alone, without a timestamp, so the event id is what makes a replay a replay.
