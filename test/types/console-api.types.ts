/**
 * The web console's API types (platform-api/console/api-types.ts) against the server's own: checked
 * by `npm run typecheck`, never run. The console is bundled apart and cannot import server code, so
 * its shapes are declared by hand; here each is checked against what the route answers (the service
 * method the router sends, after JSON serialisation) and each request body the console sends against
 * the schema the route parses it with (`z.input`: what the route accepts, defaults still optional).
 * A field the server stops answering, or answers with another type, and a body field the schema does
 * not take (misnamed at any depth, missing, or of another type), fail the typecheck naming the type
 * below (an unknown body field by its path, e.g. `.routes[].parms`).
 *
 * Bodies are checked for their shape only: what a schema narrows beyond its type (regexes, lengths,
 * ranges, refinements such as "either cron or intervalSeconds") is not, the console building them
 * mostly from what the user typed. The console's call sites are held to these body types by its own
 * tsconfig (`const body: X = …` or `satisfies X`). Requests without a body (logout, a sink's test, a
 * notification's retry, a schedule's pause/resume/trigger, a run's retry/cancel) have nothing to check.
 *
 * Not checked, the answer being built inline from values with no type of their own: TemporalUi
 * (runs.router.ts), AuthMethods and MfaAnswer (auth.router.ts), and Problem (common/problem.ts
 * problemHandler, whose `errors` travel in an untyped `extra`). RunnerWithPresence is RunnerItem
 * narrowed by the console for a list asked with presence, which no type says.
 */
import type { z } from 'zod';
import type * as Console from '../../platform-api/console/api-types';
import type { PolicySummary } from '../../common/runner-policy';
import type { CreateRunBody } from '../../platform-api/routes/runs.router';
import type { CreateHookBody, HooksService } from '../../platform-api/services/hooks.service';
import type { IdentityService, MfaBody, PasswordLoginBody } from '../../platform-api/services/identity.service';
import type { AcceptInvitationBody, AddMemberBody, InvitationsService } from '../../platform-api/services/invitations.service';
import type { ChangeIssueBody, IssuesService, issueView } from '../../platform-api/services/issues.service';
import type { RegisterRunnerBody, RunnersService } from '../../platform-api/services/runners.service';
import type { RunsService, RunView } from '../../platform-api/services/runs.service';
import type { CreateScheduleBody, SchedulesService } from '../../platform-api/services/schedules.service';
import type { PutSecretBody, SecretsService } from '../../platform-api/services/secrets.service';
import type { CreateSinkBody, notificationView, SinksService } from '../../platform-api/services/sinks.service';
import type { StartSweepBody, SweepsService } from '../../platform-api/services/sweeps.service';
import type { CreateTaskBody, TasksService } from '../../platform-api/services/tasks.service';
import type { CreateTokenBody, UpdateMemberBody, WorkspacesService } from '../../platform-api/services/workspaces.service';

// ---- JSON serialisation, as JSON.stringify does it ----

/** What JSON.stringify leaves out of an object (and turns into null in an array). */
type Dropped = undefined | symbol | ((...args: never[]) => unknown);
type RequiredKeys<T> = { [K in keyof T]-?: [Extract<T[K], Dropped>] extends [never] ? K : never }[keyof T];
type OptionalKeys<T> = {
  [K in keyof T]-?: [Extract<T[K], Dropped>] extends [never] ? never : [T[K]] extends [Dropped] ? never : K;
}[keyof T];
type JsonObject<T> = { [K in RequiredKeys<T> & (string | number)]: Json<T[K]> } & {
  [K in OptionalKeys<T> & (string | number)]?: Json<Exclude<T[K], Dropped>>;
};
type JsonValue<T> = T extends { toJSON(...args: never[]): infer R }
  ? Json<R> // Date: its ISO string
  : T extends string | number | boolean | null
    ? T
    : T extends Dropped
      ? never
      : T extends readonly (infer U)[]
        ? (U extends Dropped ? null : Json<U>)[]
        : T extends object
          ? JsonObject<T>
          : never;

/** The value a client reads back after JSON.stringify(value) and JSON.parse. */
export type Json<T> = unknown extends T ? unknown : JsonValue<T>;

// ---- Assertions ----

