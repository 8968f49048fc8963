import type { Pool } from 'pg';
import type { ChangeSource } from '../repos/change-feed';
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
  /**
   * Re-reads every key's state at its next use (instead of within 15 s) whenever the change feed
   * says keys changed, or that it missed changes: a revoked key stops here as the revocation commits.
   */
  followKeyChanges(changes: ChangeSource): void;
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
  const payloadKeys = new PlatformKeyring(pool, master, 'payload');
  const dataKeys = new PlatformKeyring(pool, master, 'data');
  return {
    master,
    payloadKeys,
    sealer: new Sealer(dataKeys),
    signing: platformSigningKey(master, signingKey),
    followKeyChanges(changes) {
      changes.subscribe((change) => {
        if (change !== 'keys' && change !== '*') return;
        payloadKeys.recheckStates();
        dataKeys.recheckStates();
      });
    },
  };
}
