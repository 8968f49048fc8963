/**
 * Result attestation: an HMAC-SHA256, under the attestation subkey of the workspace's active key,
 * over the workspace id, the run id and the canonical result. The Platform stores a result only if
 * its attestation verifies under a key of the workspace that owns the run, so a Runner holding
 * another workspace's keys can neither forge nor replay a result across workspaces. Only the
 * active key attests: a retired key only decrypts history, and a revoked key is refused.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from './canonical-json';
import { parseKeyId, subkey, type Keyring, type WorkspaceKey } from './keyring';

const FORMAT = /^v1\.([^.]+)\.([A-Za-z0-9_-]{43})$/;

function mac(key: WorkspaceKey, workspaceId: string, runId: string, body: unknown): Buffer {
  return createHmac('sha256', subkey(key.root, 'attestation'))
    .update(canonicalJson({ v: 1, workspaceId, runId, result: body }))
    .digest();
}

/** `v1.<keyId>.<base64url mac>` for `body` (the result without its attestation). */
export function attest(key: WorkspaceKey, workspaceId: string, runId: string, body: unknown): string {
  return `v1.${key.id}.${mac(key, workspaceId, runId, body).toString('base64url')}`;
}

/**
 * Checks an attestation for a run of `workspaceId`. Returns undefined when it verifies, else the
 * reason (which never contains key material).
 */
export async function verifyAttestation(
  keyring: Keyring,
  attestation: string,
  workspaceId: string,
  runId: string,
  body: unknown,
): Promise<string | undefined> {
  const m = FORMAT.exec(attestation);
  if (!m?.[1] || !m[2]) return 'attestation is malformed';
  if (parseKeyId(m[1])?.workspaceId !== workspaceId) return 'attestation was made with a key of another workspace';
  const key = await keyring.keyById(m[1]);
  if (!key) return 'attestation names an unknown or revoked key';
  if (key.state === 'retired') return 'attestation was made with a retired key';
  const expected = mac(key, workspaceId, runId, body);
  const given = Buffer.from(m[2], 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'attestation does not verify';
  return undefined;
}