/**
 * Compiles only when `Sent` is assignable to `Expected`; when it is not, tsc's error names the
 * property that differs (`Types of property 'x' are incompatible`).
 */
type Expect<Sent extends Expected, Expected> = [Sent, Expected];

/** The keys of any member of a union, and the type of a key in any member that has it. */
type AnyKey<T> = T extends unknown ? keyof T : never;
type AnyProp<T, K extends PropertyKey> = T extends unknown ? (K extends keyof T ? T[K] : never) : never;

/**
 * The paths (`.routes[].parms`) of the fields `Sent` names that no member of `Expected` has, at any
 * depth: a strict schema refuses them, and assignability alone lets them pass.
 */
type ExtraKeys<Sent, Expected, At extends string = ''> = unknown extends Expected
  ? never
  : Sent extends readonly (infer U)[]
    ? ExtraKeys<U, Extract<Expected, readonly unknown[]>[number], `${At}[]`>
    : Sent extends object
      ? {
          [K in keyof Sent & string]-?: K extends AnyKey<Extract<Expected, object>>
            ? ExtraKeys<Sent[K], AnyProp<Extract<Expected, object>, K>, `${At}.${K}`>
            : `${At}.${K}`;
        }[keyof Sent & string]
      : never;

/**
 * A request body as sent when it names no field the schema lacks; else an object naming each such
 * field, which `Expect` refuses with that name in its error.
 */
type NoExtra<Sent, Expected> = [ExtraKeys<Sent, Expected>] extends [never]
  ? Sent
  : { [K in ExtraKeys<Sent, Expected>]: 'is not a field of the schema' };

/** What the console sends of body `C` (after JSON serialisation), refused by `Expect` when it names a field `Schema` lacks. */
type Body<C, Schema extends z.ZodType> = NoExtra<Json<C>, z.input<Schema>>;

/** What a service method answers (awaited), and one item of a list it answers. */
type Answer<F> = F extends (...args: never[]) => infer R ? Awaited<R> : never;
type Item<F> = Answer<F> extends readonly (infer U)[] ? U : never;

// ---- GET /v1/me ----
export type _me = Expect<Json<Answer<WorkspacesService['me']>>, Console.Me>;

// ---- Runs ----
export type _runView = Expect<Json<RunView>, Console.RunItem>;
export type _runsList = Expect<Json<Item<RunsService['listRunViews']>>, Console.RunItem>;
export type _runGet = Expect<Json<Answer<RunsService['getRunView']>>, Console.RunItem>;
export type _runCancel = Expect<Json<Answer<RunsService['cancelRun']>>, Console.RunItem>;
export type _runRetry = Expect<Json<Answer<RunsService['retryRun']>>, Console.RunItem>;
export type _runRequest = Expect<Json<Answer<RunsService['requestRun']>>, Console.RunItem>;
export type _runCreate = Expect<Body<Console.CreateRunRequest, typeof CreateRunBody>, z.input<typeof CreateRunBody>>;

// ---- Issues ----
export type _issueView = Expect<Json<ReturnType<typeof issueView>>, Console.IssueItem>;
export type _issuesList = Expect<Json<Item<IssuesService['list']>>, Console.IssueItem>;
export type _issueChanged = Expect<Json<Answer<IssuesService['change']>>, Console.IssueItem>;
export type _issueChange = Expect<Body<Console.IssueChange, typeof ChangeIssueBody>, z.input<typeof ChangeIssueBody>>;

// ---- Runners ----
export type _policySummary = Expect<Json<PolicySummary>, Console.PolicySummary>;
export type _runnersList = Expect<Json<Item<RunnersService['list']>>, Console.RunnerItem>;
export type _runnerChecks = Expect<Json<Answer<RunnersService['checks']>>, Console.ChecksAnswer>;
export type _runnerRegistered = Expect<Json<Answer<RunnersService['register']>>, Console.Registration>;
export type _runnerRegister = Expect<Body<Console.RegisterRunnerRequest, typeof RegisterRunnerBody>, z.input<typeof RegisterRunnerBody>>;

