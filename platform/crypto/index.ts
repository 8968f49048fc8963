import type { Pool } from 'pg';
import { MasterKey } from './master-key';
import { PlatformKeyring } from './platform-keyring';
import { Sealer } from './sealer';
import { platformSigningKey, type SigningKey } from './signing-key';

export interface PlatformCrypto {
  master: MasterKey;
  /** Workspace payload keys: the codec of every Platform client and worker. */
  payloadKeys: PlatformKeyring;
  /** Sealed columns in PostgreSQL. */
  sealer: Sealer;
  /** Signs the task envelopes Runners verify (see common/task-envelope.ts). */
  signing: SigningKey;
}

/**
 * `signingKey`: LOOKOUT_PLATFORM_SIGNING_KEY when configured; else the key derived from the master key.
 * `previousMasterKeys`: LOOKOUT_MASTER_KEY_PREVIOUS, during a master key rotation.
 */
export function createPlatformCrypto(
  pool: Pool,
  masterKeyBase64: string,
  signingKey?: string,
  previousMasterKeys: readonly string[] = [],
): PlatformCrypto {
  const master = MasterKey.fromBase64(masterKeyBase64, previousMasterKeys);
  return {
    master,
    payloadKeys: new PlatformKeyring(pool, master, 'payload'),
    sealer: new Sealer(new PlatformKeyring(pool, master, 'data')),
    signing: platformSigningKey(master, signingKey),
  };
}
