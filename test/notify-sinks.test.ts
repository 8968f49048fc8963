/**
 * Notification sinks against local receivers: each rendering is checked by a zod schema of what the
 * vendor documents (Slack Block Kit and its limits and escaping, the Teams message with its Adaptive
 * Card under 28 KB, PagerDuty Events API v2, Lookout's signed webhook) as it arrives over HTTP(S),
 * and mail goes through a real SMTP server in-process. Then every way a delivery fails — 4xx, 5xx,
 * a redirect, a slow or absent receiver, an untrusted certificate, a loopback or plain-http
 * destination while private destinations are not allowed — is a DeliveryError that says whether a
 * retry can help and holds no URL, token, secret or answer. A property: Slack and Teams renderings
 * of arbitrary findings (any Unicode, every field at its schema limit, 1..80 events) stay valid.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { z } from 'zod';
import { serverTlsOptions } from '../common/tls';
import { DevMailbox } from '../platform/dev-mailbox';
import { createSmtpMailer } from '../platform/mail';
import {
  addressRefusal,
  deliver,
  DeliveryError,
  SinkTargetInput,
  SinkTargetSchema,
  signWebhook,
  verifyWebhookSignature,
  type DeliveryOptions,
  type SinkTarget,
} from '../platform/notify/deliver';
import {
  renderEmail,
  renderPagerDuty,
  renderSlack,
  renderTeams,
  renderWebhook,
  TRANSITIONS,
  type NotificationBatch,
  type NotificationEvent,
} from '../platform/notify/formats';
import { makePki, type Pki } from './harness/tls';

// ------------------------------------------------------------------------------------------------
// The vendors' documented shapes, as schemas

/** Slack's rule: `&`, `<`, `>` escaped, except in the constructs Lookout writes itself (dates, its link). */
function slackEscaped(text: string): boolean {
  const rest = text
    .replace(/<!date\^\d+\^\{date_short_pretty\} \{time\}\|[0-9TZ:.-]+>/g, '')
    .replace(/<https?:\/\/[^|<>\s]+\|Open in Lookout>/g, '');
  return !/[<>]/.test(rest) && !/&(?!amp;|lt;|gt;)/.test(rest);
}
const Mrkdwn = z.strictObject({
  type: z.literal('mrkdwn'),
  text: z.string().min(1).max(3000).refine(slackEscaped, 'not escaped for Slack'),
});
const SlackBlock = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('header'),
    text: z.strictObject({ type: z.literal('plain_text'), text: z.string().min(1).max(150), emoji: z.boolean().optional() }),
  }),
  z.strictObject({ type: z.literal('section'), text: Mrkdwn }),
  z.strictObject({ type: z.literal('context'), elements: z.array(Mrkdwn).min(1).max(10) }),
  z.strictObject({ type: z.literal('divider') }),
]);
const SlackMessage = z.strictObject({
  text: z.string().min(1).max(40_000).refine(slackEscaped, 'not escaped for Slack'),
  blocks: z.array(SlackBlock).min(1).max(50),
});

// TextBlock and FactSet render Markdown: only Lookout's own words may go there, findings go in TextRuns.
const OwnWords = z.string().regex(/^[A-Za-z0-9 :,.()…-]+$/, 'Markdown-rendered text holds only Lookout’s own words');
const TextRun = z.strictObject({
  type: z.literal('TextRun'),
  text: z.string(),
  weight: z.enum(['Default', 'Lighter', 'Bolder']).optional(),
  isSubtle: z.boolean().optional(),
  color: z.enum(['Default', 'Dark', 'Light', 'Accent', 'Good', 'Warning', 'Attention']).optional(),
  size: z.enum(['Small', 'Default', 'Medium', 'Large', 'ExtraLarge']).optional(),
});
const Spacing = z.enum(['None', 'Small', 'Default', 'Medium', 'Large', 'ExtraLarge', 'Padding']);
const CardElement: z.ZodType = z.lazy(() =>
  z.union([
    z.strictObject({
      type: z.literal('TextBlock'),
      text: OwnWords,
      wrap: z.boolean().optional(),
      size: z.enum(['Small', 'Default', 'Medium', 'Large', 'ExtraLarge']).optional(),
      weight: z.enum(['Default', 'Lighter', 'Bolder']).optional(),
      separator: z.boolean().optional(),
      spacing: Spacing.optional(),
    }),
    z.strictObject({ type: z.literal('RichTextBlock'), inlines: z.array(TextRun).min(1) }),
    z.strictObject({ type: z.literal('FactSet'), facts: z.array(z.strictObject({ title: OwnWords, value: OwnWords })).min(1) }),
    z.strictObject({
      type: z.literal('ActionSet'),
      actions: z.array(z.strictObject({ type: z.literal('Action.OpenUrl'), title: z.string().min(1), url: z.url() })).min(1),
    }),
    z.strictObject({
      type: z.literal('Container'),
      items: z.array(CardElement).min(1),
      separator: z.boolean().optional(),
      spacing: Spacing.optional(),
    }),
  ]),
);
const TEAMS_LIMIT = 28 * 1024;
const TeamsMessage = z
  .strictObject({
    type: z.literal('message'),
    attachments: z
      .array(
        z.strictObject({
          contentType: z.literal('application/vnd.microsoft.card.adaptive'),
          contentUrl: z.null(),
          content: z.strictObject({
            $schema: z.literal('http://adaptivecards.io/schemas/adaptive-card.json'),
            type: z.literal('AdaptiveCard'),
            version: z.literal('1.4'),
            msteams: z.strictObject({ width: z.literal('Full') }).optional(),
            body: z.array(CardElement).min(1),
          }),
        }),
      )
      .length(1),
  })
  .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= TEAMS_LIMIT, 'over 28 KB');

