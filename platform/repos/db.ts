import type { Pool, PoolClient, QueryResultRow } from 'pg';

/** Anything that runs a parameterised query: the pool or a client inside a transaction. */
export type Queryable = Pick<Pool | PoolClient, 'query'>;

/**
 * Runs `fn` in a transaction on a dedicated client; rolls back on any error. A connection lost while
 * the client is checked out (a database restart) fails the transaction instead of the process: the
 * pool's handler covers idle clients only, and an `error` event without a listener is fatal. A
 * broken client is destroyed rather than returned to the pool.
 */
export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch((rollbackError: unknown) => {
      broken ??= rollbackError instanceof Error ? rollbackError : new Error('rollback failed');
    });
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

export async function one<T extends QueryResultRow>(db: Queryable, sql: string, params: unknown[]): Promise<T | undefined> {
  const { rows } = await db.query<T>(sql, params);
  return rows[0];
}

/** One round trip to the database: resolves when it answers, throws when it cannot be reached. */
export async function ping(db: Queryable): Promise<void> {
  await db.query('select 1');
}
