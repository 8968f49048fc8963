/**
 * `http.probe`: GET (or HEAD) a URL and compare its status code and latency with thresholds. An
 * unreachable, slow or failing endpoint is a result with issues, not a failed run.
 */
import { HttpProbeParams } from '../../../common/checks';
import type { Issue } from '../../../common/contracts';
import type { Check, CheckOutcome } from './check';
import { displayUrl, endpointHeaders, isPolicyDenied, requestDeadline } from './endpoint';

function describeNetworkError(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : undefined;
  return code ?? (cause instanceof Error ? cause.name : 'network error');
}

const EXCERPT_BYTES = 512;

async function readExcerpt(response: { body: AsyncIterable<unknown> | null }, limit: number): Promise<string | undefined> {
  if (!response.body) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  // Leaving the loop early cancels the stream: only the first bytes are ever read.
  for await (const chunk of response.body) {
    const bytes: Buffer = Buffer.from(chunk as Uint8Array);
    chunks.push(bytes);
    size += bytes.length;
    if (size >= limit) break;
  }
  const text = Buffer.concat(chunks)
    .subarray(0, limit)
    .toString('utf8')
    .replace(/\uFFFD+$/, '');
  return text.trim() ? text : undefined;
}

export const httpProbe: Check<HttpProbeParams> = {
  type: 'http.probe',
  params: HttpProbeParams,
  async run(params, ctx): Promise<CheckOutcome> {
    const resource = { kind: 'Endpoint', name: displayUrl(params.url) };
    const url = new URL(params.url);
    // The policy decides before anything is resolved or contacted; a refusal fails the run (PolicyDenied).
    const destination = ctx.policy.destination(url);
    const headers = await endpointHeaders(ctx.policy, destination, params.auth);
    const { signal, timeout } = requestDeadline(ctx, params.timeoutMs);
    const started = performance.now();
    let status: number;
    let excerpt: string | undefined;
    try {
      // Redirects are not followed, and where they point is not reported.
      const response = await ctx.policy.fetch(url, destination, { method: params.method, headers, signal });
      status = response.status;
      const healthy = params.expectedStatus ? params.expectedStatus.includes(status) : status >= 200 && status < 400;
      // The body is read only for an unexpected status, and only its start: a raw excerpt, which
      // leaves the Runner only if its own raw-log policy allows it (the boundary enforces that).
      excerpt = healthy ? undefined : await readExcerpt(response, EXCERPT_BYTES);
      await response.body?.cancel().catch(() => undefined);
    } catch (err) {
      if (ctx.signal.aborted || isPolicyDenied(err)) throw err;
      const latencyMs = Math.round(performance.now() - started);
      const timedOut = timeout.aborted;
      const issue: Issue = {
        severity: 1,
        title: timedOut ? 'Endpoint did not answer in time' : 'Endpoint unreachable',
        resource,
        expected: timedOut ? `a response within ${params.timeoutMs} ms` : 'an HTTP response',
        actual: timedOut ? `no response after ${latencyMs} ms` : `connection failed (${describeNetworkError(err)})`,
        nextSteps: [
          'Check that the service is running and listening',
          'Check DNS, network policies and firewalls between the Runner and the endpoint',
        ],
      };
      return {
        status: 'issues',
        summary: `${resource.name}: ${issue.title.toLowerCase()}`,
        score: 0,
        issues: [issue],
        metrics: { 'http.latency_ms': latencyMs, 'http.up': 0 },
      };
    }
    const latencyMs = Math.round(performance.now() - started);
    const issues: Issue[] = [];
    const statusOk = params.expectedStatus ? params.expectedStatus.includes(status) : status >= 200 && status < 400;
    if (!statusOk) {
      issues.push({
        severity: status >= 500 ? 1 : 2,
        title: 'Unexpected HTTP status',
        resource,
        expected: params.expectedStatus ? `status ${params.expectedStatus.join(' or ')}` : 'a 2xx or 3xx status',
        actual: `status ${status}`,
        nextSteps:
          status >= 500
            ? ['Look at the service logs around the time of the run', 'Check the health of its dependencies']
            : ['Check the URL, method and credentials of the probe'],
        ...(excerpt ? { details: excerpt } : {}),
      });
    }
    if (latencyMs > params.maxLatencyMs) {
      issues.push({
        severity: 3,
        title: 'Endpoint is slow',
        resource,
        expected: `latency at most ${params.maxLatencyMs} ms`,
        actual: `${latencyMs} ms`,
        nextSteps: ['Check the load and resource limits of the service', 'Compare with the latency of earlier runs'],
      });
    }
    const score = issues.length === 0 ? 1 : statusOk ? 0.5 : 0;
    return {
      status: issues.length ? 'issues' : 'ok',
      summary: issues.length
        ? `${resource.name}: ${issues.map((i) => i.title.toLowerCase()).join(', ')}`
        : `${resource.name} answered ${status} in ${latencyMs} ms`,
      score,
      issues,
      metrics: { 'http.status_code': status, 'http.latency_ms': latencyMs, 'http.up': statusOk ? 1 : 0 },
    };
  },
};
