/**
 * What the checks of network endpoints share (`http.probe`, `prometheus.query`, `tls.endpoint`): how
 * a URL is shown in results, how a request's headers and deadline are made under the Runner policy,
 * and how a policy refusal is told from a network failure.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { FailureType } from '../../../common/errors';
import type { Destination } from '../../../common/runner-policy';
import type { PolicyGate } from '../policy';
import type { CheckContext } from './check';

/** A refusal by the Runner policy: it fails the run (PolicyDenied), it is never reported as the endpoint's fault. */
export const isPolicyDenied = (err: unknown): boolean => err instanceof ApplicationFailure && err.type === FailureType.PolicyDenied;

/** The URL as shown in results: no credentials, no query string (it may carry tokens). */
export function displayUrl(raw: string): string {
  const u = new URL(raw);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/**
 * The headers of a request to `destination`: the Runner's user agent, `extra`, and with `auth` the
 * header of the secret binding the policy allows for that destination (refused before anything is
 * resolved otherwise).
 */
export async function endpointHeaders(
  policy: PolicyGate,
  destination: Destination,
  auth: Parameters<PolicyGate['boundHeader']>[0] | undefined,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  const headers: Record<string, string> = { 'user-agent': 'lookout-runner', ...extra };
  if (auth) {
    const header = await policy.boundHeader(auth, destination);
    headers[header.name.toLowerCase()] = header.value;
  }
  return headers;
}

/** A request's signal: aborted when the run is (cancel, shutdown) or after `timeoutMs`; `timeout` tells which. */
export function requestDeadline(ctx: Pick<CheckContext, 'signal'>, timeoutMs: number): { signal: AbortSignal; timeout: AbortSignal } {
  const timeout = AbortSignal.timeout(timeoutMs);
  return { signal: AbortSignal.any([ctx.signal, timeout]), timeout };
}
