-- Results attested by the Runner's own Ed25519 key (issue 16): the Platform keeps the public half of
-- each Runner's key, so a stored result proves which Runner produced it. Runners registered before
-- have none and keep attesting under the workspace key (format v1) until they are given one.
alter table runners add column attestation_public_key text
  check (attestation_public_key is null or attestation_public_key ~ '^[A-Za-z0-9+/]{43}=$');
-- Revoked: every result of this Runner is refused until it gets a new key.
alter table runners add column attestation_revoked_at timestamptz;
alter table runners add column attestation_changed_at timestamptz;
-- The attestation a result was stored with (a signature, not a secret): the proof of its origin.
alter table results add column attestation text;
