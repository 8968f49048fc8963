import type { Queryable } from './db';

export type LoginMethod = 'password' | 'oidc' | 'saml';

export interface SessionRow {
  publicId: string;
  userId: string;
  method: LoginMethod;
  csrfHash: Buffer;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
}

export async function insertSession(
  db: Queryable,
  s: {
    idHash: Buffer;
    publicId: string;
    userId: string;
    method: LoginMethod;
    csrfHash: Buffer;
    expiresAt: Date;
    ip: string | undefined;
    userAgent: string | undefined;
  },
): Promise<void> {
  await db.query(
    `insert into sessions (id_hash, public_id, user_id, method, csrf_hash, expires_at, ip, user_agent)
     values ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [s.idHash, s.publicId, s.userId, s.method, s.csrfHash, s.expiresAt, s.ip ?? null, s.userAgent?.slice(0, 300) ?? null],
  );
}

type Row = {
  public_id: string;
  user_id: string;
  method: LoginMethod;
  csrf_hash: Buffer;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
};
const COLUMNS = 'public_id, user_id, method, csrf_hash, created_at, last_seen_at, expires_at, revoked_at';
const toSession = (r: Row): SessionRow => ({
  publicId: r.public_id,
  userId: r.user_id,
  method: r.method,
  csrfHash: r.csrf_hash,
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
});

export async function findSession(db: Queryable, idHash: Buffer): Promise<SessionRow | undefined> {
  const { rows } = await db.query<Row>(`select ${COLUMNS} from sessions where id_hash = $1`, [idHash]);
  return rows[0] && toSession(rows[0]);
}

export async function listSessions(db: Queryable, userId: string): Promise<SessionRow[]> {
  const { rows } = await db.query<Row>(
    `select ${COLUMNS} from sessions where user_id = $1 and revoked_at is null and expires_at > now() order by created_at desc`,
    [userId],
  );
  return rows.map(toSession);
}

/** Records activity; at most one write a minute per session. */
export async function touchSession(db: Queryable, idHash: Buffer): Promise<void> {
  await db.query(`update sessions set last_seen_at = now() where id_hash = $1 and last_seen_at < now() - interval '1 minute'`, [idHash]);
}

export async function revokeSessionByHash(db: Queryable, idHash: Buffer): Promise<boolean> {
  const { rowCount } = await db.query('update sessions set revoked_at = now() where id_hash = $1 and revoked_at is null', [idHash]);
  return rowCount === 1;
}

export async function revokeSession(db: Queryable, userId: string, publicId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'update sessions set revoked_at = now() where public_id = $1 and user_id = $2 and revoked_at is null',
    [publicId, userId],
  );
  return rowCount === 1;
}

export async function revokeAllSessions(db: Queryable, userId: string): Promise<number> {
  const { rowCount } = await db.query('update sessions set revoked_at = now() where user_id = $1 and revoked_at is null', [userId]);
  return rowCount ?? 0;
}
