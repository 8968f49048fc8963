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
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
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
const aadV1 = (keyId: string) => text(`lookout-payload/v1:${keyId}`);
const aadV2 = (keyId: string, workflowId: string) => text(`lookout-payload/v2\u0000${keyId}\u0000${workflowId}`);

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
  return value ? Buffer.from(value).toString('utf8') : undefined;
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
    const cipherKey = subkey(key.root, 'payload');
    return payloads.map((payload) => {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', cipherKey, nonce);
      const workflowId = context?.workflowId;
      cipher.setAAD(workflowId ? aadV2(key.id, workflowId) : aadV1(key.id));
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const sealed = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: {
          encoding: text(ENCRYPTED_ENCODING),
          [KEY_ID_METADATA]: text(key.id),
          ...(workflowId ? { [BINDING_METADATA]: text(workflowId) } : {}),
        },
        data: sealed,
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
        const data = Buffer.from(payload.data ?? new Uint8Array());
        if (data.length < NONCE_BYTES + TAG_BYTES) throw new CodecError('encrypted payload is truncated');
        const decipher = createDecipheriv('aes-256-gcm', subkey(key.root, 'payload'), data.subarray(0, NONCE_BYTES));
        decipher.setAAD(binding !== undefined ? aadV2(key.id, binding) : aadV1(key.id));
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
