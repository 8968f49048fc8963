/**
 * A key-wrapping service (KMS) for the master key: Vault / OpenBao Transit. The master key is then
 * configured only as Transit ciphertext (`LOOKOUT_MASTER_KEY_WRAPPED`) and unwrapped in memory when a
 * Platform process starts; whoever reads the configuration or a backup of it learns nothing without
 * the KMS, and revoking the Platform's Transit token or policy cuts every Platform process off from
 * the data it wraps. Transit keys rotate on the KMS side (`transit/keys/<key>/rotate`), after which
 * `lookout kms rewrap-master` moves the wrapped master key to the newest version.
 *
 * The token needs `update` on `<mount>/decrypt/<key>` (Platform processes), plus
 * `<mount>/datakey/wrapped/<key>` and `<mount>/rewrap/<key>` for the CLI. Errors name the status the KMS
 * answered, never a token, a ciphertext or a key.
 */
import { readFileSync } from 'node:fs';
import type { MasterKeyConfig } from '../../common/config';
import { createVaultClient, vaultStatus } from '../vault/vault-client';

export class KmsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KmsError';
  }
}

/** Wraps and unwraps master keys; the plaintext of a new key never leaves the KMS through it. */
export interface MasterKeyKms {
  /** e.g. `transit:transit/lookout-master` */
  readonly name: string;
  /** A new master key, wrapped by the KMS (Transit's `datakey/wrapped`): only the ciphertext is answered. */
  generateWrapped(): Promise<string>;
  /** The master key (base64) inside `wrapped`. */
  unwrap(wrapped: string): Promise<string>;
  /** `wrapped` re-encrypted under the KMS key's newest version (same master key inside). */
  rewrap(wrapped: string): Promise<string>;
}

export function transitKms(options: { addr: string; token: string; mount: string; key: string; caPem?: string | undefined }): MasterKeyKms {
  const client = createVaultClient({ endpoint: options.addr, token: options.token, caPem: options.caPem });
  const name = `transit:${options.mount}/${options.key}`;
  const call = async (operation: 'datakey/wrapped' | 'decrypt' | 'rewrap', body: Record<string, unknown>) => {
    try {
      const res = (await client.write(`${options.mount}/${operation}/${options.key}`, body)) as { data?: Record<string, unknown> };
      return res.data ?? {};
    } catch (err) {
      const status = vaultStatus(err);
      throw new KmsError(
        status
          ? `the KMS (${name}) refused ${operation}: HTTP ${status}${status === 403 ? ' (the token may not use this key)' : ''}`
          : `the KMS (${name}) could not be reached for ${operation}`,
      );
    }
  };
  const ciphertext = (data: Record<string, unknown>, operation: string) => {
    if (typeof data['ciphertext'] !== 'string' || !data['ciphertext'].startsWith('vault:'))
      throw new KmsError(`the KMS answered ${operation} without a ciphertext`);
    return data['ciphertext'];
  };
  return {
    name,
    async generateWrapped() {
      return ciphertext(await call('datakey/wrapped', { bits: 256 }), 'datakey');
    },
    async unwrap(wrapped) {
      const plaintext = (await call('decrypt', { ciphertext: wrapped }))['plaintext'];
      if (typeof plaintext !== 'string' || Buffer.from(plaintext, 'base64').length !== 32)
        throw new KmsError(`the KMS (${name}) answered decrypt with something that is not a 32-byte key`);
      return plaintext;
    },
    async rewrap(wrapped) {
      return ciphertext(await call('rewrap', { ciphertext: wrapped }), 'rewrap');
    },
  };
}

/** The Transit KMS the configuration names. */
export function kmsFromConfig(config: Pick<MasterKeyConfig, `LOOKOUT_KMS_${string}` & keyof MasterKeyConfig>): MasterKeyKms {
  if (!config.LOOKOUT_KMS_ADDR || !config.LOOKOUT_KMS_TOKEN || !config.LOOKOUT_KMS_TRANSIT_KEY)
    throw new KmsError('LOOKOUT_KMS_ADDR, LOOKOUT_KMS_TOKEN and LOOKOUT_KMS_TRANSIT_KEY are required');
  return transitKms({
    addr: config.LOOKOUT_KMS_ADDR,
    token: config.LOOKOUT_KMS_TOKEN,
    mount: config.LOOKOUT_KMS_TRANSIT_MOUNT,
    key: config.LOOKOUT_KMS_TRANSIT_KEY,
    caPem: config.LOOKOUT_KMS_CA_FILE ? readFileSync(config.LOOKOUT_KMS_CA_FILE, 'utf8') : undefined,
  });
}

/**
 * The master keys a Platform process uses: from the configuration in clear, or unwrapped by the KMS
 * (once, at start). Answers base64 keys: the current one and the previous ones of a rotation.
 */
export async function resolveMasterKeys(config: MasterKeyConfig): Promise<{ current: string; previous: string[] }> {
  const wrapped = [config.LOOKOUT_MASTER_KEY_WRAPPED, ...(config.LOOKOUT_MASTER_KEY_PREVIOUS_WRAPPED ?? [])].filter((w): w is string =>
    Boolean(w),
  );
  const kms = wrapped.length > 0 ? kmsFromConfig(config) : undefined;
  const current = config.LOOKOUT_MASTER_KEY ?? (await kms!.unwrap(config.LOOKOUT_MASTER_KEY_WRAPPED!));
  const previous = [
    ...(config.LOOKOUT_MASTER_KEY_PREVIOUS ?? []),
    ...(await Promise.all((config.LOOKOUT_MASTER_KEY_PREVIOUS_WRAPPED ?? []).map((w) => kms!.unwrap(w)))),
  ];
  return { current, previous };
}
