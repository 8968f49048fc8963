/**
 * Alert hooks: an alerting system (Prometheus Alertmanager, or anything that posts the generic shape)
 * calls `POST /v1/hooks/{id}` and each alert that matches a route of the hook starts a run of the
 * route's task (`trigger: alert`). A firing alert that is repeated while its run is queued or running
 * starts nothing more; a resolved alert starts one confirming run, which resolves the alert's issues
 * when it no longer finds them (issues resolve per task, so a templated route keeps one task per set
 * of rendered parameters).
 *
 * Authentication is the hook's secret, shown once and stored hashed (a bearer hook's as SHA-256, an
 * HMAC hook's SHA-256 sealed, since that hash is its HMAC key): a bearer hook takes
 * `Authorization: Bearer <secret>`; an HMAC hook takes `X-Lookout-Timestamp` (unix seconds, within
 * five minutes) and `X-Lookout-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`,
 * each signature accepted once. A PagerDuty hook (format `pagerduty`, always `hmac`) takes PagerDuty
 * V3's `X-PagerDuty-Signature: v1=<hex HMAC-SHA256(secret, raw body)>[,v1=…]` with the secret PagerDuty
 * generated (kept sealed: see `Hook.signingSecret`); PagerDuty signs no timestamp, so each event id is
 * accepted once within 24 h and an event that occurred longer ago is refused. An unknown hook answers exactly as a wrong secret does (401), so the
 * answer does not tell which hook ids exist. Every refused call is audited without secret or body.
 */
import { canonicalJson } from '../../common/canonical-json';
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Pool } from 'pg';
import { z } from 'zod';
import { ApiError, AuthenticationError, InputError, NotFoundError, ConflictError } from '../../common/problem';
import type { Sealer } from '../../platform/crypto/sealer';
import { appendAudit, appendAuditInTransaction } from '../../platform/repos/audit.repo';
import { inTransaction } from '../../platform/repos/db';
import {
  deleteHook,
  getHook,
  getHookAlert,
  HOOK_AUTHS,
  HOOK_FORMATS,
  insertHook,
  listHooks,
  lockHook,
  putHookAlert,
  rememberSignature,
  sealLegacyHmacKey,
  unlockHook,
  type Hook,
  type HookRoute,
  type HookSummary,
  type LabelMatcher,
} from '../../platform/repos/hooks.repo';
import { createTask, getTask, taskIdByName, type Task } from '../../platform/repos/tasks.repo';
import type { WorkspaceAccess } from '../auth/auth-context';
import type { RunsService } from './runs.service';
import { validTaskParams } from './tasks.service';

/** The largest hook call read (Alertmanager groups many alerts into one call). */
export const HOOK_BODY_LIMIT = 256 * 1024;
/** How far an HMAC call's timestamp may be from the Platform's clock, either way. */
export const HOOK_CLOCK_WINDOW_MS = 5 * 60_000;
/** At most this many alerts in one call; a larger group is refused (Alertmanager: `max_alerts`). */
export const HOOK_MAX_ALERTS = 100;
/**
 * How long a PagerDuty event id is remembered, and how old (by `occurred_at`) an event may be: an
 * older replay would no longer be remembered, so it is refused as stale instead.
 */
export const PAGERDUTY_REPLAY_WINDOW_MS = 24 * 60 * 60_000;

