/**
 * Platform-signed task envelopes. Every check the Platform asks a Runner to run carries claims
 * signed with the Platform's Ed25519 key: workspace, Runner, run, workflow, task, check type, a
 * digest of the parameters, issued-at and expiry. The Runner pins the Platform's public keys in its
 * policy and refuses, before it resolves anything, a task whose envelope is missing, expired, signed
 * by a key it does not pin, or names anything else than what it was asked to run. Whoever can only
 * write to Temporal (a hostile Temporal, a tenant with namespace access) cannot make one.
 */
import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from './canonical-json';

import { rawPublicKey, signingKeyId } from './ed25519';

export { publicKeyFromRaw, rawPublicKey, signingKeyId } from './ed25519';

export const TaskClaims = z.strictObject({
  v: z.literal(1),
  workspaceId: z.uuid(),
  runnerId: z.uuid(),
  runId: z.uuid(),
  workflowId: z.string().min(1).max(256),
  taskId: z.uuid(),
  checkType: z.string().min(1).max(64),
  /** `sha256:<hex>` of the canonical JSON of the parameters. */
  paramsDigest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  /** For a pack check: the digest of the pack the Runner reported; the Runner refuses to run other code under this name. */
  packDigest: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/)
    .optional(),
  issuedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
});
export type TaskClaims = z.infer<typeof TaskClaims>;

export const TaskEnvelope = z.strictObject({
  /** The signing key's id: the first 16 hex digits of the SHA-256 of its raw public key. */
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  /** base64url of the claims' canonical JSON: exactly the bytes signed. */
  claims: z.string().max(4096),
  signature: z.string().max(256),
});
export type TaskEnvelope = z.infer<typeof TaskEnvelope>;

export const paramsDigest = (params: unknown) => `sha256:${createHash('sha256').update(canonicalJson(params)).digest('hex')}`;

/** The raw 32-byte Ed25519 public key of a key object. */
export function signTaskEnvelope(privateKey: KeyObject, claims: TaskClaims): TaskEnvelope {
  const bytes = Buffer.from(canonicalJson(TaskClaims.parse(claims)), 'utf8');
  return {
    keyId: signingKeyId(rawPublicKey(privateKey)),
    claims: bytes.toString('base64url'),
    signature: sign(null, bytes, privateKey).toString('base64url'),
  };
}

/** `sha256:<hex>` of an envelope, for the Runner's own audit trail. */
export const envelopeDigest = (envelope: unknown) =>
  `sha256:${createHash('sha256')
    .update(canonicalJson(envelope ?? null))
    .digest('hex')}`;

const SKEW_MS = 5 * 60_000;

/**
 * Checks an envelope against the pinned keys and what the Runner was asked: answers the claims, or
 * the reason it is refused (never a parameter value).
 */
export function verifyTaskEnvelope(
  envelope: unknown,
  pinned: ReadonlyMap<string, KeyObject>,
  asked: Omit<TaskClaims, 'v' | 'issuedAt' | 'expiresAt' | 'paramsDigest'> & { params: unknown },
  now = Date.now(),
): { claims: TaskClaims } | { refused: string } {
  if (envelope === undefined || envelope === null) return { refused: 'the task carries no Platform signature' };
  const parsed = TaskEnvelope.safeParse(envelope);
  if (!parsed.success) return { refused: 'the task envelope is malformed' };
  const key = pinned.get(parsed.data.keyId);
  if (!key) return { refused: `the task is signed by key ${parsed.data.keyId}, which this Runner does not pin` };
  const bytes = Buffer.from(parsed.data.claims, 'base64url');
  if (!verify(null, bytes, key, Buffer.from(parsed.data.signature, 'base64url'))) return { refused: 'the task signature does not verify' };
  let claims: TaskClaims;
  try {
    claims = TaskClaims.parse(JSON.parse(bytes.toString('utf8')));
  } catch {
    return { refused: 'the signed claims are malformed' };
  }
  if (Date.parse(claims.expiresAt) < now) return { refused: 'the task envelope has expired' };
  if (Date.parse(claims.issuedAt) > now + SKEW_MS) return { refused: 'the task envelope is issued in the future' };
  for (const field of ['workspaceId', 'runnerId', 'runId', 'workflowId', 'taskId', 'checkType'] as const) {
    if (claims[field] !== asked[field]) return { refused: `the task envelope was signed for another ${field}` };
  }
  if (claims.paramsDigest !== paramsDigest(asked.params)) return { refused: 'the parameters are not those the Platform signed' };
  return { claims };
}
