import type { z } from 'zod';
import type { NamesMode } from '../../../common/discovery';
import type { TaskResult } from '../../../common/contracts';
import type { KubeClients } from '../kube';
import type { PolicyGate } from '../policy';

/** What a check may use while it runs. */
export interface CheckContext {
  /** Aborted when the run is cancelled or the Runner shuts down: pass it to every I/O call. */
  signal: AbortSignal;
  /**
   * The Runner policy, the only way to a destination or a secret: URLs under its destinations,
   * addresses its network rules allow, secrets through its bindings. Resolved values are redacted
   * from the result by the boundary.
   */
  policy: PolicyGate;
  /** Namespaces whose TLS Secrets the policy lets `k8s.tls-expiry` read. */
  tlsSecretNamespaces: readonly string[];
  /** Tells Temporal the check is alive (throttled by the SDK); call it while paging or waiting. */
  heartbeat(details?: unknown): void;
  /** The Runner's own cluster identity, when it has one. */
  kube?: KubeClients | undefined;
  /** How names leave (`discovery.names`): `k8s.discover` lists no namespace under `counts`. */
  names?: NamesMode | undefined;
}

/** What a check returns; the boundary adds run metadata, redacts and validates. */
export type CheckOutcome = Pick<TaskResult, 'status' | 'summary' | 'score' | 'issues' | 'metrics' | 'inventory'> & { exitCode?: number };

/** A read-only check type: its parameter schema and its implementation. */
export interface Check<P> {
  readonly type: string;
  readonly params: z.ZodType<P, unknown>;
  run(params: P, ctx: CheckContext): Promise<CheckOutcome>;
}
