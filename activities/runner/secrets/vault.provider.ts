/**
 * `vault:<mount>/<path>#<field>`: a field of a KV v2 secret in Vault or OpenBao, read with the
 * Runner's own identity (AppRole, Kubernetes auth, or a token). The login token is cached and
 * renewed before it expires; a refused renewal logs in again. The client library (node-vault and
 * its request stack) is loaded on the first resolution, not with the Runner.
 */
import { readFileSync } from 'node:fs';
import type NodeVault from 'node-vault';
import { SecretError, type SecretProvider } from './secret-provider';

export type VaultAuth =
  | { method: 'token'; token: string }
  | { method: 'approle'; roleId: string; secretId: string; mount?: string }
  | { method: 'kubernetes'; role: string; jwtFile?: string; mount?: string };

export interface VaultProviderOptions {
  endpoint: string;
  auth: VaultAuth;
}

const status = (err: unknown) => (err as { response?: { statusCode?: number } }).response?.statusCode;

export function createVaultProvider({ endpoint, auth }: VaultProviderOptions): SecretProvider {
  let loaded: Promise<NodeVault.client> | undefined;
  const vault = () => (loaded ??= import('node-vault').then((m) => m.default({ apiVersion: 'v1', endpoint })));
  let expiresAt = 0;
  let renewable = false;

  async function login(): Promise<void> {
    const client = await vault();
    if (auth.method === 'token') {
      client.token = auth.token;
      expiresAt = Number.POSITIVE_INFINITY;
      return;
    }
    const result = (
      auth.method === 'approle'
        ? await client.approleLogin({ role_id: auth.roleId, secret_id: auth.secretId, ...(auth.mount ? { mount_point: auth.mount } : {}) })
        : await client.kubernetesLogin({
            role: auth.role,
            jwt: readFileSync(auth.jwtFile ?? '/var/run/secrets/kubernetes.io/serviceaccount/token', 'utf8').trim(),
            ...(auth.mount ? { mount_point: auth.mount } : {}),
          })
    ) as {
      auth: { client_token: string; lease_duration: number; renewable: boolean };
    };
    client.token = result.auth.client_token;
    renewable = result.auth.renewable;
    expiresAt = Date.now() + result.auth.lease_duration * 1000;
  }

  async function ensureToken(): Promise<void> {
    const client = await vault();
    const left = expiresAt - Date.now();
    if (left > 60_000) return;
    if (renewable && left > 5_000) {
      try {
        const renewed = (await client.tokenRenewSelf()) as { auth: { lease_duration: number } };
        expiresAt = Date.now() + renewed.auth.lease_duration * 1000;
        return;
      } catch {
        // fall through to a fresh login
      }
    }
    await login();
  }

  return {
    scheme: 'vault',
    async resolve(reference) {
      const ref = `vault:${reference}`;
      const m = /^([^/#\s]+)\/([^#\s]+)#([^#\s]+)$/.exec(reference);
      if (!m?.[1] || !m[2] || !m[3]) throw new SecretError(ref, 'must be vault:<mount>/<path>#<field>');
      const [, mount, secretPath, field] = m;
      try {
        await ensureToken();
      } catch (err) {
        throw new SecretError(ref, `the Runner could not log in to Vault (${status(err) ?? 'unreachable'})`);
      }
      let response: { data?: { data?: Record<string, unknown> } };
      try {
        const client = await vault();
        response = (await client.read(`${mount}/data/${secretPath}`)) as typeof response;
      } catch (err) {
        const code = status(err);
        if (code === 403) throw new SecretError(ref, "access denied by Vault: the Runner's policy does not allow reading it");
        if (code === 404) throw new SecretError(ref, 'not found in Vault');
        throw new SecretError(ref, `Vault answered ${code ?? 'nothing (unreachable)'}`);
      }
      const value = response.data?.data?.[field];
      if (typeof value !== 'string' || value === '') throw new SecretError(ref, `the secret has no field "${field}"`);
      return value;
    },
  };
}