const PdRoutingKey = z.string().length(32);
const PdTrigger = z.strictObject({
  routing_key: PdRoutingKey,
  event_action: z.literal('trigger'),
  dedup_key: z.string().min(1).max(255),
  payload: z.strictObject({
    summary: z.string().min(1).max(1024),
    source: z.string().min(1),
    severity: z.enum(['critical', 'error', 'warning', 'info']),
    timestamp: z.iso.datetime({ offset: true }).optional(),
    component: z.string().optional(),
    group: z.string().optional(),
    class: z.string().optional(),
    custom_details: z.record(z.string(), z.unknown()).optional(),
  }),
  client: z.string().optional(),
  client_url: z.url().optional(),
});
const PdOther = z.strictObject({
  routing_key: PdRoutingKey,
  event_action: z.enum(['acknowledge', 'resolve']),
  dedup_key: z.string().min(1).max(255),
});
const PdEvent = z.union([PdTrigger, PdOther]);

const WebhookBody = z.strictObject({
  version: z.literal(1),
  id: z.uuid(),
  workspaceId: z.uuid(),
  sinkName: z.string(),
  sentAt: z.iso.datetime(),
  test: z.literal(true).optional(),
  events: z
    .array(
      z.strictObject({
        issueId: z.string(),
        fingerprint: z.string().regex(/^[0-9a-f]{32}$/),
        transition: z.enum(TRANSITIONS),
        severity: z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)]),
        state: z.enum(['open', 'acknowledged', 'resolved', 'ignored']),
        checkType: z.string(),
        runnerId: z.string(),
        runId: z.string().nullable(),
        title: z.string(),
        resource: z.strictObject({ kind: z.string(), namespace: z.string().optional(), name: z.string() }),
        expected: z.string(),
        actual: z.string(),
        nextSteps: z.array(z.string()),
        firstSeenAt: z.string(),
        lastSeenAt: z.string(),
        seenCount: z.number().int(),
        link: z.url().optional(),
      }),
    )
    .min(1),
});

// ------------------------------------------------------------------------------------------------
// Fixtures

/** Placed in every URL path and query, routing key and secret: it must never appear in an error. */
const CANARY = 'CANARYq7Zx';
/** What receivers answer in their bodies: it must never appear in an error either. */
const ANSWER_CANARY = 'ANSWERCANARYk2';
const ROUTING_KEY = `${CANARY}${'a'.repeat(32 - CANARY.length)}`;
const SECRET = `whsec-${CANARY}-${randomBytes(12).toString('hex')}`;

function event(over: Partial<NotificationEvent> = {}): NotificationEvent {
  return {
    issueId: randomUUID(),
    fingerprint: randomBytes(16).toString('hex'),
    transition: 'new',
    severity: 1,
    state: 'open',
    checkType: 'http.probe',
    runnerId: randomUUID(),
    runId: randomUUID(),
    title: 'payments answers 503',
    resource: { kind: 'Endpoint', namespace: 'shop', name: 'https://pay.example/health' },
    expected: 'HTTP 2xx within 2 s',
    actual: 'HTTP 503 after 120 ms',
    nextSteps: ['Check the pods of payments', 'Look at the ingress logs'],
    firstSeenAt: '2025-03-01T10:00:00.000Z',
    lastSeenAt: '2025-03-01T10:15:00.000Z',
    seenCount: 3,
    ...over,
  };
}

