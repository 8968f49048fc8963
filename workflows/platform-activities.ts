/**
 * The Platform's activities as workflows call them: PostgreSQL-backed, so they retry until the
 * database is back, with a bounded interval; Lookout's own failure types are not retried.
 */
import { proxyActivities } from '@temporalio/workflow';
import { NON_RETRYABLE_FAILURE_TYPES } from '../common/errors';
import type { PlatformActivities } from '../activities/platform';

/** `long`: for activities that read a whole sweep's results. */
export function platformActivities(options: { long?: boolean } = {}) {
  return proxyActivities<PlatformActivities>({
    startToCloseTimeout: options.long ? '1 minute' : '30 seconds',
    retry: { initialInterval: '500 milliseconds', maximumInterval: '30 seconds', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] },
  });
}
