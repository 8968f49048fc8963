/**
 * The platform worker serves every namespace workspaces live in: one SDK `Worker` per namespace
 * (the SDK binds a worker to one namespace), all on one connection, all sharing one workflow
 * sandbox (the SDK would otherwise start a thread with its own V8 context per worker), with pollers
 * that start at one and grow only under load, so that hundreds of idle namespaces cost little.
 *
 * Which namespaces: `listNamespaces` (PostgreSQL: the workspaces' namespaces, optionally one shard
 * of them), reconciled at start, at every `lookout_workspace_namespaces` notification (a workspace
 * made or erased) and every `reconcileEveryMs`. A worker that fails (its namespace was deleted, the
 * server refused it) is logged and started again at the next reconciliation if still wanted; it
 * never stops the others.
 */
import v8 from 'node:v8';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import type { WorkflowCreator } from '@temporalio/worker/lib/workflow/interface';
import type { Pool, PoolClient } from 'pg';
import type { Logger } from '../common/logger';

type CreatorArgs = unknown[];

/**
 * A `Worker` class whose instances share one workflow creator (the thread and V8 context that run
 * workflow code). Run ids are unique across namespaces, so one sandbox can hold every namespace's
 * workflows; it is destroyed when the last worker using it stops.
 */
export function sharedSandboxWorkerClass(): typeof Worker {
  let shared: Promise<WorkflowCreator> | undefined;
  let users = 0;
  class SharedSandboxWorker extends Worker {
    protected static override async createWorkflowCreator(...args: CreatorArgs): Promise<WorkflowCreator> {
      // The SDK's own creator, called as the base class would (its `this` is the class).
      const base = Worker as unknown as { createWorkflowCreator: (this: unknown, ...a: CreatorArgs) => Promise<WorkflowCreator> };
      shared ??= base.createWorkflowCreator.apply(this, args);
      const creator = await shared;
      users++;
      let destroyed = false;
      return {
        createWorkflow: (options) => creator.createWorkflow(options),
        destroy: async () => {
          if (destroyed) return;
          destroyed = true;
          if (--users === 0) {
            shared = undefined;
            await creator.destroy();
          }
        },
      };
    }
  }
  return SharedSandboxWorker;
}

/** Pollers for one namespace: one of each kind when idle, more only while tasks keep coming. */
export const NAMESPACE_POLLERS: Pick<WorkerOptions, 'workflowTaskPollerBehavior' | 'activityTaskPollerBehavior'> = {
  workflowTaskPollerBehavior: { type: 'autoscaling', minimum: 2, maximum: 10, initial: 2 },
  activityTaskPollerBehavior: { type: 'autoscaling', minimum: 1, maximum: 10, initial: 1 },
};

/**
 * The workflows one namespace's worker keeps cached: the SDK sizes its default for a whole process
 * (600 per GiB of heap); the namespaces share that, each at least 10.
 */
export function cachedWorkflowsPerNamespace(namespaces: number): number {
  const heapMiB = v8.getHeapStatistics().heap_size_limit / 1_048_576;
  return Math.max(10, Math.floor((Math.max(heapMiB - 200, 0) * 600) / 1024 / Math.max(1, namespaces)));
}

export interface NamespaceWorkersOptions {
  listNamespaces: () => Promise<string[]>;
  /**
   * Makes the worker of one namespace (with NAMESPACE_POLLERS and a shared-sandbox class);
   * `namespaces`: how many are served now, to share the sandbox's cache of workflows among them.
   */
  createWorker: (namespace: string, workerClass: typeof Worker, namespaces: number) => Promise<Worker>;
  logger: Logger;
  /** LISTENs for workspaces made or erased; without it, only the interval reconciles. */
  pool?: Pool | undefined;
  reconcileEveryMs?: number;
}

interface Running {
  worker: Worker;
  done: Promise<void>;
}

/** Asks a worker to stop; one that already stopped (it failed) has nothing to stop. */
function stopWorker(worker: Worker): void {
  try {
    worker.shutdown();
  } catch {
    // not running any more
  }
}

export const NAMESPACE_CHANNEL = 'lookout_workspace_namespaces';

