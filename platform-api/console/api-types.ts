/**
 * What the API answers, as the console reads it (the fields it uses, each shape once: a page that
 * needs fewer fields takes a `Pick<>` of it), and the request bodies the console sends (the fields it
 * sends; optional where it may leave one out). Times are ISO strings, as JSON carries them.
 *
 * The server's own types are checked against these at compile time (test/types/console-api.types.ts,
 * run by `npm run typecheck`): a field the server stops answering, or answers with another type, and
 * a body the route's schema would not take (a field misnamed, missing or of another type), fail the
 * typecheck instead of the page. Plain types only, so that both the console's tsconfig and
 * the main one compile this file: no JSX, no DOM, nothing imported but platform/permissions' names.
 */
import type { Role } from '../../platform/permissions';

/**
 * An RFC 9457 problem: the API's answer to any request it refuses or fails (built by
 * common/problem.ts problemHandler); api.ts makes one too when the Platform cannot be reached.
 */
export interface Problem {
  type?: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { path: string; message: string }[];
}

/** A list answer. */
export interface Items<T> {
  items: T[];
}

// ---- Who is signed in ----

/** GET /v1/me: who is signed in (workspaces.service.ts me). */
export interface Me {
  kind: 'session' | 'oidc_bearer' | 'api_token';
  user?: { id: string; email?: string; displayName: string | null; mfaEnrolled: boolean };
  workspaces: { id: string; name: string; role: Role }[];
}

// ---- Runs ----

/** A run's status (runs.repo.ts). */
export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'runner_unavailable' | 'cancelled' | 'rejected';

/** A finding of a run's result. */
export interface ResultIssue {
  severity: number;
  title: string;
  resource: { kind: string; namespace?: string; name: string };
  expected: string;
  actual: string;
  nextSteps: string[];
  details?: string;
}

/** RunView in platform-api/services/runs.service.ts (the result: StoredResult of results.repo.ts). */
export interface RunItem {
  id: string;
  workspaceId: string;
  taskId: string;
  runnerId: string;
  checkType: string;
  status: RunStatus;
  trigger: string;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  error: { type: string; message: string | null } | null;
  attempt: number;
  result: {
    status: 'ok' | 'issues' | 'error';
    summary: string;
    score?: number;
    issues: ResultIssue[];
    metrics: Record<string, number>;
    durationMs: number;
    exitCode: number;
  } | null;
}

/** POST /v1/workspaces/{ws}/runs (CreateRunBody of runs.router.ts): run a task now. */
export interface CreateRunRequest {
  taskId: string;
}

/** GET /v1/workspaces/{ws}/temporal-ui: the Temporal Web UI's address (null when none is configured) and the workspace's namespace. */
export interface TemporalUi {
  url: string | null;
  namespace: string;
}

// ---- Issues ----

export type IssueState = 'open' | 'acknowledged' | 'ignored' | 'resolved';

/** issueView in platform-api/services/issues.service.ts. */
export interface IssueItem {
  id: string;
  state: IssueState;
  severity: number;
  checkType: string;
  runnerId: string;
  taskId: string | null;
  title: string;
  resource: { kind: string; namespace?: string; name: string };
  expected: string;
  actual: string;
  nextSteps: string[];
  nextChecks: { type: string; params: Record<string, string | number | boolean | string[]> }[];
  details?: string;
  firstSeenAt: string;
  lastSeenAt: string;
  resolvedAt: string | null;
  ignoredUntil: string | null;
  reason: string | null;
  seenCount: number;
  reopenedCount: number;
  lastRunId: string | null;
}

/** PATCH /v1/workspaces/{ws}/issues/{id} (ChangeIssueBody): acknowledge, ignore until a date, or open again. */
export interface IssueChange {
  state: 'acknowledged' | 'ignored' | 'open';
  until?: string;
  reason?: string;
}

// ---- Runners ----

/** The policy a Runner reported (common/runner-policy.ts PolicySummary), as far as the console shows it. */
export interface PolicySummary {
  digest: string;
  checks: string[];
  rawData: string[];
  destinations: { name: string; scheme: string; host: string; port?: number | '*'; pathPrefix: string; privateAddresses: boolean }[];
  secretBindings: { name: string; destinations: string[]; header: string; provider: string }[];
  tlsSecretNamespaces: string[];
  platformKeyIds: string[];
  packs: { name: string; version: string; digest: string; source: { kind: string; commit?: string; signed: boolean } }[];
  discoveryNames: 'clear' | 'hashed' | 'counts';
}

