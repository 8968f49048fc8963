/**
 * Contracts that cross process boundaries: what the Platform asks a Runner to do and what may come
 * back. Both sides parse with these schemas; unknown fields are rejected, never passed through.
 */
import { z } from 'zod';
import { Inventory } from './discovery';

/** Run statuses as the Platform records them. Terminal statuses never change again. */
export const RunStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'runner_unavailable', 'cancelled', 'rejected']);
export type RunStatus = z.infer<typeof RunStatus>;
/** `rejected`: the Runner's result failed the Platform's checks (attestation, contract) and was not stored. */
export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'runner_unavailable', 'cancelled', 'rejected'];

/** How a run came to be. */
export const RunTrigger = z.enum(['api', 'schedule', 'retry', 'sweep', 'alert']);
export type RunTrigger = z.infer<typeof RunTrigger>;

/**
 * A reference to a secret the Runner resolves locally: `env:NAME`, `k8s:<namespace>/<secret>#<key>`
 * or `vault:<mount>/<path>#<field>`. The reference crosses the boundary; the value never does.
 */
export const SecretRef = z
  .string()
  .max(512)
  .regex(
    /^(env:[A-Za-z_][A-Za-z0-9_]*|k8s:[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?#[-._a-zA-Z0-9]+|vault:[^\s/#]+\/[^\s#]+#[^\s#]+)$/,
    'must be env:NAME, k8s:<namespace>/<secret>#<key> or vault:<mount>/<path>#<field>',
  );
export type SecretRef = z.infer<typeof SecretRef>;

/** An affected resource. Kinds are Kubernetes kinds or `Endpoint` for things reached by URL. */
export const ResourceRef = z.strictObject({
  kind: z.string().min(1).max(64),
  namespace: z.string().max(253).optional(),
  name: z.string().min(1).max(512),
});

/** A follow-up check a finding names: a check type and its parameters (validated by that type's schema before it runs). */
export const NextCheck = z.strictObject({
  type: z.string().min(1).max(64),
  params: z
    .record(z.string().max(64), z.union([z.string().max(512), z.number().finite(), z.boolean(), z.array(z.string().max(253)).max(20)]))
    .refine((p) => Object.keys(p).length <= 10, 'at most 10 parameters'),
});
export type NextCheck = z.infer<typeof NextCheck>;

/** Severity: 1 = unavailable, needs a human now; 2 = degraded; 3 = should be looked at; 4 = informational. */
export const Severity = z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)]);
export type Severity = z.infer<typeof Severity>;

export const Issue = z.strictObject({
  severity: Severity,
  title: z.string().min(1).max(200),
  resource: ResourceRef,
  expected: z.string().max(500),
  actual: z.string().max(500),
  nextSteps: z.array(z.string().min(1).max(500)).max(10),
  details: z.string().max(2000).optional(),
  /** Checks that would tell more about this finding; a sweep may run them (bounded depth, the Runner's policy decides). */
  nextChecks: z.array(NextCheck).max(5).optional(),
});
export type Issue = z.infer<typeof Issue>;

/** A metric name: dotted lower-case words, so that a value can never hide in a key. */
const MetricName = z.string().regex(/^[a-z][a-z0-9_.]{0,63}$/);

/** The only thing that leaves a Runner besides task metadata (DESIGN.md §4). */
export const TaskResultBody = z.strictObject({
  runId: z.uuid(),
  workspaceId: z.uuid(),
  checkType: z.string().min(1).max(64),
  status: z.enum(['ok', 'issues', 'error']),
  summary: z.string().min(1).max(1000),
  score: z.number().min(0).max(1).optional(),
  issues: z.array(Issue).max(200),
  metrics: z.record(MetricName, z.number().finite()).refine((m) => Object.keys(m).length <= 100, 'at most 100 metrics'),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  durationMs: z.number().int().nonnegative(),
  exitCode: z.number().int().min(0).max(255),
  /** `k8s.discover` only: the cluster's inventory, shaped by the Runner policy's `discovery.names`. */
  inventory: Inventory.optional(),
});
export type TaskResultBody = z.infer<typeof TaskResultBody>;

/**
 * Largest serialised result body (JSON, without its attestation) that may cross, far below
 * Temporal's 2 MB payload limit. The Runner's boundary refuses to send more and the Platform
 * refuses to store more: the schema's per-field caps alone allow several times this.
 */
export const MAX_RESULT_BYTES = 256 * 1024;

/** The serialised size that {@link MAX_RESULT_BYTES} caps. */
export function resultBodyBytes(body: TaskResultBody): number {
  // TextEncoder rather than Buffer: common/ is also loaded in the workflow sandbox.
  return new TextEncoder().encode(JSON.stringify(body)).length;
}

/** A result with its attestation (common/attestation.ts) over the body, binding it to workspace and run. */
export const TaskResult = TaskResultBody.extend({ attestation: z.string().max(256) });
export type TaskResult = z.infer<typeof TaskResult>;

/** What the Platform sends to a Runner's `executeCheck`. `params` are validated by the Runner itself. */
export const TaskRequest = z.strictObject({
  runId: z.uuid(),
  workspaceId: z.uuid(),
  taskId: z.uuid(),
  checkType: z.string().min(1).max(64),
  params: z.record(z.string(), z.unknown()),
  /** The Platform's signature over what to run (common/task-envelope.ts); the Runner refuses a task without one. */
  envelope: z.unknown().optional(),
});
export type TaskRequest = z.infer<typeof TaskRequest>;

/**
 * Per-task execution bounds. The Platform clamps what a task asks for to these limits, so a task can
 * ask for less time or fewer retries, never for a Runner to be held indefinitely.
 */
export const ExecutionPolicy = z.strictObject({
  /** How long a run waits for its Runner to pick the check up before it ends `runner_unavailable`. */
  scheduleToStartMs: z.number().int().min(1_000).max(3_600_000).default(60_000),
  /** How long one attempt of the check may take. */
  startToCloseMs: z.number().int().min(1_000).max(3_600_000).default(300_000),
  /** How long the check may go without a heartbeat before the attempt is considered lost. */
  heartbeatMs: z.number().int().min(1_000).max(600_000).default(30_000),
  /** Attempts in all, the first included. */
  maxAttempts: z.number().int().min(1).max(10).default(3),
  initialRetryIntervalMs: z.number().int().min(100).max(600_000).default(1_000),
});
export type ExecutionPolicy = z.infer<typeof ExecutionPolicy>;

/** The input of workflow `runTask`. */
export const RunTaskInput = z.strictObject({
  runId: z.uuid(),
  workspaceId: z.uuid(),
  taskId: z.uuid(),
  runnerId: z.uuid(),
  checkType: z.string().min(1).max(64),
  params: z.record(z.string(), z.unknown()),
  policy: ExecutionPolicy,
});
export type RunTaskInput = z.infer<typeof RunTaskInput>;

/** What `runTask` returns: the run's terminal status and, for technical faults, a failure type. */
export interface RunOutcome {
  status: RunStatus;
  errorType?: string;
}
