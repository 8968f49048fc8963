import type { Payload } from '@temporalio/common';

/** Every payload-shaped object (`metadata` + `data`) anywhere inside a raw history or message. */
export function collectPayloads(
  value: unknown,
  out: Payload[] = [],
  seen = new Set<object>(),
  skipKeys: ReadonlySet<string> = new Set(),
): Payload[] {
  if (!value || typeof value !== 'object' || seen.has(value) || ArrayBuffer.isView(value)) return out;
  seen.add(value);
  const record = value as Record<string, unknown>;
  // Raw protobuf histories carry bytes; the CLI's JSON output carries base64 strings.
  const data = record['data'];
  if (
    record['metadata'] &&
    typeof record['metadata'] === 'object' &&
    'data' in record &&
    (data == null || ArrayBuffer.isView(data) || typeof data === 'string')
  ) {
    out.push(record);
  }
  const children = Array.isArray(value)
    ? value
    : Object.entries(record)
        .filter(([k]) => !skipKeys.has(k))
        .map(([, v]) => v);
  for (const child of children) collectPayloads(child, out, seen, skipKeys);
  return out;
}

export function metadataText(payload: Payload, key: string): string | undefined {
  const v = payload.metadata?.[key];
  return v ? Buffer.from(v).toString('utf8') : undefined;
}
