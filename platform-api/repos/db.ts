import type { Pool, PoolClient, QueryResultRow } from 'pg';

/** Anything that runs a parameterised query: the pool or a client inside a transaction. */
export type Queryable = Pick<Pool | PoolClient, 'query'>;

/** Runs `fn` in a transaction on a dedicated client; rolls back on any error. */
export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export async function one<T extends QueryResultRow>(db: Queryable, sql: string, params: unknown[]): Promise<T | undefined> {
  const { rows } = await db.query<T>(sql, params);
  return rows[0];
}
