import type { z } from 'zod';
import { InputError } from './errors';

/** Parses untrusted input at the edge; a mismatch is a 400 problem naming each bad field. */
export function parseInput<S extends z.ZodType>(what: string, schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw InputError.fromZod(what, parsed.error);
  return parsed.data;
}
