import type { z } from 'zod';
import { InputError } from '../common/problem';

/** Parses untrusted input at the edge; a mismatch is a 400 problem naming each bad field. */
export function parseInput<S extends z.ZodType>(what: string, schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw InputError.fromZod(what, parsed.error);
  const nul = findNul(parsed.data, []);
  // PostgreSQL text cannot hold U+0000, and no Lookout field has a use for it: refuse it here, by path.
  if (nul) throw new InputError(`invalid ${what}`, [{ path: nul.join('.') || '(root)', message: 'must not contain the NUL character' }]);
  return parsed.data;
}

function findNul(value: unknown, path: (string | number)[]): (string | number)[] | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const found = findNul(v, [...path, i]);
      if (found) return found;
    }
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const found = findNul(k, [...path, k]) ?? findNul(v, [...path, k]);
      if (found) return found;
    }
  }
  return undefined;
}
