/**
 * What a notification about issues says, per kind of sink: Slack Block Kit, a Teams Adaptive Card,
 * PagerDuty Events API v2, Lookout's own versioned JSON and a plain-text mail. Pure functions of
 * the batch (no I/O, no clock unless given), so that tests and `lookout sinks test` render exactly
 * what is sent.
 *
 * - Every renderer copies the listed fields of an event one by one and never spreads it: a field
 *   the caller's objects gain later (a sealed detail, a secret) cannot reach a receiver by accident.
 * - Text from a finding is untrusted (a Runner wrote it): control, bidi-override and lone surrogate
 *   characters are removed; for Slack `&`, `<` and `>` are escaped, so a title cannot mention
 *   `<!channel>` or hide a link; in Teams it goes only into TextRuns, which render no Markdown.
 * - Every message stays within the vendor's documented limits whatever the findings hold: long
 *   fields are clipped, and a batch with more events than fit lists the first ones and "and N more".
 */

export const SINK_KINDS = ['slack', 'teams', 'pagerduty', 'webhook', 'email'] as const;
export type SinkKind = (typeof SINK_KINDS)[number];
export const TRANSITIONS = ['new', 'reopened', 'resolved'] as const;
export type Transition = (typeof TRANSITIONS)[number];

/** One issue change, as a notification may carry it: only what a run's result may carry. */
export interface NotificationEvent {
  /** uuid */
  issueId: string;
  /** 32 hex chars, the stable id of the finding (PagerDuty's dedup_key). */
  fingerprint: string;
  transition: Transition;
  severity: 1 | 2 | 3 | 4;
  state: 'open' | 'acknowledged' | 'resolved' | 'ignored';
  checkType: string;
  runnerId: string;
  runId: string | null;
  title: string;
  resource: { kind: string; namespace?: string | undefined; name: string };
  expected: string;
  actual: string;
  nextSteps: string[];
  /** ISO 8601 */
  firstSeenAt: string;
  /** ISO 8601 */
  lastSeenAt: string;
  seenCount: number;
}

/** What one delivery carries: the events grouped for one sink. `id` is the delivery id (uuid), stable across retries. */
export interface NotificationBatch {
  id: string;
  workspaceId: string;
  sinkName: string;
  /** 1..n, already grouped by the caller. */
  events: NotificationEvent[];
  /** Optional link base for "open in Lookout" (e.g. the API/console URL); links are omitted when undefined. */
  linkBase?: string | undefined;
  /** A `sinks test` message: the text says so. */
  test?: boolean;
}

/**
 * Where a sink sends: sealed at rest by the caller, never returned by the API. Declared here (the
 * pure module) so that the data layer can name it without loading the HTTP client; deliver.ts
 * validates it (`SinkTargetSchema`) and re-exports it.
 */
export type SinkTarget =
  | { kind: 'slack'; url: string }
  | { kind: 'teams'; url: string }
  /** `url`: default https://events.pagerduty.com/v2/enqueue (the EU service has its own). */
  | { kind: 'pagerduty'; routingKey: string; url?: string | undefined }
  | { kind: 'webhook'; url: string; secret: string }
  /** `smtpUrl` unset: the Platform's own mailer. */
  | { kind: 'email'; to: string[]; smtpUrl?: string | undefined };

/** PagerDuty's severities for Lookout's 1..4 (1 = unavailable, needs a human now). */
export const PAGERDUTY_SEVERITY = { 1: 'critical', 2: 'error', 3: 'warning', 4: 'info' } as const;

const TRANSITION_LABEL: Record<Transition, string> = { new: 'New', reopened: 'Reopened', resolved: 'Resolved' };

/** Slack: at most 50 blocks a message; a header's text 150 characters, a text object's 3000. */
export const SLACK_MAX_BLOCKS = 50;
export const SLACK_HEADER_MAX = 150;
export const SLACK_TEXT_MAX = 3000;
export const SLACK_CONTEXT_MAX_ELEMENTS = 10;
/**
 * All the text of one Slack message together. Slack documents no total for blocks, but truncates a
 * message's text past 40,000 characters: staying below it keeps a long batch readable too.
 */
const SLACK_TOTAL_TEXT = 36_000;

/** Teams refuses a message over about 28 KB; the card is built to stay under {@link TEAMS_MAX_BYTES}. */
export const TEAMS_MAX_BYTES = 28 * 1024;
/** Events listed in one Teams card; the rest are counted ("and N more"). */
export const TEAMS_MAX_EVENTS = 20;
/** Room kept for the "and N more" line and the rounding of the running size. */
const TEAMS_BUDGET = TEAMS_MAX_BYTES - 1024;

