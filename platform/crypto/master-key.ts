/**
 * The master key wraps every workspace key (envelope encryption). It comes from the Platform's
 * configuration (`LOOKOUT_MASTER_KEY`, 32 bytes in base64) and is never stored in PostgreSQL.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const NONCE = 12;
const TAG = 16;

export class MasterKey {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('the master key must be 32 bytes');
    this.#key = Buffer.from(key);
  }

  static fromBase64(value: string): MasterKey {
    return new MasterKey(Buffer.from(value, 'base64'));
  }

  static generate(): string {
    return randomBytes(32).toString('base64');
  }

  /** Encrypts `plain`, bound to `label` (the key's identity), so a wrapped key cannot be moved to another row. */
  wrap(plain: Buffer, label: string): Buffer {
    const nonce = randomBytes(NONCE);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce);
    cipher.setAAD(Buffer.from(`lookout-key/v1:${label}`));
    return Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  }

  /** A 32-byte key derived for one purpose (HKDF-SHA256); the master key itself never leaves this object. */
  derive(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), `lookout-derived/v1:${purpose}`, 32));
  }

  unwrap(wrapped: Buffer, label: string): Buffer {
    if (wrapped.length < NONCE + TAG) throw new Error(`wrapped key ${label} is truncated`);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, wrapped.subarray(0, NONCE));
    decipher.setAAD(Buffer.from(`lookout-key/v1:${label}`));
    decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG));
    try {
      return Buffer.concat([decipher.update(wrapped.subarray(NONCE, wrapped.length - TAG)), decipher.final()]);
    } catch {
      throw new Error(`cannot unwrap key ${label}: wrong master key or tampered row`);
    }
  }
}
