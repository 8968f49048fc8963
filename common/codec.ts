/**
 * The payload codec: every payload Temporal stores is AES-256-GCM ciphertext under the active key of
 * the workspace it belongs to. A 96-bit random nonce per payload; the key id travels in metadata.
 *
 * Format v2 (written since issue 15) binds each payload to the workflow it was written for: the
 * workflow id (in clear in Temporal anyway) travels in metadata and both it and the key id are the
 * additional authenticated data, so a payload can be neither relabelled to another key nor copied
 * into another workflow. Decoding with a serialization context refuses a payload whose key belongs
 * to another workspace than the context's workflow id, or whose binding names another workflow
 * (a schedule's runs, `<id>-<start time>`, accept the schedule's `<id>`). Format v1 (key id only)
 * still decodes, for histories written before, but only under a key of the context's workspace.
 * Nothing passes through: a plaintext payload, an unknown key or tampered bytes fail loudly.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { Payload, PayloadCodec, SerializationContext } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { workspaceOfWorkflowId } from './ids';
import { subkey, type Keyring } from './keyring';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
/** Format v2: the workflow id the payload is bound to. */
export const BINDING_METADATA = 'encryption-binding';
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
const ENCRYPTED_ENCODING_BYTES = text(ENCRYPTED_ENCODING);

/**
 * Small caches of what every payload of one key and workflow repeats: the additional data and the
 * metadata values. Bounded (cleared when full); the buffers are never written to after creation.
 */
const CACHE_LIMIT = 1024;
function cached<T>(cache: Map<string, T>, key: string, make: () => T): T {
  let value = cache.get(key);
  if (value === undefined) {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    value = make();
    cache.set(key, value);
  }
  return value;
}
const textCache = new Map<string, Buffer>();
const aadCache = new Map<string, Buffer>();
const cachedText = (s: string) => cached(textCache, s, () => text(s));
const aadV1 = (keyId: string) => cached(aadCache, `1\u0000${keyId}`, () => text(`lookout-payload/v1:${keyId}`));
const aadV2 = (keyId: string, workflowId: string) =>
  cached(aadCache, `2\u0000${keyId}\u0000${workflowId}`, () => text(`lookout-payload/v2\u0000${keyId}\u0000${workflowId}`));

/**
 * The payload subkey as a KeyObject: a cipher made from a KeyObject skips importing the raw key
 * again for every payload, which costs more than encrypting a small one. Cached per subkey buffer.
 */
const keyObjects = new WeakMap<Buffer, KeyObject>();
function payloadKey(root: Buffer): KeyObject {
  const raw = subkey(root, 'payload');
  let key = keyObjects.get(raw);
  if (!key) {
    key = createSecretKey(raw);
    keyObjects.set(raw, key);
  }
  return key;
}

/**
 * Nonces are cut from a block of random bytes drawn at once (one call into the CSPRNG per 256
 * payloads instead of one each); every nonce is used once and copied into its payload.
 */
const NONCE_BLOCK = NONCE_BYTES * 256;
let nonceBlock = Buffer.alloc(0);
let nonceOffset = 0;
function freshNonce(): Buffer {
  if (nonceOffset + NONCE_BYTES > nonceBlock.length) {
    nonceBlock = randomBytes(NONCE_BLOCK);
    nonceOffset = 0;
  }
  const nonce = nonceBlock.subarray(nonceOffset, nonceOffset + NONCE_BYTES);
  nonceOffset += NONCE_BYTES;
  return nonce;
}

/** A view of bytes as a Buffer, without copying them. */
const view = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

const PayloadProto = temporal.api.common.v1.Payload;
/** Protobuf tag of `Payload.data`: field 2, wire type 2 (length-delimited). */
const DATA_TAG = (2 << 3) | 2;

/** A protobuf varint's length in bytes. */
const varintLength = (v: number) => (v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5);