export const PAGERDUTY_SUMMARY_MAX = 1024;
export const EMAIL_SUBJECT_MAX = 200;

// ---------------------------------------------------------------------------------------------
// Text helpers

// Control characters (C0, DEL, C1), line and paragraph separators, and bidi overrides/isolates that
// could make a title read differently from what it says.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Untrusted text on one line: well-formed UTF-16, no control or bidi characters, runs of blanks as one space. */
export function oneLine(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD').replace(UNPRINTABLE, ' ').replace(/\s+/g, ' ').trim();
}

/** At most `max` UTF-16 code units (never more code points), never splitting a surrogate pair; `…` marks a cut. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  const before = text.charCodeAt(end - 1);
  if (before >= 0xd800 && before <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

/** {@link oneLine} then {@link clip}; `fallback` when nothing printable is left. */
function field(text: string, max: number, fallback = '—'): string {
  return clip(oneLine(text), max) || fallback;
}

/** `namespace/Kind/name`, or `Kind/name` for a resource outside namespaces. */
export function resourcePath(resource: NotificationEvent['resource']): string {
  return [resource.namespace, resource.kind, resource.name].filter((p) => p !== undefined && p !== '').join('/');
}

/** "2 new, 1 resolved", in the order of {@link TRANSITIONS}. */
export function countsPhrase(events: readonly NotificationEvent[]): string {
  const parts = TRANSITIONS.map((t) => [t, events.filter((e) => e.transition === t).length] as const).filter(([, n]) => n > 0);
  return parts.map(([t, n]) => `${n} ${t}`).join(', ') || 'no changes';
}

