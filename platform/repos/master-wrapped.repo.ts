/**
 * Every value wrapped under the master key, as `lookout keys rewrap` finds and replaces them:
 * workspace keys, users' TOTP secrets and OIDC logins in progress. A value is found by what it does
 * not start with (the current key's header), in primary-key order, a batch at a time.
 */
import type { Queryable } from './db';

export type WrappedKind = 'workspace_key' | 'user_totp' | 'oidc_flow';

export interface WrappedValue {
  kind: WrappedKind;
  /** The row's primary key, as the kind's update needs it. */
  key: string[];
  wrapped: Buffer;
}

const SELECT: Record<WrappedKind, string> = {
  workspace_key: `select array[workspace_id::text, purpose, version::text] as key, wrapped from workspace_keys
                   where substring(wrapped from 1 for $1::int) <> $2 and (workspace_id::text, purpose, version::text) > ($3, $4, $5)
                   order by workspace_id::text, purpose, version::text limit $6`,
  user_totp: `select array[id::text] as key, totp_secret as wrapped from users
               where totp_secret is not null and substring(totp_secret from 1 for $1::int) <> $2 and id::text > $3
               order by id::text limit $4`,
  oidc_flow: `select array[encode(id_hash, 'hex')] as key, data as wrapped from auth_flows
               where kind = 'oidc' and data is not null and substring(data from 1 for $1::int) <> $2 and encode(id_hash, 'hex') > $3
               order by encode(id_hash, 'hex') limit $4`,
};

/** The next `limit` values of `kind` not under `header`, after `after` (a primary key, or empty to start). */
export async function staleWrapped(
  db: Queryable,
  kind: WrappedKind,
  header: Buffer,
  after: string[],
  limit: number,
): Promise<WrappedValue[]> {
  const start = after.length > 0 ? after : kind === 'workspace_key' ? ['', '', ''] : [''];
  const { rows } = await db.query<{ key: string[]; wrapped: Buffer }>(SELECT[kind], [header.length, header, ...start, limit]);
  return rows.map((r) => ({ kind, key: r.key, wrapped: r.wrapped }));
}

/** Replaces one value if it is still the one read (another rewrap or a rotation may have moved it); answers whether it did. */
export async function replaceWrapped(db: Queryable, value: WrappedValue, next: Buffer): Promise<boolean> {
  const [a, b, c] = value.key;
  const { rowCount } =
    value.kind === 'workspace_key'
      ? await db.query(
          'update workspace_keys set wrapped = $4 where workspace_id = $1 and purpose = $2 and version = $3::int and wrapped = $5',
          [a, b, c, next, value.wrapped],
        )
      : value.kind === 'user_totp'
        ? await db.query('update users set totp_secret = $2 where id = $1 and totp_secret = $3', [a, next, value.wrapped])
        : await db.query("update auth_flows set data = $2 where id_hash = decode($1, 'hex') and data = $3", [a, next, value.wrapped]);
  return rowCount === 1;
}

/** How many values of each kind are not under `header` yet. */
export async function countStaleWrapped(db: Queryable, header: Buffer): Promise<Record<WrappedKind, number>> {
  const { rows } = await db.query<{ workspace_key: number; user_totp: number; oidc_flow: number }>(
    `select (select count(*)::int from workspace_keys where substring(wrapped from 1 for $1::int) <> $2) as workspace_key,
            (select count(*)::int from users where totp_secret is not null and substring(totp_secret from 1 for $1::int) <> $2) as user_totp,
            (select count(*)::int from auth_flows where kind = 'oidc' and data is not null and substring(data from 1 for $1::int) <> $2) as oidc_flow`,
    [header.length, header],
  );
  return rows[0]!;
}
