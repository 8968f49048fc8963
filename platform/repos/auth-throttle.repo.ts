import type { Queryable } from './db';

/** How long the slowest of `keys` must still wait, in ms (0: none waits). */
export async function throttleWaitMs(db: Queryable, keys: readonly string[]): Promise<number> {
  const { rows } = await db.query<{ ms: string | null }>(
    `select ceil(max(extract(epoch from next_attempt_at - now())) * 1000)::text as ms
       from auth_throttle where key = any($1::text[]) and next_attempt_at > now()`,
    [keys],
  );
  return Math.max(0, Number(rows[0]?.ms ?? 0));
}

/**
 * Counts a failure of `key`: after `free` failures in a row, each next attempt waits
 * `baseMs · 2^(failures − free − 1)`, at most `capMs`. A key quiet for `forgetMs` starts again.
 */
export async function recordThrottledFailure(
  db: Queryable,
  key: string,
  policy: { free: number; baseMs: number; capMs: number; forgetMs: number },
): Promise<void> {
  await db.query(
    `insert into auth_throttle as t (key, failures, next_attempt_at, updated_at) values ($1, 1, now(), now())
     on conflict (key) do update set
       failures = case when t.updated_at < now() - ($5 || ' milliseconds')::interval then 1 else t.failures + 1 end,
       updated_at = now(),
       next_attempt_at = case
         when (case when t.updated_at < now() - ($5 || ' milliseconds')::interval then 1 else t.failures + 1 end) <= $2 then now()
         else now() + (least($4::float8, $3::float8 * power(2, (case when t.updated_at < now() - ($5 || ' milliseconds')::interval then 1 else t.failures + 1 end) - $2 - 1)) || ' milliseconds')::interval
       end`,
    [key, policy.free, policy.baseMs, policy.capMs, String(policy.forgetMs)],
  );
  // Now and then, rows long quiet go (they hold hashed emails and client addresses).
  if (Math.random() < 0.01) await db.query("delete from auth_throttle where updated_at < now() - interval '1 day'");
}

export async function clearThrottle(db: Queryable, key: string): Promise<void> {
  await db.query('delete from auth_throttle where key = $1', [key]);
}