/**
 * GET /v1/workspaces/{ws}/runners (runners.service.ts list). Its presence (`pollers`, `lastPollAt`,
 * `online`) is null when listed with `presence=false`.
 */
export interface RunnerItem {
  id: string;
  name: string;
  taskQueue: string;
  createdAt: string;
  pollers: number | null;
  lastPollAt: string | null;
  online: boolean | null;
  version: string | null;
  policy: PolicySummary | null;
}

/** A Runner listed with its presence (without `presence=false`): how many pollers and whether it is online are known. */
export type RunnerWithPresence = RunnerItem & { pollers: number; online: boolean };

/** One check a Runner can run (runners.service.ts checks). */
export interface CheckItem {
  type: string;
  source: 'built-in' | 'pack';
  parameters: unknown;
  description?: string;
  kind?: string;
  pack?: { name: string; version: string; digest: string; source: { kind: string; commit?: string; signed: boolean } };
  needs?: { kubernetes: unknown[]; destinations: unknown[]; secrets: string[] };
  rawData: boolean;
}

/** GET /v1/workspaces/{ws}/runners/{id}/checks: the checks, as the Runner last reported them. */
export interface ChecksAnswer {
  reported: boolean;
  reportedAt: string | null;
  items: CheckItem[];
}

/** POST /v1/workspaces/{ws}/runners (RegisterRunnerBody): a name, and the public half of a key made where the Runner runs. */
export interface RegisterRunnerRequest {
  name: string;
  attestationPublicKey?: string;
}

/** POST /v1/workspaces/{ws}/runners (runners.service.ts register): what the Runner's install needs, answered once. */
export interface Registration {
  id: string;
  name: string;
  taskQueue: string;
  keyFile: unknown;
  attestationKeyId: string;
  runnerKey?: string;
  temporalApiKey?: string;
  temporalApiKeyExpiresAt?: string;
  helmValues: { existingSecret?: string } & Record<string, unknown>;
  next?: { discover: string; apply: string; cli: string };
}

// ---- Health sweeps ----

/** A part's score (0..1) and its findings. */
export interface SweepPart {
  score: number;
  issues: number;
}

/** The sweep view of platform-api/services/sweeps.service.ts. */
export interface Sweep {
  id: string;
  runnerId: string;
  group: string | null;
  status: 'running' | 'completed' | 'failed';
  score: number | null;
  namespaces: Record<string, SweepPart> | null;
  cluster: SweepPart | null;
  endpoints: Record<string, SweepPart> | null;
  issues: { new: number | null; open: number | null; resolved: number | null } | null;
  startedAt: string;
  finishedAt: string | null;
}

/** POST /v1/workspaces/{ws}/sweeps (StartSweepBody): sweep a whole Runner now. */
export interface StartSweepRequest {
  runnerId: string;
}

/** POST /v1/workspaces/{ws}/sweeps: the sweep started (listed once its workflow records it). */
export interface SweepStarted {
  id: string;
}

// ---- Tasks and schedules ----

/** GET /v1/workspaces/{ws}/tasks: a task as listed. */
export interface TaskItem {
  id: string;
  runnerId: string;
  name: string;
  checkType: string;
  createdAt: string;
  /** `manual`, `discovery`, `generated` or `followup` (when the API lists it). */
  origin?: string;
  /** The namespace group of a generated task (when the API lists it). */
  sweepGroup?: string | null;
}

/** POST /v1/workspaces/{ws}/tasks and GET …/tasks/{id}: one task (Task of platform/repos/tasks.repo.ts). */
export interface Task {
  id: string;
  runnerId: string;
  name: string;
  checkType: string;
}

/** The execution bounds a task may set (ExecutionPolicy of common/contracts.ts), each optional. */
export type TaskPolicy = Partial<
  Record<'scheduleToStartMs' | 'startToCloseMs' | 'heartbeatMs' | 'maxAttempts' | 'initialRetryIntervalMs', number>
>;

/** POST /v1/workspaces/{ws}/tasks (CreateTaskBody of tasks.service.ts). */
export interface CreateTaskRequest {
  name: string;
  runnerId: string;
  checkType: string;
  params: Record<string, unknown>;
  policy: TaskPolicy;
}

