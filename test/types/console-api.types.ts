/**
 * The web console's API types (platform-api/console/api-types.ts) against the server's own: checked
 * by `npm run typecheck`, never run. The console is bundled apart and cannot import server code, so
 * its shapes are declared by hand; here each is checked against what the route answers (the service
 * method the router sends, after JSON serialisation) and each typed request body against the
 * schema the route parses it with. A field the server stops answering, or answers with another
 * type, fails the typecheck naming the type below.
 *
 * Not checked, the answer being built inline from values with no type of their own: TemporalUi
 * (runs.router.ts), AuthMethods and MfaAnswer (auth.router.ts), and Problem (common/problem.ts
 * problemHandler, whose `errors` travel in an untyped `extra`). RunnerWithPresence is RunnerItem
 * narrowed by the console for a list asked with presence, which no type says.
 */
import type { z } from 'zod';
import type * as Console from '../../platform-api/console/api-types';
import type { PolicySummary } from '../../common/runner-policy';
import type { HooksService } from '../../platform-api/services/hooks.service';
import type { IdentityService } from '../../platform-api/services/identity.service';
import type { InvitationsService } from '../../platform-api/services/invitations.service';
import type { ChangeIssueBody, IssuesService, issueView } from '../../platform-api/services/issues.service';
import type { RunnersService } from '../../platform-api/services/runners.service';
import type { RunsService, RunView } from '../../platform-api/services/runs.service';
import type { SchedulesService } from '../../platform-api/services/schedules.service';
import type { SecretsService } from '../../platform-api/services/secrets.service';
import type { notificationView, SinksService } from '../../platform-api/services/sinks.service';
import type { SweepsService } from '../../platform-api/services/sweeps.service';
import type { TasksService } from '../../platform-api/services/tasks.service';
import type { WorkspacesService } from '../../platform-api/services/workspaces.service';

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

// ---- Issues ----
export type _issueView = Expect<Json<ReturnType<typeof issueView>>, Console.IssueItem>;
export type _issuesList = Expect<Json<Item<IssuesService['list']>>, Console.IssueItem>;
export type _issueChanged = Expect<Json<Answer<IssuesService['change']>>, Console.IssueItem>;
export type _issueChange = Expect<Json<Console.IssueChange>, z.input<typeof ChangeIssueBody>>;

// ---- Runners ----
export type _policySummary = Expect<Json<PolicySummary>, Console.PolicySummary>;
export type _runnersList = Expect<Json<Item<RunnersService['list']>>, Console.RunnerItem>;
export type _runnerChecks = Expect<Json<Answer<RunnersService['checks']>>, Console.ChecksAnswer>;
export type _runnerRegistered = Expect<Json<Answer<RunnersService['register']>>, Console.Registration>;

// ---- Health sweeps ----
export type _sweepsList = Expect<Json<Item<SweepsService['list']>>, Console.Sweep>;
export type _sweepStarted = Expect<Json<Answer<SweepsService['start']>>, Console.SweepStarted>;

// ---- Tasks and schedules ----
export type _tasksList = Expect<Json<Item<TasksService['list']>>, Console.TaskItem>;
export type _taskCreated = Expect<Json<Answer<TasksService['create']>>, Console.Task>;
export type _taskGet = Expect<Json<Answer<TasksService['get']>>, Console.Task>;
export type _schedulesList = Expect<Json<Item<SchedulesService['list']>>, Console.ScheduleItem>;
export type _scheduleCreated = Expect<Json<Answer<SchedulesService['create']>>, Console.ScheduleItem>;

// ---- Settings ----
export type _members = Expect<Json<Item<WorkspacesService['members']>>, Console.Member>;
export type _invitations = Expect<Json<Item<InvitationsService['list']>>, Console.Invitation>;
export type _tokens = Expect<Json<Item<WorkspacesService['tokens']>>, Console.Token>;
export type _tokenCreated = Expect<Json<Answer<WorkspacesService['createToken']>>, Console.CreatedToken>;
export type _secrets = Expect<Json<Item<SecretsService['list']>>, Console.SecretItem>;
export type _secretSaved = Expect<Json<Answer<SecretsService['put']>>, Console.SecretSaved>;
export type _sinks = Expect<Json<Item<SinksService['list']>>, Console.Sink>;
export type _sinkCreated = Expect<Json<Answer<SinksService['create']>>, Console.CreatedSink>;
export type _sinkTest = Expect<Json<Answer<SinksService['test']>>, Console.SinkTestAnswer>;
export type _notificationView = Expect<Json<ReturnType<typeof notificationView>>, Console.Notification>;
export type _notifications = Expect<Json<Item<SinksService['notifications']>>, Console.Notification>;
export type _hooks = Expect<Json<Item<HooksService['list']>>, Console.Hook>;
export type _hookCreated = Expect<Json<Answer<HooksService['create']>>, Console.CreatedHook>;
export type _audit = Expect<Json<Answer<WorkspacesService['audit']>>, Console.AuditPage>;

// ---- Signing in ----
export type _passwordLogin = Expect<Json<Answer<IdentityService['passwordLogin']>['answer']>, Console.PasswordAnswer>;
export type _invitationAccepted = Expect<Json<Answer<InvitationsService['accept']>>, Console.AcceptedInvitation>;
