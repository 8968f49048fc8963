/**
 * Configures a Vault / OpenBao for Lookout with an administrator token: a KV v2 mount, the Platform's
 * policy (create, update, list and delete — never read), AppRole auth, and per workspace a Runner
 * policy and role that read only that workspace's secrets. Returns credentials to the caller; it
 * logs nothing secret.
 */
import { vaultStatus, type VaultClient } from './vault-client';

export const PLATFORM_POLICY = 'lookout-platform';
export const runnerPolicyName = (workspaceId: string) => `lookout-runner-${workspaceId}`;

export function platformPolicy(mount: string): string {
  return [
    `# The Platform writes and lists workspace secrets; it can never read a value.`,
    `path "${mount}/data/workspaces/*" { capabilities = ["create", "update"] }`,
    `path "${mount}/metadata/workspaces/*" { capabilities = ["list", "delete"] }`,
  ].join('\n');
}

export function runnerPolicy(mount: string, workspaceId: string): string {
  return [
    `# The Runner of workspace ${workspaceId} reads that workspace's secrets and nothing else.`,
    `path "${mount}/data/workspaces/${workspaceId}/*" { capabilities = ["read"] }`,
  ].join('\n');
}

/** Idempotent: mounts and auth methods that exist are kept. Returns a Platform token (periodic, renewable). */
export async function bootstrapVault(admin: VaultClient, mount: string): Promise<{ platformToken: string }> {
  const mounts = (await admin.mounts()) as Record<string, unknown>;
  const table = (mounts['data'] as Record<string, unknown> | undefined) ?? mounts;
  if (!Object.hasOwn(table, `${mount}/`)) await admin.mount({ mount_point: mount, type: 'kv', options: { version: '2' } });
  const auths = (await admin.auths()) as Record<string, unknown>;
  const authTable = (auths['data'] as Record<string, unknown> | undefined) ?? auths;
  if (!Object.hasOwn(authTable, 'approle/')) await admin.enableAuth({ mount_point: 'approle', type: 'approle' });
  await admin.addPolicy({ name: PLATFORM_POLICY, rules: platformPolicy(mount) });
  // node-vault switches a client to any token it creates: keep the administrator's.
  const adminToken = admin.token;
  try {
    const created = (await admin.tokenCreate({
      policies: [PLATFORM_POLICY],
      no_default_policy: true,
      period: '24h',
      display_name: 'lookout-platform',
    })) as { auth: { client_token: string } };
    return { platformToken: created.auth.client_token };
  } finally {
    admin.token = adminToken;
  }
}

/** A workspace's Runner policy and AppRole; returns the role id and a new secret id for the Runner's Secret. */
export async function provisionRunnerAccess(
  admin: VaultClient,
  mount: string,
  workspaceId: string,
): Promise<{ roleId: string; secretId: string }> {
  const name = runnerPolicyName(workspaceId);
  await admin.addPolicy({ name, rules: runnerPolicy(mount, workspaceId) });
  await admin.write(`auth/approle/role/${name}`, { token_policies: [name], token_ttl: '1h', token_max_ttl: '24h', secret_id_ttl: '0' });
  const role = (await admin.read(`auth/approle/role/${name}/role-id`)) as { data: { role_id: string } };
  const secret = (await admin.write(`auth/approle/role/${name}/secret-id`, {})) as { data: { secret_id: string } };
  return { roleId: role.data.role_id, secretId: secret.data.secret_id };
}

export { vaultStatus };
