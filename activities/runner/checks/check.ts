import type { z } from 'zod';
import type { TaskResult } from '../../../common/contracts';
import type { KubeClients } from '../kube';

/** What a check may use while it runs. */
export interface CheckContext {
  /** Aborted when the run is cancelled or the Runner shuts down: pass it to every I/O call. */
  signal: AbortSignal;
  /** Resolves a secret reference locally; the value is redacted from the result by the boundary. */
  secret(ref: string): Promise<string>;
  /** Tells Temporal the check is alive (throttled by the SDK); call it while paging or waiting. */
  heartbeat(details?: unknown): void;
  /** The Runner's own cluster identity, when it has one. */
  kube?: KubeClients | undefined;
}

/** What a check returns; the boundary adds run metadata, redacts and validates. */
export type CheckOutcome = Pick<TaskResult, 'status' | 'summary' | 'score' | 'issues' | 'metrics'> & { exitCode?: number };

/** A read-only check type: its parameter schema and its implementation. */
export interface Check<P> {
  readonly type: string;
  readonly params: z.ZodType<P, unknown>;
  run(params: P, ctx: CheckContext): Promise<CheckOutcome>;
}
