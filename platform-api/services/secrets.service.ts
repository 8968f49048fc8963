/**
 * Workspace secrets: the Platform writes values to Vault / OpenBao under the workspace's path with a
 * token whose policy has no `read`, lists names, and deletes. No endpoint returns a value; values are
 * never logged, audited or stored in PostgreSQL. Runners read them with their own identity.
 */
import type { Pool } from 'pg';
import { z } from 'zod';
import type { WorkspaceAccess } from '../auth/auth-context';
import { InputError, NotFoundError, UnavailableError } from '../errors';
import { appendAuditInTransaction } from '../repos/audit.repo';
import { inTransaction } from '../repos/db';
import { kvPaths, vaultStatus, type VaultClient } from '../vault/vault-client';

const SecretName = z.string().regex(/^[a-z0-9]([-_.a-z0-9]*[a-z0-9])?$/, 'lower-case letters, digits, dot, dash, underscore').max(128);
export const PutSecretBody = z.strictObject({ value: z.string().min(1).max(64 * 1024) });

export interface SecretsServiceDeps {
  pool: Pool;
  vault: VaultClient | undefined;
  mount: string;
}

export function createSecretsService({ pool, vault, mount }: SecretsServiceDeps) {
  const store = () => {
    if (!vault) throw new UnavailableError('no secret store is configured (LOOKOUT_VAULT_ADDR)');
    return vault;
  };
  const storeError = (err: unknown): never => {
    const code = vaultStatus(err);
    throw new UnavailableError(`the secret store refused the request (${code ?? 'unreachable'})`);
  };

  return {
    /** Writes (creates or replaces) a secret; the reference for tasks is returned, the value never. */
    async put(auth: WorkspaceAccess, workspaceId: string, rawName: string, body: unknown, ip?: string): Promise<{ name: string; reference: string; version: number }> {
      const name = SecretName.safeParse(rawName);
      if (!name.success) throw InputError.fromZod('secret name', name.error);
      const parsed = PutSecretBody.safeParse(body);
      // The body holds the value: report only which field is wrong.
      if (!parsed.success) throw new InputError('invalid secret', parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })));
      const vault = store();
      await vault.write(kvPaths(mount, workspaceId, name.data).data, { data: { value: parsed.data.value } }).catch(storeError);
      const version = await inTransaction(pool, async (tx) => {
        const { rows } = await tx.query<{ version: number }>(
          `insert into secrets (workspace_id, name, updated_by) values ($1, $2, $3)
           on conflict (workspace_id, name) do update set updated_at = now(), updated_by = excluded.updated_by, version = secrets.version + 1
           returning version`,
          [workspaceId, name.data, auth.actor],
        );
        await appendAuditInTransaction(tx, { workspaceId, actor: auth.actor, action: 'secret.written', target: `secret:${name.data}`, outcome: 'success', ip });
        return rows[0]!.version;
      });
      return { name: name.data, reference: `vault:${mount}/workspaces/${workspaceId}/${name.data}#value`, version };
    },

    /** Names and metadata only, from the store's listing and the Platform's records. */
    async list(auth: WorkspaceAccess, workspaceId: string, ip?: string) {
      const vault = store();
      let names: string[] = [];
      try {
        const listed = (await vault.list(kvPaths(mount, workspaceId).metadata)) as { data?: { keys?: string[] } };
        names = listed.data?.keys ?? [];
      } catch (err) {
        if (vaultStatus(err) !== 404) storeError(err);
      }
      const { rows } = await pool.query<{ name: string; created_at: Date; updated_at: Date; updated_by: string; version: number }>(
        'select name, created_at, updated_at, updated_by, version from secrets where workspace_id = $1',
        [workspaceId],
      );
      const meta = new Map(rows.map((r) => [r.name, r]));
      await inTransaction(pool, (tx) => appendAuditInTransaction(tx, { workspaceId, actor: auth.actor, action: 'secret.listed', outcome: 'success', details: { count: names.length }, ip }));
      return names.sort().map((name) => {
        const m = meta.get(name);
        return {
          name,
          reference: `vault:${mount}/workspaces/${workspaceId}/${name}#value`,
          ...(m ? { createdAt: m.created_at.toISOString(), updatedAt: m.updated_at.toISOString(), updatedBy: m.updated_by, version: m.version } : {}),
        };
      });
    },

    async remove(auth: WorkspaceAccess, workspaceId: string, rawName: string, ip?: string): Promise<void> {
      const name = SecretName.safeParse(rawName);
      if (!name.success) throw new NotFoundError('secret');
      const vault = store();
      const { rowCount } = await pool.query('select 1 from secrets where workspace_id = $1 and name = $2', [workspaceId, name.data]);
      if (!rowCount) throw new NotFoundError('secret');
      await vault.delete(kvPaths(mount, workspaceId, name.data).metadata).catch(storeError);
      await inTransaction(pool, async (tx) => {
        await tx.query('delete from secrets where workspace_id = $1 and name = $2', [workspaceId, name.data]);
        await appendAuditInTransaction(tx, { workspaceId, actor: auth.actor, action: 'secret.deleted', target: `secret:${name.data}`, outcome: 'success', ip });
      });
    },
  };
}

export type SecretsService = ReturnType<typeof createSecretsService>;
