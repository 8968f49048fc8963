import { Pool } from 'pg';

/** A pool for `url`. Connection errors on idle clients are reported, not thrown, so a database restart does not kill the process. */
export function createPool(url: string, onIdleError: (err: Error) => void = () => undefined, max = 10): Pool {
  const pool = new Pool({ connectionString: url, max, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000 });
  pool.on('error', onIdleError);
  return pool;
}
