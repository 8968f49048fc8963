import type { Pool } from 'pg';
import { MasterKey } from './master-key';
import { PlatformKeyring } from './platform-keyring';
import { Sealer } from './sealer';

export interface PlatformCrypto {
  master: MasterKey;
  /** Workspace payload keys: the codec of every Platform client and worker. */
  payloadKeys: PlatformKeyring;
  /** Sealed columns in PostgreSQL. */
  sealer: Sealer;
}

export function createPlatformCrypto(pool: Pool, masterKeyBase64: string): PlatformCrypto {
  const master = MasterKey.fromBase64(masterKeyBase64);
  return {
    master,
    payloadKeys: new PlatformKeyring(pool, master, 'payload'),
    sealer: new Sealer(new PlatformKeyring(pool, master, 'data')),
  };
}
