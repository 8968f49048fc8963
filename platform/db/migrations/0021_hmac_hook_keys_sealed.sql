-- An HMAC hook (Lookout's own signature) was verified with the secret's SHA-256, stored in clear in
-- secret_hash: that hash is the HMAC key (RFC 2104), so whoever could read the table could sign calls.
-- From now on its key is sealed under the workspace's key (secret_sealed, as a PagerDuty hook's
-- secret is), and secret_hash holds the SHA-256 of that key, which signs nothing. Hooks made before
-- are moved over by the API the first time they are called (sealing needs the workspace's key).
alter table hooks drop constraint hooks_pagerduty_secret_check;
alter table hooks add constraint hooks_secret_sealed_check
  check ((format <> 'pagerduty' or (auth = 'hmac' and secret_sealed is not null)) and (auth = 'hmac' or secret_sealed is null));
