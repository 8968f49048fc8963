/** A Vault / OpenBao client (node-vault): nothing OpenBao-specific, so HashiCorp Vault works the same. */
import nodeVault from 'node-vault';

export type VaultClient = ReturnType<typeof nodeVault>;

/** `caPem`: a private CA that signs the server's certificate. */
export function createVaultClient(options: { endpoint: string; token?: string; caPem?: string | undefined }): VaultClient {
  return nodeVault({
    apiVersion: 'v1',
    endpoint: options.endpoint,
    ...(options.token ? { token: options.token } : {}),
    ...(options.caPem ? { requestOptions: { ca: options.caPem } } : {}),
  });
}

/** The HTTP status of a node-vault error, if any. */
export function vaultStatus(err: unknown): number | undefined {
  const response = (err as { response?: { statusCode?: number } }).response;
  return typeof response?.statusCode === 'number' ? response.statusCode : undefined;
}

/** Workspace secrets live under `<mount>/…/workspaces/<workspaceId>/<name>` in a KV v2 mount. */
export const kvPaths = (mount: string, workspaceId: string, name?: string) => ({
  data: `${mount}/data/workspaces/${workspaceId}${name ? `/${name}` : ''}`,
  metadata: `${mount}/metadata/workspaces/${workspaceId}${name ? `/${name}` : ''}`,
});