function batchOf(events: NotificationEvent[], over: Partial<NotificationBatch> = {}): NotificationBatch {
  return { id: randomUUID(), workspaceId: randomUUID(), sinkName: 'ops', events, linkBase: 'https://lookout.example/', ...over };
}

interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface Receiver {
  url: string;
  port: number;
  requests: Received[];
  /** TCP connections accepted, whether or not a request followed. */
  connections: number;
  stop(): Promise<void>;
}

/** A local HTTP(S) receiver on 127.0.0.1 that records every request and answers with `answer`. */
async function startReceiver(answer: (req: Received, res: http.ServerResponse) => void, tls?: Pki): Promise<Receiver> {
  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      receiver.requests.push(received);
      answer(received, res);
    });
  };
  const server = tls
    ? https.createServer(
        serverTlsOptions({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), ca: readFileSync(tls.caFile) }),
        handler,
      )
    : http.createServer(handler);
  server.on('connection', () => (receiver.connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const receiver: Receiver = {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests: [],
    connections: 0,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return receiver;
}

const local: DeliveryOptions = { allowPrivateDestinations: true, timeoutMs: 5_000 };

/** The DeliveryError `promise` rejects with, checked to hold no canary, URL or answer. */
async function failure(promise: Promise<unknown>, receiver?: Receiver): Promise<DeliveryError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeliveryError);
  const d = err as DeliveryError;
  for (const text of [d.reason, d.message, String(d.stack)]) {
    expect(text).not.toContain(CANARY);
    expect(text).not.toContain(ANSWER_CANARY);
    expect(text).not.toMatch(/https?:\/\//);
    if (receiver) expect(text).not.toContain(String(receiver.port));
  }
  return d;
}

const sinkPath = `/services/T0/B0/${CANARY}?token=${CANARY}`;

let pki: Pki;
beforeAll(() => {
  pki = makePki('notify');
});

// ------------------------------------------------------------------------------------------------

describe('rendering', () => {
  it('escapes a finding for Slack so that it can neither mention a channel nor make a link', () => {
    const hostile = event({ title: '<!channel> pay & <https://evil.example|click>', actual: 'a > b <@U123>' });
    const message = SlackMessage.parse(renderSlack(batchOf([hostile])));
    const text = JSON.stringify(message);
    expect(text).toContain('&lt;!channel&gt; pay &amp; &lt;https://evil.example|click&gt;');
    expect(text).not.toContain('<!channel>');
    expect(text).not.toContain('<@U123>');
    expect(text).toContain('|Open in Lookout>');
  });

  it('lists at most what Slack and Teams allow and counts the rest', () => {
    const events = Array.from({ length: 60 }, (_, i) =>
      event({
        transition: i % 3 === 0 ? 'resolved' : 'new',
        title: `finding ${i} ${'x'.repeat(190)}`,
        nextSteps: Array(10).fill('y'.repeat(500)),
      }),
    );
    const slack = SlackMessage.parse(renderSlack(batchOf(events)));
    const sections = slack.blocks.filter((b) => b.type === 'section');
    const more = /^…and (\d+) more \(/.exec(sections.at(-1)!.text.text);
    expect(more).not.toBeNull();
    expect(sections.length - 1 + Number(more![1])).toBe(60);

    const teams = TeamsMessage.parse(renderTeams(batchOf(events)));
    const body = teams.attachments[0]!.content.body as { type: string; text?: string }[];
    const listed = body.filter((e) => e.type === 'Container').length;
    expect(listed).toBeLessThanOrEqual(20);
    expect(listed + Number(/^…and (\d+) more/.exec(body.at(-1)!.text ?? '')?.[1])).toBe(60);
    expect(Buffer.byteLength(JSON.stringify(teams))).toBeLessThanOrEqual(TEAMS_LIMIT);
  });

  it('clips a finding whose every field is at its limit and made of characters Slack escapes', () => {
    const amp = (n: number) => '&'.repeat(n);
    const huge = event({
      title: amp(200),
      checkType: amp(64),
      resource: { kind: amp(64), namespace: amp(253), name: amp(512) },
      expected: amp(500),
      actual: amp(500),
      nextSteps: Array.from({ length: 10 }, () => amp(500)),
    });
    const slack = SlackMessage.parse(renderSlack(batchOf([huge, huge])));
    const section = slack.blocks.find((b) => b.type === 'section');
    expect(section?.text.text.length).toBeGreaterThan(2900);
    expect(section?.text.text.endsWith('&amp;…')).toBe(true);
    TeamsMessage.parse(renderTeams(batchOf(Array(30).fill(huge))));
    PdTrigger.parse(renderPagerDuty(huge, ROUTING_KEY, batchOf([huge])));
  });

  it('renders PagerDuty triggers for new and reopened issues and a resolve without payload', () => {
    const [n, r, s] = [event({ severity: 1 }), event({ transition: 'reopened', severity: 3 }), event({ transition: 'resolved' })];
    const b = batchOf([n, r, s]);
    const trigger = PdTrigger.parse(renderPagerDuty(n, ROUTING_KEY, b));
    expect(trigger).toMatchObject({
      dedup_key: n.fingerprint,
      client: 'Lookout',
      client_url: `https://lookout.example/v1/workspaces/${b.workspaceId}/issues/${n.issueId}`,
      payload: {
        severity: 'critical',
        source: 'shop/Endpoint/https://pay.example/health',
        component: 'https://pay.example/health',
        group: 'shop',
        class: 'http.probe',
        timestamp: n.lastSeenAt,
        custom_details: { expected: n.expected, actual: n.actual, nextSteps: n.nextSteps, seenCount: 3, issueId: n.issueId },
      },
    });
    expect(PdTrigger.parse(renderPagerDuty(r, ROUTING_KEY, b)).payload.severity).toBe('warning');
    expect(renderPagerDuty(s, ROUTING_KEY, b)).toEqual({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: s.fingerprint });
  });

  it('writes a one-line, bounded mail subject and every event in the body', () => {
    const events = [
      event({ title: `first\r\nBcc: victim@example.com ${'z'.repeat(400)}` }),
      event({ transition: 'resolved', title: 'second' }),
    ];
    const mail = renderEmail(batchOf(events, { test: true }));
    expect(mail.subject).toMatch(/^\[Lookout test\] 1 new, 1 resolved: first Bcc: victim@example.com z+…$/);
    expect(mail.subject.length).toBeLessThanOrEqual(200);
    expect(mail.text).toContain('test message');
    expect(mail.text).toContain('2. RESOLVED · severity 1 (critical): second');
    for (const e of events) expect(mail.text).toContain(e.issueId);
  });

  it('carries none of what the caller adds to an event or a batch beyond the listed fields', () => {
    const e = { ...event(), sealedReason: CANARY, resource: { kind: 'Pod', name: 'api', secret: CANARY } } as NotificationEvent;
    const b = { ...batchOf([e, event({ transition: 'resolved' })]), target: CANARY } as NotificationBatch;
    for (const rendered of [renderSlack(b), renderTeams(b), renderWebhook(b), renderEmail(b), renderPagerDuty(e, 'k'.repeat(32), b)]) {
      expect(JSON.stringify(rendered)).not.toContain(CANARY);
    }
  });

  it('keeps Slack and Teams renderings of arbitrary findings within the vendors’ schemas', () => {
    // Any code point, plus the characters that matter: Slack's control characters, Markdown, line
    // breaks, bidi overrides and lone surrogates. Lengths are the Issue schema's limits (UTF-16 units).
    const char = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
      fc.constantFrom('<', '>', '&', '*', '[', ']', '(', ')', '|', '\n', '\r', '\u0000', '\u202e', '\ud800', '\udc00', '"', '\\'),
    );
    // Half of the strings are drawn at any length up to the limit (not fast-check's usual short ones).
    const text = (min: number, max: number) =>
      fc
        .oneof(
          fc.string({ unit: char, minLength: min, maxLength: max }),
          fc.string({ unit: char, minLength: min, maxLength: max, size: 'max' }),
        )
        .map((s) => s.slice(0, max));
    const time = fc.date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
    const arbEvent: fc.Arbitrary<NotificationEvent> = fc.record({
      issueId: fc.uuid(),
      fingerprint: fc.stringMatching(/^[0-9a-f]{32}$/),
      transition: fc.constantFrom(...TRANSITIONS),
      severity: fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const),
      state: fc.constantFrom('open' as const, 'acknowledged' as const, 'resolved' as const, 'ignored' as const),
      checkType: text(1, 64),
      runnerId: fc.uuid(),
      runId: fc.option(fc.uuid(), { nil: null }),
      title: text(1, 200),
      resource: fc.record({ kind: text(1, 64), namespace: fc.option(text(0, 253), { nil: undefined }), name: text(1, 512) }),
      expected: text(0, 500),
      actual: text(0, 500),
      nextSteps: fc.array(text(1, 500), { maxLength: 10 }),
      firstSeenAt: time,
      lastSeenAt: time,
      seenCount: fc.nat(),
    });
    fc.assert(
      fc.property(fc.array(arbEvent, { minLength: 1, maxLength: 80 }), fc.boolean(), text(1, 100), (events, test, sinkName) => {
        const b = batchOf(events, { test, sinkName });
        SlackMessage.parse(renderSlack(b));
        TeamsMessage.parse(renderTeams(b));
        for (const e of events) PdEvent.parse(renderPagerDuty(e, ROUTING_KEY, b));
        const { subject } = renderEmail(b);
        expect(subject.length).toBeLessThanOrEqual(200);
        expect(subject).not.toMatch(/[\r\n]/);
      }),
      { numRuns: 100 },
    );
  });
});

