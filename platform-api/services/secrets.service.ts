/**
 * Workspace secrets: the Platform writes values to Vault / OpenBao under the workspace's path with a
 * token whose policy has no `read`, lists names, and deletes. No endpoint returns a value; values are
 * never logged, audited or stored in PostgreSQL. Runners read them with their own identity.
 */
import type { Pool } from 'pg';
import { z } from 'zod';
import type { WorkspaceAccess } from '../auth/auth-context';
import { InputError, NotFoundError, UnavailableError } from '../../common/problem';
import { appendAuditInTransaction } from '../../platform/repos/audit.repo';
import { deleteSecretRecord, listSecretMeta, recordSecretWrite, secretRecorded } from '../../platform/repos/secrets.repo';
import { inTransaction } from '../../platform/repos/db';
import { kvPaths, vaultStatus, type VaultClient } from '../../platform/vault/vault-client';

const SecretName = z
  .string()
  .regex(/^[a-z0-9]([-_.a-z0-9]*[a-z0-9])?$/, 'lower-case letters, digits, dot, dash, underscore')
  .max(128);
export const PutSecretBody = z.strictObject({
  value: z
    .string()
    .min(1)
    .max(64 * 1024),
});

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
    async put(
      auth: WorkspaceAccess,
      workspaceId: string,
      rawName: string,
      body: unknown,
      ip?: string,
    ): Promise<{ name: string; reference: string; version: number }> {
      const name = SecretName.safeParse(rawName);
      if (!name.success) throw InputError.fromZod('secret name', name.error);
      const parsed = PutSecretBody.safeParse(body);
      // The body holds the value: report only which field is wrong.
      if (!parsed.success)
        throw new InputError(
          'invalid secret',
          parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })),
        );
      const vault = store();
      await vault.write(kvPaths(mount, workspaceId, name.data).data, { data: { value: parsed.data.value } }).catch(storeError);
      const version = await inTransaction(pool, async (tx) => {
        const written = await recordSecretWrite(tx, workspaceId, name.data, auth.actor);
        await appendAuditInTransaction(tx, {
          workspaceId,
          actor: auth.actor,
          action: 'secret.written',
          target: `secret:${name.data}`,
          outcome: 'success',
          ip,
        });
        return written;
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
      const meta = new Map((await listSecretMeta(pool, workspaceId)).map((r) => [r.name, r]));
      await inTransaction(pool, (tx) =>
        appendAuditInTransaction(tx, {
          workspaceId,
          actor: auth.actor,
          action: 'secret.listed',
          outcome: 'success',
          details: { count: names.length },
          ip,
        }),
      );
      return names.sort().map((name) => {
        const m = meta.get(name);
        return {
          name,
          reference: `vault:${mount}/workspaces/${workspaceId}/${name}#value`,
          ...(m
            ? { createdAt: m.createdAt.toISOString(), updatedAt: m.updatedAt.toISOString(), updatedBy: m.updatedBy, version: m.version }
            : {}),
        };
      });
    },

    async remove(auth: WorkspaceAccess, workspaceId: string, rawName: string, ip?: string): Promise<void> {
      const name = SecretName.safeParse(rawName);
      if (!name.success) throw new NotFoundError('secret');
      const vault = store();
      if (!(await secretRecorded(pool, workspaceId, name.data))) throw new NotFoundError('secret');
      await vault.delete(kvPaths(mount, workspaceId, name.data).metadata).catch(storeError);
      await inTransaction(pool, async (tx) => {
        await deleteSecretRecord(tx, workspaceId, name.data);
        await appendAuditInTransaction(tx, {
          workspaceId,
          actor: auth.actor,
          action: 'secret.deleted',
          target: `secret:${name.data}`,
          outcome: 'success',
          ip,
        });
      });
    },
  };
}

export type SecretsService = ReturnType<typeof createSecretsService>;
