/**
 * TLS settings for every server Lookout runs: TLS 1.2 at least, and only AEAD cipher suites
 * (AES-GCM, ChaCha20-Poly1305) with forward secrecy. TLS 1.3 suites are all AEAD.
 */
import type { SecureContextOptions, TlsOptions } from 'node:tls';

export const AEAD_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

export function serverTlsOptions(material: Pick<SecureContextOptions, 'cert' | 'key' | 'ca'>): TlsOptions {
  return { ...material, minVersion: 'TLSv1.2', ciphers: AEAD_CIPHERS, honorCipherOrder: true };
}
