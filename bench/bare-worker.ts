/**
 * The baseline process of the Runner memory bench: a bare Temporal worker with one trivial activity,
 * `ping(url)` (a GET answering the status), polling the task queue in `LOOKOUT_BENCH_TASK_QUEUE` on
 * `LOOKOUT_TEMPORAL_ADDRESS`. Like the Runner it runs activities only, with the same concurrency
 * (8); unlike it, no codec, no key file, no result boundary, no config schema, no logger. Stops on
 * SIGTERM (the Temporal runtime's default shutdown signals).
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';

async function main(): Promise<void> {
  const address = process.env['LOOKOUT_TEMPORAL_ADDRESS'];
  const taskQueue = process.env['LOOKOUT_BENCH_TASK_QUEUE'];
  if (!address || !taskQueue) throw new Error('LOOKOUT_TEMPORAL_ADDRESS and LOOKOUT_BENCH_TASK_QUEUE are required');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    taskQueue,
    activities: { ping: async (url: string) => (await fetch(url)).status },
    maxConcurrentActivityTaskExecutions: 8,
  });
  await worker.run();
  await connection.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`bare-worker: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
