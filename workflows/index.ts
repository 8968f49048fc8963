/** Workflow bundle entry: every workflow the platform worker runs. Names are never changed once deployed. */
export { runTask } from './run-task.workflow';
export { scheduledHealthSweep, scheduledRunTask } from './scheduled-run.workflow';
export { healthSweep } from './health-sweep.workflow';
export { describeRunner } from './describe-runner.workflow';
export { sinkDelivery } from './sink-delivery.workflow';