/** The issue in Lookout under `linkBase`; undefined when there is no base or it is not an http(s) URL. */
export function issueLink(linkBase: string | undefined, workspaceId: string, issueId: string): string | undefined {
  if (!linkBase) return undefined;
  let base: URL;
  try {
    base = new URL(linkBase);
  } catch {
    return undefined;
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') return undefined;
  // The base's own path is kept (a console under a prefix); its query and fragment are not.
  const path = `${base.pathname.replace(/\/+$/, '')}/v1/workspaces/${encodeURIComponent(workspaceId)}/issues/${encodeURIComponent(issueId)}`;
  return new URL(path, base).href;
}

/** An ISO timestamp as the Date it names, or undefined when it does not parse. */
function parseTime(iso: string): Date | undefined {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function headline(batch: NotificationBatch): string {
  return `Lookout${batch.test ? ' test message' : ''}: ${countsPhrase(batch.events)}`;
}

// ---------------------------------------------------------------------------------------------
// Slack

/** Slack's escaping for text it parses (mrkdwn and `text`): only these three characters. */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** {@link clip} for escaped text: never cuts inside `&amp;`, `&lt;` or `&gt;`. */
function clipEscaped(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  const amp = text.lastIndexOf('&', end - 1);
  if (amp !== -1 && end - amp < 5) {
    const semi = text.indexOf(';', amp);
    if (semi === -1 || semi >= end) end = amp;
  }
  const before = text.charCodeAt(end - 1);
  if (before >= 0xd800 && before <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

const SLACK_MARK: Record<1 | 2 | 3 | 4, string> = {
  1: ':red_circle:',
  2: ':large_orange_circle:',
  3: ':large_yellow_circle:',
  4: ':large_blue_circle:',
};

/** Slack shows the date in the reader's time zone; the fallback is the ISO form. */
function slackDate(iso: string): string {
  const d = parseTime(iso);
  if (!d) return 'unknown';
  return `<!date^${Math.floor(d.getTime() / 1000)}^{date_short_pretty} {time}|${d.toISOString()}>`;
}

/** A link for mrkdwn, or undefined when the URL holds a character Slack's `<url|text>` cannot carry. */
function slackLink(href: string | undefined, label: string): string | undefined {
  if (!href || /[|<>\s]/.test(href)) return undefined;
  return `<${href.replace(/&/g, '&amp;')}|${label}>`;
}

const mrkdwn = (text: string) => ({ type: 'mrkdwn', text });

function slackEventBlocks(batch: NotificationBatch, e: NotificationEvent): object[] {
  const steps = e.nextSteps.slice(0, 5);
  const lines = [
    `${e.transition === 'resolved' ? ':white_check_mark:' : SLACK_MARK[e.severity]} *${TRANSITION_LABEL[e.transition]}* · severity ${e.severity} (${PAGERDUTY_SEVERITY[e.severity]})`,
    `*${escapeSlack(field(e.title, 200))}*`,
    `*Resource:* ${escapeSlack(field(resourcePath(e.resource), 600))}`,
    `*Expected:* ${escapeSlack(field(e.expected, 500))}`,
    `*Actual:* ${escapeSlack(field(e.actual, 500))}`,
    ...(steps.length ? ['*Next steps:*', ...steps.map((s) => `• ${escapeSlack(field(s, 300))}`)] : []),
    ...(e.nextSteps.length > steps.length ? [`• …and ${e.nextSteps.length - steps.length} more`] : []),
  ];
  const context = [
    `*${escapeSlack(field(e.state, 20))}* · check ${escapeSlack(field(e.checkType, 100))}`,
    `seen ${e.seenCount}× · first ${slackDate(e.firstSeenAt)} · last ${slackDate(e.lastSeenAt)}`,
    `runner ${escapeSlack(field(e.runnerId, 100))}${e.runId ? ` · run ${escapeSlack(field(e.runId, 100))}` : ''}`,
    slackLink(issueLink(batch.linkBase, batch.workspaceId, e.issueId), 'Open in Lookout'),
  ].filter((t): t is string => t !== undefined);
  return [
    { type: 'section', text: mrkdwn(clipEscaped(lines.join('\n'), SLACK_TEXT_MAX)) },
    { type: 'context', elements: context.slice(0, SLACK_CONTEXT_MAX_ELEMENTS).map((t) => mrkdwn(clipEscaped(t, SLACK_TEXT_MAX))) },
  ];
}

/** The size of blocks as JSON: an upper bound of their text, for the message budget. */
function jsonLength(blocks: object[]): number {
  return JSON.stringify(blocks).length;
}

/**
 * A Slack incoming-webhook body: `text` (the notification's fallback) and `blocks` — a header, then
 * per event a section and a context, dividers between; at most {@link SLACK_MAX_BLOCKS} blocks and
 * about 36,000 characters, the events past that counted in a last "and N more" section.
 */
export function renderSlack(batch: NotificationBatch): object {
  const events = batch.events;
  const blocks: object[] = [{ type: 'header', text: { type: 'plain_text', text: clip(headline(batch), SLACK_HEADER_MAX) } }];
  let used = 0;
  let listed = 0;
  for (const e of events) {
    const next = [...(listed > 0 ? [{ type: 'divider' }] : []), ...slackEventBlocks(batch, e)];
    // Room for a divider and the "and N more" section, unless this is the last event.
    const reserve = listed + 1 < events.length ? 2 : 0;
    const size = jsonLength(next);
    if (listed > 0 && (blocks.length + next.length + reserve > SLACK_MAX_BLOCKS || used + size > SLACK_TOTAL_TEXT)) break;
    blocks.push(...next);
    used += size;
    listed += 1;
  }
  const rest = events.slice(listed);
  if (rest.length > 0) {
    blocks.push({ type: 'divider' }, { type: 'section', text: mrkdwn(`…and ${rest.length} more (${countsPhrase(rest)})`) });
  }
  const first = events[0];
  const text = clipEscaped(
    `${escapeSlack(headline(batch))}${first ? ` — ${escapeSlack(field(first.title, 200))}` : ''}${events.length > 1 ? ` and ${events.length - 1} more` : ''}`,
    SLACK_TEXT_MAX,
  );
  return { text, blocks };
}

// ---------------------------------------------------------------------------------------------
// Microsoft Teams

type TextRunStyle = { weight?: 'Bolder'; isSubtle?: boolean; color?: 'Attention' | 'Warning' | 'Good' | 'Accent'; size?: 'Medium' };

/** Untrusted text goes only into TextRuns: unlike TextBlock and FactSet, they render no Markdown. */
function runs(...inlines: [string, TextRunStyle?][]): object {
  return { type: 'RichTextBlock', inlines: inlines.map(([text, style]) => ({ type: 'TextRun', text, ...style })) };
}

const TEAMS_COLOR: Record<1 | 2 | 3 | 4, TextRunStyle['color']> = { 1: 'Attention', 2: 'Attention', 3: 'Warning', 4: 'Accent' };

/** A date for a FactSet (which renders Markdown): our own ISO form only, never the given string. */
function teamsDate(iso: string): string {
  return parseTime(iso)?.toISOString() ?? 'unknown';
}

function teamsEvent(batch: NotificationBatch, e: NotificationEvent): object {
  const steps = e.nextSteps.slice(0, 5);
  const link = issueLink(batch.linkBase, batch.workspaceId, e.issueId);
  const items: object[] = [
    runs([
      `${TRANSITION_LABEL[e.transition]} · severity ${e.severity} (${PAGERDUTY_SEVERITY[e.severity]})`,
      { weight: 'Bolder', color: e.transition === 'resolved' ? 'Good' : TEAMS_COLOR[e.severity] },
    ]),
    runs([field(e.title, 200), { weight: 'Bolder', size: 'Medium' }]),
    runs(['Resource: ', { weight: 'Bolder' }], [field(resourcePath(e.resource), 600)]),
    runs(['Check: ', { weight: 'Bolder' }], [field(e.checkType, 100)]),
    runs(['Expected: ', { weight: 'Bolder' }], [field(e.expected, 500)]),
    runs(['Actual: ', { weight: 'Bolder' }], [field(e.actual, 500)]),
    ...(steps.length ? [runs(['Next steps:', { weight: 'Bolder' }]), ...steps.map((s) => runs([`• ${field(s, 300)}`]))] : []),
    ...(e.nextSteps.length > steps.length ? [runs([`• …and ${e.nextSteps.length - steps.length} more`])] : []),
    {
      type: 'FactSet',
      facts: [
        { title: 'State', value: knownState(e.state) },
        { title: 'Seen', value: `${Number.isSafeInteger(e.seenCount) ? e.seenCount : 0} times` },
        { title: 'First seen', value: teamsDate(e.firstSeenAt) },
        { title: 'Last seen', value: teamsDate(e.lastSeenAt) },
      ],
    },
    runs([`Runner ${field(e.runnerId, 100)}${e.runId ? ` · run ${field(e.runId, 100)}` : ''}`, { isSubtle: true }]),
    ...(link ? [{ type: 'ActionSet', actions: [{ type: 'Action.OpenUrl', title: 'Open in Lookout', url: link }] }] : []),
  ];
  return { type: 'Container', separator: true, spacing: 'Medium', items };
}

const ISSUE_STATES = ['open', 'acknowledged', 'resolved', 'ignored'] as const;
/** The state as one of the four words (a FactSet value renders Markdown, so nothing else goes there). */
function knownState(state: string): string {
  return (ISSUE_STATES as readonly string[]).includes(state) ? state : 'unknown';
}

function teamsMessage(body: object[]): object {
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          msteams: { width: 'Full' },
          body,
        },
      },
    ],
  };
}

