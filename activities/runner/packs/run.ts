/**
 * Runs an admitted pack check: declarative checks through the CEL executor with the Runner's paged
 * client, script checks in the sandbox with only what the policy grants the pack — its declared
 * destinations that a granted destination covers (narrowed further to where every bound secret may
 * go), the secrets of its granted bindings as files, and the Kubernetes read rules it declares.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { FailureType } from '../../../common/errors';
import { RESERVED_ENV, type RunnerPolicy } from '../../../common/runner-policy';
import type { CheckOutcome } from '../checks/check';
import type { KubeClients } from '../kube';
import { policyDenied } from '../policy';
import type { SecretResolver } from '../policy';
import { runDeclarative } from './declarative';
import { grantedDestinationsFor, type LoadedCheck, type LoadedPack } from './loader';
import { runScript, ScriptError } from './sandbox';
import type { SandboxDestination } from './types';

export interface PackRunContext {
  signal: AbortSignal;
  heartbeat(details?: unknown): void;
  kube?: KubeClients | undefined;
  policy: RunnerPolicy;
  /** This run's secrets: every value resolved through it is redacted at the boundary. */
  secrets: SecretResolver;
  /** Where a script's stderr goes (the `lookout pack test` preview); the Runner drops it: it may hold anything. */
  onStderr?: ((chunk: string) => void) | undefined;
}

function noKube(type: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: FailureType.InvalidConfiguration,
    message: `${type} reads the Kubernetes API, and this Runner has no Kubernetes identity`,
    nonRetryable: true,
  });
}

/** The destinations a script may reach: declared by the check, under a destination granted to the pack, and allowed for every secret it holds. */
export function scriptDestinations(pack: LoadedPack, check: LoadedCheck, policy: RunnerPolicy): SandboxDestination[] {
  const bindings = policy.secretBindings.filter((b) => check.check.needs.secrets.includes(b.name));
  const granted = policy.destinations.filter(
    (d) => pack.policy.destinations.includes(d.name) && d.pathPrefix === '/' && bindings.every((b) => b.destinations.includes(d.name)),
  );
  return check.check.needs.destinations.flatMap((declared) =>
    grantedDestinationsFor(declared, granted).map((d) => ({ declared, policy: d })),
  );
}

export async function runPackCheck(
  loaded: { pack: LoadedPack; check: LoadedCheck },
  params: Record<string, unknown>,
  ctx: PackRunContext,
): Promise<CheckOutcome> {
  const { pack, check } = loaded;
  const spec = check.check;
  if (spec.declarative) {
    if (!ctx.kube) throw noKube(check.type);
    return runDeclarative(
      {
        spec: spec.declarative,
        params,
        kube: ctx.kube,
        rules: spec.needs.kubernetes,
        signal: ctx.signal,
        heartbeat: (d) => ctx.heartbeat(d),
      },
      check.compiled,
    );
  }
  const script = spec.script;
  if (!script) throw new Error(`${check.type} has neither a declarative nor a script definition`);
  if (spec.needs.kubernetes.length && !ctx.kube) throw noKube(check.type);
  const secrets: { name: string; value: string }[] = [];
  for (const name of spec.needs.secrets) {
    const binding = ctx.policy.secretBindings.find((b) => b.name === name && pack.policy.secretBindings.includes(b.name));
    if (!binding) throw policyDenied(`pack ${pack.manifest.name} is not granted secret binding ${name}`);
    if (binding.ref.includes('*')) throw policyDenied(`secret binding ${name} covers several secrets: a pack binds exactly one`);
    if (binding.ref.startsWith('env:') && RESERVED_ENV.test(binding.ref.slice(4)))
      throw policyDenied(`${binding.ref} is one of the Runner's own credentials`);
    secrets.push({ name, value: await ctx.secrets.resolve(binding.ref) });
  }
  try {
    return await runScript(
      {
        packDir: pack.dir,
        spec: script,
        params,
        secrets,
        destinations: scriptDestinations(pack, check, ctx.policy),
        kube: spec.needs.kubernetes.length && ctx.kube ? { clients: ctx.kube, rules: spec.needs.kubernetes } : undefined,
        signal: ctx.signal,
        heartbeat: (d) => ctx.heartbeat(d),
      },
      ctx.onStderr ? { onStderr: ctx.onStderr } : undefined,
    );
  } catch (err) {
    if (!(err instanceof ScriptError)) throw err;
    // The message names the script and what went wrong, never its output. A script that exited
    // non-zero or ran out of time may succeed on a retry; a broken result or sandbox will not.
    const transient = err.reason === 'exit' || err.reason === 'timeout';
    throw ApplicationFailure.create({
      type: transient ? 'ScriptFailed' : FailureType.InvalidConfiguration,
      message: `${check.type}: ${err.message}`,
      nonRetryable: !transient,
    });
  }
}
