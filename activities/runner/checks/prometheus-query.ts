/**
 * `prometheus.query`: evaluates a PromQL query now (`<url>/api/v1/query`) and compares the value of
 * each series it returns with a warn and a critical threshold. A breach is a finding; a Prometheus
 * that cannot be reached or refuses the query is an `error` result (the check could not look).
 *
 * Prometheus is reached as `http.probe` reaches an endpoint: `<url>/api/v1/query` must fall under a
 * destination of the Runner policy, only addresses it allows are dialled, no redirect is followed,
 * and a secret header is sent only through a secret binding that allows that destination.
 *
 * What leaves the Runner: numbers, and names Kubernetes' own checks already send. A breaching
 * series is reported on the Kubernetes object its labels name, when they name one in Kubernetes'
 * shape (`namespace` with `pod`, `deployment`, `statefulset`, `daemonset`, `job_name`, `cronjob`,
 * `persistentvolumeclaim` or `service`; `namespace` alone; `node`) and the values are valid object
 * names; otherwise on the Prometheus endpoint (its URL, which the task gave). No other label value,
 * no result text and no error text of Prometheus leaves, except the breaching series' label sets as
 * an issue's raw `details`, which the boundary drops unless the Runner policy's `rawData` allows
 * `prometheus.query`.
 */
import { prometheusQueryUrl, PrometheusQueryParams, type PromComparison } from '../../../common/checks';
import type { Issue } from '../../../common/contracts';
import { scoreOf } from '../../../common/score';
import type { Check, CheckOutcome } from './check';
import { displayUrl, endpointHeaders, isPolicyDenied, requestDeadline } from './endpoint';

/** Largest answer read: a query that returns more should be narrowed (aggregate, filter, topk). */
const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** Findings per result at most (every series still counts in the metrics). */
const MAX_FINDINGS = 100;

type Resource = Issue['resource'];

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** Labels that name a namespaced object, most specific first (kube-state-metrics and cAdvisor names). */
const NAMESPACED_LABELS: readonly [label: string, kind: string][] = [
  ['pod', 'Pod'],
  ['deployment', 'Deployment'],
  ['statefulset', 'StatefulSet'],
  ['daemonset', 'DaemonSet'],
  ['job_name', 'Job'],
  ['cronjob', 'CronJob'],
  ['persistentvolumeclaim', 'PersistentVolumeClaim'],
  ['service', 'Service'],
];

/** The Kubernetes object a series' labels name, or `fallback` when they name none in Kubernetes' shape. */
export function resourceOfLabels(labels: Readonly<Record<string, string>>, fallback: Resource): Resource {
  const namespace = labels['namespace'];
  if (namespace !== undefined) {
    if (!NAMESPACE.test(namespace)) return fallback;
    for (const [label, kind] of NAMESPACED_LABELS) {
      const name = labels[label];
      if (name !== undefined && OBJECT_NAME.test(name)) return { kind, namespace, name };
    }
    return { kind: 'Namespace', namespace, name: namespace };
  }
  const node = labels['node'];
  if (node !== undefined && OBJECT_NAME.test(node)) return { kind: 'Node', name: node };
  return fallback;
}

/** A sample value as Prometheus writes it (`1.5`, `NaN`, `+Inf`, `-Inf`). */
function sampleValue(text: unknown): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return typeof text === 'string' && text.trim() !== '' ? Number(text) : NaN;
}

function breaches(value: number, op: PromComparison, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '==':
      return value === threshold;
    case '!=':
      return value !== threshold;
  }
}

/** What a healthy value is, for `expected`: the negation of the breach. */
function healthy(op: PromComparison, threshold: number): string {
  const t = formatValue(threshold);
  return { '>': `at most ${t}`, '>=': `below ${t}`, '<': `at least ${t}`, '<=': `above ${t}`, '==': `not ${t}`, '!=': `exactly ${t}` }[op];
}

/** True when `a` is further on the breaching side than `b`. */
function worse(op: PromComparison, a: number, b: number): boolean {
  if (op === '>' || op === '>=') return a > b;
  if (op === '<' || op === '<=') return a < b;
  return false;
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
  return String(Number(v.toPrecision(6)));
}