const utf8Bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

/**
 * A Teams workflow-webhook body: a message with one Adaptive Card (1.4) listing at most
 * {@link TEAMS_MAX_EVENTS} events and staying under {@link TEAMS_MAX_BYTES} of JSON; the rest are
 * counted ("and N more"). The first event is always listed (its fields are clipped so that it fits).
 */
export function renderTeams(batch: NotificationBatch): object {
  const body: object[] = [
    { type: 'TextBlock', text: headline(batch), size: 'Large', weight: 'Bolder', wrap: true },
    runs([`Sink ${field(batch.sinkName, 100)}`, { isSubtle: true }]),
  ];
  let size = utf8Bytes(teamsMessage(body));
  let listed = 0;
  for (const e of batch.events) {
    if (listed === TEAMS_MAX_EVENTS) break;
    const container = teamsEvent(batch, e);
    const bytes = utf8Bytes(container) + 1; // and its comma
    if (listed > 0 && size + bytes > TEAMS_BUDGET) break;
    body.push(container);
    size += bytes;
    listed += 1;
  }
  const rest = batch.events.slice(listed);
  if (rest.length > 0) {
    body.push({ type: 'TextBlock', text: `…and ${rest.length} more (${countsPhrase(rest)})`, wrap: true, separator: true });
  }
  return teamsMessage(body);
}

// ---------------------------------------------------------------------------------------------
// PagerDuty

/**
 * One PagerDuty Events API v2 event: `trigger` for a new or reopened issue (the fingerprint as
 * dedup_key, so repeats and retries land on the same alert), `resolve` (no payload) for a resolved one.
 */
