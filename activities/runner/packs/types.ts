/**
 * What the pack executors are given. The loader (`loader.ts`) resolves a pack check against the
 * Runner's policy before either executor runs: the executors receive only what the policy grants.
 */
import type { Destination } from '../../../common/runner-policy';
import type { DeclarativeSpec, KubernetesRule, PackDestination, ScriptSpec } from '../../../common/packs';
import type { CheckOutcome } from '../checks/check';
import type { KubeClients } from '../kube';

/** A host a script may reach: declared by the pack *and* under a policy destination granted to it. */
export interface SandboxDestination {
  /** What the pack declared (host or `*.suffix`, port, scheme). */
  declared: PackDestination;
  /** The policy destination that allows it: its `allowAddresses` decide which resolved addresses may be dialled. */
  policy: Destination;
}

export interface ScriptRun {
  /** The pack's folder on the Runner (read-only to the script, mounted at /pack). */
  packDir: string;
  spec: ScriptSpec;
  /** Validated parameters, given as JSON on stdin. */
  params: Record<string, unknown>;
  /** Secret values of the bindings the check declares and the policy grants; files /run/secrets/<name>. */
  secrets: ReadonlyArray<{ name: string; value: string }>;
  destinations: readonly SandboxDestination[];
  /** The Runner's read-only identity and the rules the check declares (and the policy grants); absent: no Kubernetes API. */
  kube?: { clients: KubeClients; rules: readonly KubernetesRule[] } | undefined;
  signal: AbortSignal;
  heartbeat(details?: unknown): void;
}

export interface DeclarativeRun {
  spec: DeclarativeSpec;
  params: Record<string, unknown>;
  kube: KubeClients;
  /**
   * The read rules the check declares (and the policy grants its pack): every kind it lists must be
   * covered, whatever else the Runner's own identity may read (built-in checks, Secrets of bindings).
   */
  rules: readonly KubernetesRule[];
  signal: AbortSignal;
  heartbeat(details?: unknown): void;
}

export type PackExecutorOutcome = CheckOutcome;
