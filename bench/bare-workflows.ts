/** The baseline: a bare Temporal workflow with one activity, no codec, no database. */
import { proxyActivities } from '@temporalio/workflow';

const { ping } = proxyActivities<{ ping(url: string): Promise<number> }>({ startToCloseTimeout: '30 seconds' });

export async function bareProbe(url: string): Promise<number> {
  return ping(url);
}

/**
 * The same, with the activity on another task queue: the Runner memory bench runs this workflow in
 * its own process and the activity in a separate bare worker process (bare-worker.ts), as runTask
 * runs on the platform worker and its check on the Runner.
 */
export async function bareProbeVia(url: string, activityTaskQueue: string): Promise<number> {
  const remote = proxyActivities<{ ping(url: string): Promise<number> }>({
    taskQueue: activityTaskQueue,
    startToCloseTimeout: '30 seconds',
  });
  return remote.ping(url);
}
