/** The platform worker's own metrics: runs by terminal status and check type, stored result sizes, rejected results, notification deliveries. */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { PlatformActivityMetrics } from '../activities/platform';
import { checkTypeLabel, RESULT_BYTES_BUCKETS } from '../common/metrics';

export function platformActivityMetrics(registry: Registry): PlatformActivityMetrics {
  const runs = new Counter({
    name: 'lookout_runs_finished_total',
    help: 'Runs that reached a terminal status, by status and check type.',
    labelNames: ['status', 'check_type'] as const,
    registers: [registry],
  });
  const sizes = new Histogram({
    name: 'lookout_result_bytes',
    help: 'Size of the results the Platform stored (body without attestation, bytes), by check type.',
    labelNames: ['check_type'] as const,
    buckets: RESULT_BYTES_BUCKETS,
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'lookout_results_rejected_total',
    help: 'Results the Platform rejected: contract, size cap, attestation, or another run or workspace.',
    registers: [registry],
  });
  const notifications = new Counter({
    name: 'lookout_notification_deliveries_total',
    help: 'Notification deliveries by sink kind and outcome: delivered, failed (an attempt Temporal retries) or dead (every attempt failed).',
    labelNames: ['kind', 'outcome'] as const,
    registers: [registry],
  });
  return {
    runFinished: (status, checkType) => runs.labels(status, checkTypeLabel(checkType)).inc(),
    delivery: (kind, outcome) => notifications.labels(kind, outcome).inc(),
    resultStored: (checkType, bytes) => sizes.labels(checkTypeLabel(checkType)).observe(bytes),
    resultRejected: () => rejected.inc(),
  };
}
