/**
 * The boundary: the single exit of every result and every error. It adds run metadata, applies the
 * Runner's own raw-log policy, redacts every secret value the run resolved and well-known secret
 * shapes, enforces the strict schema and a size cap, and attests the result: signed with the
 * Runner's own Ed25519 key when it has one (format v2), else under the workspace's active key (v1).
 * Nothing leaves a Runner except what this returns or throws.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { attest, attestAsRunner } from '../../common/attestation';
import type { SigningKey } from '../../common/ed25519';
import { MAX_RESULT_BYTES, resultBodyBytes, TaskResultBody, type TaskRequest, type TaskResult } from '../../common/contracts';
import { FailureType, NON_RETRYABLE_FAILURE_TYPES } from '../../common/errors';
import type { WorkspaceKey } from '../../common/keyring';
import type { CheckOutcome } from './checks/check';
import { REDACTED, redactDeep, redactText, secretForms } from './redaction';

export { REDACTED } from './redaction';

export { MAX_RESULT_BYTES } from '../../common/contracts';

/** The Runner's local policy: the ceiling, whatever the Platform asks. */
export interface BoundaryPolicy {
  /** Raw excerpts (issue `details`: log lines, response bodies) leave only when `allow`. */
  rawLogs: 'deny' | 'allow';
}

export interface BoundaryInput {
  request: TaskRequest;
  outcome: CheckOutcome;
  startedAt: Date;
  finishedAt: Date;
  secretValues: readonly string[];
  policy: BoundaryPolicy;
  key: WorkspaceKey;
  /** The Runner's own attestation key and id; without it the result is attested under `key` (v1). */
  signer?: { runnerId: string; key: SigningKey } | undefined;
}

function rejected(message: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: FailureType.ResultRejected,
    message: `result refused at the boundary: ${message}`,
    nonRetryable: true,
  });
}

/** Builds the one attested `TaskResult` that may leave the Runner, or throws a non-retryable `ResultRejected`. */
export function toBoundaryResult({
  request,
  outcome,
  startedAt,
  finishedAt,
  secretValues,
  policy,
  key,
  signer,
}: BoundaryInput): TaskResult {
  const issues = Array.isArray(outcome.issues)
    ? outcome.issues.map((issue) => {
        if (policy.rawLogs === 'allow' || !issue || typeof issue !== 'object') return issue;
        const rest = { ...issue };
        delete rest.details;
        return rest;
      })
    : outcome.issues;
  const candidate = redactDeep(
    {
      runId: request.runId,
      workspaceId: request.workspaceId,
      checkType: request.checkType,
      status: outcome.status,
      summary: outcome.summary,
      ...(outcome.score === undefined ? {} : { score: outcome.score }),
      issues,
      metrics: outcome.metrics,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: Math.max(0, finishedAt.getTime() - startedAt.getTime()),
      exitCode: outcome.exitCode ?? (outcome.status === 'error' ? 1 : 0),
      ...(outcome.inventory === undefined ? {} : { inventory: outcome.inventory }),
    },
    secretForms(secretValues),
  );
  const parsed = TaskResultBody.safeParse(candidate);
  if (!parsed.success) {
    // Paths and rules only: the offending values stay on the Runner.
    // zod's messages name rules and keys, never input values.
    throw rejected(
      parsed.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('; '),
    );
  }
  const size = resultBodyBytes(parsed.data);
  if (size > MAX_RESULT_BYTES) throw rejected(`${size} bytes exceeds ${MAX_RESULT_BYTES}`);
  const attestation = signer
    ? attestAsRunner(signer.key, signer.runnerId, request.workspaceId, request.runId, parsed.data)
    : attest(key, request.workspaceId, request.runId, parsed.data);
  return { ...parsed.data, attestation };
}

/**
 * Turns anything a check threw into an `ApplicationFailure` whose message is redacted like a result
 * and which carries no cause or foreign stack (both can hold secret values). Type and
 * retryability are kept; unexpected errors stay retryable as `CheckError`, with a fixed message
 * naming only their class and code: third-party exception text never leaves.
 */
export function scrubError(err: unknown, secretValues: readonly string[]): ApplicationFailure {
  const forms = secretForms(secretValues);
  const raw = err instanceof Error ? err.message : String(err);
  if (err instanceof ApplicationFailure && NON_RETRYABLE_FAILURE_TYPES.includes(err.type as FailureType)) {
    // Lookout's own failures name references and rules, never values: resolved values are still
    // removed, but secret-shape patterns would mangle words like "PROBE_TOKEN: not set".
    return ApplicationFailure.create({
      type: err.type ?? 'CheckError',
      message: forms.reduce((m, f) => m.split(f).join(REDACTED), raw).slice(0, 1000),
      nonRetryable: err.nonRetryable ?? false,
    });
  }
  if (err instanceof ApplicationFailure) {
    return ApplicationFailure.create({
      type: err.type ?? 'CheckError',
      message: redactText(raw, forms).slice(0, 1000),
      nonRetryable: err.nonRetryable ?? false,
    });
  }
  // Anything else was thrown by a library (fetch, a client, a parser): its text can quote the input
  // it choked on, a secret included. Only its class and error code leave, in Lookout's own words.
  const name = err instanceof Error && /^[A-Za-z]{1,40}$/.test(err.name) ? err.name : 'Error';
  const rawCode = (err as { code?: unknown } | null)?.code;
  const code = typeof rawCode === 'string' && /^[A-Z0-9_]{1,40}$/.test(rawCode) ? ` ${rawCode}` : '';
  return ApplicationFailure.create({ type: 'CheckError', message: `the check failed unexpectedly (${name}${code})`, nonRetryable: false });
}