const PLACEHOLDER = /\{\{\s*labels\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** A parameter template: text with `{{ labels.<name> }}` placeholders and no other `{{` or `}}`. */
const Template = z
  .string()
  .max(2048)
  .refine((t) => !/\{\{|\}\}/.test(t.replace(PLACEHOLDER, '')), 'only {{ labels.<name> }} placeholders are allowed');

const LabelName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be a label name');

const Matcher = z.union([
  z.string().max(1024),
  z.strictObject({
    regex: z
      .string()
      .min(1)
      .max(256)
      .refine((r) => {
        try {
          new RegExp(r, 'u');
          return true;
        } catch {
          return false;
        }
      }, 'must be a regular expression'),
  }),
]);

const Route = z.strictObject({
  match: z.record(LabelName, Matcher).refine((m) => Object.keys(m).length <= 32, 'at most 32 matchers'),
  taskId: z.uuid(),
  params: z
    .record(z.string().min(1).max(64), Template)
    .refine((p) => Object.keys(p).length <= 32, 'at most 32 parameters')
    .optional(),
});

export const CreateHookBody = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(60)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore'),
    auth: z.enum(HOOK_AUTHS),
    format: z.enum(HOOK_FORMATS),
    routes: z.array(Route).min(1).max(50),
    ratePerMinute: z.number().int().min(1).max(6000).default(60),
    /** Only for `format: 'pagerduty'`: the signing secret PagerDuty generated for the subscription. */
    secret: z
      .string()
      .regex(/^[\x21-\x7e]{16,256}$/, '16 to 256 printable characters')
      .optional(),
  })
  .superRefine((b, ctx) => {
    if (b.format === 'pagerduty' && b.auth !== 'hmac')
      ctx.addIssue({ code: 'custom', path: ['auth'], message: 'a pagerduty hook is verified by its signature: auth must be hmac' });
    if (b.format === 'pagerduty' && b.secret === undefined)
      ctx.addIssue({ code: 'custom', path: ['secret'], message: "the subscription's signing secret, as PagerDuty showed it" });
    if (b.format !== 'pagerduty' && b.secret !== undefined)
      ctx.addIssue({ code: 'custom', path: ['secret'], message: 'only a pagerduty hook takes a secret; others are given one' });
  });

const Labels = z.record(z.string().max(256), z.string().max(1024)).refine((l) => Object.keys(l).length <= 64, 'at most 64 labels');
const AlertStatus = z.enum(['firing', 'resolved']);

/** Alertmanager's webhook payload (version 4); fields the Platform does not use are ignored. */
const AlertmanagerPayload = z.object({
  status: z.string().max(32).optional(),
  alerts: z
    .array(
      z.object({
        status: AlertStatus,
        labels: Labels,
        annotations: z.record(z.string(), z.string()).optional(),
        startsAt: z.string().max(64).optional(),
        endsAt: z.string().max(64).optional(),
        fingerprint: z.string().min(1).max(256).optional(),
      }),
    )
    .max(HOOK_MAX_ALERTS),
});

/** The generic shape: each alert names itself (`id`: what makes a repeat a repeat). */
const GenericPayload = z.object({
  alerts: z.array(z.strictObject({ id: z.string().min(1).max(256), status: AlertStatus, labels: Labels })).max(HOOK_MAX_ALERTS),
});

const PdText = (max: number) => z.string().max(max);

/**
 * PagerDuty's V3 webhook envelope. Only the incident events that start runs are read further, so a
 * `pagey.ping` or any other event type (whose `data` has another shape) is accepted and starts nothing.
 */
const PagerDutyPayload = z.object({
  event: z.object({
    id: z.string().min(1).max(256),
    event_type: z.string().min(1).max(128),
    resource_type: z.string().max(128).optional(),
    occurred_at: z.iso.datetime({ offset: true }),
    data: z.unknown(),
  }),
});

const PagerDutyIncident = z.object({
  id: z.string().min(1).max(256),
  title: PdText(1024),
  urgency: PdText(64),
  service: z.object({ summary: PdText(1024) }),
  priority: z.object({ summary: PdText(1024) }).nullish(),
});

/** The incident events that start runs; every other event type is accepted and starts nothing. */
const PAGERDUTY_STATUS: Record<string, 'firing' | 'resolved'> = {
  'incident.triggered': 'firing',
  'incident.reopened': 'firing',
  'incident.resolved': 'resolved',
};

interface Alert {
  /** SHA-256 of the sender's fingerprint or id (it may be chosen by whoever writes alert rules). */
  fingerprint: string;
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
}

