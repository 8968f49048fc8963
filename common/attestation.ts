/**
 * Result attestation, two formats.
 *
 * v2 (Runners registered with an attestation key): an Ed25519 signature by the Runner's own key over
 * the workspace id, the run id, the Runner id and the canonical result. Only that Runner holds the
 * private half (the Platform stores the public half), so a stored result proves which Runner produced
 * it: neither another Runner of the workspace nor whoever holds the Platform's database and keys can
 * make one.
 *
 * v1 (Runners registered before): an HMAC-SHA256 under the attestation subkey of the workspace's
 * active key. It binds a result to its workspace and run, so a Runner holding another workspace's
 * keys can neither forge nor replay a result across workspaces, but anyone with the workspace key
 * could make one. Only the active key attests: a retired key only decrypts history, and a revoked
 * key is refused.
 */
import { createHmac, sign, timingSafeEqual, verify } from 'node:crypto';
import { canonicalJson } from './canonical-json';
import { publicKeyFromRaw, signingKeyId, type SigningKey } from './ed25519';
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

const FORMAT_V2 = /^v2\.([0-9a-f-]{36})\.([0-9a-f]{16})\.([A-Za-z0-9_-]{86})$/;

const signedBytes = (workspaceId: string, runId: string, runnerId: string, body: unknown) =>
  Buffer.from(canonicalJson({ v: 2, workspaceId, runId, runnerId, result: body }), 'utf8');

/** `v2.<runnerId>.<key id>.<base64url Ed25519 signature>` for `body` (the result without its attestation). */
export function attestAsRunner(key: SigningKey, runnerId: string, workspaceId: string, runId: string, body: unknown): string {
  const signature = sign(null, signedBytes(workspaceId, runId, runnerId, body), key.privateKey);
  return `v2.${runnerId}.${key.keyId}.${signature.toString('base64url')}`;
}

/** The format of an attestation: `v1` (workspace key), `v2` (a Runner's own key), or undefined. */
export function attestationFormat(attestation: string): 'v1' | 'v2' | undefined {
  return FORMAT_V2.test(attestation) ? 'v2' : FORMAT.test(attestation) ? 'v1' : undefined;
}

/**
 * Checks a v2 attestation for a run of `workspaceId` that `runner` was asked to run, against the
 * public key the Platform holds for that Runner. Returns undefined when it verifies, else the reason.
 */
export function verifyRunnerAttestation(
  runner: { id: string; publicKey: string },
  attestation: string,
  workspaceId: string,
  runId: string,
  body: unknown,
): string | undefined {
  const m = FORMAT_V2.exec(attestation);
  if (!m?.[1] || !m[2] || !m[3]) return 'attestation is malformed';
  if (m[1] !== runner.id) return 'attestation was made by another Runner';
  const publicKey = publicKeyFromRaw(runner.publicKey);
  if (m[2] !== signingKeyId(Buffer.from(runner.publicKey, 'base64'))) return "attestation was made with a key that is not the Runner's";
  if (!verify(null, signedBytes(workspaceId, runId, runner.id, body), publicKey, Buffer.from(m[3], 'base64url')))
    return "attestation does not verify under the Runner's key";
  return undefined;
}
