/**
 * The Runner's own metrics, for its owner's scraper (loopback by default): checks by type and
 * outcome, check latency, result sizes, tasks refused before anything ran, and policy denials.
 * Labels hold known check types (anything else is `unknown`), result statuses and failure types:
 * never a destination, a secret reference or a resource name.
 */
import { ApplicationFailure, type Context } from '@temporalio/activity';
import type { ActivityInboundCallsInterceptor, ActivityInterceptorsFactory } from '@temporalio/worker';
import { Counter, Histogram, type Registry } from 'prom-client';
import { resultBodyBytes, type TaskResult } from '../../common/contracts';
import { FailureType } from '../../common/errors';
import { checkTypeLabel, RESULT_BYTES_BUCKETS } from '../../common/metrics';
import type { RunnerAuditEntry } from './index';

const FAILURE_TYPES = new Set<string>(Object.values(FailureType));

/** A result's size as the boundary's cap counts it: the body, without the attestation. */
const bodyBytes = ({ attestation: _attestation, ...body }: TaskResult): number => resultBodyBytes(body);

export interface RunnerMetrics {
  /** Counts an audit decision (a refused task: bad or unsigned envelope, check type or parameters the policy refuses). */
  audited(entry: Pick<RunnerAuditEntry, 'decision' | 'checkType'>): void;
  /** Activity interceptors that time and count `executeCheck`. */
  interceptor: ActivityInterceptorsFactory;
}

export function runnerMetrics(registry: Registry): RunnerMetrics {
  const checks = new Counter({
    name: 'lookout_runner_checks_total',
    help: 'Checks this Runner was asked to run, by check type and outcome (result status ok/issues/error, or the failure type, cancelled, failed).',
    labelNames: ['check_type', 'outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'lookout_runner_check_duration_seconds',
    help: 'Time from a check task arriving to its result (or failure) leaving the Runner, by check type.',
    labelNames: ['check_type'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const sizes = new Histogram({
    name: 'lookout_runner_result_bytes',
    help: 'Size of the results that left through the boundary (body without attestation, bytes), by check type.',
    labelNames: ['check_type'] as const,
    buckets: RESULT_BYTES_BUCKETS,
    registers: [registry],
  });
  const refused = new Counter({
    name: 'lookout_runner_tasks_refused_total',
    help: 'Tasks refused before anything was resolved or contacted (envelope, allowlist, parameters), by check type.',
    labelNames: ['check_type'] as const,
    registers: [registry],
  });
  const denials = new Counter({
    name: 'lookout_runner_policy_denials_total',
    help: 'Runs the Runner policy stopped, by check type and failure type (CheckNotAllowed, PolicyDenied).',
    labelNames: ['check_type', 'type'] as const,
    registers: [registry],
  });

  const observe = (ctx: Context): ActivityInboundCallsInterceptor => ({
    async execute(input, next) {
      if (ctx.info.activityType !== 'executeCheck') return next(input);
      const checkType = checkTypeLabel((input.args[0] as { checkType?: unknown } | undefined)?.checkType);
      const started = process.hrtime.bigint();
      const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
      try {
        const result = (await next(input)) as TaskResult;
        duration.labels(checkType).observe(elapsed());
        checks.labels(checkType, result.status).inc();
        sizes.labels(checkType).observe(bodyBytes(result));
        return result;
      } catch (err) {
        duration.labels(checkType).observe(elapsed());
        const type = err instanceof ApplicationFailure && err.type && FAILURE_TYPES.has(err.type) ? err.type : undefined;
        checks.labels(checkType, type ?? (ctx.cancellationSignal.aborted ? 'cancelled' : 'failed')).inc();
        if (type === FailureType.PolicyDenied || type === FailureType.CheckNotAllowed) denials.labels(checkType, type).inc();
        throw err;
      }
    },
  });
  return {
    audited: (entry) => {
      if (entry.decision === 'refused') refused.labels(checkTypeLabel(entry.checkType)).inc();
    },
    interceptor: (ctx) => ({ inbound: observe(ctx) }),
  };
}