export function renderPagerDuty(
  event: NotificationEvent,
  routingKey: string,
  batch: Pick<NotificationBatch, 'workspaceId' | 'linkBase'> & { test?: boolean | undefined },
): object {
  if (event.transition === 'resolved') return { routing_key: routingKey, event_action: 'resolve', dedup_key: event.fingerprint };
  const link = issueLink(batch.linkBase, batch.workspaceId, event.issueId);
  const lastSeen = parseTime(event.lastSeenAt);
  const namespace = event.resource.namespace ? oneLine(event.resource.namespace) : '';
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: event.fingerprint,
    payload: {
      summary: clip(
        `${batch.test ? 'Lookout test message: ' : ''}${field(event.title, 400)} (${field(resourcePath(event.resource), 600)})`,
        PAGERDUTY_SUMMARY_MAX,
      ),
      source: field(resourcePath(event.resource), 255),
      severity: PAGERDUTY_SEVERITY[event.severity],
      ...(lastSeen ? { timestamp: lastSeen.toISOString() } : {}),
      component: field(event.resource.name, 255),
      ...(namespace ? { group: clip(namespace, 255) } : {}),
      class: field(event.checkType, 255),
      custom_details: {
        expected: event.expected,
        actual: event.actual,
        nextSteps: [...event.nextSteps],
        seenCount: event.seenCount,
        issueId: event.issueId,
        runnerId: event.runnerId,
        runId: event.runId,
        firstSeenAt: event.firstSeenAt,
      },
    },
    client: 'Lookout',
    ...(link ? { client_url: link } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Lookout's own webhook

function webhookEvent(batch: NotificationBatch, e: NotificationEvent): object {
  const link = issueLink(batch.linkBase, batch.workspaceId, e.issueId);
  return {
    issueId: e.issueId,
    fingerprint: e.fingerprint,
    transition: e.transition,
    severity: e.severity,
    state: e.state,
    checkType: e.checkType,
    runnerId: e.runnerId,
    runId: e.runId,
    title: e.title,
    resource: {
      kind: e.resource.kind,
      ...(e.resource.namespace !== undefined ? { namespace: e.resource.namespace } : {}),
      name: e.resource.name,
    },
    expected: e.expected,
    actual: e.actual,
    nextSteps: [...e.nextSteps],
    firstSeenAt: e.firstSeenAt,
    lastSeenAt: e.lastSeenAt,
    seenCount: e.seenCount,
    ...(link ? { link } : {}),
  };
}

/**
 * Lookout's generic JSON, version 1: `{ version, id, workspaceId, sinkName, sentAt, test?, events }`,
 * the events' fields as given (receivers parse JSON, nothing is escaped or clipped). `id` is the
 * delivery id, the same on every retry: receivers deduplicate on it. `sentAt` differs per attempt.
 */
export function renderWebhook(batch: NotificationBatch, sentAt: Date = new Date()): object {
  return {
    version: 1,
    id: batch.id,
    workspaceId: batch.workspaceId,
    sinkName: batch.sinkName,
    sentAt: sentAt.toISOString(),
    ...(batch.test ? { test: true } : {}),
    events: batch.events.map((e) => webhookEvent(batch, e)),
  };
}

// ---------------------------------------------------------------------------------------------
// Email

/**
 * A plain-text mail: the subject `[Lookout] 2 new, 1 resolved: <first title>` on one line of at
 * most {@link EMAIL_SUBJECT_MAX} characters, the body listing every event with its fields.
 */
export function renderEmail(batch: NotificationBatch): { subject: string; text: string } {
  const first = batch.events[0];
  const subject = clip(
    `[Lookout${batch.test ? ' test' : ''}] ${countsPhrase(batch.events)}${first ? `: ${field(first.title, EMAIL_SUBJECT_MAX)}` : ''}`,
    EMAIL_SUBJECT_MAX,
  );
  const lines = [`${headline(batch)} (sink ${field(batch.sinkName, 100)})`];
  if (batch.test) lines.push('This is a test message, sent to check that this sink works.');
  batch.events.forEach((e, i) => {
    const link = issueLink(batch.linkBase, batch.workspaceId, e.issueId);
    lines.push(
      '',
      `${i + 1}. ${TRANSITION_LABEL[e.transition].toUpperCase()} · severity ${e.severity} (${PAGERDUTY_SEVERITY[e.severity]}): ${field(e.title, 500)}`,
      `   Resource:   ${field(resourcePath(e.resource), 1000)}`,
      `   Check:      ${field(e.checkType, 200)}`,
      `   Expected:   ${field(e.expected, 1000)}`,
      `   Actual:     ${field(e.actual, 1000)}`,
    );
    if (e.nextSteps.length) lines.push('   Next steps:', ...e.nextSteps.map((s) => `     - ${field(s, 1000)}`));
    lines.push(
      `   State:      ${field(e.state, 20)}; seen ${e.seenCount} times, first ${field(e.firstSeenAt, 40)}, last ${field(e.lastSeenAt, 40)}`,
      `   Issue:      ${field(e.issueId, 100)} (runner ${field(e.runnerId, 100)}${e.runId ? `, run ${field(e.runId, 100)}` : ''})`,
    );
    if (link) lines.push(`   Open:       ${link}`);
  });
  lines.push('', '-- ', `Sent by Lookout for workspace ${field(batch.workspaceId, 100)}.`);
  return { subject, text: `${lines.join('\n')}\n` };
}
