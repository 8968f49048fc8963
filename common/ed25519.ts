/**
 * Ed25519 keys as Lookout passes them around: a private key is its 32-byte seed in base64, a public
 * key its raw 32 bytes in base64, and a key id the first 16 hex digits of the public key's SHA-256.
 * Used by the Platform's task-signing key and by each Runner's result-attestation key.
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';

/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface SigningKey {
  privateKey: KeyObject;
  /** base64 of the raw 32-byte public key (what a Runner policy pins, what the Platform stores of a Runner). */
  publicKey: string;
  keyId: string;
}

/** The raw 32 bytes of an Ed25519 public key (or of the public half of a private key). */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return Buffer.from(String(jwk.x), 'base64url');
}

export const signingKeyId = (rawPublic: Buffer) => createHash('sha256').update(rawPublic).digest('hex').slice(0, 16);

/** A public key from its raw 32 bytes (base64). Throws on anything else. */
export function publicKeyFromRaw(base64: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(base64, 'base64').toString('base64url') }, format: 'jwk' });
}

export function signingKeyFromSeed(seed: Buffer): SigningKey {
  if (seed.length !== 32) throw new Error('an Ed25519 key is a 32-byte seed (base64)');
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const raw = rawPublicKey(privateKey);
  return { privateKey, publicKey: raw.toString('base64'), keyId: signingKeyId(raw) };
}

/** A new key's seed, base64. */
export const generateSigningSeed = () => randomBytes(32).toString('base64');

/** True when `base64` is a raw Ed25519 public key. */
export function isRawPublicKey(base64: string): boolean {
  if (!/^[A-Za-z0-9+/]{43}=$/.test(base64)) return false;
  try {
    publicKeyFromRaw(base64);
    return true;
  } catch {
    return false;
  }
}
