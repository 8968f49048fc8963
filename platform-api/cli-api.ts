/**
 * `lookout` commands that act through the API as the holder of LOOKOUT_TOKEN (LOOKOUT_API_URL):
 * issues, alert hooks, notification sinks and notifications, discovery. What is secret (a sink's URL or
 * routing key) is read from standard input, never from the command line, where `ps` and shell
 * history would keep it.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { ApiClientConfig } from '../common/config';
import { loadConfigOrExit } from '../common/process';

export function uuid(value: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)) throw new InvalidArgumentError('must be a UUID');
  return value;
}

/** An option that takes a whole number from `min` to `max`. */
export const integer = (min: number, max: number) => (value: string) => {
  if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max)
    throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
  return Number(value);
};

export function addApiCommands(program: Command): void {
  addIssueCommands(program);
  addHookCommands(program);
  addSinkCommands(program);
  addDiscoverCommand(program);
}

/** Calls the API with LOOKOUT_TOKEN; a problem answer becomes a one-line error and exit status 1. */
async function callApi(method: string, pathAndQuery: string, body?: unknown): Promise<Record<string, unknown>> {
  const config = loadConfigOrExit('lookout', ApiClientConfig);
  const res = await fetch(new URL(pathAndQuery, config.LOOKOUT_API_URL), {
    method,
    headers: { authorization: `Bearer ${config.LOOKOUT_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) {
    const errors = Array.isArray(answer['errors']) ? (answer['errors'] as { path?: string; message?: string }[]) : [];
    const said = [answer['detail'], answer['title']].find((v): v is string => typeof v === 'string') ?? res.statusText;
    const detail = [said, ...errors.map((e) => `${e.path ?? ''} ${e.message ?? ''}`.trim())];
    throw new Error(`${method} ${pathAndQuery.split('?')[0]}: ${res.status} ${detail.filter(Boolean).join('; ')}`);
  }
  return answer;
}

/** `lookout issues`: what is wrong, through the API, as the token's holder (operator to change). */
function addIssueCommands(program: Command): void {
  const issues = program.command('issues').description('issues: findings across runs (LOOKOUT_API_URL, LOOKOUT_TOKEN)');
  const line = (i: Record<string, unknown>) => {
    const r = i['resource'] as { kind: string; namespace?: string; name: string };
    return [
      i['id'],
      String(i['state']).padEnd(12),
      `sev${String(i['severity'])}`,
      String(i['checkType']).padEnd(24),
      `${r.kind}/${r.namespace ? `${r.namespace}/` : ''}${r.name}`,
      `"${String(i['title'])}"`,
      `seen ${String(i['seenCount'])}×, last ${String(i['lastSeenAt'])}`,
    ].join('  ');
  };
  /** PATCHes an issue and prints it as changed. */
  const change = async (workspace: string, issue: string, body: Record<string, unknown>) =>
    process.stdout.write(`${line(await callApi('PATCH', `/v1/workspaces/${workspace}/issues/${issue}`, body))}\n`);
  issues
    .command('list')
    .description('list issues, most severe and most recent first')
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .option('--state <state>', 'open, acknowledged, resolved or ignored')
    .option('--severity <n>', 'at most this severity (1 the most severe)')
    .option('--namespace <name>', 'only this namespace')
    .option('--runner <id>', 'only this Runner', uuid)
    .option('--json', 'print JSON')
    .action(async (opts: { workspace: string; state?: string; severity?: string; namespace?: string; runner?: string; json?: boolean }) => {
      const query = new URLSearchParams({
        ...(opts.state ? { state: opts.state } : {}),
        ...(opts.severity ? { severity: opts.severity } : {}),
        ...(opts.namespace ? { namespace: opts.namespace } : {}),
        ...(opts.runner ? { runnerId: opts.runner } : {}),
      });
      const answer = await callApi('GET', `/v1/workspaces/${opts.workspace}/issues?${query.toString()}`);
      const items = answer['items'] as Record<string, unknown>[];
      process.stdout.write(opts.json ? `${JSON.stringify(items, null, 2)}\n` : items.map((i) => `${line(i)}\n`).join('') || 'no issues\n');
    });
  issues
    .command('ack')
    .description('acknowledge an issue: someone is on it')
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .argument('<issue>', 'issue id', uuid)
    .option('--reason <text>', 'why, or who (kept sealed)')
    .action(async (issue: string, opts: { workspace: string; reason?: string }) => {
      await change(opts.workspace, issue, { state: 'acknowledged', ...(opts.reason ? { reason: opts.reason } : {}) });
    });
  issues
    .command('ignore')
    .description('ignore an issue until a date; it is open again afterwards if still found')
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .argument('<issue>', 'issue id', uuid)
    .requiredOption('--until <when>', 'an ISO date-time, or a duration such as 12h or 7d')
    .requiredOption('--reason <text>', 'why (kept sealed)')
    .action(async (issue: string, opts: { workspace: string; until: string; reason: string }) => {
      await change(opts.workspace, issue, { state: 'ignored', until: untilOption(opts.until), reason: opts.reason });
    });
  issues
    .command('reopen')
    .description('open an acknowledged or ignored issue again')
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .argument('<issue>', 'issue id', uuid)
    .action(async (issue: string, opts: { workspace: string }) => {
      await change(opts.workspace, issue, { state: 'open' });
    });
}

/** `--until`: an ISO date-time, or `<n>m|h|d` from now. */
function untilOption(value: string): string {
  const m = /^(\d{1,4})([mhd])$/.exec(value);
  if (m) return new Date(Date.now() + Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd']).toISOString();
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new InvalidArgumentError('--until must be an ISO date-time or a duration such as 12h or 7d');
  return new Date(t).toISOString();
}

/** Repeatable options. */
const collect = (value: string, previous: string[] = []) => [...previous, value];

/** A secret, one line from standard input (a prompt on stderr when a person types it). */
function secretFromStdin(what: string): string {
  if (process.stdin.isTTY) process.stderr.write(`${what} (then Enter and Ctrl-D): `);
  const value = readFileSync(0, 'utf8').trim();
  if (!value) throw new InvalidArgumentError(`give the ${what} on standard input`);
  return value;
}

/** `--match label=value` or `label=~regex`. */
function matchers(values: string[]): Record<string, string | { regex: string }> {
  const out: Record<string, string | { regex: string }> = {};
  for (const v of values) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(~?)(.*)$/s.exec(v);
    if (!m) throw new InvalidArgumentError(`--match ${v}: give label=value or label=~regex`);
    out[m[1]!] = m[2] ? { regex: m[3]! } : m[3]!;
  }
  return out;
}

/** `--param name=template`. */
function params(values: string[]): Record<string, string> | undefined {
  if (values.length === 0) return undefined;
  return Object.fromEntries(
    values.map((v) => {
      const i = v.indexOf('=');
      if (i < 1) throw new InvalidArgumentError(`--param ${v}: give name=value (the value may hold {{ labels.<name> }})`);
      return [v.slice(0, i), v.slice(i + 1)];
    }),
  );
}

const printJson = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};

/** `lookout hooks`: alert hooks an alerting system calls to start runs (owner to create). */
function addHookCommands(program: Command): void {
  const hooks = program.command('hooks').description('alert hooks: alerts that start runs (LOOKOUT_API_URL, LOOKOUT_TOKEN)');
  hooks
    .command('create')
    .description(
      "create a hook and print its URL and secret (shown this once); a PagerDuty hook's signing secret is read from standard input",
    )
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .requiredOption('--name <name>', 'a name for the hook')
    .option('--format <format>', 'alertmanager, generic or pagerduty', 'alertmanager')
    .option('--auth <auth>', 'bearer or hmac (pagerduty: hmac)', 'bearer')
    .option('--match <label=value>', 'a label matcher of the route (repeatable; label=~regex for a regular expression)', collect, [])
    .option('--task <id>', 'the task the route starts', uuid)
    .option('--param <name=template>', 'a parameter of the run, e.g. namespace={{ labels.namespace }} (repeatable)', collect, [])
    .option('--routes <file>', 'every route as a JSON array of {match, taskId, params} instead of --match/--task/--param')
    .option('--rate <n>', 'calls a minute at most', integer(1, 6000), 60)
    .action(
      async (opts: {
        workspace: string;
        name: string;
        format: string;
        auth: string;
        match: string[];
        task?: string;
        param: string[];
        routes?: string;
        rate: number;
      }) => {
        const routes = opts.routes
          ? (JSON.parse(readFileSync(opts.routes, 'utf8')) as unknown)
          : opts.task
            ? [{ match: matchers(opts.match), taskId: opts.task, ...(opts.param.length ? { params: params(opts.param) } : {}) }]
            : undefined;
        if (!routes) throw new InvalidArgumentError('give --task (with --match and --param) or --routes <file>');
        const auth = opts.format === 'pagerduty' ? 'hmac' : opts.auth;
        const secret = opts.format === 'pagerduty' ? secretFromStdin("the subscription's signing secret") : undefined;
        const hook = await callApi('POST', `/v1/workspaces/${opts.workspace}/hooks`, {
          name: opts.name,
          format: opts.format,
          auth,
          routes,
          ratePerMinute: opts.rate,
          ...(secret ? { secret } : {}),
        });
        const url = new URL(`/v1/hooks/${String(hook['id'])}`, loadConfigOrExit('lookout', ApiClientConfig).LOOKOUT_API_URL).toString();
        process.stdout.write(
          [
            `hook ${String(hook['id'])} (${opts.format}, ${auth})`,
            `url:    ${url}`,
            ...(typeof hook['secret'] === 'string'
              ? [`secret: ${hook['secret']}`, 'The secret is shown this once: put it in the alerting system now.']
              : []),
          ].join('\n') + '\n',
        );
      },
    );
  hooks
    .command('list')
    .description('list hooks (no secrets, no routes)')
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .action(async (opts: { workspace: string }) => printJson((await callApi('GET', `/v1/workspaces/${opts.workspace}/hooks`))['items']));
  hooks
    .command('delete')
    .description('delete a hook')
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .argument('<hook>', 'hook id', uuid)
    .action(async (hook: string, opts: { workspace: string }) => {
      await callApi('DELETE', `/v1/workspaces/${opts.workspace}/hooks/${hook}`);
      process.stdout.write(`hook ${hook} deleted\n`);
    });
}

const TARGET_PROMPT: Record<string, string> = {
  slack: 'the Slack incoming webhook URL',
  teams: "the Teams workflow's webhook URL",
  pagerduty: 'the PagerDuty integration (routing) key',
  webhook: 'the webhook URL',
};

/** `lookout sinks` and `lookout notifications`: where issue changes are sent, and what was (owner to create). */
function addSinkCommands(program: Command): void {
  const sinks = program.command('sinks').description('notification sinks: where issue changes are sent (LOOKOUT_API_URL, LOOKOUT_TOKEN)');
  sinks
    .command('create')
    .description('create a sink; its URL or routing key is read from standard input and never shown again')
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .requiredOption('--name <name>', 'a name for the sink')
    .requiredOption('--kind <kind>', 'slack, teams, pagerduty, webhook or email')
    .option('--to <address>', 'email: a recipient (repeatable)', collect, [])
    .option('--pagerduty-url <url>', 'pagerduty: the Events API v2 endpoint, if not the public one')
    .option('--max-severity <n>', 'issues of at most this severity (1 = unavailable only, 4 = all)', integer(1, 4), 3)
    .option('--runner <id>', "only this Runner's issues (repeatable)", collect, [])
    .option('--namespace <name>', 'only issues in this namespace (repeatable)', collect, [])
    .option('--events <list>', 'which changes: new,reopened,resolved', 'new,reopened,resolved')
    .option('--group-seconds <n>', 'changes within this window go out as one message', integer(0, 3600), 30)
    .option('--max-per-minute <n>', 'messages a minute at most', integer(1, 600), 10)
    .action(
      async (opts: {
        workspace: string;
        name: string;
        kind: string;
        to: string[];
        pagerdutyUrl?: string;
        maxSeverity: number;
        runner: string[];
        namespace: string[];
        events: string;
        groupSeconds: number;
        maxPerMinute: number;
      }) => {
        const prompt = TARGET_PROMPT[opts.kind];
        if (!prompt && opts.kind !== 'email') throw new InvalidArgumentError('--kind must be slack, teams, pagerduty, webhook or email');
        const secret = prompt ? secretFromStdin(prompt) : undefined;
        const target =
          opts.kind === 'email'
            ? { kind: 'email', to: opts.to }
            : opts.kind === 'pagerduty'
              ? { kind: 'pagerduty', routingKey: secret, ...(opts.pagerdutyUrl ? { url: opts.pagerdutyUrl } : {}) }
              : { kind: opts.kind, url: secret };
        const sink = await callApi('POST', `/v1/workspaces/${opts.workspace}/sinks`, {
          name: opts.name,
          target,
          maxSeverity: opts.maxSeverity,
          runnerIds: opts.runner,
          namespaces: opts.namespace,
          events: opts.events.split(',').map((e) => e.trim()),
          groupSeconds: opts.groupSeconds,
          maxPerMinute: opts.maxPerMinute,
        });
        process.stdout.write(
          [
            `sink ${String(sink['id'])} (${opts.kind})`,
            ...(typeof sink['signingSecret'] === 'string'
              ? [
                  `signing secret: ${sink['signingSecret']}`,
                  'Shown this once: give it to the receiver, which checks Lookout-Signature with it.',
                ]
              : []),
          ].join('\n') + '\n',
        );
      },
    );
  sinks
    .command('test')
    .description('send a test message through a sink now')
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .argument('<sink>', 'sink id', uuid)
    .action(async (sink: string, opts: { workspace: string }) => {
      const answer = await callApi('POST', `/v1/workspaces/${opts.workspace}/sinks/${sink}/test`);
      if (answer['delivered'] === true) process.stdout.write(`sink ${sink}: test message delivered\n`);
      else throw new Error(`sink ${sink}: the test message was not delivered: ${String(answer['reason'])}`);
    });
  sinks
    .command('list')
    .description('list sinks: kind and routing (never where they send)')
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .action(async (opts: { workspace: string }) => printJson((await callApi('GET', `/v1/workspaces/${opts.workspace}/sinks`))['items']));
  sinks
    .command('delete')
    .description('delete a sink')
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .argument('<sink>', 'sink id', uuid)
    .action(async (sink: string, opts: { workspace: string }) => {
      await callApi('DELETE', `/v1/workspaces/${opts.workspace}/sinks/${sink}`);
      process.stdout.write(`sink ${sink} deleted\n`);
    });

  const notifications = program.command('notifications').description('notifications: what was sent, what waits, what failed');
  notifications
    .command('list')
    .description('list notifications, newest first')
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .option('--state <state>', 'pending, sending, delivered or dead')
    .option('--sink <id>', 'only this sink', uuid)
    .action(async (opts: { workspace: string; state?: string; sink?: string }) => {
      const query = new URLSearchParams({ ...(opts.state ? { state: opts.state } : {}), ...(opts.sink ? { sinkId: opts.sink } : {}) });
      const items = (await callApi('GET', `/v1/workspaces/${opts.workspace}/notifications?${query.toString()}`))['items'] as Record<
        string,
        unknown
      >[];
      process.stdout.write(
        items
          .map((n) =>
            [
              n['id'],
              String(n['state']).padEnd(9),
              String(n['transition']).padEnd(8),
              `issue ${String(n['issueId'])}`,
              `sink ${String(n['sinkId'])}`,
              `${String(n['attempts'])} attempts`,
              n['lastError'] ?? '',
            ]
              .join('  ')
              .trimEnd(),
          )
          .map((l) => `${l}\n`)
          .join('') || 'no notifications\n',
      );
    });
  notifications
    .command('retry')
    .description('send a dead-lettered notification again')
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .argument('<notification>', 'notification id', uuid)
    .action(async (id: string, opts: { workspace: string }) => {
      await callApi('POST', `/v1/workspaces/${opts.workspace}/notifications/${id}/retry`);
      process.stdout.write(`notification ${id} queued again\n`);
    });
}

/** `lookout discover`: a Runner's cluster, the plan the generation rules make of it, and (with --apply) the tasks made. */
function addDiscoverCommand(program: Command): void {
  program
    .command('discover')
    .description("discover a Runner's cluster and plan its checks; --apply creates them (LOOKOUT_API_URL, LOOKOUT_TOKEN)")
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .argument('<runner>', 'Runner id', uuid)
    .option('--apply', 'create the planned tasks, a rediscovery schedule and a sweep schedule')
    .option('--exclude <namespaces>', 'namespaces left out of the inventory, comma-separated (default: the Kubernetes system namespaces)')
    .option('--wait <seconds>', 'how long to wait for the inventory', integer(0, 300), 120)
    .option('--json', 'print the whole answer as JSON')
    .action(async (runner: string, opts: { workspace: string; apply?: boolean; exclude?: string; wait: number; json?: boolean }) => {
      const answer = await callApi('POST', `/v1/workspaces/${opts.workspace}/runners/${runner}/discover${opts.apply ? '?apply' : ''}`, {
        waitSeconds: opts.wait,
        ...(opts.exclude === undefined ? {} : { excludeNamespaces: opts.exclude.split(',').filter(Boolean) }),
      });
      if (opts.json) return printJson(answer);
      process.stdout.write(`${describeDiscovery(answer)}\n`);
    });
}

/** A discovery answer in a few lines: the cluster, the plan, what was applied. */
export function describeDiscovery(answer: Record<string, unknown>): string {
  if (!answer['plan']) {
    const error = typeof answer['error'] === 'string' ? ` (${answer['error']})` : '';
    return `discovery run ${String(answer['runId'])}: ${String(answer['status'])}${error}`;
  }
  const inv = answer['inventory'] as {
    names: string;
    cluster: { nodes: number; namespaces: number; capabilities: string[] };
    totals: Record<string, number>;
  };
  const plan = answer['plan'] as {
    create: { name: string; checkType: string }[];
    update: { name: string; checkType: string }[];
    remove: { name: string }[];
    keep: number;
    skipped: { rule: string; reason: string }[];
  };
  const t = inv.totals;
  const workloads = (t['deployments'] ?? 0) + (t['statefulsets'] ?? 0) + (t['daemonsets'] ?? 0) + (t['cronjobs'] ?? 0);
  const lines = [
    `cluster: ${inv.cluster.namespaces} namespaces, ${workloads} workloads, ${t['pods'] ?? 0} pods, ${inv.cluster.nodes} nodes` +
      `${inv.cluster.capabilities.length ? `; ${inv.cluster.capabilities.join(', ')}` : ''} (names: ${inv.names})`,
    `plan: ${plan.create.length} to create, ${plan.update.length} to update, ${plan.remove.length} to remove, ${plan.keep} unchanged`,
    ...plan.create.map((x) => `  + ${x.name} (${x.checkType})`),
    ...plan.update.map((x) => `  ~ ${x.name} (${x.checkType})`),
    ...plan.remove.map((x) => `  - ${x.name}`),
    ...plan.skipped.map((x) => `  skipped rule ${x.rule}: ${x.reason}`),
  ];
  const applied = answer['applied'] as
    | {
        created: number;
        updated: number;
        removed: number;
        conflicts: string[];
        schedules: { rediscovery: string | null; sweep: string | null };
      }
    | undefined;
  if (applied) {
    lines.push(
      `applied: ${applied.created} created, ${applied.updated} updated, ${applied.removed} removed` +
        `${applied.conflicts.length ? `; ${applied.conflicts.length} left alone (a hand-made task has the name)` : ''}`,
      ...(applied.schedules.rediscovery ? [`rediscovery scheduled: ${applied.schedules.rediscovery}`] : []),
      ...(applied.schedules.sweep ? [`health sweep scheduled: ${applied.schedules.sweep}`] : []),
    );
  } else lines.push('nothing created: run again with --apply');
  return lines.join('\n');
}