/** What one hook call asks for: the headers that authenticate it and the body as it came. */
export interface HookCall {
  hookId: string;
  authorization?: string | undefined;
  timestamp?: string | undefined;
  signature?: string | undefined;
  /** `X-PagerDuty-Signature`: one or more comma-separated `v1=<hex>`. */
  pagerdutySignature?: string | undefined;
  /** The raw body; undefined when there was none. */
  body: Buffer | undefined;
  /** Set when the body could not be read (too large: 413; broken encoding: 400). */
  bodyError?: { status: number } | undefined;
  ip?: string | undefined;
}

export interface HookRunRef {
  taskId: string;
  runId: string;
  deduplicated: boolean;
}

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest();
const IN_FLIGHT = new Set(['queued', 'running']);

/** True when every matcher of `match` holds for `labels` (a regular expression matches the whole value, as in Alertmanager). */
export function routeMatches(match: Record<string, LabelMatcher>, labels: Record<string, string>): boolean {
  return Object.entries(match).every(([name, m]) => {
    const value = labels[name] ?? '';
    return typeof m === 'string' ? value === m : new RegExp(`^(?:${m.regex})$`, 'u').test(value);
  });
}

/** Renders `{{ labels.<name> }}` placeholders; a label the alert lacks is an error (no silent empty string). */
export function renderTemplate(template: string, labels: Record<string, string>): { value: string } | { missing: string } {
  let missing: string | undefined;
  const value = template.replace(PLACEHOLDER, (_all, name: string) => {
    const v = Object.prototype.hasOwnProperty.call(labels, name) ? labels[name] : undefined;
    if (v === undefined) missing ??= name;
    return v ?? '';
  });
  return missing === undefined ? { value } : { missing };
}

const isTemplated = (params: Record<string, string> | undefined) =>
  Object.values(params ?? {}).some((t) => new RegExp(PLACEHOLDER.source).test(t));

/**
 * A fixed-window counter per hook and minute, in this process: with N API processes a hook gets at
 * most N × its rate (documented). Only authenticated calls count, so nobody without the secret can
 * use a hook's budget up.
 */
class HookRateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  take(hookId: string, perMinute: number, now = Date.now()): boolean {
    const w = this.windows.get(hookId);
    if (!w || now - w.start >= 60_000) {
      if (this.windows.size > 10_000) this.windows.clear();
      this.windows.set(hookId, { start: now, count: 1 });
      return true;
    }
    w.count += 1;
    return w.count <= perMinute;
  }
}

export interface HooksServiceDeps {
  pool: Pool;
  sealer: Sealer;
  /** Starts the runs (the same path as `POST /v1/workspaces/{ws}/runs`). */
  runs: Pick<RunsService, 'requestRun'>;
}

