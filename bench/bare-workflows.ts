/** The baseline: a bare Temporal workflow with one activity, no codec, no database. */
import { proxyActivities } from '@temporalio/workflow';

const { ping } = proxyActivities<{ ping(url: string): Promise<number> }>({ startToCloseTimeout: '30 seconds' });

export async function bareProbe(url: string): Promise<number> {
  return ping(url);
}
