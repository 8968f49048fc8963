/**
 * The encrypted container of a Lookout backup file.
 *
 * ```
 * file    = prelude chunk+
 * prelude = "LOOKOUT-BACKUP" (14 bytes) | format version (u8) | header length (u32 BE) | header (JSON, UTF-8)
 * chunk   = flags (u8; bit 0 = final) | ciphertext length (u32 BE) | ciphertext | GCM tag (16 bytes)
 * ```
 *
 * The header holds the key id (the first 8 bytes of SHA-256 of the backup key, in hex), the time of
 * creation, the schema version, the compression, the chunk size and the file's random salt and
 * nonce prefix. The body (gzip-compressed) is cut into chunks of `chunkSize` plaintext bytes, each
 * sealed with AES-256-GCM under a per-file key HKDF-SHA256(backup key, salt), with the nonce
 * `prefix (8 bytes) | chunk index (u32 BE)` and the AAD `SHA-256(prelude) | chunk index (u64 BE) |
 * flags`. So every chunk authenticates the header too, and a modified byte anywhere, a dropped,
 * repeated or reordered chunk, bytes appended after the final chunk and a truncation (at a chunk
 * boundary too: the last chunk left is not marked final) all fail decryption. Plaintext is released
 * only after its chunk's tag has been verified.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { z } from 'zod';

export const BACKUP_MAGIC = Buffer.from('LOOKOUT-BACKUP', 'ascii');
export const BACKUP_FORMAT_VERSION = 1;
export const DEFAULT_CHUNK_SIZE = 1 << 20;
const MIN_CHUNK_SIZE = 256;
const MAX_CHUNK_SIZE = 16 << 20;
const MAX_HEADER = 64 * 1024;
const TAG = 16;
const FRAME = 5;
const FINAL = 0x01;

/** The clear-text header of a backup: read before the key is used, authenticated with every chunk. */
export const BackupHeader = z.strictObject({
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  createdAt: z.iso.datetime(),
  schemaVersion: z.number().int().min(0),
  compression: z.literal('gzip'),
  chunkSize: z.number().int().min(MIN_CHUNK_SIZE).max(MAX_CHUNK_SIZE),
  salt: z.string().regex(/^[0-9a-f]{64}$/),
  noncePrefix: z.string().regex(/^[0-9a-f]{16}$/),
});
export type BackupHeader = z.infer<typeof BackupHeader>;

/** A backup file that cannot be used; `message` is meant for the operator as it is (no secrets, no content). */
export class BackupFileError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BackupFileError';
  }
}

export const TAMPERED = 'the backup file is truncated or was modified';

/** The key id written in a backup's header: the first 8 bytes of SHA-256 of the key, in hex. */
export function backupKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest().subarray(0, 8).toString('hex');
}

function fileKey(key: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', key, salt, 'lookout-backup/v1 file key', 32));
}

function nonce(prefix: Buffer, index: number): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0, 0, 8);
  n.writeUInt32BE(index, 8);
  return n;
}

function aad(preludeHash: Buffer, index: number, flags: number): Buffer {
  const a = Buffer.alloc(32 + 8 + 1);
  preludeHash.copy(a, 0);
  a.writeBigUInt64BE(BigInt(index), 32);
  a.writeUInt8(flags, 40);
  return a;
}

/** A FIFO of byte buffers that avoids re-copying on every push. */
class ByteQueue {
  #parts: Buffer[] = [];
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#parts.push(chunk);
    this.length += chunk.length;
  }

  /** Removes and returns the first `n` bytes (`n` ≤ length). */
  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.#parts[0]!;
      const used = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, used);
      filled += used;
      if (used === head.length) this.#parts.shift();
      else this.#parts[0] = head.subarray(used);
    }
    this.length -= n;
    return out;
  }

  /** The first `n` bytes, left in place. */
  peek(n: number): Buffer {
    const out = this.take(n);
    this.#parts.unshift(out);
    this.length += n;
    return out;
  }
}

function encodePrelude(header: BackupHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const fixed = Buffer.alloc(BACKUP_MAGIC.length + 1 + 4);
  BACKUP_MAGIC.copy(fixed, 0);
  fixed.writeUInt8(BACKUP_FORMAT_VERSION, BACKUP_MAGIC.length);
  fixed.writeUInt32BE(json.length, BACKUP_MAGIC.length + 1);
  return Buffer.concat([fixed, json]);
}

/** Cuts plaintext into chunks and seals them; writes the prelude first. */
class SealStream extends Transform {
  readonly #key: Buffer;
  readonly #prefix: Buffer;
  readonly #preludeHash: Buffer;
  readonly #chunkSize: number;
  readonly #pending = new ByteQueue();
  #index = 0;