describe('delivery to local receivers', () => {
  it('posts Slack blocks that satisfy Block Kit, to the path and query as given', async () => {
    const slack = await startReceiver((_req, res) => res.end('ok'));
    try {
      await deliver({ kind: 'slack', url: `${slack.url}${sinkPath}` }, batchOf([event(), event({ transition: 'resolved' })]), local);
      expect(slack.requests).toHaveLength(1);
      const [req] = slack.requests;
      expect(req).toMatchObject({ method: 'POST', path: sinkPath });
      expect(req!.headers['content-type']).toBe('application/json');
      expect(req!.headers['user-agent']).toBe('Lookout-Notifier/1');
      const message = SlackMessage.parse(JSON.parse(req!.body));
      expect(message.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Lookout: 1 new, 1 resolved' } });
    } finally {
      await slack.stop();
    }
  });

  it('posts a Teams message with one Adaptive Card', async () => {
    const teams = await startReceiver((_req, res) => {
      res.statusCode = 202;
      res.end();
    });
    try {
      await deliver({ kind: 'teams', url: `${teams.url}${sinkPath}` }, batchOf([event()], { test: true }), local);
      const card = TeamsMessage.parse(JSON.parse(teams.requests[0]!.body));
      expect(card.attachments[0]!.content.body[0]).toMatchObject({ type: 'TextBlock', text: 'Lookout test message: 1 new' });
    } finally {
      await teams.stop();
    }
  });

  it('sends PagerDuty one event per issue change, in order', async () => {
    const pd = await startReceiver((_req, res) => {
      res.statusCode = 202;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: 'x' }));
    });
    try {
      const events = [event(), event({ transition: 'reopened', severity: 2 }), event({ transition: 'resolved' })];
      await deliver({ kind: 'pagerduty', routingKey: ROUTING_KEY, url: `${pd.url}/v2/enqueue` }, batchOf(events), local);
      const sent = pd.requests.map((r) => PdEvent.parse(JSON.parse(r.body)));
      expect(sent.map((s) => [s.event_action, s.dedup_key])).toEqual(
        events.map((e) => [e.transition === 'resolved' ? 'resolve' : 'trigger', e.fingerprint]),
      );
      expect(sent.every((s) => s.routing_key === ROUTING_KEY)).toBe(true);
      expect(pd.requests.every((r) => r.path === '/v2/enqueue')).toBe(true);
    } finally {
      await pd.stop();
    }
  });

  it('signs webhooks so that a receiver can verify them and refuse a replay or a tampered body', async () => {
    const hook = await startReceiver((_req, res) => {
      res.statusCode = 204;
      res.end();
    });
    try {
      const b = batchOf([event(), event({ transition: 'reopened' })]);
      const sentAt = new Date();
      await deliver({ kind: 'webhook', url: `${hook.url}${sinkPath}`, secret: SECRET }, b, { ...local, now: () => sentAt });
      const [req] = hook.requests;
      const timestamp = req!.headers['lookout-timestamp'] as string;
      const signature = req!.headers['lookout-signature'] as string;
      expect(req!.headers['lookout-delivery']).toBe(b.id);
      expect(timestamp).toBe(String(Math.floor(sentAt.getTime() / 1000)));
      expect(signature).toMatch(/^v1=[0-9a-f]{64}$/);
      expect(signature).toBe(signWebhook(SECRET, Number(timestamp), req!.body));
      const body = WebhookBody.parse(JSON.parse(req!.body));
      expect(body).toMatchObject({ id: b.id, workspaceId: b.workspaceId, sentAt: sentAt.toISOString() });
      expect(body.events.map((e) => e.issueId)).toEqual(b.events.map((e) => e.issueId));

      const verify = (over: Partial<Parameters<typeof verifyWebhookSignature>[0]>) =>
        verifyWebhookSignature({ secret: SECRET, timestamp, signature, rawBody: req!.body, ...over });
      expect(verify({})).toBe(true);
      // Several values during a rotation: any one that matches.
      expect(verify({ signature: `v1=${'0'.repeat(64)}, ${signature}` })).toBe(true);
      // A replay ten minutes later, a changed body, another secret, a changed timestamp, nothing.
      expect(verify({ now: new Date(sentAt.getTime() + 600_000) })).toBe(false);
      expect(verify({ rawBody: req!.body.replace('"new"', '"resolved"') })).toBe(false);
      expect(verify({ secret: `${SECRET}x` })).toBe(false);
      expect(verify({ timestamp: String(Number(timestamp) + 1) })).toBe(false);
      expect(verify({ signature: undefined })).toBe(false);
      expect(verify({ timestamp: undefined })).toBe(false);
      expect(verify({ signature: signature.replace('v1=', 'v0=') })).toBe(false);
    } finally {
      await hook.stop();
    }
  });

  it('reaches an https receiver whose CA it is given, and refuses one it cannot verify', async () => {
    const slack = await startReceiver((_req, res) => res.end('ok'), pki);
    try {
      const url = `https://localhost:${slack.port}${sinkPath}`;
      await deliver({ kind: 'slack', url }, batchOf([event()]), { ...local, caPem: readFileSync(pki.caFile, 'utf8') });
      expect(slack.requests).toHaveLength(1);
      const untrusted = await failure(deliver({ kind: 'slack', url }, batchOf([event()]), local), slack);
      expect(untrusted.reason).toMatch(/^TLS failure \([A-Z_]+\)$/);
      expect(untrusted.retryable).toBe(true);
      expect(slack.requests).toHaveLength(1);
    } finally {
      await slack.stop();
    }
  });

  describe('email', () => {
    let mailbox: DevMailbox;
    beforeAll(async () => {
      mailbox = await DevMailbox.start();
    });
    afterAll(async () => {
      await mailbox?.stop();
    });

    it('sends through the sink’s own SMTP server to every recipient', async () => {
      const since = Date.now();
      const b = batchOf([event({ title: 'disk almost full' }), event({ transition: 'resolved', title: 'api slow' })]);
      await deliver({ kind: 'email', to: ['oncall@example.com', 'sre@example.com'], smtpUrl: mailbox.url }, b, {
        ...local,
        mailFrom: 'Lookout <lookout@example.test>',
      });
      const mail = await mailbox.waitFor('sre@example.com', { since });
      expect(mail.to.sort()).toEqual(['oncall@example.com', 'sre@example.com']);
      expect(mail.from).toBe('lookout@example.test');
      expect(mail.subject).toBe('[Lookout] 1 new, 1 resolved: disk almost full');
      expect(mail.text).toContain('1. NEW · severity 1 (critical): disk almost full');
      expect(mail.text).toContain('Expected:   HTTP 2xx within 2 s');
      expect(mail.text).toContain(`https://lookout.example/v1/workspaces/${b.workspaceId}/issues/${b.events[1]!.issueId}`);
    });

    it('sends through the Platform’s mailer when the sink has no SMTP server', async () => {
      const since = Date.now();
      const mailer = createSmtpMailer({ url: mailbox.url, from: 'Lookout <platform@example.test>' });
      try {
        await deliver({ kind: 'email', to: ['team@example.com'] }, batchOf([event({ title: 'cert expires' })]), {
          allowPrivateDestinations: false,
          mailer,
        });
      } finally {
        mailer.close();
      }
      const mail = await mailbox.waitFor('team@example.com', { since });
      expect(mail.subject).toBe('[Lookout] 1 new: cert expires');
    });

    it('refuses a sink’s own SMTP server on a loopback address unless private destinations are allowed', async () => {
      const before = mailbox.messages().length;
      const refused = await failure(
        deliver({ kind: 'email', to: ['x@example.com'], smtpUrl: mailbox.url }, batchOf([event()]), { allowPrivateDestinations: false }),
      );
      expect(refused).toMatchObject({ retryable: false, reason: "the SMTP server's address 127.0.0.1 is a loopback address" });
      expect(mailbox.messages()).toHaveLength(before);
    });

    it('reports an unreachable SMTP server as retryable and a missing mailer as not', async () => {
      const gone = await startReceiver(() => undefined);
      await gone.stop();
      const unreachable = await failure(
        deliver(
          { kind: 'email', to: ['x@example.com'], smtpUrl: `smtp://${CANARY}:${CANARY}@127.0.0.1:${gone.port}` },
          batchOf([event()]),
          local,
        ),
      );
      expect(unreachable.retryable).toBe(true);
      const none = await failure(deliver({ kind: 'email', to: ['x@example.com'] }, batchOf([event()]), local));
      expect(none).toMatchObject({ retryable: false, reason: 'no mailer is configured for email sinks' });
    });
  });
});

