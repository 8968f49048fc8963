/**
 * The Platform's activities as workflows call them: PostgreSQL-backed, so they retry until the
 * database is back, with a bounded interval; Lookout's own failure types are not retried.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import { NON_RETRYABLE_FAILURE_TYPES } from '../common/errors';
import type { PlatformActivities } from '../activities/platform';

/** `long`: for activities that read a whole sweep's results. */
export function platformActivities(options: { long?: boolean } = {}) {
  return proxyActivities<PlatformActivities>({
    startToCloseTimeout: options.long ? '1 minute' : '30 seconds',
    retry: { initialInterval: '500 milliseconds', maximumInterval: '30 seconds', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] },
  });
}

/**
 * The same activities as local activities: run by the workflow's own worker (the platform worker
 * registers them) within the workflow task, with no activity task through the Temporal server. For
 * the short steps of a run (issue 17). The same retry rules: until the database is back, with a
 * bounded interval (past a minute between attempts the SDK waits on a timer instead of holding the
 * workflow task). The activity interceptors, the namespace guard among them, apply as to any activity.
 */
export function localPlatformActivities() {
  return proxyLocalActivities<PlatformActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '500 milliseconds', maximumInterval: '30 seconds', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES] },
  });
}
