/**
 * Runner activities: the only code that touches customer credentials. `executeCheck` validates the
 * request against the Runner's own policy, runs the check with local secrets and returns what the
 * boundary lets through.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { isCheckType } from '../../common/checks';
import { CLEAR_NAMES_REFUSED, clearNamesIn } from '../../common/discovery';
import { envelopeDigest } from '../../common/task-envelope';
import { TaskRequest, type TaskResult } from '../../common/contracts';
import { FailureType } from '../../common/errors';
import { LOOKOUT_VERSION } from '../../common/version';
import type { Keyring } from '../../common/keyring';
import type { SigningKey } from '../../common/ed25519';
import type { KubeClients } from './kube';
import type { PolicySummary } from '../../common/runner-policy';
import { scrubError, toBoundaryResult } from './boundary';
import type { CheckOutcome } from './checks/check';
import { CHECKS } from './checks';
import { policyDenied, type RunnerPolicyEnforcer } from './policy';
import { RunSecrets, type SecretProvider } from './secrets';
import type { LoadedPacks } from './packs/loader';
import { runnerNames, type RunnerNames } from './names';
import { isPackCheckType, parameterProblems } from '../../common/packs';

/** One line of the Runner's own audit trail: what was asked of the cluster and what the Runner decided. */
export interface RunnerAuditEntry {
  decision: 'accepted' | 'refused';
  runId: string;
  workflowId: string;
  checkType: string;
  /** `sha256:` of the envelope as received (signed or not). */
  envelopeDigest: string;
  /** The policy the decision was made under. */
  policyDigest: string;
  reason?: string;
}
export type RunnerAudit = (entry: RunnerAuditEntry) => void;

export interface RunnerActivityDeps {
  workspaceId: string;
  runnerId: string;
  /** The Runner's own audit trail; the Runner process writes it to stdout. */
  audit?: RunnerAudit | undefined;
  /** The Runner's policy: the ceiling of what the Platform may ask for (check types, destinations, secrets, raw data). */
  policy: RunnerPolicyEnforcer;
  secretProviders: ReadonlyMap<string, SecretProvider>;
  /** This workspace's keys only (and results are attested under its active key without `attestationKey`). */
  keyring: Keyring;
  /** The Runner's own Ed25519 key: results are signed with it (format v2), which only this Runner can do. */
  attestationKey?: SigningKey | undefined;
  /** The Runner's own cluster identity, if it has one. */
  kube?: KubeClients | undefined;
  /** The check packs the policy pins, loaded and admitted at start. */
  packs?: LoadedPacks | undefined;
  /** How names leave (the policy's `discovery.names`); by default as the policy says, in clear unless it hashes. */
  names?: RunnerNames | undefined;
  version?: string;
}

function invalid(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.InvalidConfiguration, message, nonRetryable: true });
}

