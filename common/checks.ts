/**
 * Parameter schemas of every check type, shared by the Platform (validates when a task is created)
 * and the Runner (validates again before running: the Runner's own checks are the ceiling).
 */
import { z } from 'zod';
import { SecretRef } from './contracts';

const HeaderName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, 'must be an HTTP header name');

export const HttpProbeParams = z.strictObject({
  url: z.url({ protocol: /^https?$/, hostname: z.regexes.hostname }).max(2048),
  method: z.enum(['GET', 'HEAD']).default('GET'),
  /** Accepted status codes; without it any 2xx or 3xx is healthy. */
  expectedStatus: z.array(z.number().int().min(100).max(599)).min(1).max(20).optional(),
  /** Above this latency the endpoint counts as degraded. */
  maxLatencyMs: z.number().int().positive().max(600_000).default(1_000),
  /** Give up waiting for a response after this long: the endpoint counts as unavailable. */
  timeoutMs: z.number().int().positive().max(600_000).default(10_000),
  /** An optional header whose value the Runner resolves from a local secret. */
  auth: z
    .strictObject({
      header: HeaderName.default('Authorization'),
      /** Prefix put before the secret value, e.g. `Bearer `. */
      scheme: z.string().max(32).regex(/^[A-Za-z0-9 _-]*$/).default(''),
      secretRef: SecretRef,
    })
    .optional(),
});
export type HttpProbeParams = z.infer<typeof HttpProbeParams>;

/** Every check type Lookout knows, with its parameter schema. */
export const CHECK_PARAMS = {
  'http.probe': HttpProbeParams,
} as const satisfies Record<string, z.ZodType>;
export type CheckType = keyof typeof CHECK_PARAMS;
export const CHECK_TYPES = Object.keys(CHECK_PARAMS) as CheckType[];

export function isCheckType(value: string): value is CheckType {
  return Object.hasOwn(CHECK_PARAMS, value);
}
