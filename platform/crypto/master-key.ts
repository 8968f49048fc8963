/**
 * The master key wraps every workspace key and the few other secrets the Platform keeps (users'
 * TOTP secrets, OIDC logins in progress): envelope encryption. It comes from the Platform's
 * configuration (`LOOKOUT_MASTER_KEY`, 32 bytes in base64) and is never stored in PostgreSQL.
 *
 * Versioned: each wrapped value names the master key that wrapped it by a fingerprint (the first 8
 * bytes of SHA-256 over a key derived from it, so the fingerprint reveals nothing of the key). To
 * rotate, configure the new key as `LOOKOUT_MASTER_KEY` and the old one in
 * `LOOKOUT_MASTER_KEY_PREVIOUS`, run `lookout keys rewrap` (resumable), then drop the old key.
 * Values wrapped before versions existed (format v1: no fingerprint) still unwrap under any
 * configured key, and `rewrap` moves them to the current one.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

const NONCE = 12;
const TAG = 16;
/** Format v2: MAGIC || fingerprint (8) || nonce (12) || ciphertext || tag (16). */
const MAGIC = Buffer.from('LKM2');
const FINGERPRINT = 8;
const HEADER = MAGIC.length + FINGERPRINT;

/** What each wrapped value is bound to (the additional data), so none can be moved to another row. */
export const MASTER_LABELS = {
  workspaceKey: (purpose: string, keyId: string) => `${purpose}:${keyId}`,
  userTotp: (userId: string) => `user-totp:${userId}`,
  oidcFlow: (idHash: Buffer) => `oidc-flow:${idHash.toString('hex')}`,
};

interface Version {
  key: Buffer;
  fingerprint: Buffer;
}

function version(key: Buffer): Version {
  if (key.length !== 32) throw new Error('a master key must be 32 bytes');
  const copy = Buffer.from(key);
  const id = Buffer.from(hkdfSync('sha256', copy, Buffer.alloc(0), 'lookout-master-key-id/v1', 32));
  return { key: copy, fingerprint: createHash('sha256').update(id).digest().subarray(0, FINGERPRINT) };
}

const aadV1 = (label: string) => Buffer.from(`lookout-key/v1:${label}`);
const aadV2 = (fingerprint: Buffer, label: string) => Buffer.from(`lookout-key/v2:${fingerprint.toString('hex')}:${label}`);

function open(key: Buffer, sealed: Buffer, aad: Buffer): Buffer | undefined {
  if (sealed.length < NONCE + TAG) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(NONCE, sealed.length - TAG)), decipher.final()]);
  } catch {
    return undefined;
  }
}

export class MasterKey {
  readonly #current: Version;
  readonly #previous: Version[];

  /** `previous`: older master keys, kept only to unwrap what `lookout keys rewrap` has not moved yet. */
  constructor(key: Buffer, previous: readonly Buffer[] = []) {
    this.#current = version(key);
    this.#previous = previous.map(version).filter((p) => !p.fingerprint.equals(this.#current.fingerprint));
  }

  static fromBase64(value: string, previous: readonly string[] = []): MasterKey {
    return new MasterKey(
      Buffer.from(value, 'base64'),
      previous.map((p) => Buffer.from(p, 'base64')),
    );
  }

  static generate(): string {
    return randomBytes(32).toString('base64');
  }

  /** The current key's fingerprint (hex): what `lookout keys rewrap` reports and moves values to. */
  get fingerprint(): string {
    return this.#current.fingerprint.toString('hex');
  }

  /** The v2 header of values wrapped under the current key (for finding the ones that are not). */
  get currentHeader(): Buffer {
    return Buffer.concat([MAGIC, this.#current.fingerprint]);
  }

  /** Encrypts `plain` under the current key, bound to `label` (the value's identity), so a wrapped value cannot be moved to another row. */
  wrap(plain: Buffer, label: string): Buffer {
    const nonce = randomBytes(NONCE);
    const cipher = createCipheriv('aes-256-gcm', this.#current.key, nonce);
    cipher.setAAD(aadV2(this.#current.fingerprint, label));
    return Buffer.concat([MAGIC, this.#current.fingerprint, nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  }

  /** True when `wrapped` is under the current key already (nothing for `rewrap` to do). */
  isCurrent(wrapped: Buffer): boolean {
    return wrapped.length > HEADER && wrapped.subarray(0, HEADER).equals(this.currentHeader);
  }

  unwrap(wrapped: Buffer, label: string): Buffer {
    const all = [this.#current, ...this.#previous];
    if (wrapped.length > HEADER + NONCE + TAG && wrapped.subarray(0, MAGIC.length).equals(MAGIC)) {
      const fingerprint = wrapped.subarray(MAGIC.length, HEADER);
      const v = all.find((k) => k.fingerprint.equals(fingerprint));
      const plain = v && open(v.key, wrapped.subarray(HEADER), aadV2(fingerprint, label));
      if (plain) return plain;
      if (!v)
        throw new Error(`cannot unwrap key ${label}: wrapped under master key ${fingerprint.toString('hex')}, which is not configured`);
    }
    // Format v1 (no fingerprint): whichever configured key opens it. (A v1 value that happens to
    // start with the magic bytes lands here too.)
    for (const v of all) {
      const plain = open(v.key, wrapped, aadV1(label));
      if (plain) return plain;
    }
    throw new Error(`cannot unwrap key ${label}: wrong master key or tampered row`);
  }

  /** A 32-byte key derived for one purpose (HKDF-SHA256) from the current key; the master key itself never leaves this object. */
  derive(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#current.key, Buffer.alloc(0), `lookout-derived/v1:${purpose}`, 32));
  }
}
