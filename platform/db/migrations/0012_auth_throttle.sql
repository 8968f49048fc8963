-- Progressive delays on failed logins (issue 16), instead of a lock anyone could set off: per
-- account (keyed by a hash of the email, so an address without an account is slowed alike and the
-- answer tells nothing) and per client address, in PostgreSQL so that every API replica shares them.
create table auth_throttle (
  key text primary key,
  failures integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