/** The query as a title part: one line, printable, short. */
function clipQuery(query: string): string {
  const line = query
    .replace(/\p{Cc}+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return line.length > 150 ? `${line.slice(0, 149)}…` : line;
}

async function readCapped(body: AsyncIterable<unknown> | null, limit: number): Promise<Buffer | undefined> {
  if (!body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const bytes = Buffer.from(chunk as Uint8Array);
    size += bytes.length;
    if (size > limit) return undefined;
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}

interface Series {
  labels: Record<string, string>;
  value: number;
}

interface PromAnswer {
  status?: unknown;
  errorType?: unknown;
  error?: unknown;
  data?: { resultType?: unknown; result?: unknown };
}

function errorOutcome(summary: string, metrics: Record<string, number>): CheckOutcome {
  return { status: 'error', summary, issues: [], metrics: { 'prometheus.up': 0, ...metrics }, exitCode: 2 };
}

/** The series of an instant query's answer, or why there are none to compare. */
function seriesOf(data: PromAnswer['data']): Series[] | string {
  const type = data?.resultType;
  if (type === 'scalar') {
    const sample = data?.result as unknown[] | undefined;
    return [{ labels: {}, value: sampleValue(sample?.[1]) }];
  }
  if (type === 'vector' && Array.isArray(data?.result)) {
    return (data.result as { metric?: unknown; value?: unknown[] }[]).map((s) => ({
      labels: Object.fromEntries(
        Object.entries(s.metric && typeof s.metric === 'object' ? s.metric : {}).filter(
          (entry): entry is [string, string] => typeof entry[1] === 'string',
        ),
      ),
      value: sampleValue(s.value?.[1]),
    }));
  }
  if (type === 'matrix') return 'the query returns a range vector: give an instant vector or a scalar (no [range] selector)';
  return 'the query returns neither an instant vector nor a scalar';
}

export const prometheusQuery: Check<PrometheusQueryParams> = {
  type: 'prometheus.query',
  params: PrometheusQueryParams,
  async run(params, ctx): Promise<CheckOutcome> {
    const display = displayUrl(params.url);
    const endpoint: Resource = { kind: 'Endpoint', name: display };
    const url = prometheusQueryUrl(params.url);
    // The policy decides on the URL actually called, before anything is resolved or contacted.
    const destination = ctx.policy.destination(url);
    url.searchParams.set('query', params.query);
    // Prometheus stops evaluating when the Runner stops waiting.
    url.searchParams.set('timeout', `${params.timeoutMs}ms`);
    const headers = await endpointHeaders(ctx.policy, destination, params.auth, { accept: 'application/json' });
    const { signal, timeout } = requestDeadline(ctx, params.timeoutMs);
    const started = performance.now();
    let status: number;
    let body: Buffer | undefined;
    try {
      const response = await ctx.policy.fetch(url, destination, { method: 'GET', headers, signal });
      status = response.status;
      body = await readCapped(response.body, MAX_BODY_BYTES);
      if (!body) await response.body?.cancel().catch(() => undefined);
    } catch (err) {
      if (ctx.signal.aborted || isPolicyDenied(err)) throw err;
      const latencyMs = Math.round(performance.now() - started);
      if (timeout.aborted)
        return errorOutcome(`Prometheus at ${display} did not answer within ${params.timeoutMs} ms`, {
          'prometheus.latency_ms': latencyMs,
        });
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
      const rawCode = (cause as { code?: unknown } | null)?.code;
      const code = typeof rawCode === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(rawCode) ? rawCode : 'network error';
      return errorOutcome(`Prometheus at ${display} is unreachable (${code})`, { 'prometheus.latency_ms': latencyMs });
    }
    const latencyMs = Math.round(performance.now() - started);
    const metrics: Record<string, number> = { 'prometheus.latency_ms': latencyMs, 'prometheus.http_status': status };
    if (!body) return errorOutcome(`the answer of Prometheus at ${display} exceeds ${MAX_BODY_BYTES} bytes: narrow the query`, metrics);
    if (status === 401 || status === 403) {
      return errorOutcome(
        `Prometheus at ${display} refused the credentials (HTTP ${status}): check the task's auth and its secret binding`,
        metrics,
      );
    }
    let answer: PromAnswer | undefined;
    try {
      answer = JSON.parse(body.toString('utf8')) as PromAnswer;
    } catch {
      answer = undefined;
    }
    if (!answer || typeof answer !== 'object') {
      return errorOutcome(`${display} answered HTTP ${status}, not with the Prometheus API (is the URL that of Prometheus?)`, metrics);
    }
    if (answer.status !== 'success' || status < 200 || status >= 300) {
      // Prometheus' error text quotes the query and the data: only its enumerated type and a parse position leave.
      const errorType = typeof answer.errorType === 'string' && /^[a-z_]{1,32}$/.test(answer.errorType) ? answer.errorType : 'error';
      const position = typeof answer.error === 'string' ? /(?:^|: )(\d{1,6}):(\d{1,6}): parse error/.exec(answer.error) : null;
      const where = position ? `, parse error at line ${position[1]}, column ${position[2]}` : '';
      return errorOutcome(`Prometheus at ${display} refused the query: ${errorType} (HTTP ${status}${where})`, metrics);
    }
    const series = seriesOf(answer.data);
    if (typeof series === 'string') return errorOutcome(`Prometheus at ${display}: ${series}`, metrics);

    const subject = params.title ?? `Query breaches its threshold: ${clipQuery(params.query)}`;
    const values = series.map((s) => s.value).filter((v) => Number.isFinite(v));
    metrics['prometheus.up'] = 1;
    metrics['prometheus.series'] = series.length;
    metrics['prometheus.nan_series'] = series.filter((s) => Number.isNaN(s.value)).length;
    if (values.length) {
      metrics['prometheus.value_max'] = Math.max(...values);
      metrics['prometheus.value_min'] = Math.min(...values);
    }
    if (series.length === 1 && Number.isFinite(series[0]!.value)) metrics['prometheus.value'] = series[0]!.value;

    if (!series.length) {
      const issues: Issue[] =
        params.noData === 'issue'
          ? [
              {
                severity: 3,
                title: params.title ? `No data: ${params.title}` : `Query returned no data: ${clipQuery(params.query)}`,
                resource: endpoint,
                expected: 'at least one series',
                actual: 'no series',
                nextSteps: [
                  'Check that the targets behind the query are scraped (Prometheus: Status → Targets)',
                  'Check the metric and label names of the query',
                ],
              },
            ]
          : [];
      return {
        status: issues.length ? 'issues' : 'ok',
        summary: `${display}: the query returned no series`,
        score: scoreOf(issues),
        issues,
        metrics: { ...metrics, 'prometheus.breaching_series': 0 },
      };
    }

    // Series that breach, grouped by the resource they are reported on: its worst value speaks for it.
    const groups = new Map<
      string,
      { resource: Resource; severity: 1 | 3; worst: number; count: number; labels: Record<string, string>[] }
    >();
    let critical = 0;
    let warned = 0;
    for (const s of series) {
      if (Number.isNaN(s.value)) continue;
      const severity =
        params.critical !== undefined && breaches(s.value, params.comparison, params.critical)
          ? 1
          : params.warn !== undefined && breaches(s.value, params.comparison, params.warn)
            ? 3
            : undefined;
      if (severity === undefined) continue;
      if (severity === 1) critical += 1;
      else warned += 1;
      const resource = resourceOfLabels(s.labels, endpoint);
      const key = `${resource.kind}\u0000${resource.namespace ?? ''}\u0000${resource.name}`;
      const group = groups.get(key);
      if (!group) groups.set(key, { resource, severity, worst: s.value, count: 1, labels: [s.labels] });
      else {
        group.count += 1;
        group.labels.push(s.labels);
        if (severity < group.severity) group.severity = severity;
        if (worse(params.comparison, s.value, group.worst)) group.worst = s.value;
      }
    }
    metrics['prometheus.breaching_series'] = critical + warned;
    metrics['prometheus.critical_series'] = critical;
    metrics['prometheus.warn_series'] = warned;
    const issues: Issue[] = [...groups.values()]
      .sort((a, b) => a.severity - b.severity || (worse(params.comparison, a.worst, b.worst) ? -1 : 1))
      .slice(0, MAX_FINDINGS)
      .map((g) => {
        const threshold = g.severity === 1 ? params.critical! : params.warn!;
        return {
          severity: g.severity,
          title: subject,
          resource: g.resource,
          expected: `${healthy(params.comparison, threshold)} (${g.severity === 1 ? 'critical' : 'warn'} threshold)`,
          actual: `${formatValue(g.worst)}${g.count > 1 ? ` (the worst of ${g.count} series)` : ''}`,
          nextSteps: [
            'Open the query in Prometheus (Graph) to see since when it breaches',
            g.resource.kind === 'Endpoint'
              ? 'Look at the services the query measures'
              : `kubectl describe ${g.resource.kind.toLowerCase()} ${g.resource.name}${g.resource.namespace && g.resource.kind !== 'Namespace' ? ` -n ${g.resource.namespace}` : ''}`,
          ],
          // Label values are customer data: a raw excerpt, kept on the Runner unless its policy allows raw data.
          details: JSON.stringify(g.labels).slice(0, 2000),
        };
      });
    return {
      status: issues.length ? 'issues' : 'ok',
      summary: issues.length
        ? `${display}: ${critical + warned} of ${series.length} series breach a threshold (${critical} critical, ${warned} warn)`
        : `${display}: ${series.length} series, none breaching${series.length === 1 ? ` (value ${formatValue(series[0]!.value)})` : ''}`,
      score: scoreOf(issues),
      issues,
      metrics,
    };
  },
};
