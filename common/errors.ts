/**
 * The `type` of every `ApplicationFailure` Lookout throws on purpose. Failure types are stored by
 * Temporal in clear text, so they name a class of fault, never a resource or a value.
 */
export const FailureType = {
  /** The task's parameters or the Runner's configuration are wrong: retrying cannot help. */
  InvalidConfiguration: 'InvalidConfiguration',
  /** The Runner's local policy does not allow this check type. */
  CheckNotAllowed: 'CheckNotAllowed',
  /** The Runner's policy file refuses what the task asks: a destination, a secret, an address. */
  PolicyDenied: 'PolicyDenied',
  /** A secret reference could not be resolved (unknown provider, missing, denied). */
  SecretUnavailable: 'SecretUnavailable',
  /** A result broke the boundary's contract (schema, caps). */
  ResultRejected: 'ResultRejected',
  /** A workflow asked to act for a run recorded for another workflow (a forged or copied start). */
  RunMismatch: 'RunMismatch',
  /** A workflow of one Temporal namespace acted for a workspace that lives in another. */
  NamespaceMismatch: 'NamespaceMismatch',
  /** The run referenced by an activity does not exist (deleted workspace, bad id). */
  RunNotFound: 'RunNotFound',
  /** A notification's receiver refused it (4xx, a redirect) or its destination is not allowed: it is dead-lettered. */
  DeliveryRefused: 'DeliveryRefused',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** Failure types that no retry can fix; activities throw them with `nonRetryable: true`. */
export const NON_RETRYABLE_FAILURE_TYPES: readonly FailureType[] = Object.values(FailureType);
