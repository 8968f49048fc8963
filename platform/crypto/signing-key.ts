/**
 * The Platform's task-signing key (Ed25519). It is Platform configuration, never stored: either
 * `LOOKOUT_PLATFORM_SIGNING_KEY` (base64 of a 32-byte seed, from `lookout keys signing-keygen`), or,
 * by default, derived from the master key. Rotation: generate a new key, add its public key to every
 * Runner policy's `platformKeys`, then give it to the platform worker and the API.
 */
import { createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import { rawPublicKey, signingKeyId } from '../../common/task-envelope';
import type { MasterKey } from './master-key';

/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface SigningKey {
  privateKey: KeyObject;
  /** base64 of the raw 32-byte public key: what a Runner policy pins. */
  publicKey: string;
  keyId: string;
}

export function signingKeyFromSeed(seed: Buffer): SigningKey {
  if (seed.length !== 32) throw new Error('a signing key is 32 bytes (base64)');
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const raw = rawPublicKey(privateKey);
  return { privateKey, publicKey: raw.toString('base64'), keyId: signingKeyId(raw) };
}

/** The configured signing key, or the one derived from the master key. */
export function platformSigningKey(master: MasterKey, configured?: string): SigningKey {
  return signingKeyFromSeed(configured ? Buffer.from(configured, 'base64') : master.derive('task-signing-key'));
}

/** A new signing key's seed, base64. */
export const generateSigningSeed = () => randomBytes(32).toString('base64');
