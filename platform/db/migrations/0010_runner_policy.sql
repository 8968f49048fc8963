-- What a Runner reports of its policy (describeRunner): the digest in clear, the summary (check
-- types, destinations, binding names; never a secret reference) sealed under the workspace data key.
alter table runners add column policy_digest text;
alter table runners add column policy_sealed bytea;