  constructor(key: Buffer, header: BackupHeader, prelude: Buffer) {
    super();
    this.#key = fileKey(key, Buffer.from(header.salt, 'hex'));
    this.#prefix = Buffer.from(header.noncePrefix, 'hex');
    this.#preludeHash = createHash('sha256').update(prelude).digest();
    this.#chunkSize = header.chunkSize;
    this.push(prelude);
  }

  #seal(plain: Buffer, final: boolean): void {
    if (this.#index > 0xffffffff) throw new Error('backup too large for one file');
    const flags = final ? FINAL : 0;
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce(this.#prefix, this.#index));
    cipher.setAAD(aad(this.#preludeHash, this.#index, flags));
    const body = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    const frame = Buffer.alloc(FRAME);
    frame.writeUInt8(flags, 0);
    frame.writeUInt32BE(plain.length, 1);
    this.push(Buffer.concat([frame, body]));
    this.#index++;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.#pending.push(chunk);
      // Keep at least one byte back: only the flush knows which chunk is the last one.
      while (this.#pending.length > this.#chunkSize) this.#seal(this.#pending.take(this.#chunkSize), false);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      this.#seal(this.#pending.take(this.#pending.length), true);
      done();
    } catch (err) {
      done(err as Error);
    }
  }
}

/** Verifies and opens chunks; fails with {@link TAMPERED} on any mismatch or a missing final chunk. */
class OpenStream extends Transform {
  readonly #key: Buffer;
  readonly #prefix: Buffer;
  readonly #preludeHash: Buffer;
  readonly #chunkSize: number;
  readonly #pending = new ByteQueue();
  #index = 0;
  #finished = false;

  constructor(key: Buffer, header: BackupHeader, prelude: Buffer) {
    super();
    this.#key = fileKey(key, Buffer.from(header.salt, 'hex'));
    this.#prefix = Buffer.from(header.noncePrefix, 'hex');
    this.#preludeHash = createHash('sha256').update(prelude).digest();
    this.#chunkSize = header.chunkSize;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#pending.push(chunk);
    try {
      for (;;) {
        if (this.#finished) {
          if (this.#pending.length > 0) throw new BackupFileError(TAMPERED);
          break;
        }
        if (this.#pending.length < FRAME) break;
        const frame = this.#pending.peek(FRAME);
        const flags = frame.readUInt8(0);
        const length = frame.readUInt32BE(1);
        if ((flags & ~FINAL) !== 0 || length > this.#chunkSize || (!(flags & FINAL) && length !== this.#chunkSize))
          throw new BackupFileError(TAMPERED);
        if (this.#pending.length < FRAME + length + TAG) break;
        this.#pending.take(FRAME);
        const body = this.#pending.take(length + TAG);
        this.push(this.#open(body, flags));
        this.#index++;
        if (flags & FINAL) this.#finished = true;
      }
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  #open(body: Buffer, flags: number): Buffer {
    if (this.#index > 0xffffffff) throw new BackupFileError(TAMPERED);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, nonce(this.#prefix, this.#index));
    decipher.setAAD(aad(this.#preludeHash, this.#index, flags));
    decipher.setAuthTag(body.subarray(body.length - TAG));
    try {
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG)), decipher.final()]);
    } catch (err) {
      throw new BackupFileError(TAMPERED, { cause: err });
    }
  }

  override _flush(done: TransformCallback): void {
    done(this.#finished && this.#pending.length === 0 ? null : new BackupFileError(TAMPERED));
  }
}

/** What {@link writeBackupFile} records in the header besides the crypto parameters. */
export interface BackupMeta {
  schemaVersion: number;
  createdAt: string;
  /** Plaintext bytes per chunk; default 1 MiB. */
  chunkSize?: number;
}

/**
 * Writes `body` (the plaintext, compressed here) to `file` as an encrypted backup under `key`
 * (32 bytes). The file is written beside its destination with mode 0600 and renamed into place
 * only when complete, so a failed backup never leaves a partial file under the final name; an
 * existing `file` is replaced. Returns the file's size in bytes.
 */
export async function writeBackupFile(file: string, key: Buffer, meta: BackupMeta, body: AsyncIterable<Buffer>): Promise<number> {
  if (key.length !== 32) throw new Error('the backup key must be 32 bytes');
  const header = BackupHeader.parse({
    keyId: backupKeyId(key),
    createdAt: meta.createdAt,
    schemaVersion: meta.schemaVersion,
    compression: 'gzip',
    chunkSize: meta.chunkSize ?? DEFAULT_CHUNK_SIZE,
    salt: randomBytes(32).toString('hex'),
    noncePrefix: randomBytes(8).toString('hex'),
  });
  const prelude = encodePrelude(header);
  const partial = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.partial`);
  const out = createWriteStream(partial, { flags: 'wx', mode: 0o600 });
  try {
    await pipeline(Readable.from(body, { objectMode: false }), createGzip({ level: 6 }), new SealStream(key, header, prelude), out);
    const handle = await open(partial, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(partial, file);
    return out.bytesWritten;
  } catch (err) {
    await unlink(partial).catch(() => undefined);
    throw err;
  }
}

function isZlibError(err: unknown): boolean {
  return (
    err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).code!.startsWith('Z_')
  );
}

/** The header of a backup file and where its chunks start. */
export interface OpenedHeader {
  header: BackupHeader;
  prelude: Buffer;
  bodyOffset: number;
}

/**
 * Reads and checks the prelude of `file` (magic, format version, header shape). Does not need the
 * key; nothing in the header is trusted until a chunk has been verified with it.
 */
export async function readBackupHeader(file: string): Promise<OpenedHeader> {
  const handle = await open(file, 'r');
  try {
    const fixedLength = BACKUP_MAGIC.length + 5;
    const fixed = Buffer.alloc(fixedLength);
    const { bytesRead } = await handle.read(fixed, 0, fixedLength, 0);
    const seen = fixed.subarray(0, Math.min(bytesRead, BACKUP_MAGIC.length));
    if (!seen.equals(BACKUP_MAGIC.subarray(0, seen.length))) {
      throw new BackupFileError(`${file} is not a Lookout backup file`);
    }
    if (bytesRead < fixedLength) throw new BackupFileError(TAMPERED);
    const version = fixed.readUInt8(BACKUP_MAGIC.length);
    if (version !== BACKUP_FORMAT_VERSION) {
      throw new BackupFileError(`backup format version ${version} is not supported (this Lookout reads version ${BACKUP_FORMAT_VERSION})`);
    }
    const length = fixed.readUInt32BE(BACKUP_MAGIC.length + 1);
    if (length > MAX_HEADER) throw new BackupFileError(TAMPERED);
    const json = Buffer.alloc(length);
    const read = await handle.read(json, 0, length, fixedLength);
    if (read.bytesRead < length) throw new BackupFileError(TAMPERED);
    let parsed: unknown;
    try {
      parsed = JSON.parse(json.toString('utf8'));
    } catch (err) {
      throw new BackupFileError(TAMPERED, { cause: err });
    }
    const header = BackupHeader.safeParse(parsed);
    if (!header.success) throw new BackupFileError(TAMPERED);
    return { header: header.data, prelude: Buffer.concat([fixed, json]), bodyOffset: fixedLength + length };
  } finally {
    await handle.close();
  }
}

/** Fails with a clear message when `key` is not the key `header` was written under. */
export function assertKeyMatches(header: BackupHeader, key: Buffer): void {
  const given = backupKeyId(key);
  if (given !== header.keyId) {
    throw new BackupFileError(`the backup key does not match this backup (key id ${header.keyId}; the key given has key id ${given})`);
  }
}

/**
 * Verifies every chunk of `file` under `key` without keeping any plaintext: succeeds only for a
 * complete, unmodified backup made with this key. Reads the whole file once.
 */
export async function verifyBackupFile(file: string, key: Buffer): Promise<BackupHeader> {
  const opened = await readBackupHeader(file);
  assertKeyMatches(opened.header, key);
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  await pipeline(createReadStream(file, { start: opened.bodyOffset }), new OpenStream(key, opened.header, opened.prelude), sink);
  return opened.header;
}

/**
 * The decompressed plaintext of `file`, in pieces, each released only after its chunk verified.
 * A truncated or modified file fails with {@link BackupFileError} when the bad chunk is reached,
 * so a consumer that must not act on a partial body verifies the file first
 * ({@link verifyBackupFile}) or undoes its work on error.
 */
export async function* readBackupBody(file: string, key: Buffer): AsyncGenerator<Buffer> {
  const opened = await readBackupHeader(file);
  assertKeyMatches(opened.header, key);
  const gunzip = createGunzip();
  const piped = pipeline(createReadStream(file, { start: opened.bodyOffset }), new OpenStream(key, opened.header, opened.prelude), gunzip);
  // Errors of any stage destroy `gunzip` with that error and so surface through the loop below.
  piped.catch(() => undefined);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
    await piped;
  } catch (err) {
    // A gzip stream that does not decode, inside chunks that verified: not made by `lookout backup`.
    if (isZlibError(err)) throw new BackupFileError(TAMPERED, { cause: err });
    throw err;
  } finally {
    gunzip.destroy();
  }
}
