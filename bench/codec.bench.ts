/**
 * Payload codec throughput: Lookout's codec (protobuf framing, AES-256-GCM, key lookup, metadata)
 * beside raw `node:crypto` AES-256-GCM encrypt+decrypt of the same buffers, in the same run.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import type { Payload } from '@temporalio/common';
import { WorkspaceCodec } from '../common/codec';
import { keyId, StaticKeyring } from '../common/keyring';
import type { BenchResult } from './types';

const SIZES = [1024, 64 * 1024, 1024 * 1024];

function measure(
  label: string,
  bytes: number,
  minMs: number,
  fn: () => Promise<void> | void,
): Promise<{ opsPerSec: number; mbPerSec: number; iterations: number }> {
  return (async () => {
    for (let i = 0; i < 5; i++) await fn(); // warm-up
    let iterations = 0;
    const start = process.hrtime.bigint();
    let elapsedMs = 0;
    while (elapsedMs < minMs) {
      await fn();
      iterations += 1;
      elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
    }
    const opsPerSec = (iterations * 1000) / elapsedMs;
    void label;
    return { opsPerSec, mbPerSec: (opsPerSec * bytes) / (1024 * 1024), iterations };
  })();
}

export async function run(): Promise<BenchResult[]> {
  const ws = randomUUID();
  const id = keyId(ws, 1);
  const root = randomBytes(32);
  const codec = new WorkspaceCodec(new StaticKeyring({ workspaceId: ws, activeKeyId: id, keys: [{ id, key: root.toString('base64') }] }));
  const rawKey = randomBytes(32);
  // The codec keeps its key as a KeyObject; the same raw AES-GCM with one is a second, stricter baseline.
  const rawKeyObject = createSecretKey(rawKey);
  const raw = (key: Buffer | KeyObject, data: Buffer) => {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    const ct = Buffer.concat([c.update(data), c.final()]);
    const tag = c.getAuthTag();
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAuthTag(tag);
    Buffer.concat([d.update(ct), d.final()]);
  };
  const results: BenchResult[] = [];
  for (const size of SIZES) {
    const data = randomBytes(size);
    const payload: Payload = { metadata: { encoding: Buffer.from('binary/plain') }, data };
    const minMs = size >= 1024 * 1024 ? 3_000 : 1_500;
    const lookout = await measure('codec', size, minMs, async () => {
      const encoded = await codec.encode([payload]);
      await codec.decode(encoded);
    });
    const baseline = await measure('raw', size, minMs, () => raw(rawKey, data));
    const keyObjectBaseline = await measure('raw-keyobject', size, minMs, () => raw(rawKeyObject, data));
    results.push({
      bench: 'codec',
      case: `encode+decode ${size >= 1024 * 1024 ? `${size / 1024 / 1024} MiB` : `${size / 1024} KiB`}`,
      metrics: {
        lookout_ops_per_sec: Math.round(lookout.opsPerSec),
        lookout_mib_per_sec: Math.round(lookout.mbPerSec * 10) / 10,
        baseline_ops_per_sec: Math.round(baseline.opsPerSec),
        baseline_mib_per_sec: Math.round(baseline.mbPerSec * 10) / 10,
        ratio_lookout_to_baseline: Math.round((lookout.opsPerSec / baseline.opsPerSec) * 1000) / 1000,
        keyobject_baseline_ops_per_sec: Math.round(keyObjectBaseline.opsPerSec),
        ratio_lookout_to_keyobject_baseline: Math.round((lookout.opsPerSec / keyObjectBaseline.opsPerSec) * 1000) / 1000,
      },
      baseline: 'raw node:crypto AES-256-GCM encrypt+decrypt of the same buffer (key as a Buffer; keyobject_: key as a KeyObject)',
    });
  }
  return results;
}
