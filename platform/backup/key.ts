/**
 * The backup key: 32 random bytes (base64), kept apart from the master key and the workspace keys,
 * so that a backup file and the key that opens it can be stored in different places, and a leaked
 * master key does not open backups (nor the reverse).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Base64Key32 } from '../../common/config';

/** A new backup key, 32 random bytes in base64. */
export function generateBackupKey(): string {
  return randomBytes(32).toString('base64');
}

export interface BackupKeySource {
  /** `LOOKOUT_BACKUP_KEY`, already validated by the configuration schema. */
  envKey?: string | undefined;
  /** `--key-file`: a file holding the key in base64 (surrounding whitespace ignored). */
  keyFile?: string | undefined;
  /** `LOOKOUT_MASTER_KEY` when set: the backup key must differ from it. */
  masterKey?: string | undefined;
}

/**
 * The backup key from exactly one of its sources. Errors name the variable or the file, never a
 * key's value; a backup key equal to the master key is refused.
 */
export function resolveBackupKey(source: BackupKeySource): Buffer {
  if (source.envKey && source.keyFile) throw new Error('give the backup key either in LOOKOUT_BACKUP_KEY or with --key-file, not both');
  let text: string;
  let origin: string;
  if (source.keyFile) {
    origin = `the backup key file ${source.keyFile}`;
    try {
      text = readFileSync(source.keyFile, 'utf8').trim();
    } catch (err) {
      throw new Error(`cannot read ${origin}`, { cause: err });
    }
  } else if (source.envKey) {
    origin = 'LOOKOUT_BACKUP_KEY';
    text = source.envKey;
  } else {
    throw new Error('no backup key: set LOOKOUT_BACKUP_KEY or pass --key-file (make one with `lookout backup keygen`)');
  }
  if (!Base64Key32.safeParse(text).success)
    throw new Error(`${origin} must hold 32 bytes in base64 (make one with \`lookout backup keygen\`)`);
  const key = Buffer.from(text, 'base64');
  if (source.masterKey) {
    const master = Buffer.from(source.masterKey, 'base64');
    if (master.length === key.length && timingSafeEqual(master, key)) {
      throw new Error(`${origin} must not be LOOKOUT_MASTER_KEY: backups are encrypted under a key of their own`);
    }
  }
  return key;
}
