/**
 * API tokens: `lk_` followed by 256 random bits in base64url. Only the SHA-256 of the whole token is
 * stored; the token is shown once, when it is made.
 */
import { hash, randomBytes } from 'node:crypto';

export const TOKEN_PREFIX = 'lk_';
const TOKEN_PATTERN = /^lk_[A-Za-z0-9_-]{43}$/;

export function generateApiToken(): { token: string; hash: Buffer; displayHint: string } {
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashApiToken(token), displayHint: token.slice(0, TOKEN_PREFIX.length + 6) };
}

export function hashApiToken(token: string): Buffer {
  // One-shot hash: no Hash object per request.
  return hash('sha256', token, 'buffer');
}

/** Shape check before any database lookup, so garbage never reaches SQL or logs. */
export function looksLikeApiToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}
