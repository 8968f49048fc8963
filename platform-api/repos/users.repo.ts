import type { Queryable } from './db';

export interface User {
  id: string;
  email: string;
  displayName: string | null;
}

export async function createUser(db: Queryable, u: { id: string; email: string; displayName?: string }): Promise<void> {
  await db.query('insert into users (id, email, display_name) values ($1, $2, $3)', [u.id, u.email, u.displayName ?? null]);
}

export async function findUserByEmail(db: Queryable, email: string): Promise<User | undefined> {
  const { rows } = await db.query<{ id: string; email: string; display_name: string | null }>(
    'select id, email, display_name from users where lower(email) = lower($1)',
    [email],
  );
  const row = rows[0];
  return row && { id: row.id, email: row.email, displayName: row.display_name };
}
