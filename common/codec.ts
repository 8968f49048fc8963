/**
 * The payload codec: every payload Temporal stores is AES-256-GCM ciphertext under the active key of
 * the workspace it belongs to. A 96-bit random nonce per payload; the key id travels in metadata
 * and is bound as additional authenticated data, so a payload cannot be relabelled to another key.
 * Nothing passes through: a plaintext payload, an unknown key or tampered bytes fail loudly.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec, SerializationContext } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { workspaceOfWorkflowId } from './ids';
import { subkey, type Keyring } from './keyring';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A payload that cannot be encrypted or decrypted; the message never contains payload data. */
export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

const text = (s: string) => Buffer.from(s, 'utf8');
const aad = (keyId: string) => text(`lookout-payload/v1:${keyId}`);

function metadataString(payload: Payload, key: string): string | undefined {
  const value = payload.metadata?.[key];
  return value ? Buffer.from(value).toString('utf8') : undefined;
}

/** The workspace a serialization context belongs to, from the workflow id. */
export function workspaceOfContext(context: SerializationContext | undefined): string | undefined {
  return context?.workflowId ? workspaceOfWorkflowId(context.workflowId) : undefined;
}

export class WorkspaceCodec implements PayloadCodec {
  constructor(private readonly keyring: Keyring) {}

  async encode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    if (payloads.length === 0) return payloads;
    const workspaceId = workspaceOfContext(context) ?? this.keyring.soleWorkspaceId;
    if (!workspaceId) throw new CodecError('cannot choose an encryption key: the workflow id names no workspace');
    const key = await this.keyring.activeKey(workspaceId);
    const cipherKey = subkey(key.root, 'payload');
    return payloads.map((payload) => {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', cipherKey, nonce);
      cipher.setAAD(aad(key.id));
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const sealed = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: text(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: text(key.id) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(
      payloads.map(async (payload) => {
        const encoding = metadataString(payload, 'encoding');
        if (encoding !== ENCRYPTED_ENCODING) {
          throw new CodecError(`refusing a payload with encoding ${JSON.stringify(encoding ?? 'none')} where ciphertext is required`);
        }
        const keyId = metadataString(payload, KEY_ID_METADATA);
        if (!keyId) throw new CodecError('encrypted payload without a key id');
        const key = await this.keyring.keyById(keyId);
        if (!key) throw new CodecError(`no key ${keyId} in this keyring`);
        const data = Buffer.from(payload.data ?? new Uint8Array());
        if (data.length < NONCE_BYTES + TAG_BYTES) throw new CodecError('encrypted payload is truncated');
        const decipher = createDecipheriv('aes-256-gcm', subkey(key.root, 'payload'), data.subarray(0, NONCE_BYTES));
        decipher.setAAD(aad(key.id));
        decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
        let plain: Buffer;
        try {
          plain = Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]);
        } catch {
          throw new CodecError(`encrypted payload failed authentication under key ${keyId} (tampered or wrong key)`);
        }
        return temporal.api.common.v1.Payload.decode(plain);
      }),
    );
  }
}
