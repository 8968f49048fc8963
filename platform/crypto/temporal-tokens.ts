/**
 * Temporal credentials the Platform issues: ES256 JWTs in the form Temporal's own JWT claim mapper
 * reads (`sub`, `permissions: ["<namespace>:<role>"]`), signed with a P-256 key that is Platform
 * configuration (LOOKOUT_TEMPORAL_TOKEN_KEY_FILE), never stored in PostgreSQL. A Runner's token names
 * its workspace's namespace with the `worker` role only; the Temporal server trusts the public key
 * through the JWKS the API publishes (`/.well-known/lookout/temporal-jwks.json`, the
 * `global.authorization.jwtKeyProvider.keySourceURIs` of its configuration).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

export type TemporalRole = 'worker' | 'read' | 'write' | 'admin';

export interface TemporalTokenIssuer {
  /** The key id: the RFC 7638 thumbprint of the public key. */
  readonly kid: string;
  /** A token for `permissions` (e.g. `["lookout-<ws>:worker"]`), valid `ttlDays`. */
  issue(subject: string, permissions: string[], ttlDays?: number): { token: string; expiresAt: string };
  /** A Runner's token: its namespace, the worker role, nothing else. */
  issueRunner(runnerId: string, namespace: string, ttlDays?: number): { token: string; expiresAt: string };
  /** The JWKS a Temporal server fetches to verify the tokens. */
  jwks(): { keys: Record<string, string>[] };
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/** A new P-256 private key in PEM (`lookout temporal-keygen`). */
export function generateTemporalTokenKey(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export function createTemporalTokenIssuer(privateKeyPem: string, defaultTtlDays = 90): TemporalTokenIssuer {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch {
    throw new Error('the Temporal token key is not a PEM private key');
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new Error('the Temporal token key must be an EC P-256 key (lookout temporal-keygen)');
  const jwk = createPublicKey(key).export({ format: 'jwk' }) as Record<string, string>;
  // RFC 7638: the required members in lexicographic order, no spaces.
  const kid = b64url(
    createHash('sha256')
      .update(JSON.stringify({ crv: jwk['crv'], kty: jwk['kty'], x: jwk['x'], y: jwk['y'] }))
      .digest(),
  );
  const issue = (subject: string, permissions: string[], ttlDays = defaultTtlDays) => {
    const now = Math.floor(Date.now() / 1000);
    const exp = now + Math.round(ttlDays * 86_400);
    const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid }));
    const payload = b64url(JSON.stringify({ sub: subject, permissions, iat: now, exp, iss: 'lookout' }));
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), { key, dsaEncoding: 'ieee-p1363' });
    return { token: `${header}.${payload}.${b64url(signature)}`, expiresAt: new Date(exp * 1000).toISOString() };
  };
  return {
    kid,
    issue,
    issueRunner: (runnerId, namespace, ttlDays) => issue(`lookout-runner:${runnerId}`, [`${namespace}:worker`], ttlDays),
    jwks: () => ({ keys: [{ kty: jwk['kty']!, crv: jwk['crv']!, x: jwk['x']!, y: jwk['y']!, kid, alg: 'ES256', use: 'sig' }] }),
  };
}
