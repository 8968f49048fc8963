/**
 * Application-level encryption of sensitive columns (results, task parameters, error messages):
 * AES-256-GCM under the workspace's data key, bound to the workspace and the row it belongs to, so
 * a database dump or backup holds ciphertext and a sealed value cannot be moved to another row.
 * Format: 0x01 || key version (u32 BE) || nonce (12) || ciphertext || tag (16).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { keyId, parseKeyId } from '../../common/keyring';
import type { Queryable } from '../repos/db';
import type { PlatformKeyring } from './platform-keyring';

const FORMAT = 1;

export class Sealer {
  constructor(private readonly keyring: PlatformKeyring) {}

  /** `db`: pass the transaction when the workspace's keys were created in it. */
  async seal(workspaceId: string, binding: string, value: unknown, db?: Queryable): Promise<Buffer> {
    const key = await this.keyring.activeKey(workspaceId, db);
    const version = parseKeyId(key.id)!.version;
    const header = Buffer.alloc(5);
    header.writeUInt8(FORMAT, 0);
    header.writeUInt32BE(version, 1);
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key.root, nonce);
    cipher.setAAD(Buffer.concat([header, Buffer.from(`lookout-data/v1:${workspaceId}:${binding}`)]));
    return Buffer.concat([header, nonce, cipher.update(JSON.stringify(value), 'utf8'), cipher.final(), cipher.getAuthTag()]);
  }

  async open<T>(workspaceId: string, binding: string, sealed: Buffer): Promise<T> {
    if (sealed.length < 5 + 12 + 16 || sealed.readUInt8(0) !== FORMAT) throw new Error(`sealed value for ${binding} has an unknown format`);
    const version = sealed.readUInt32BE(1);
    const key = await this.keyring.keyById(keyId(workspaceId, version));
    if (!key) throw new Error(`no data key version ${version} for the workspace of ${binding}`);
    const decipher = createDecipheriv('aes-256-gcm', key.root, sealed.subarray(5, 17));
    decipher.setAAD(Buffer.concat([sealed.subarray(0, 5), Buffer.from(`lookout-data/v1:${workspaceId}:${binding}`)]));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    try {
      return JSON.parse(Buffer.concat([decipher.update(sealed.subarray(17, sealed.length - 16)), decipher.final()]).toString('utf8')) as T;
    } catch {
      throw new Error(`sealed value for ${binding} failed authentication`);
    }
  }
}