/** When a schedule fires: cron expressions or an interval (one of them), in a time zone. */
export interface ScheduleSpec {
  cron?: string[];
  intervalSeconds?: number;
  timezone?: string;
  jitterSeconds?: number;
}

/** What a schedule does when its previous run is still open (schedules.service.ts OVERLAP). */
export type ScheduleOverlap = 'skip' | 'buffer_one' | 'buffer_all' | 'cancel_other' | 'terminate_other' | 'allow_all';

/** POST /v1/workspaces/{ws}/schedules (CreateScheduleBody): a task's runs or a Runner's health sweeps. */
export interface CreateScheduleRequest {
  taskId?: string;
  runnerId?: string;
  spec: ScheduleSpec;
  overlap: ScheduleOverlap;
  note?: string;
}

/** GET /v1/workspaces/{ws}/schedules (ScheduleView of schedules.service.ts). */
export interface ScheduleItem {
  id: string;
  taskId: string | null;
  runnerId: string | null;
  group: string | null;
  spec: ScheduleSpec;
  overlap: string;
  paused: boolean;
  note: string | null;
  nextRuns: string[];
}

// ---- Settings ----

/** GET /v1/workspaces/{ws}/members. */
export interface Member {
  userId: string;
  email: string;
  displayName: string | null;
  role: Role;
  createdAt: string;
}

/** POST /v1/workspaces/{ws}/members (AddMemberBody of invitations.service.ts): invite an address. */
export interface InviteMemberRequest {
  email: string;
  role: Role;
}

/** PATCH /v1/workspaces/{ws}/members/{userId} (UpdateMemberBody of workspaces.service.ts). */
export interface MemberRoleChange {
  role: Role;
}

/** GET /v1/workspaces/{ws}/invitations (invitations.service.ts invitationView). */
export interface Invitation {
  id: string;
  email: string;
  /** Null only for an account's claim code (`lookout users invite`), which no workspace lists. */
  role: Role | null;
  invitedBy: string;
  createdAt: string;
  expiresAt: string;
}