// ---- Health sweeps ----
export type _sweepsList = Expect<Json<Item<SweepsService['list']>>, Console.Sweep>;
export type _sweepStarted = Expect<Json<Answer<SweepsService['start']>>, Console.SweepStarted>;
export type _sweepStart = Expect<Body<Console.StartSweepRequest, typeof StartSweepBody>, z.input<typeof StartSweepBody>>;

// ---- Tasks and schedules ----
export type _tasksList = Expect<Json<Item<TasksService['list']>>, Console.TaskItem>;
export type _taskCreated = Expect<Json<Answer<TasksService['create']>>, Console.Task>;
export type _taskGet = Expect<Json<Answer<TasksService['get']>>, Console.Task>;
export type _taskCreate = Expect<Body<Console.CreateTaskRequest, typeof CreateTaskBody>, z.input<typeof CreateTaskBody>>;
export type _schedulesList = Expect<Json<Item<SchedulesService['list']>>, Console.ScheduleItem>;
export type _scheduleCreated = Expect<Json<Answer<SchedulesService['create']>>, Console.ScheduleItem>;
export type _scheduleCreate = Expect<Body<Console.CreateScheduleRequest, typeof CreateScheduleBody>, z.input<typeof CreateScheduleBody>>;

// ---- Settings ----
export type _members = Expect<Json<Item<WorkspacesService['members']>>, Console.Member>;
export type _memberInvite = Expect<Body<Console.InviteMemberRequest, typeof AddMemberBody>, z.input<typeof AddMemberBody>>;
export type _memberRoleChange = Expect<Body<Console.MemberRoleChange, typeof UpdateMemberBody>, z.input<typeof UpdateMemberBody>>;
export type _invitations = Expect<Json<Item<InvitationsService['list']>>, Console.Invitation>;
export type _tokens = Expect<Json<Item<WorkspacesService['tokens']>>, Console.Token>;
export type _tokenCreated = Expect<Json<Answer<WorkspacesService['createToken']>>, Console.CreatedToken>;
export type _tokenCreate = Expect<Body<Console.CreateTokenRequest, typeof CreateTokenBody>, z.input<typeof CreateTokenBody>>;
export type _secrets = Expect<Json<Item<SecretsService['list']>>, Console.SecretItem>;
export type _secretSaved = Expect<Json<Answer<SecretsService['put']>>, Console.SecretSaved>;
export type _secretPut = Expect<Body<Console.PutSecretRequest, typeof PutSecretBody>, z.input<typeof PutSecretBody>>;
export type _sinks = Expect<Json<Item<SinksService['list']>>, Console.Sink>;
export type _sinkCreated = Expect<Json<Answer<SinksService['create']>>, Console.CreatedSink>;
export type _sinkCreate = Expect<Body<Console.CreateSinkRequest, typeof CreateSinkBody>, z.input<typeof CreateSinkBody>>;
export type _sinkTest = Expect<Json<Answer<SinksService['test']>>, Console.SinkTestAnswer>;
export type _notificationView = Expect<Json<ReturnType<typeof notificationView>>, Console.Notification>;
export type _notifications = Expect<Json<Item<SinksService['notifications']>>, Console.Notification>;
export type _hooks = Expect<Json<Item<HooksService['list']>>, Console.Hook>;
export type _hookCreated = Expect<Json<Answer<HooksService['create']>>, Console.CreatedHook>;
export type _hookCreate = Expect<Body<Console.CreateHookRequest, typeof CreateHookBody>, z.input<typeof CreateHookBody>>;
export type _audit = Expect<Json<Answer<WorkspacesService['audit']>>, Console.AuditPage>;

// ---- Signing in ----
export type _passwordLoginBody = Expect<Body<Console.PasswordLogin, typeof PasswordLoginBody>, z.input<typeof PasswordLoginBody>>;
export type _passwordLogin = Expect<Json<Answer<IdentityService['passwordLogin']>['answer']>, Console.PasswordAnswer>;
export type _mfa = Expect<Body<Console.MfaRequest, typeof MfaBody>, z.input<typeof MfaBody>>;
export type _invitationAccept = Expect<
  Body<Console.AcceptInvitationRequest, typeof AcceptInvitationBody>,
  z.input<typeof AcceptInvitationBody>
>;
export type _invitationAccepted = Expect<Json<Answer<InvitationsService['accept']>>, Console.AcceptedInvitation>;
