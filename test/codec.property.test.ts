/**
 * The payload codec writes the same bytes as before its copy-free encoder (issue 17): the protobuf
 * it encrypts is `Payload.encode(payload).finish()` byte for byte, ciphertexts written by the former
 * encoder (and the committed ones) decode, and what it writes decodes with the former decoder, so
 * stored histories and workers of the previous release keep working.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Payload, SerializationContext } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import fc from 'fast-check';
import { BINDING_METADATA, ENCRYPTED_ENCODING, KEY_ID_METADATA, payloadWireParts, WorkspaceCodec } from '../common/codec';
import { keyId, StaticKeyring, subkey } from '../common/keyring';

const PayloadProto = temporal.api.common.v1.Payload;

// Keys in ASCII, in any Unicode, and with lone surrogates (which the encoder leaves to protobufjs).
const keyArb = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ maxLength: 20, unit: 'grapheme' }),
  fc.string({ maxLength: 20, unit: 'binary' }),
);
const metadataArb = fc.dictionary(keyArb, fc.uint8Array({ maxLength: 300 }), { maxKeys: 6 });
const payloadArb: fc.Arbitrary<Payload> = fc.record(
  {
    metadata: metadataArb,
    // Up to 70 000 bytes: lengths whose varint takes one, two and three bytes.
    data: fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.integer({ min: 0, max: 70_000 }).map((n) => new Uint8Array(randomBytes(n))),
    ),
  },
  { requiredKeys: [] },
);

const ws = randomUUID();
const id = keyId(ws, 1);
const root = randomBytes(32);
const keyring = new StaticKeyring({ workspaceId: ws, activeKeyId: id, keys: [{ id, key: root.toString('base64') }] });
const workflowId = `ws-${ws}.run-${randomUUID()}`;
const context: SerializationContext = { type: 'workflow', namespace: 'default', workflowId };

/** The encoder as it was before issue 17: the whole protobuf in one buffer, then one concatenation. */
function formerEncode(payload: Payload, bindTo?: string): Payload {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', subkey(root, 'payload'), nonce);
  cipher.setAAD(Buffer.from(bindTo ? `lookout-payload/v2\u0000${id}\u0000${bindTo}` : `lookout-payload/v1:${id}`, 'utf8'));
  const plain = PayloadProto.encode(payload).finish();
  return {
    metadata: {
      encoding: Buffer.from(ENCRYPTED_ENCODING),
      [KEY_ID_METADATA]: Buffer.from(id),
      ...(bindTo ? { [BINDING_METADATA]: Buffer.from(bindTo) } : {}),
    },
    data: Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]),
  };
}

/** The decoder as it was before issue 17. */
function formerDecode(sealed: Payload): Payload {
  const data = Buffer.from(sealed.data!);
  const binding = sealed.metadata?.[BINDING_METADATA];
  const decipher = createDecipheriv('aes-256-gcm', subkey(root, 'payload'), data.subarray(0, 12));
  decipher.setAAD(
    Buffer.from(binding ? `lookout-payload/v2\u0000${id}\u0000${Buffer.from(binding).toString()}` : `lookout-payload/v1:${id}`, 'utf8'),
  );
  decipher.setAuthTag(data.subarray(data.length - 16));
  return PayloadProto.decode(Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]));
}

/** A payload as protobuf gives it back: the bytes that are on the wire, compared as plain arrays. */
const normal = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, [...v]])),
  data: p.data && p.data.length > 0 ? [...p.data] : undefined,
});

describe('the copy-free payload encoder', () => {
  it('writes exactly the bytes of Payload.encode(payload).finish()', () => {
    fc.assert(
      fc.property(payloadArb, (payload) => {
        const parts = Buffer.concat(payloadWireParts(payload));
        expect(parts.equals(Buffer.from(PayloadProto.encode(payload).finish()))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('round-trips payloads with and without a workflow binding, and the former decoder reads them', async () => {
    const codec = new WorkspaceCodec(keyring);
    await fc.assert(
      fc.asyncProperty(payloadArb, fc.boolean(), async (payload, bound) => {
        const [sealed] = await codec.encode([payload], bound ? context : undefined);
        expect(sealed!.metadata?.[BINDING_METADATA] !== undefined).toBe(bound);
        const [decoded] = await codec.decode([sealed!], bound ? context : undefined);
        expect(normal(decoded!)).toEqual(normal(payload));
        expect(normal(formerDecode(sealed!))).toEqual(normal(payload));
      }),
      { numRuns: 150 },
    );
  });

  it('decodes ciphertexts of the former encoder', async () => {
    const codec = new WorkspaceCodec(keyring);
    await fc.assert(
      fc.asyncProperty(payloadArb, fc.boolean(), async (payload, bound) => {
        const [decoded] = await codec.decode([formerEncode(payload, bound ? workflowId : undefined)], bound ? context : undefined);
        expect(normal(decoded!)).toEqual(normal(payload));
      }),
      { numRuns: 150 },
    );
  });

  it('decodes the ciphertexts committed before the change (formats v1 and v2)', async () => {
    const file = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'codec-vectors-v1v2.json'), 'utf8')) as {
      workspaceId: string;
      keyId: string;
      key: string;
      workflowId: string;
      v1: { metadata: Record<string, string>; data: string }[];
      v2: { metadata: Record<string, string>; data: string }[];
    };
    const codec = new WorkspaceCodec(
      new StaticKeyring({ workspaceId: file.workspaceId, activeKeyId: file.keyId, keys: [{ id: file.keyId, key: file.key }] }),
    );
    const load = (ps: typeof file.v1): Payload[] =>
      ps.map((p) => ({
        metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
        data: Buffer.from(p.data, 'base64'),
      }));
    const expected = [
      { metadata: { encoding: [...Buffer.from('json/plain')] }, data: [...Buffer.from('{"hello":"world"}')] },
      { metadata: { encoding: [...Buffer.from('binary/null')] }, data: undefined },
      { metadata: { encoding: [...Buffer.from('binary/plain')], 'x-extra': [] }, data: [...Buffer.alloc(300, 0xab)] },
    ];
    expect((await codec.decode(load(file.v1))).map(normal)).toEqual(expected);
    const wfContext: SerializationContext = { type: 'workflow', namespace: 'default', workflowId: file.workflowId };
    expect((await codec.decode(load(file.v2), wfContext)).map(normal)).toEqual(expected);
    // The binding still holds: the same v2 payloads are refused in another workflow of the workspace.
    await expect(codec.decode(load(file.v2), { ...wfContext, workflowId: `ws-${file.workspaceId}.run-${randomUUID()}` })).rejects.toThrow(
      /bound to workflow/,
    );
  });

  it('refuses every single flipped bit of a ciphertext', async () => {
    const codec = new WorkspaceCodec(keyring);
    const [sealed] = await codec.encode([{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"x"') }], context);
    const data = Buffer.from(sealed!.data!);
    for (let bit = 0; bit < data.length * 8; bit += 7) {
      const tampered = Buffer.from(data);
      tampered[bit >> 3]! ^= 1 << (bit & 7);
      await expect(codec.decode([{ ...sealed!, data: tampered }], context)).rejects.toThrow(/failed authentication/);
    }
  });
});