export function createRunnerActivities({
  workspaceId,
  runnerId,
  audit = () => undefined,
  policy,
  secretProviders,
  keyring,
  attestationKey,
  kube,
  packs,
  names = runnerNames(policy.policy.discovery.names, undefined, kube),
  version = LOOKOUT_VERSION,
}: RunnerActivityDeps) {
  if (policy.policy.discovery.names !== names.mode) {
    throw new Error(`the Runner's names handling (${names.mode}) is not its policy's (${policy.policy.discovery.names})`);
  }
  /** Runs an accepted check with this run's secrets and returns what the boundary lets through. */
  async function runChecked(request: TaskRequest, body: (secrets: RunSecrets) => Promise<CheckOutcome>): Promise<TaskResult> {
    const ctx = Context.current();
    const secrets = new RunSecrets(secretProviders, ctx.cancellationSignal);
    const beat = setInterval(() => ctx.heartbeat(), Math.max(200, Math.min(5_000, (ctx.info.heartbeatTimeoutMs ?? 30_000) / 3)));
    const startedAt = new Date();
    try {
      const outcome = await names.hashOutcome(await body(secrets));
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
        signer: attestationKey ? { runnerId, key: attestationKey } : undefined,
      });
    } catch (err) {
      // A cancelled check ends as cancelled; the SDK recognises its own cancellation error.
      if (ctx.cancellationSignal.aborted) throw err;
      // Errors leave through the boundary too: redacted, without cause or foreign stack.
      const failure = scrubError(err, secrets.values());
      if (!names.hashes) throw failure;
      throw ApplicationFailure.create({
        type: failure.type ?? 'CheckError',
        message: await names.hashMessage(failure.message),
        nonRetryable: failure.nonRetryable ?? false,
      });
    } finally {
      clearInterval(beat);
    }
  }

  return {
    /**
     * What this Runner is: its version, its allowlist and its policy's digest and summary (check
     * types, destinations, binding names; never a secret reference). Nothing of the cluster.
     */
    async describeRunner(): Promise<{ version: string; allowedChecks: string[]; kubernetes: boolean; policy: PolicySummary }> {
      return {
        version,
        allowedChecks: policy.summary.checks,
        kubernetes: Boolean(kube),
        policy: { ...policy.summary, packs: packs?.summaries ?? [] },
      };
    },

    /**
     * Runs one check. Heartbeats while it runs; cancellation arrives through the heartbeat and aborts
     * the check's I/O. Configuration problems fail non-retryably; anything unexpected stays
     * retryable so that Temporal retries it within the task's policy.
     */
    async executeCheck(input: TaskRequest): Promise<TaskResult> {
      const ctx = Context.current();
      const workflowId = ctx.info.workflowExecution?.workflowId ?? '';
      const parsed = TaskRequest.safeParse(input);
      const raw = (input ?? {}) as Partial<TaskRequest>;
      const decide = (decision: 'accepted' | 'refused', reason?: string) =>
        audit({
          decision,
          runId: typeof raw.runId === 'string' ? raw.runId.slice(0, 64) : '',
          workflowId: workflowId.slice(0, 256),
          checkType: typeof raw.checkType === 'string' ? raw.checkType.slice(0, 64) : '',
          envelopeDigest: envelopeDigest(raw.envelope),
          policyDigest: policy.digest,
          ...(reason ? { reason } : {}),
        });
      /** Records the refusal in the Runner's own audit trail; the caller throws it. */
      const refuse = (failure: ApplicationFailure): ApplicationFailure => {
        decide('refused', failure.message);
        return failure;
      };
      if (!parsed.success) throw refuse(invalid('malformed task request'));
      const request = parsed.data;
      if (request.workspaceId !== workspaceId) throw refuse(invalid('the task belongs to another workspace than this Runner'));
      // Nothing is resolved or contacted for a task the Platform did not sign for this Runner and workflow.
      const verified = policy.verifyEnvelope(request, runnerId, workflowId);
      if ('refused' in verified) throw refuse(policyDenied(verified.refused));
      const packCheck = isPackCheckType(request.checkType) ? packs?.check(request.checkType) : undefined;
      if ((!isCheckType(request.checkType) && !packCheck) || !policy.allowsCheck(request.checkType)) {
        throw refuse(
          ApplicationFailure.create({
            type: FailureType.CheckNotAllowed,
            message: `check type ${JSON.stringify(request.checkType.slice(0, 64))} is not in this Runner's allowlist`,
            nonRetryable: true,
          }),
        );
      }
      // Under hashed names, a task that names anything in clear is refused before anything is listed.
      if (names.hashes && clearNamesIn(request.params).length) throw refuse(policyDenied(CLEAR_NAMES_REFUSED));
      if (packCheck) {
        // The Platform names a pack check by type and the digest this Runner reported: other code is never run under that name.
        if (verified.claims.packDigest !== packCheck.pack.digest) {
          throw refuse(
            policyDenied(
              verified.claims.packDigest === undefined
                ? `the task names pack check ${request.checkType} without the pack's digest`
                : `the task was signed for pack ${packCheck.pack.manifest.name} at ${verified.claims.packDigest}, but this Runner runs ${packCheck.pack.digest}`,
            ),
          );
        }
        const problems = parameterProblems(packCheck.check.check.parameters, request.params);
        if (problems.length) throw refuse(invalid(`invalid parameters for ${request.checkType}: ${problems.join('; ')}`));
      }
      if (!isCheckType(request.checkType)) {
        if (!packCheck) throw refuse(invalid('unknown check type'));
        decide('accepted');
        // The pack executors (CEL, the sandbox) are loaded with the first pack check, not with every Runner.
        const { runPackCheck } = await import('./packs/run.js');
        const packParams = await names.resolveParams(request.params);
        return runChecked(request, (secrets) =>
          runPackCheck(packCheck, packParams, {
            signal: ctx.cancellationSignal,
            heartbeat: (details) => ctx.heartbeat(details),
            kube,
            policy: policy.policy,
            secrets,
          }),
        );
      }
      const check = CHECKS[request.checkType];
      const params = check.params.safeParse(await names.resolveParams(request.params));
      if (!params.success) {
        throw refuse(
          invalid(
            `invalid parameters for ${request.checkType}: ${params.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}`,
          ),
        );
      }
      decide('accepted');
      return runChecked(request, (secrets) =>
        check.run(params.data, {
          signal: ctx.cancellationSignal,
          policy: policy.gate(secrets),
          tlsSecretNamespaces: policy.tlsSecretNamespaces,
          heartbeat: (details) => ctx.heartbeat(details),
          kube,
          names: names.mode,
        }),
      );
    },
  };
}

export type RunnerActivities = ReturnType<typeof createRunnerActivities>;