export function createHooksService({ pool, sealer, runs }: HooksServiceDeps) {
  const limiter = new HookRateLimiter();
  // What an unknown hook is compared with, so that it takes as long as a wrong secret.
  const decoyHash = sha256(randomBytes(32));

  /** Audits a refused call (never the secret or the body) and answers the error to throw. */
  async function refused(hook: Hook | undefined, call: HookCall, reason: string, error: ApiError): Promise<ApiError> {
    await appendAudit(pool, {
      workspaceId: hook?.workspaceId ?? null,
      actor: 'anonymous',
      action: 'hook.refused',
      target: `hook:${call.hookId}`,
      outcome: 'denied',
      details: { reason },
      ip: call.ip,
    });
    return error;
  }

  const unauthorized = () => new AuthenticationError('invalid hook credentials');

  /** Checks the call's credentials; answers the refusal reason, or undefined when they hold. */
  async function authenticate(hook: Hook | undefined, call: HookCall): Promise<string | undefined> {
    const stored = hook?.secretHash ?? decoyHash;
    if (!hook || hook.auth === 'bearer') {
      const presented = /^Bearer ([A-Za-z0-9_-]{20,200})$/.exec(call.authorization ?? '')?.[1];
      const ok = timingSafeEqual(sha256(presented ?? ''), stored);
      if (!hook) return 'unknown_hook';
      if (!presented) return 'missing_credentials';
      return ok ? undefined : 'wrong_secret';
    }
    if (hook.format === 'pagerduty') return authenticatePagerDuty(hook, call);
    const timestamp = /^\d{1,12}$/.exec(call.timestamp ?? '')?.[0];
    const signature = /^sha256=([0-9a-f]{64})$/.exec(call.signature ?? '')?.[1];
    if (!timestamp || !signature) return 'missing_signature';
    const at = Number(timestamp) * 1000;
    if (Math.abs(Date.now() - at) > HOOK_CLOCK_WINDOW_MS) return 'stale_timestamp';
    // The body is signed: one that could not be read cannot be verified.
    if (call.bodyError) return undefined;
    // HMAC keys longer than the hash's block (64 bytes) are hashed first (RFC 2104 §2): an HMAC
    // hook's secret is 86 characters, so HMAC(secret, m) = HMAC(SHA-256(secret), m), and the
    // Platform verifies with that hash, sealed, without ever keeping the secret. A hook made before
    // its key was sealed still has it in `secretHash`, until this call moves it over.
    const key = hook.signingSecret === undefined ? stored : Buffer.from(hook.signingSecret, 'hex');
    const expected = createHmac('sha256', key)
      .update(`${timestamp}.`)
      .update(call.body ?? Buffer.alloc(0))
      .digest();
    if (!timingSafeEqual(Buffer.from(signature, 'hex'), expected)) return 'bad_signature';
    if (hook.signingSecret === undefined) await sealLegacyHmacKey(pool, sealer, hook);
    const fresh = await rememberSignature(pool, hook.id, sha256(signature), new Date(Math.max(at, Date.now()) + HOOK_CLOCK_WINDOW_MS));
    return fresh ? undefined : 'replayed';
  }

  /**
   * PagerDuty's signature: HMAC-SHA256 of the raw body under the subscription's secret, hex, one per
   * live secret while PagerDuty rotates it; any one matching suffices. Replays are caught by event id
   * in `receive`, once the body has been read.
   */
  function authenticatePagerDuty(hook: Hook, call: HookCall): string | undefined {
    const presented = (call.pagerdutySignature ?? '')
      .split(',')
      .slice(0, 10)
      .map((s) => /^v1=([0-9a-f]{64})$/i.exec(s.trim())?.[1])
      .filter((s): s is string => s !== undefined);
    if (presented.length === 0) return 'missing_signature';
    if (call.bodyError) return undefined;
    // The column's check makes a pagerduty hook carry its secret; a row without one verifies nothing.
    if (hook.signingSecret === undefined) return 'bad_signature';
    const expected = createHmac('sha256', hook.signingSecret)
      .update(call.body ?? Buffer.alloc(0))
      .digest();
    // Every presented signature is compared, so the time taken does not tell which one matched.
    let ok = false;
    for (const sig of presented) ok = timingSafeEqual(Buffer.from(sig, 'hex'), expected) || ok;
    return ok ? undefined : 'bad_signature';
  }

  function parsePagerDuty(json: unknown): { alerts: Alert[]; event: { id: string; occurredAt: number } } | { error: InputError } {
    const parsed = PagerDutyPayload.safeParse(json);
    if (!parsed.success) return { error: InputError.fromZod('PagerDuty webhook', parsed.error) };
    const { event } = parsed.data;
    const meta = { id: event.id, occurredAt: Date.parse(event.occurred_at) };
    const status = PAGERDUTY_STATUS[event.event_type];
    if (!status || event.resource_type !== 'incident') return { alerts: [], event: meta };
    const incident = PagerDutyIncident.safeParse(event.data);
    if (!incident.success) return { error: InputError.fromZod('PagerDuty incident', incident.error) };
    const i = incident.data;
    const labels: Record<string, string> = {
      service: i.service.summary,
      title: i.title,
      urgency: i.urgency,
      incident_id: i.id,
      event_type: event.event_type,
    };
    if (i.priority) labels['priority'] = i.priority.summary;
    // The incident, not the event, is the alert: its triggering and its resolution share a fingerprint.
    return { alerts: [{ fingerprint: sha256(`pagerduty:${i.id}`).toString('hex'), status, labels }], event: meta };
  }

  function parseAlerts(
    hook: Hook,
    body: Buffer | undefined,
  ): { alerts: Alert[]; event?: { id: string; occurredAt: number } } | { error: InputError } {
    let json: unknown;
    try {
      json = JSON.parse((body ?? Buffer.alloc(0)).toString('utf8'));
    } catch {
      return { error: new InputError('the body is not JSON') };
    }
    if (hook.format === 'pagerduty') return parsePagerDuty(json);
    if (hook.format === 'alertmanager') {
      const parsed = AlertmanagerPayload.safeParse(json);
      if (!parsed.success) return { error: InputError.fromZod('Alertmanager payload', parsed.error) };
      return {
        alerts: parsed.data.alerts.map((a) => ({
          // Alertmanager's fingerprint is a hash of the labels; an alert without one is named by its labels.
          fingerprint: sha256(a.fingerprint ?? canonicalJson(a.labels)).toString('hex'),
          status: a.status,
          labels: a.labels,
        })),
      };
    }
    const parsed = GenericPayload.safeParse(json);
    if (!parsed.success) return { error: InputError.fromZod('alerts', parsed.error) };
    return { alerts: parsed.data.alerts.map((a) => ({ fingerprint: sha256(a.id).toString('hex'), status: a.status, labels: a.labels })) };
  }

  interface Planned {
    alert: Alert;
    base: Task;
    /** The task's parameters with the route's rendered over them, validated; undefined: the task as it is. */
    params?: Record<string, unknown>;
  }

  /** The route's parameters rendered for `labels` and validated as a task's; throws InputError. */
  async function renderParams(base: Task, route: HookRoute, labels: Record<string, string>, at: string): Promise<Record<string, unknown>> {
    const rendered: Record<string, string> = {};
    for (const [name, template] of Object.entries(route.params ?? {})) {
      const out = renderTemplate(template, labels);
      if ('missing' in out)
        throw new InputError(`${at}: the alert has no label ${out.missing}`, [{ path: `${at}.params.${name}`, message: 'label missing' }]);
      rendered[name] = out.value;
    }
    try {
      return await validTaskParams(pool, sealer, base.workspaceId, base.runnerId, base.checkType, { ...base.params, ...rendered });
    } catch (err) {
      if (err instanceof InputError)
        throw new InputError(`${at}: ${err.message}`, (err.extra['errors'] as { path: string; message: string }[]) ?? []);
      throw err;
    }
  }

  /** The task a templated route runs for these parameters: found by name, or made (audited). */
  async function taskFor(hook: Hook, base: Task, params: Record<string, unknown>): Promise<string> {
    const digest = createHash('sha256')
      .update(canonicalJson({ taskId: base.id, params }))
      .digest('hex')
      .slice(0, 12);
    const name = `hook ${hook.name} ${digest}`;
    const found = await taskIdByName(pool, hook.workspaceId, name);
    if (found) return found;
    const task: Task = { ...base, id: randomUUID(), name, params };
    try {
      await inTransaction(pool, async (tx) => {
        await createTask(tx, sealer, task);
        await appendAuditInTransaction(tx, {
          workspaceId: hook.workspaceId,
          actor: `hook:${hook.id}`,
          action: 'task.created',
          target: `task:${task.id}`,
          outcome: 'success',
          details: { checkType: task.checkType, fromTask: base.id },
        });
      });
      return task.id;
    } catch (err) {
      // Another call made it at the same moment.
      const made = (err as { code?: string }).code === '23505' ? await taskIdByName(pool, hook.workspaceId, name) : undefined;
      if (made) return made;
      throw err;
    }
  }

  return {
    async create(access: WorkspaceAccess, body: z.infer<typeof CreateHookBody>, ip?: string) {
      // Every route names a task of this workspace; a route without placeholders is validated now.
      for (const [i, route] of body.routes.entries()) {
        const base = await getTask(pool, sealer, access.workspaceId, route.taskId);
        if (!base)
          throw new InputError('a route names no task of this workspace', [{ path: `routes.${i}.taskId`, message: 'no such task' }]);
        if (route.params && !isTemplated(route.params)) await renderParams(base, route, {}, `routes.${i}`);
      }
      // An HMAC hook's secret is longer than SHA-256's block, so that it can be verified from its hash
      // (see authenticate): that hash is its key, sealed like a PagerDuty hook's secret, and the
      // clear column holds the key's own hash, which signs nothing. A PagerDuty hook's secret is
      // PagerDuty's: it is sealed, and not shown back.
      const secret = body.secret ?? randomBytes(body.auth === 'hmac' ? 64 : 32).toString('base64url');
      const lookoutHmac = body.auth === 'hmac' && body.format !== 'pagerduty';
      const hook = {
        id: randomUUID(),
        workspaceId: access.workspaceId,
        name: body.name,
        auth: body.auth,
        format: body.format,
        secretHash: lookoutHmac ? sha256(sha256(secret)) : sha256(secret),
        signingSecret: body.format === 'pagerduty' ? secret : lookoutHmac ? sha256(secret).toString('hex') : undefined,
        routes: body.routes,
        ratePerMinute: body.ratePerMinute,
        createdBy: access.actor,
      };
      try {
        await inTransaction(pool, async (tx) => {
          await insertHook(tx, sealer, hook);
          await appendAuditInTransaction(tx, {
            workspaceId: access.workspaceId,
            actor: access.actor,
            action: 'hook.created',
            target: `hook:${hook.id}`,
            outcome: 'success',
            details: { auth: hook.auth, format: hook.format, routes: hook.routes.length },
            ip,
          });
        });
      } catch (err) {
        if ((err as { code?: string }).code === '23505')
          throw new ConflictError(`a hook named ${JSON.stringify(body.name)} already exists`);
        throw err;
      }
      return {
        id: hook.id,
        name: hook.name,
        auth: hook.auth,
        format: hook.format,
        ratePerMinute: hook.ratePerMinute,
        url: `/v1/hooks/${hook.id}`,
        ...(body.format === 'pagerduty' ? {} : { secret }),
      };
    },

    list: (workspaceId: string): Promise<HookSummary[]> => listHooks(pool, sealer, workspaceId),

    async remove(access: WorkspaceAccess, id: string, ip?: string): Promise<void> {
      await inTransaction(pool, async (tx) => {
        if (!(await deleteHook(tx, access.workspaceId, id))) throw new NotFoundError('hook');
        await appendAuditInTransaction(tx, {
          workspaceId: access.workspaceId,
          actor: access.actor,
          action: 'hook.deleted',
          target: `hook:${id}`,
          outcome: 'success',
          ip,
        });
      });
    },

    /**
     * One call of a hook. Refusals (401, 413, 400, 429) start nothing and are audited. Every alert is
     * rendered and validated before anything is written, so a refused call writes no task or run.
     */
    async receive(call: HookCall): Promise<{ runs: HookRunRef[] }> {
      const hook = await getHook(pool, sealer, call.hookId);
      const reason = await authenticate(hook, call);
      if (reason || !hook) throw await refused(hook, call, reason ?? 'unknown_hook', unauthorized());
      // An unreadable body is refused before counting: an HMAC call's signature could not be
      // checked, so the call must not use the hook's budget up.
      if (call.bodyError) {
        const tooLarge = call.bodyError.status === 413;
        throw await refused(
          hook,
          call,
          tooLarge ? 'too_large' : 'unreadable',
          tooLarge
            ? new ApiError(413, 'Payload Too Large', `hook calls are at most ${HOOK_BODY_LIMIT} bytes`)
            : new InputError('the body could not be read'),
        );
      }
      if (!limiter.take(hook.id, hook.ratePerMinute))
        throw await refused(
          hook,
          call,
          'rate_limited',
          new ApiError(429, 'Too Many Requests', 'this hook was called too often; try again in a minute'),
        );
      const parsedCall = parseAlerts(hook, call.body);
      if ('error' in parsedCall) throw await refused(hook, call, 'malformed', parsedCall.error);
      const { alerts, event } = parsedCall;
      if (event && Math.abs(Date.now() - event.occurredAt) > PAGERDUTY_REPLAY_WINDOW_MS)
        throw await refused(hook, call, 'stale_timestamp', unauthorized());

      const planned: Planned[] = [];
      const bases = new Map<string, Task | undefined>();
      try {
        for (const [a, alert] of alerts.entries()) {
          for (const [r, route] of hook.routes.entries()) {
            if (!routeMatches(route.match, alert.labels)) continue;
            if (!bases.has(route.taskId)) bases.set(route.taskId, await getTask(pool, sealer, hook.workspaceId, route.taskId));
            const base = bases.get(route.taskId);
            if (!base) throw new InputError(`route ${r} names a task that no longer exists`);
            planned.push(
              route.params
                ? { alert, base, params: await renderParams(base, route, alert.labels, `alerts.${a} route ${r}`) }
                : { alert, base },
            );
          }
        }
      } catch (err) {
        if (err instanceof InputError) throw await refused(hook, call, 'params_refused', err);
        throw err;
      }

      const taskIds = [];
      for (const p of planned) taskIds.push(p.params ? await taskFor(hook, p.base, p.params) : p.base.id);

      // A PagerDuty event is accepted once (its signature has no timestamp). Remembered only now,
      // after every refusal that a redelivery would meet again, until it could no longer pass the
      // `occurred_at` check above.
      if (event) {
        const until = new Date(Math.max(event.occurredAt, Date.now()) + PAGERDUTY_REPLAY_WINDOW_MS);
        if (!(await rememberSignature(pool, hook.id, sha256(`pagerduty-event:${event.id}`), until)))
          throw await refused(hook, call, 'replayed', unauthorized());
      }

      // A hook acts as itself in the audit log.
      const actor = { actor: `hook:${hook.id}` };
      const started: HookRunRef[] = [];
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await lockHook(client, hook.id);
        try {
          for (const [i, p] of planned.entries()) {
            const taskId = taskIds[i]!;
            const state = await getHookAlert(client, hook.id, p.alert.fingerprint, taskId);
            const inFlight = !!state?.lastRunStatus && IN_FLIGHT.has(state.lastRunStatus);
            // Firing: one run at a time. Resolved: one confirming run per resolution.
            const repeat = p.alert.status === 'firing' ? inFlight : state?.lastAlertStatus === 'resolved';
            if (repeat && state?.lastRunId) {
              started.push({ taskId, runId: state.lastRunId, deduplicated: true });
              continue;
            }
            const run = await runs.requestRun(actor, hook.workspaceId, taskId, 'alert', call.ip);
            await putHookAlert(client, {
              hookId: hook.id,
              workspaceId: hook.workspaceId,
              alertFingerprint: p.alert.fingerprint,
              taskId,
              runId: run.id,
              alertStatus: p.alert.status,
            });
            started.push({ taskId, runId: run.id, deduplicated: false });
          }
        } finally {
          await unlockHook(client, hook.id);
        }
      } catch (err) {
        broken = err as Error;
        throw err;
      } finally {
        // A connection that failed mid-way may still hold the lock: it is closed, not reused.
        client.release(broken);
      }
      await appendAudit(pool, {
        workspaceId: hook.workspaceId,
        actor: `hook:${hook.id}`,
        action: 'hook.received',
        target: `hook:${hook.id}`,
        outcome: 'success',
        details: {
          alerts: alerts.length,
          firing: alerts.filter((a) => a.status === 'firing').length,
          resolved: alerts.filter((a) => a.status === 'resolved').length,
          started: started.filter((s) => !s.deduplicated).length,
          deduplicated: started.filter((s) => s.deduplicated).length,
        },
        ip: call.ip,
      });
      return { runs: started };
    },
  };
}

export type HooksService = ReturnType<typeof createHooksService>;