function writeVarint(out: Buffer, at: number, value: number): number {
  let v = value;
  let i = at;
  while (v > 0x7f) {
    out[i++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[i++] = v;
  return i;
}

/** Protobuf tag of a `metadata` map entry (field 1) and of an entry's key and value: wire type 2. */
const METADATA_TAG = (1 << 3) | 2;
const ENTRY_KEY_TAG = (1 << 3) | 2;
const ENTRY_VALUE_TAG = (2 << 3) | 2;
/** Surrogates: protobufjs and Buffer write a lone one differently, so such keys take the generic encoder. */
const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * The metadata map and the `data` field's tag and length, as `Payload.encode` writes them (map
 * entries in key order of `Object.keys`, each key and value written even when empty); undefined when
 * a key or value is of a kind only the generic encoder handles.
 */
function prefixOf(metadata: Record<string, Uint8Array> | null | undefined, dataLength: number): Buffer | undefined {
  const keys = metadata ? Object.keys(metadata) : [];
  const entries: { key: string; keyBytes: number; value: Uint8Array; entryBytes: number }[] = [];
  let total = dataLength > 0 ? 1 + varintLength(dataLength) : 0;
  for (const key of keys) {
    const value = metadata![key];
    if (!(value instanceof Uint8Array) || SURROGATE.test(key)) return undefined;
    const keyBytes = Buffer.byteLength(key, 'utf8');
    const entryBytes = 1 + varintLength(keyBytes) + keyBytes + 1 + varintLength(value.length) + value.length;
    entries.push({ key, keyBytes, value, entryBytes });
    total += 1 + varintLength(entryBytes) + entryBytes;
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const { key, keyBytes, value, entryBytes } of entries) {
    out[at++] = METADATA_TAG;
    at = writeVarint(out, at, entryBytes);
    out[at++] = ENTRY_KEY_TAG;
    at = writeVarint(out, at, keyBytes);
    at += out.write(key, at, 'utf8');
    out[at++] = ENTRY_VALUE_TAG;
    at = writeVarint(out, at, value.length);
    out.set(value, at);
    at += value.length;
  }
  if (dataLength > 0) {
    out[at++] = DATA_TAG;
    writeVarint(out, at, dataLength);
  }
  return out;
}

/**
 * A payload's protobuf encoding (`Payload.encode(payload).finish()`, byte for byte) as the parts to
 * encrypt in order: the fields before `data` and the header of `data`, then the data bytes themselves,
 * not copied. Payloads with fields after `data` (external payloads, unknown fields) are encoded whole.
 */
export function payloadWireParts(payload: Payload): Uint8Array[] {
  const data = payload.data as Uint8Array | string | null | undefined;
  const extra = payload as { externalPayloads?: unknown[] | null; $unknowns?: unknown };
  if ((extra.externalPayloads != null && extra.externalPayloads.length > 0) || extra.$unknowns != null || typeof data === 'string') {
    return [PayloadProto.encode(payload).finish()];
  }
  const dataLength = data != null && Object.hasOwn(payload, 'data') ? data.length : 0;
  // Written by hand per the protobuf wire format (the property test holds it to `Payload.encode`).
  const prefix = prefixOf(Object.hasOwn(payload, 'metadata') ? payload.metadata : undefined, dataLength);
  if (!prefix) return [PayloadProto.encode(payload).finish()];
  return dataLength > 0 ? [prefix, data!] : [prefix];
}

/** A schedule's runs get `<schedule action workflow id>-<RFC 3339 start time>`. */
const SCHEDULED_SUFFIX = /-\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const scheduleBase = (workflowId: string) => workflowId.replace(SCHEDULED_SUFFIX, '');

/**
 * True when a payload bound to `binding` may be read in workflow `workflowId`: the same workflow, or
 * runs of one schedule (the schedule's arguments, and the previous run's result each run is given).
 */
export function bindingMatches(binding: string, workflowId: string): boolean {
  return binding === workflowId || (SCHEDULED_SUFFIX.test(workflowId) && scheduleBase(binding) === scheduleBase(workflowId));
}

/** Why a payload was refused, for the operator's log and audit (never payload data). */
export interface CodecRefusal {
  workflowId: string;
  reason: string;
}

function metadataString(payload: Payload, key: string): string | undefined {
  const value = payload.metadata?.[key];
  return value ? view(value).toString('utf8') : undefined;
}

/** The workspace a serialization context belongs to, from the workflow id. */
export function workspaceOfContext(context: SerializationContext | undefined): string | undefined {
  return context?.workflowId ? workspaceOfWorkflowId(context.workflowId) : undefined;
}

export class WorkspaceCodec implements PayloadCodec {
  constructor(
    private readonly keyring: Keyring,
    /** Told of every payload refused for its serialization context (another workspace, another workflow). */
    private readonly onRefusal?: (refusal: CodecRefusal) => void,
  ) {}

  async encode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    if (payloads.length === 0) return payloads;
    const workspaceId = workspaceOfContext(context) ?? this.keyring.soleWorkspaceId;
    let key;
    if (workspaceId) key = await this.keyring.activeKey(workspaceId);
    else if (this.keyring.internalKey) key = await this.keyring.internalKey();
    else throw new CodecError('cannot choose an encryption key: the workflow id names no workspace');
    const cipherKey = payloadKey(key.root);
    const workflowId = context?.workflowId;
    const aad = workflowId ? aadV2(key.id, workflowId) : aadV1(key.id);
    const keyIdBytes = cachedText(key.id);
    const bindingBytes = workflowId ? cachedText(workflowId) : undefined;
    return payloads.map((payload) => {
      const nonce = freshNonce();
      const cipher = createCipheriv('aes-256-gcm', cipherKey, nonce);
      cipher.setAAD(aad);
      // The same bytes as encrypting `Payload.encode(payload).finish()`, without copying the data
      // into a protobuf buffer first: the small prefix and the data are fed to the cipher in turn.
      const sealed: Buffer[] = [nonce];
      for (const part of payloadWireParts(payload)) sealed.push(cipher.update(part));
      sealed.push(cipher.final(), cipher.getAuthTag());
      return {
        metadata: {
          encoding: ENCRYPTED_ENCODING_BYTES,
          [KEY_ID_METADATA]: keyIdBytes,
          ...(bindingBytes ? { [BINDING_METADATA]: bindingBytes } : {}),
        },
        data: Buffer.concat(sealed),
      };
    });
  }

  async decode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    // Workflow-owned payloads (inputs, signals, child workflows, results a client reads) are held
    // to their workflow, and so are activity inputs a Runner reads (its keyring is one workspace's).
    // Activity results the Platform reads are not: a Runner's result is judged by its attestation
    // (storeResult), which ends the run `rejected`, whereas a refusal here would fail the workflow
    // task forever and leave the run hanging.
    const strict = context?.type === 'workflow' || (context?.type === 'activity' && this.keyring.soleWorkspaceId !== undefined);
    const workflowId = strict ? context.workflowId : undefined;
    const contextWorkspace = workflowId ? workspaceOfWorkflowId(workflowId) : undefined;
    const refuse = (reason: string): never => {
      if (workflowId) this.onRefusal?.({ workflowId, reason });
      throw new CodecError(reason);
    };
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
        // A payload of another workspace never decodes in this workflow, whatever key it names.
        if (contextWorkspace && key.workspaceId !== contextWorkspace)
          refuse(`payload under key ${keyId} belongs to another workspace than workflow ${workflowId}`);
        const binding = metadataString(payload, BINDING_METADATA);
        if (binding !== undefined && workflowId && !bindingMatches(binding, workflowId))
          refuse(`payload bound to workflow ${binding}, not to ${workflowId}`);
        // A view: the ciphertext is read where it lies, never copied.
        const data = view(payload.data ?? new Uint8Array());
        if (data.length < NONCE_BYTES + TAG_BYTES) throw new CodecError('encrypted payload is truncated');
        const decipher = createDecipheriv('aes-256-gcm', payloadKey(key.root), data.subarray(0, NONCE_BYTES));
        decipher.setAAD(binding !== undefined ? aadV2(key.id, binding) : aadV1(key.id));
        decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
        let plain: Buffer;
        try {
          plain = decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES));
          // GCM's final() returns no bytes; it checks the tag. Nothing is read before it has.
          const rest = decipher.final();
          if (rest.length > 0) plain = Buffer.concat([plain, rest]);
        } catch {
          throw new CodecError(`encrypted payload failed authentication under key ${keyId} (tampered or wrong key)`);
        }
        return PayloadProto.decode(plain);
      }),
    );
  }
}