describe('delivery failures', () => {
  let status = 200;
  let receiver: Receiver;
  let other: Receiver;
  beforeAll(async () => {
    other = await startReceiver((_req, res) => res.end('ok'));
    receiver = await startReceiver((_req, res) => {
      res.statusCode = status;
      if (status === 302) res.setHeader('location', `${other.url}/elsewhere`);
      if (status === 503 || status === 429) res.setHeader('retry-after', '30');
      res.end(`{"error":"${ANSWER_CANARY}","url":"${receiver.url}${sinkPath}"}`);
    });
  });
  afterAll(async () => {
    await receiver?.stop();
    await other?.stop();
  });

  const targets = (): SinkTarget[] => [
    { kind: 'slack', url: `${receiver.url}${sinkPath}` },
    { kind: 'teams', url: `${receiver.url}${sinkPath}` },
    { kind: 'pagerduty', routingKey: ROUTING_KEY, url: `${receiver.url}${sinkPath}` },
    { kind: 'webhook', url: `${receiver.url}${sinkPath}`, secret: SECRET },
  ];

  it.each([
    [400, false],
    [401, false],
    [404, false],
    [408, true],
    [410, false],
    [429, true],
    [500, true],
    [503, true],
  ])('reports an answer %i as retryable %s for every kind, naming only the status', async (answer, retryable) => {
    status = answer;
    for (const target of targets()) {
      const err = await failure(deliver(target, batchOf([event(), event()]), local), receiver);
      expect(err.reason).toBe(`the receiver answered ${answer}`);
      expect(err.retryable).toBe(retryable);
      expect(err.retryAfterSeconds).toBe(answer === 429 || answer === 503 ? 30 : undefined);
    }
  });

  it('does not follow a redirect and does not retry it', async () => {
    status = 302;
    const err = await failure(deliver({ kind: 'slack', url: `${receiver.url}${sinkPath}` }, batchOf([event()]), local), receiver);
    expect(err).toMatchObject({ retryable: false, reason: 'the receiver redirected (answered 302); redirects are not followed' });
    expect(other.requests).toHaveLength(0);
    expect(other.connections).toBe(0);
  });

  it('stops waiting for a slow receiver and says so, retryably', async () => {
    const slow = await startReceiver((_req, res) => {
      setTimeout(() => res.end('ok'), 3_000).unref();
    });
    try {
      const err = await failure(
        deliver({ kind: 'webhook', url: `${slow.url}${sinkPath}`, secret: SECRET }, batchOf([event()]), { ...local, timeoutMs: 300 }),
        slow,
      );
      expect(err).toMatchObject({ retryable: true, reason: 'timed out after 0.3 s' });
    } finally {
      await slow.stop();
    }
  });

  it('reports a refused connection retryably', async () => {
    const gone = await startReceiver(() => undefined);
    await gone.stop();
    const err = await failure(deliver({ kind: 'teams', url: `${gone.url}${sinkPath}` }, batchOf([event()]), local), gone);
    expect(err).toMatchObject({ retryable: true, reason: 'connection refused' });
  });

  it.each([
    ['127.0.0.1', (port: number) => `https://127.0.0.1:${port}`, 'destination 127.0.0.1 is a loopback address'],
    ['localhost', (port: number) => `https://localhost:${port}`, /^the destination resolves to (127\.0\.0\.1|::1), a loopback address$/],
    [
      'an IPv4-mapped IPv6 address',
      (port: number) => `https://[::ffff:127.0.0.1]:${port}`,
      'destination ::ffff:7f00:1 is a loopback address',
    ],
    ['a decimal IPv4 host', (port: number) => `https://2130706433:${port}`, 'destination 127.0.0.1 is a loopback address'],
    ['plain http', (port: number) => `http://127.0.0.1:${port}`, 'the destination is not https'],
  ])('refuses %s before connecting unless private destinations are allowed', async (_name, base, reason) => {
    const guarded = await startReceiver((_req, res) => res.end('ok'), pki);
    try {
      for (const target of [
        { kind: 'slack', url: `${base(guarded.port)}${sinkPath}` },
        { kind: 'webhook', url: `${base(guarded.port)}${sinkPath}`, secret: SECRET },
        { kind: 'pagerduty', routingKey: ROUTING_KEY, url: `${base(guarded.port)}${sinkPath}` },
      ] satisfies SinkTarget[]) {
        const err = await failure(
          deliver(target, batchOf([event()]), { allowPrivateDestinations: false, caPem: readFileSync(pki.caFile, 'utf8') }),
        );
        expect(err.retryable).toBe(false);
        if (typeof reason === 'string') expect(err.reason).toBe(reason);
        else expect(err.reason).toMatch(reason);
      }
      expect(guarded.connections).toBe(0);
      expect(guarded.requests).toHaveLength(0);
    } finally {
      await guarded.stop();
    }
  });

  it('refuses a target that is not valid, naming only its fields', async () => {
    const bad = [
      { kind: 'pagerduty', routingKey: `${CANARY}-short` },
      { kind: 'slack', url: `ftp://example.com/${CANARY}` },
      { kind: 'webhook', url: `https://example.com/${CANARY}` },
    ] as unknown as SinkTarget[];
    for (const target of bad) {
      const err = await failure(deliver(target, batchOf([event()]), local));
      expect(err.retryable).toBe(false);
      expect(err.reason).toMatch(/^the sink's target is not valid \([a-zA-Z., ]+\)$/);
    }
  });
});

describe('targets', () => {
  it('accepts what each vendor needs and refuses the rest', () => {
    const ok: unknown[] = [
      { kind: 'slack', url: 'https://hooks.slack.com/services/T0/B0/abc' },
      { kind: 'teams', url: 'https://prod-00.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=y' },
      { kind: 'pagerduty', routingKey: 'a'.repeat(32) },
      { kind: 'pagerduty', routingKey: 'B1'.repeat(16), url: 'https://events.eu.pagerduty.com/v2/enqueue' },
      { kind: 'webhook', url: 'https://example.com/hook', secret: SECRET },
      { kind: 'email', to: ['a@example.com'], smtpUrl: 'smtps://user:pass@smtp.example.com' },
    ];
    for (const t of ok) expect(SinkTargetSchema.safeParse(t).success).toBe(true);
    const bad: unknown[] = [
      { kind: 'slack', url: 'javascript:alert(1)' },
      { kind: 'slack', url: 'not a url' },
      { kind: 'slack', url: 'https://user:pass@hooks.slack.com/x' },
      { kind: 'slack', url: 'https://hooks.slack.com/x', extra: 1 },
      { kind: 'pagerduty', routingKey: 'a'.repeat(31) },
      { kind: 'pagerduty', routingKey: `${'a'.repeat(31)}-` },
      { kind: 'webhook', url: 'https://example.com/hook' },
      { kind: 'email', to: [] },
      { kind: 'email', to: ['not-an-address'] },
      { kind: 'email', to: ['a@example.com, b@example.com'] },
      { kind: 'email', to: Array.from({ length: 21 }, (_, i) => `u${i}@example.com`) },
      { kind: 'email', to: ['a@example.com'], smtpUrl: 'https://smtp.example.com' },
      { kind: 'sms', to: ['a@example.com'] },
    ];
    for (const t of bad) expect(SinkTargetSchema.safeParse(t).success).toBe(false);
  });

  it('takes a webhook from API clients without a secret, and no secret from them', () => {
    expect(SinkTargetInput.safeParse({ kind: 'webhook', url: 'https://example.com/hook' }).success).toBe(true);
    expect(SinkTargetInput.safeParse({ kind: 'webhook', url: 'https://example.com/hook', secret: SECRET }).success).toBe(false);
  });

  it.each([
    ['10.0.0.5', 'a private address'],
    ['172.16.0.1', 'a private address'],
    ['192.168.1.1', 'a private address'],
    ['169.254.169.254', 'a link-local address'],
    ['100.64.0.1', 'a carrier-grade NAT address'],
    ['127.0.0.53', 'a loopback address'],
    ['0.0.0.0', 'an unspecified address'],
    ['224.0.0.1', 'a multicast address'],
    ['::1', 'a loopback address'],
    ['fe80::1', 'a link-local address'],
    ['fd00::1', 'a unique-local address'],
    ['::ffff:10.0.0.1', 'a private address'],
    ['::', 'an unspecified address'],
    ['8.8.8.8', undefined],
    ['2606:4700:4700::1111', undefined],
  ])('classifies %s as %s', (address, refusal) => {
    expect(addressRefusal(address)).toBe(refusal);
  });
});
