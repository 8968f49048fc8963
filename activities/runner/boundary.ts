/**
 * The boundary: the single exit of every result. It adds run metadata, redacts every secret value
 * the run resolved (plain, base64 and URL-encoded), enforces the strict result schema and a size
 * cap, and refuses anything else. Nothing leaves a Runner except what this returns.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { TaskResult, type TaskRequest } from '../../common/contracts';
import { FailureType } from '../../common/errors';
import type { CheckOutcome } from './checks/check';

/** Largest serialised result that may cross: far below Temporal's 2 MB payload limit. */
export const MAX_RESULT_BYTES = 256 * 1024;
export const REDACTED = '[redacted]';

/** Every form in which a secret value could appear in text. Short values are skipped: they would redact ordinary words. */
function secretForms(values: readonly string[]): string[] {
  const forms = new Set<string>();
  for (const v of values) {
    if (v.length < 4) continue;
    forms.add(v);
    forms.add(Buffer.from(v).toString('base64'));
    forms.add(Buffer.from(v).toString('base64').replace(/=+$/, ''));
    forms.add(Buffer.from(v).toString('base64url'));
    forms.add(encodeURIComponent(v));
  }
  // Longest first, so that a value containing another is replaced whole.
  return [...forms].sort((a, b) => b.length - a.length);
}

function redactDeep(value: unknown, forms: readonly string[]): unknown {
  if (typeof value === 'string') return forms.reduce((s, f) => s.split(f).join(REDACTED), value);
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, forms));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [redactDeep(k, forms) as string, redactDeep(v, forms)]));
  }
  return value;
}

export interface BoundaryInput {
  request: TaskRequest;
  outcome: CheckOutcome;
  startedAt: Date;
  finishedAt: Date;
  secretValues: readonly string[];
}

/** Builds the one `TaskResult` that may leave the Runner, or throws a non-retryable `ResultRejected`. */
export function toBoundaryResult({ request, outcome, startedAt, finishedAt, secretValues }: BoundaryInput): TaskResult {
  const candidate = redactDeep(
    {
      runId: request.runId,
      workspaceId: request.workspaceId,
      checkType: request.checkType,
      status: outcome.status,
      summary: outcome.summary,
      ...(outcome.score === undefined ? {} : { score: outcome.score }),
      issues: outcome.issues,
      metrics: outcome.metrics,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationMs: Math.max(0, finishedAt.getTime() - startedAt.getTime()),
      exitCode: outcome.exitCode ?? (outcome.status === 'error' ? 1 : 0),
    },
    secretForms(secretValues),
  );
  const parsed = TaskResult.safeParse(candidate);
  if (!parsed.success) {
    // Paths and rules only: the offending values stay on the Runner.
    const where = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw ApplicationFailure.create({ type: FailureType.ResultRejected, message: `result refused at the boundary: ${where}`, nonRetryable: true });
  }
  const size = Buffer.byteLength(JSON.stringify(parsed.data));
  if (size > MAX_RESULT_BYTES) {
    throw ApplicationFailure.create({ type: FailureType.ResultRejected, message: `result refused at the boundary: ${size} bytes exceeds ${MAX_RESULT_BYTES}`, nonRetryable: true });
  }
  return parsed.data;
}
