/**
 * The Platform's task-signing key (Ed25519). It is Platform configuration, never stored: either
 * `LOOKOUT_PLATFORM_SIGNING_KEY` (base64 of a 32-byte seed, from `lookout keys signing-keygen`), or,
 * by default, derived from the master key. Rotation: generate a new key, add its public key to every
 * Runner policy's `platformKeys`, then give it to the platform worker and the API.
 */
import { signingKeyFromSeed, type SigningKey } from '../../common/ed25519';
import type { MasterKey } from './master-key';

export { generateSigningSeed, signingKeyFromSeed, type SigningKey } from '../../common/ed25519';

/** The configured signing key, or the one derived from the master key. */
export function platformSigningKey(master: MasterKey, configured?: string): SigningKey {
  return signingKeyFromSeed(configured ? Buffer.from(configured, 'base64') : master.derive('task-signing-key'));
}