export class NamespaceWorkers {
  private readonly running = new Map<string, Running>();
  private readonly workerClass = sharedSandboxWorkerClass();
  private queue: Promise<void> = Promise.resolve();
  private stopping = false;
  private listener: PoolClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped!: () => void;
  private readonly finished = new Promise<void>((resolve) => (this.stopped = resolve));

  constructor(private readonly options: NamespaceWorkersOptions) {}

  /** The namespaces polled now. */
  namespaces(): string[] {
    return [...this.running.keys()].sort();
  }

  /** Starts and stops workers until the wanted namespaces are polled; one reconciliation at a time. */
  reconcile(): Promise<void> {
    this.queue = this.queue.then(
      () => this.reconcileNow(),
      () => this.reconcileNow(),
    );
    return this.queue;
  }

  private async reconcileNow(): Promise<void> {
    if (this.stopping) return;
    const wanted = new Set(await this.options.listNamespaces());
    for (const [namespace, r] of this.running) {
      if (!wanted.has(namespace)) {
        this.options.logger.info({ namespace }, 'namespace no longer has a workspace: stopping its worker');
        this.running.delete(namespace);
        stopWorker(r.worker);
        await r.done;
      }
    }
    const missing = [...wanted].filter((n) => !this.running.has(n));
    // A few at a time: creating a worker validates its namespace with the server.
    for (let i = 0; i < missing.length; i += 8) {
      await Promise.all(missing.slice(i, i + 8).map((n) => this.start(n, wanted.size)));
    }
  }

  private async start(namespace: string, namespaces: number): Promise<void> {
    let worker: Worker;
    try {
      worker = await this.options.createWorker(namespace, this.workerClass, namespaces);
    } catch (err) {
      this.options.logger.warn({ err, namespace }, 'could not start the worker of a namespace; next try at the next reconciliation');
      return;
    }
    if (this.stopping) {
      // shut down before it ever ran
      await worker.runUntil(Promise.resolve()).catch(() => undefined);
      return;
    }
    const done = worker.run().then(
      () => undefined,
      (err: unknown) => {
        this.options.logger.warn({ err, namespace }, 'the worker of a namespace stopped; next try at the next reconciliation');
      },
    );
    this.running.set(namespace, { worker, done });
    void done.then(() => {
      if (this.running.get(namespace)?.worker === worker) this.running.delete(namespace);
    });
  }

  /** Reconciles, then keeps reconciling until {@link shutdown}; resolves when every worker stopped. */
  async run(): Promise<void> {
    await this.reconcile();
    const every = this.options.reconcileEveryMs ?? 30_000;
    this.timer = setInterval(() => {
      this.reconcile().catch((err: unknown) => this.options.logger.warn({ err }, 'namespace reconciliation failed; next try soon'));
    }, every);
    if (this.options.pool) await this.listen(this.options.pool);
    await this.finished;
  }

  private async listen(pool: Pool): Promise<void> {
    try {
      const client = await pool.connect();
      client.on('notification', () => {
        this.reconcile().catch((err: unknown) => this.options.logger.warn({ err }, 'namespace reconciliation failed; next try soon'));
      });
      client.on('error', (err) => {
        this.options.logger.warn({ err }, 'lost the namespace notifications; the interval keeps reconciling');
        this.listener = undefined;
        client.release(err);
      });
      await client.query(`listen ${NAMESPACE_CHANNEL}`);
      this.listener = client;
    } catch (err) {
      this.options.logger.warn({ err }, 'cannot listen for namespace notifications; the interval keeps reconciling');
    }
  }

  /** Stops every worker (each finishes its tasks in flight). */
  async shutdown(): Promise<void> {
    if (this.stopping) return this.finished;
    this.stopping = true;
    clearInterval(this.timer);
    if (this.listener) {
      await this.listener.query(`unlisten ${NAMESPACE_CHANNEL}`).catch(() => undefined);
      this.listener.release();
      this.listener = undefined;
    }
    await this.queue.catch(() => undefined);
    const all = [...this.running.values()];
    this.running.clear();
    for (const r of all) stopWorker(r.worker);
    await Promise.all(all.map((r) => r.done));
    this.stopped();
    return this.finished;
  }
}
