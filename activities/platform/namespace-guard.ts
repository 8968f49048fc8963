/**
 * Every platform activity runs for the workspace its workflow id names (`ws-<id>.…`), and only in
 * that workspace's Temporal namespace. Whoever may start workflows in one namespace (a tenant with
 * its own Runner's credentials, where the Temporal service lets workers do that) could otherwise
 * start a workflow named for another workspace there and have the platform worker act on that
 * workspace's rows. The shared namespace stays accepted for every workspace: workspaces made before
 * namespaces per workspace live there, and a moved workspace's older runs finish there. In a
 * deployment with no workspace left in it, the platform worker does not poll it at all.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, ActivityInterceptorsFactory, Next } from '@temporalio/worker';
import { FailureType } from '../../common/errors';
import { workspaceOfWorkflowId } from '../../common/ids';

export interface NamespaceGuardDeps {
  sharedNamespace: string;
  namespaceOf(workspaceId: string): Promise<string>;
  /** Called once per refusal (to log and audit it). */
  refused(details: { workspaceId: string | undefined; workflowId: string; namespace: string; activity: string }): void;
}

export function namespaceGuard(deps: NamespaceGuardDeps): ActivityInterceptorsFactory {
  const inbound: ActivityInboundCallsInterceptor = {
    async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
      const info = Context.current().info;
      const workflowId = info.workflowExecution?.workflowId ?? '';
      // The namespace the activity task came from: the one this worker polls.
      const namespace = info.activityNamespace;
      const workspaceId = workspaceOfWorkflowId(workflowId);
      const allowed =
        workspaceId !== undefined &&
        (namespace === deps.sharedNamespace || (await deps.namespaceOf(workspaceId).catch(() => undefined)) === namespace);
      if (!allowed) {
        deps.refused({ workspaceId, workflowId, namespace, activity: info.activityType });
        throw ApplicationFailure.create({
          type: FailureType.NamespaceMismatch,
          message: 'this workflow runs in a namespace its workspace does not live in',
          nonRetryable: true,
        });
      }
      return next(input);
    },
  };
  return () => ({ inbound });
}
