/**
 * A Temporal namespace per workspace (DESIGN.md §1, issue 15): the namespace is Temporal's unit of
 * authorization, so a Runner's Temporal credentials can be scoped to its own workspace's namespace
 * and nothing of another workspace is visible or reachable with them. Each workspace's workflows,
 * schedules and Runner task queues live in its namespace; workspaces made before this (and every
 * workspace in `shared` mode, for a Temporal service where Lookout may not create namespaces) live in
 * the deployment's shared namespace.
 *
 * One client connection serves every namespace: a `Client` per namespace is only a view of it.
 */
import { Client, Connection, type ClientInterceptors, type DataConverter } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import type { NamespaceSettings } from '../common/config';
import { connectTemporal, temporalConnectionOptions, type TemporalConnectionSettings } from '../common/temporal-connection';
import type { Queryable } from './repos/db';
import { workspaceNamespace } from './repos/workspaces.repo';

export type NamespaceMode =
  /** Each new workspace gets `<prefix><workspace id>`, registered with it and deleted with it. */
  | { kind: 'per-workspace'; prefix: string; retentionDays: number }
  /** Every workspace lives in the shared namespace. */
  | { kind: 'shared' };

export function namespaceModeOf(settings: NamespaceSettings): NamespaceMode {
  return settings.LOOKOUT_TEMPORAL_NAMESPACES === 'shared'
    ? { kind: 'shared' }
    : {
        kind: 'per-workspace',
        prefix: settings.LOOKOUT_TEMPORAL_NAMESPACE_PREFIX,
        retentionDays: settings.LOOKOUT_TEMPORAL_RETENTION_DAYS,
      };
}

export interface WorkspaceTemporalOptions {
  connection: Connection;
  db: Queryable;
  dataConverter: DataConverter;
  identity: string;
  /** The deployment's shared namespace (LOOKOUT_TEMPORAL_NAMESPACE). */
  sharedNamespace: string;
  mode: NamespaceMode;
  /** Client interceptors of every namespace's client (tracing: OpenTelemetry's, which put the trace context into headers). */
  interceptors?: ClientInterceptors | undefined;
}

export interface WorkspaceTemporal {
  readonly connection: Connection;
  readonly sharedNamespace: string;
  readonly mode: NamespaceMode;
  /** The namespace a workspace's workflows live in (PostgreSQL, cached briefly). Throws for an unknown workspace. */
  namespaceOf(workspaceId: string): Promise<string>;
  /** A client bound to the workspace's namespace. */
  forWorkspace(workspaceId: string): Promise<Client>;
  /** A client bound to a namespace. */
  forNamespace(namespace: string): Client;
  /**
   * Registers a new workspace's namespace (idempotent) and waits until Temporal serves it; answers
   * the name to record with the workspace, or undefined in shared mode.
   */
  provision(workspaceId: string): Promise<string | undefined>;
  /** Deletes a workspace's own namespace and everything in it (erasure); never the shared one. */
  remove(namespace: string): Promise<void>;
  /** Forgets a cached workspace → namespace answer (after a move). */
  forget(workspaceId: string): void;
}

/** Temporal's rules for a namespace name: letters, digits, `-`, `_` and `.`, at most 255 characters. */
export const NAMESPACE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;

const CACHE_MS = 30_000;

export class UnknownWorkspaceError extends Error {
  constructor(readonly workspaceId: string) {
    super(`no workspace ${workspaceId}`);
    this.name = 'UnknownWorkspaceError';
  }
}

function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
const ALREADY_EXISTS = 6;
const NOT_FOUND = 5;

export function createWorkspaceTemporal(options: WorkspaceTemporalOptions): WorkspaceTemporal {
  const { connection, db, dataConverter, identity, sharedNamespace, mode, interceptors } = options;
  const clients = new Map<string, Client>();
  const cached = new Map<string, { namespace: string; at: number }>();

  const forNamespace = (namespace: string): Client => {
    let client = clients.get(namespace);
    if (!client) {
      client = new Client({ connection, namespace, identity, dataConverter, ...(interceptors ? { interceptors } : {}) });
      clients.set(namespace, client);
    }
    return client;
  };

  const namespaceOf = async (workspaceId: string): Promise<string> => {
    const hit = cached.get(workspaceId);
    if (hit && hit.at > Date.now() - CACHE_MS) return hit.namespace;
    const own = await workspaceNamespace(db, workspaceId);
    if (own === undefined) throw new UnknownWorkspaceError(workspaceId);
    const namespace = own ?? sharedNamespace;
    if (cached.size > 10_000) cached.clear();
    cached.set(workspaceId, { namespace, at: Date.now() });
    return namespace;
  };

  return {
    connection,
    sharedNamespace,
    mode,
    namespaceOf,
    forNamespace,
    async forWorkspace(workspaceId) {
      return forNamespace(await namespaceOf(workspaceId));
    },
    async provision(workspaceId) {
      if (mode.kind === 'shared') return undefined;
      const namespace = `${mode.prefix}${workspaceId}`;
      try {
        await connection.workflowService.registerNamespace({
          namespace,
          // Opaque on purpose: namespace descriptions are stored and shown in clear.
          description: `Lookout workspace ${workspaceId}`,
          workflowExecutionRetentionPeriod: msToTs(mode.retentionDays * 86_400_000),
        });
      } catch (err) {
        if (grpcCode(err) !== ALREADY_EXISTS) throw err;
      }
      // Registration is durable at once, but frontends learn of a namespace through their registry;
      // wait until this one answers for it (usually the first try).
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          await connection.workflowService.describeNamespace({ namespace });
          return namespace;
        } catch (err) {
          if (grpcCode(err) !== NOT_FOUND || Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    async remove(namespace) {
      if (namespace === sharedNamespace) return;
      try {
        await connection.operatorService.deleteNamespace({ namespace });
      } catch (err) {
        if (grpcCode(err) !== NOT_FOUND) throw err;
      }
      clients.delete(namespace);
    },
    forget(workspaceId) {
      cached.delete(workspaceId);
    },
  };
}

/**
 * Namespaces per workspace on a development server (the quick start, tests, benches): the shared
 * namespace is `default`, each workspace's is kept a day.
 */
export function devWorkspaceTemporal(
  options: Pick<WorkspaceTemporalOptions, 'connection' | 'db' | 'dataConverter' | 'identity'>,
): WorkspaceTemporal {
  return createWorkspaceTemporal({
    ...options,
    sharedNamespace: 'default',
    mode: { kind: 'per-workspace', prefix: 'lookout-', retentionDays: 1 },
  });
}

/** Connects as configured (one connection for every namespace). */
export async function connectWorkspaceTemporal(
  config: TemporalConnectionSettings & NamespaceSettings,
  options: Pick<WorkspaceTemporalOptions, 'db' | 'dataConverter' | 'identity' | 'interceptors'>,
): Promise<WorkspaceTemporal> {
  const connection = await connectTemporal(temporalConnectionOptions(config), (o) => Connection.connect(o));
  return createWorkspaceTemporal({
    ...options,
    connection,
    sharedNamespace: config.LOOKOUT_TEMPORAL_NAMESPACE,
    mode: namespaceModeOf(config),
  });
}
