/**
 * The baseline process of the namespaces bench: one plain SDK `Worker` per namespace (the SDK's
 * defaults: a workflow thread with its own V8 context each, default pollers), on one connection,
 * running the bare workflows. Namespaces from `LOOKOUT_BENCH_NAMESPACES` (comma-separated); prints
 * "bare workers polling" once all run; stops on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';

async function main(): Promise<void> {
  const address = process.env['LOOKOUT_TEMPORAL_ADDRESS'];
  const namespaces = (process.env['LOOKOUT_BENCH_NAMESPACES'] ?? '').split(',').filter(Boolean);
  const bundle = process.env['LOOKOUT_BENCH_BUNDLE'];
  if (!address || !namespaces.length || !bundle)
    throw new Error('LOOKOUT_TEMPORAL_ADDRESS, LOOKOUT_BENCH_NAMESPACES and LOOKOUT_BENCH_BUNDLE are required');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address });
  const code = readFileSync(bundle, 'utf8');
  const workers = await Promise.all(
    namespaces.map((namespace) => Worker.create({ connection, namespace, taskQueue: 'platform', workflowBundle: { code } })),
  );
  const running = workers.map((w) => w.run());
  process.stdout.write('bare workers polling\n');
  await Promise.all(running);
  await connection.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`bare-namespaces-worker: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
