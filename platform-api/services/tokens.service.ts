import { randomUUID } from 'node:crypto';
import { generateApiToken } from '../auth/api-tokens';
import type { Role } from '../../platform/permissions';
import type { Queryable } from '../../platform/repos/db';
import { insertToken } from '../../platform/repos/tokens.repo';

/** Makes an API token bound to one workspace. The returned `token` is the only copy there will ever be. */
export async function createToken(
  db: Queryable,
  t: { workspaceId: string; createdBy: string | null; name: string; role: Role; expiresAt: Date | null },
): Promise<{ id: string; token: string }> {
  const id = randomUUID();
  const { token, hash, displayHint } = generateApiToken();
  await insertToken(db, { id, ...t, hash, displayHint });
  return { id, token };
}
