/**
 * Runner activities: the only code that touches customer credentials. `executeCheck` validates the
 * request against the Runner's own policy, runs the check with local secrets and returns what the
 * boundary lets through.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { isCheckType } from '../../common/checks';
import { TaskRequest, type TaskResult } from '../../common/contracts';
import { FailureType } from '../../common/errors';
import { LOOKOUT_VERSION } from '../../common/version';
import type { Keyring } from '../../common/keyring';
import type { KubeClients } from './kube';
import type { PolicySummary } from '../../common/runner-policy';
import { scrubError, toBoundaryResult } from './boundary';
import { CHECKS } from './checks';
import type { RunnerPolicyEnforcer } from './policy';
import { RunSecrets, type SecretProvider } from './secrets';

export interface RunnerActivityDeps {
  workspaceId: string;
  /** The Runner's policy: the ceiling of what the Platform may ask for (check types, destinations, secrets, raw data). */
  policy: RunnerPolicyEnforcer;
  secretProviders: ReadonlyMap<string, SecretProvider>;
  /** This workspace's keys only: results are attested under its active key. */
  keyring: Keyring;
  /** The Runner's own cluster identity, if it has one. */
  kube?: KubeClients | undefined;
  version?: string;
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.InvalidConfiguration, message, nonRetryable: true });
}

export function createRunnerActivities({
  workspaceId,
  policy,
  secretProviders,
  keyring,
  kube,
  version = LOOKOUT_VERSION,
}: RunnerActivityDeps) {
  return {
    /**
     * What this Runner is: its version, its allowlist and its policy's digest and summary (check
     * types, destinations, binding names; never a secret reference). Nothing of the cluster.
     */
    async describeRunner(): Promise<{ version: string; allowedChecks: string[]; kubernetes: boolean; policy: PolicySummary }> {
      return { version, allowedChecks: policy.summary.checks, kubernetes: Boolean(kube), policy: policy.summary };
    },

    /**
     * Runs one check. Heartbeats while it runs; cancellation arrives through the heartbeat and aborts
     * the check's I/O. Configuration problems fail non-retryably; anything unexpected stays
     * retryable so that Temporal retries it within the task's policy.
     */
    async executeCheck(input: TaskRequest): Promise<TaskResult> {
      const parsed = TaskRequest.safeParse(input);
      if (!parsed.success) throw invalid('malformed task request');
      const request = parsed.data;
      if (request.workspaceId !== workspaceId) throw invalid('the task belongs to another workspace than this Runner');
      if (!isCheckType(request.checkType) || !policy.allowsCheck(request.checkType)) {
        throw ApplicationFailure.create({
          type: FailureType.CheckNotAllowed,
          message: `check type ${JSON.stringify(request.checkType.slice(0, 64))} is not in this Runner's allowlist`,
          nonRetryable: true,
        });
      }
      const check = CHECKS[request.checkType];
      const params = check.params.safeParse(request.params);
      if (!params.success) {
        throw invalid(
          `invalid parameters for ${request.checkType}: ${params.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}`,
        );
      }

      const ctx = Context.current();
      const secrets = new RunSecrets(secretProviders, ctx.cancellationSignal);
      const beat = setInterval(() => ctx.heartbeat(), Math.max(200, Math.min(5_000, (ctx.info.heartbeatTimeoutMs ?? 30_000) / 3)));
      const startedAt = new Date();
      try {
        const outcome = await check.run(params.data, {
          signal: ctx.cancellationSignal,
          policy: policy.gate(secrets),
          tlsSecretNamespaces: policy.tlsSecretNamespaces,
          heartbeat: (details) => ctx.heartbeat(details),
          kube,
        });
        const key = await keyring.activeKey(workspaceId);
        const rawLogs = policy.allowsRawData(request.checkType) ? 'allow' : 'deny';
        return toBoundaryResult({
          request,
          outcome,
          startedAt,
          finishedAt: new Date(),
          secretValues: secrets.values(),
          policy: { rawLogs },
          key,
        });
      } catch (err) {
        // A cancelled check ends as cancelled; the SDK recognises its own cancellation error.
        if (ctx.cancellationSignal.aborted) throw err;
        // Errors leave through the boundary too: redacted, without cause or foreign stack.
        throw scrubError(err, secrets.values());
      } finally {
        clearInterval(beat);
      }
    },
  };
}

export type RunnerActivities = ReturnType<typeof createRunnerActivities>;