/** GET /v1/workspaces/{ws}/tokens: never a token's value. */
export interface Token {
  id: string;
  name: string;
  role: Role;
  hint: string;
  createdBy: string | null;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** POST /v1/workspaces/{ws}/tokens (CreateTokenBody of workspaces.service.ts): no expiry without `expiresInDays`. */
export interface CreateTokenRequest {
  name: string;
  role: Role;
  expiresInDays?: number;
}

/** POST /v1/workspaces/{ws}/tokens: the token, with its value (in this answer only). */
export type CreatedToken = Token & { token: string };

/** GET /v1/workspaces/{ws}/secrets: names and versions, never values. */
export interface SecretItem {
  name: string;
  reference: string;
  version?: number;
  createdAt?: string;
  updatedAt?: string;
  updatedBy?: string;
}

/** PUT /v1/workspaces/{ws}/secrets/{name} (PutSecretBody of secrets.service.ts). */
export interface PutSecretRequest {
  value: string;
}

/** PUT /v1/workspaces/{ws}/secrets/{name}: the reference tasks use and the version written. */
export interface SecretSaved {
  name: string;
  reference: string;
  version: number;
}

export type SinkKind = 'slack' | 'teams' | 'pagerduty' | 'webhook' | 'email';

/** GET /v1/workspaces/{ws}/sinks (SinkView of sinks.service.ts): kind and routing, never where it sends. */
export interface Sink {
  id: string;
  name: string;
  kind: SinkKind;
  routing: { maxSeverity: number; runnerIds: string[]; namespaces: string[]; events: string[] };
  groupSeconds: number;
  maxPerMinute: number;
  createdBy: string;
  createdAt: string;
}

/** The issue changes a sink sends (TRANSITIONS of platform/notify/formats.ts). */
export type SinkEvent = 'new' | 'reopened' | 'resolved';

/** Where a sink sends, as the console gives it (SinkTargetInput of platform/notify/deliver.ts). */
export type SinkTargetRequest =
  | { kind: 'slack' | 'teams' | 'webhook'; url: string }
  | { kind: 'pagerduty'; routingKey: string }
  | { kind: 'email'; to: string[]; smtpUrl?: string };

/** POST /v1/workspaces/{ws}/sinks (CreateSinkBody of sinks.service.ts). */
export interface CreateSinkRequest {
  name: string;
  target: SinkTargetRequest;
  maxSeverity: number;
  events: SinkEvent[];
  runnerIds: string[];
  namespaces: string[];
  groupSeconds?: number;
  maxPerMinute?: number;
}

/** POST /v1/workspaces/{ws}/sinks: the sink; a webhook sink with its signing secret, shown this once. */
export type CreatedSink = Sink & { signingSecret?: string };

/** POST /v1/workspaces/{ws}/sinks/{id}/test. */
export interface SinkTestAnswer {
  delivered: boolean;
  reason?: string;
}

/** GET /v1/workspaces/{ws}/notifications (notificationView of sinks.service.ts). */
export interface Notification {
  id: string;
  sinkId: string;
  transition: string;
  state: string;
  attempts: number;
  lastError: string | null;
  createdAt: string;
}

export type HookFormat = 'alertmanager' | 'generic' | 'pagerduty';
export type HookAuth = 'bearer' | 'hmac';

/** GET /v1/workspaces/{ws}/hooks: no secrets, routes by count. */
export interface Hook {
  id: string;
  name: string;
  auth: HookAuth;
  format: HookFormat;
  ratePerMinute: number;
  routeCount: number;
  createdBy: string;
  createdAt: string;
}

/** One route of a hook: alerts whose labels match (exactly, or `{regex}`) run the task, with parameters templated from the labels. */
export interface HookRouteRequest {
  match: Record<string, string | { regex: string }>;
  taskId: string;
  params?: Record<string, string>;
}

/** POST /v1/workspaces/{ws}/hooks (CreateHookBody of hooks.service.ts): `secret` for a PagerDuty hook only. */
export interface CreateHookRequest {
  name: string;
  format: HookFormat;
  auth: HookAuth;
  ratePerMinute?: number;
  secret?: string;
  routes: HookRouteRequest[];
}

/** POST /v1/workspaces/{ws}/hooks: the hook, its URL and (but for PagerDuty's) its secret, shown this once. */
export interface CreatedHook {
  id: string;
  name: string;
  auth: HookAuth;
  format: HookFormat;
  url: string;
  secret?: string;
}

/** One audit event (AuditRow of platform/repos/audit.repo.ts). */
export interface AuditEvent {
  id: string;
  at: string;
  actor: string;
  action: string;
  target?: string;
  outcome: 'success' | 'failure' | 'denied';
  details?: Record<string, unknown>;
  ip?: string;
}

/** GET /v1/workspaces/{ws}/audit: a page of events, the cursor of the next, and the whole chain's verification. */
export interface AuditPage {
  items: AuditEvent[];
  chain: { ok: boolean; rows: number; brokenAt?: string };
  next?: string;
}

// ---- Signing in ----

/** GET /v1/auth/methods: the sign-in methods configured. */
export interface AuthMethods {
  password: boolean;
  oidc: boolean;
  saml: boolean;
}

/** POST /v1/auth/password (PasswordLoginBody of identity.service.ts). */
export interface PasswordLogin {
  email: string;
  password: string;
}

/** POST /v1/auth/password: a challenge, never a session; with a fresh TOTP secret until one is confirmed. */
export type PasswordAnswer =
  | { mfa: 'enroll'; challenge: string; otpauthUri: string; secret: string; expiresAt: string }
  | { mfa: 'verify'; challenge: string; expiresAt: string };

/** POST /v1/auth/mfa (MfaBody of identity.service.ts): the login's challenge and exactly one of a TOTP code and a recovery code. */
export type MfaRequest = { challenge: string; code: string } | { challenge: string; recoveryCode: string };

/** POST /v1/auth/mfa: the session (its cookie is set) and its CSRF token. */
export interface MfaAnswer {
  userId: string;
  session: { id: string; expiresAt: string };
  csrfToken: string;
  /** Only at enrolment, and only this once. */
  recoveryCodes?: string[];
}

/** POST /v1/auth/invitations/accept (AcceptInvitationBody of invitations.service.ts): a password when the code makes or claims the account. */
export interface AcceptInvitationRequest {
  invitation: string;
  password?: string;
}

/** POST /v1/auth/invitations/accept: the account and the workspace joined (none, and no role, for an account's claim code). */
export interface AcceptedInvitation {
  email: string;
  workspaceId: string | null;
  role: Role | null;
}
