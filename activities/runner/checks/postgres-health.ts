/**
 * `postgres.health`: connects to one PostgreSQL server as the task's role, with the password of a
 * secret binding, and reads its statistics views in one read-only transaction: connections against
 * `max_connections`, transactions open too long, sessions blocked on locks, and replication lag (per
 * standby on a primary, the replay delay on a standby). All of it is server-wide.
 *
 * Only numbers and Lookout's own words leave: never query text, role or database names of other
 * sessions, client addresses or standby names (`application_name` is customer data: standbys are
 * counted, never named). Server error messages are never copied either: a failure is described by
 * its SQLSTATE or error code, so no message can echo a name or a value.
 *
 * The password is answered only to SCRAM-SHA-256 unless the server's certificate was verified
 * (`verify-full`): over a connection that does not authenticate the server, a request for the
 * password in clear text or as an MD5 hash is refused, so an impostor never receives either.
 */
import net from 'node:net';
import tls from 'node:tls';
// The Runner-side ban on `pg` keeps the Platform's database out of the Runner; this is the driver
// alone, talking to a customer's server through the Runner policy (and loaded lazily, below).
// eslint-disable-next-line no-restricted-imports
import type { Client, ClientConfig } from 'pg';
import { PostgresHealthParams, postgresUrl, type Sslmode } from '../../../common/checks';
import type { Issue } from '../../../common/contracts';
import { FailureType } from '../../../common/errors';
import { sslmodeAllowed } from '../../../common/runner-policy';
import { scoreOf } from '../../../common/score';
import { ApplicationFailure } from '@temporalio/activity';
import { policyDenied } from '../policy';
import type { Check, CheckOutcome } from './check';

const isPolicyDenied = (err: unknown) => err instanceof ApplicationFailure && err.type === FailureType.PolicyDenied;

/** The server asked for the password in a form only a verified server may get. */
class WeakAuthRefused extends Error {
  constructor(readonly method: 'cleartext' | 'md5' | 'unknown') {
    super(`refused to answer ${method} password authentication`);
    this.name = 'WeakAuthRefused';
  }
}

type Resource = Issue['resource'];
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** TLS options for pg: `hostname` (not the dialled address) is what SNI and the certificate check use. */
function tlsOptions(sslmode: Sslmode, hostname: string): false | tls.ConnectionOptions {
  if (sslmode === 'disable') return false;
  const name = hostname.replace(/^\[|\]$/g, '');
  const sni = net.isIP(name) ? {} : { servername: name };
  if (sslmode === 'require') return { ...sni, rejectUnauthorized: false };
  return { ...sni, rejectUnauthorized: true, checkServerIdentity: (_host, cert) => tls.checkServerIdentity(name, cert) };
}

/** A code of pg, Node or PostgreSQL (SQLSTATE), when it is one: codes are constants, messages are not. */
function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code) ? code : undefined;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ETIMEDOUT']);

function unavailable(resource: Resource, title: string, expected: string, actual: string, nextSteps: string[]): CheckOutcome {
  const issues: Issue[] = [{ severity: 1, title, resource, expected, actual, nextSteps }];
  return {
    status: 'issues',
    summary: `${resource.name}: ${title.toLowerCase()}`,
    score: 0,
    issues,
    metrics: { 'postgres.up': 0 },
  };
}

/** The check could not look (credentials, TLS set-up, names, privileges): a configuration problem, not a finding. */
function failed(resource: Resource, what: string): CheckOutcome {
  return { status: 'error', summary: `${resource.name}: ${what}`, issues: [], metrics: { 'postgres.up': 1 }, exitCode: 2 };
}

/** What a failure to connect or to read means, in Lookout's own words only. */
function describeFailure(err: unknown, resource: Resource, params: PostgresHealthParams, timedOut: boolean, ms: number): CheckOutcome {
  const code = errorCode(err);
  // The server's errors (pg's DatabaseError) carry a severity and a SQLSTATE; Node's carry codes like EPIPE.
  const sqlstate = code && /^[0-9A-Z]{5}$/.test(code) && typeof (err as { severity?: unknown }).severity === 'string' ? code : undefined;
  const reachNext = [
    'Check that the server is running and listening on this host and port',
    'Check DNS, network policies and firewalls between the Runner and the server',
  ];
  if (timedOut) {
    return unavailable(resource, 'Database did not answer in time', `an answer within ${params.timeoutMs} ms`, `no answer after ${ms} ms`, [
      'Check the load of the server (CPU, I/O, locks on the statistics views)',
      ...reachNext,
    ]);
  }
  if (err instanceof WeakAuthRefused) {
    return failed(
      resource,
      `the server asked for the password ${err.method === 'md5' ? 'as an MD5 hash' : 'in clear text'} over a connection whose server is not verified (sslmode ${params.sslmode}); only SCRAM-SHA-256 is answered there: use password_encryption = scram-sha-256 and a scram-sha-256 line in pg_hba.conf, or sslmode verify-full`,
    );
  }
  // pg's own errors carry no code: their texts (here and below) are pg's fixed strings, never the server's.
  if (err instanceof Error && err.message === 'The server does not support SSL connections') {
    return failed(resource, `the server does not offer TLS, and sslmode ${params.sslmode} requires it`);
  }
  switch (sqlstate) {
    case '28P01':
      return failed(resource, 'password authentication failed for the role (SQLSTATE 28P01): check the secret binding and the role');
    case '28000':
      return failed(
        resource,
        'the server refused this role, database, address or TLS mode (SQLSTATE 28000): check pg_hba.conf and that the role may log in',
      );
    case '3D000':
      return failed(resource, 'the database does not exist (SQLSTATE 3D000)');
    case '42501':
      return failed(resource, 'the role lacks a privilege the check needs, such as CONNECT on the database (SQLSTATE 42501)');
    case '53300':
      return unavailable(
        resource,
        'No connection slots left',
        'a free connection slot',
        'the server refused a new connection: too many clients (SQLSTATE 53300)',
        [
          'Find what holds connections: select usename, application_name, state, count(*) from pg_stat_activity group by 1, 2, 3 order by 4 desc',
          'Put a connection pooler (PgBouncer) in front of the applications, or lower their pool sizes',
        ],
      );
    case '57P03':
      return unavailable(
        resource,
        'Database not accepting connections',
        'a server accepting connections',
        'the server is starting up, shutting down or in recovery (SQLSTATE 57P03)',
        ['Look at the server log for a restart, a crash recovery or a shutdown'],
      );
    case '57014':
      return unavailable(
        resource,
        'Database did not answer in time',
        `an answer within ${params.timeoutMs} ms`,
        'a statistics query was cancelled by the statement timeout (SQLSTATE 57014)',
        ['Check the load of the server (CPU, I/O, locks on the statistics views)'],
      );
    default:
      break;
  }
  if (code && UNREACHABLE.has(code)) {
    return unavailable(resource, 'Database unreachable', 'a PostgreSQL server answering', `connection failed (${code})`, reachNext);
  }
  if (code && /^(ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_)/.test(code)) {
    return failed(
      resource,
      `the server's certificate did not verify for this host name (${code}): check its SANs and the Runner's CA bundle`,
    );
  }
  if (sqlstate) return failed(resource, `the server answered with an error (SQLSTATE ${sqlstate})`);
  if (err instanceof Error && /^Connection terminated/.test(err.message)) {
    return unavailable(resource, 'Database unreachable', 'a PostgreSQL server answering', 'the server closed the connection', reachNext);
  }
  // Anything else is unexpected: the boundary reports its class and code only.
  throw err;
}

interface ServerRow {
  in_recovery: boolean;
  max_connections: number;
  reserved: number;
  connections: number;
  sees_all: boolean;
}
interface TransactionsRow {
  long: number;
  idle: number;
  oldest: number;
}
interface LocksRow {
  blocked: number;
  blocking: number;
}
interface ReplicationRow {
  standbys: number;
  lagging: number;
  max_lag: number;
}
interface StandbyRow {
  delay: number | null;
  paused: boolean | null;
}

/** Reads everything in one read-only transaction (one statistics snapshot), numbers only. */
async function readStats(client: Client, params: PostgresHealthParams) {
  const one = async <R>(sql: string, values: unknown[] = []): Promise<R> => (await client.query(sql, values)).rows[0] as R;
  // Read-only twice over: the session default and the transaction itself.
  await client.query(
    `select set_config('default_transaction_read_only', 'on', false), set_config('statement_timeout', $1, false),
            set_config('lock_timeout', $1, false), set_config('idle_in_transaction_session_timeout', $1, false)`,
    [String(params.timeoutMs)],
  );
  await client.query('begin transaction isolation level repeatable read read only');
  // Client sessions only (not walsenders, autovacuum or background workers), never the check's own.
  const server = await one<ServerRow>(
    `select pg_is_in_recovery() as in_recovery,
            current_setting('max_connections')::int as max_connections,
            current_setting('superuser_reserved_connections')::int
              + coalesce(nullif(current_setting('reserved_connections', true), ''), '0')::int as reserved,
            (select count(*) from pg_stat_activity
              where backend_type = 'client backend' and pid <> pg_backend_pid())::int as connections,
            pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER') as sees_all`,
  );
  const transactions = await one<TransactionsRow>(
    `select count(*) filter (where age > $1)::int as long,
            count(*) filter (where age > $1 and state like 'idle in transaction%')::int as idle,
            coalesce(max(age), 0)::float8 as oldest
       from (select extract(epoch from clock_timestamp() - xact_start) as age, state
               from pg_stat_activity
              where backend_type = 'client backend' and pid <> pg_backend_pid() and xact_start is not null) t`,
    [params.longTransactionSeconds],
  );
  // pg_blocking_pids takes the lock manager's locks: it is asked only about sessions waiting for one.
  const locks = await one<LocksRow>(
    `with waiting as (
       select pid, pg_blocking_pids(pid) as blockers
         from (select distinct pid from pg_locks where not granted and pid is not null and pid <> pg_backend_pid()) w)
     select count(*) filter (where cardinality(blockers) > 0)::int as blocked,
            (select count(distinct b) from waiting, unnest(blockers) as b)::int as blocking
       from waiting`,
  );
  // Walsenders of base backups are not standbys. Standbys are counted, never named.
  const replication = await one<ReplicationRow>(
    `select count(*)::int as standbys,
            count(*) filter (where extract(epoch from replay_lag) > $1)::int as lagging,
            coalesce(max(extract(epoch from replay_lag)), 0)::float8 as max_lag
       from pg_stat_replication
      where state is distinct from 'backup'`,
    [params.replicationLagSeconds],
  );
  // On a standby: how old the last replayed transaction is, but only while received WAL waits to be
  // replayed (an idle primary sends nothing new, which is no delay).
  const standby = server.in_recovery
    ? await one<StandbyRow>(
        `select case when pg_last_wal_receive_lsn() is not null and pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
                     else extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp()) end::float8 as delay,
                case when has_function_privilege('pg_is_wal_replay_paused()', 'execute') then pg_is_wal_replay_paused() end as paused`,
      )
    : undefined;
  await client.query('commit');
  return { server, transactions, locks, replication, standby };
}

type Stats = Awaited<ReturnType<typeof readStats>>;

function findings(stats: Stats, params: PostgresHealthParams, resource: Resource): { issues: Issue[]; metrics: Record<string, number> } {
  const { server, transactions, locks, replication, standby } = stats;
  const issues: Issue[] = [];
  const slots = Math.max(1, server.max_connections - server.reserved);
  const percent = round((server.connections / slots) * 100);
  const connectionSteps = [
    'Find what holds connections: select usename, application_name, state, count(*) from pg_stat_activity group by 1, 2, 3 order by 4 desc',
    'Put a connection pooler (PgBouncer) in front of the applications, or lower their pool sizes',
    'Raise max_connections only with the memory for it (each connection can use work_mem several times)',
  ];
  if (percent >= params.connectionsWarnPercent) {
    const critical = percent >= params.connectionsCriticalPercent;
    issues.push({
      severity: server.connections >= slots ? 1 : critical ? 2 : 3,
      title: server.connections >= slots ? 'No connection slots left' : 'Connections near the limit',
      resource,
      expected: `below ${params.connectionsWarnPercent}% of ${slots} connection slots (max_connections ${server.max_connections} minus ${server.reserved} reserved)`,
      actual: `${plural(server.connections, 'client connection')} besides the check's own (${percent}%)`,
      nextSteps: connectionSteps,
    });
  }
  if (transactions.long > 0) {
    issues.push({
      severity: 3,
      title: 'Transactions open too long',
      resource,
      expected: `no transaction open longer than ${params.longTransactionSeconds} s`,
      actual: `${plural(transactions.long, 'transaction')} open longer than ${params.longTransactionSeconds} s (${transactions.idle} idle in transaction); the oldest for ${Math.round(transactions.oldest)} s`,
      nextSteps: [
        `List them on the server: select pid, usename, application_name, state, now() - xact_start as age from pg_stat_activity where xact_start < now() - interval '${params.longTransactionSeconds} seconds' order by xact_start`,
        'Fix the application that leaves transactions open, or set idle_in_transaction_session_timeout for its role',
        'End one if it must go: select pg_terminate_backend(<pid>)',
      ],
    });
  }
  if (locks.blocked > params.blockedQueriesMax) {
    issues.push({
      severity: 2,
      title: 'Queries blocked by locks',
      resource,
      expected: `at most ${plural(params.blockedQueriesMax, 'session')} waiting for another's lock`,
      actual: `${plural(locks.blocked, 'session')} waiting for locks held by ${plural(locks.blocking, 'other session')}`,
      nextSteps: [
        'See who waits for whom: select pid, pg_blocking_pids(pid), wait_event, now() - query_start as waiting from pg_stat_activity where cardinality(pg_blocking_pids(pid)) > 0',
        'Look at what the blocking sessions do: often a session idle in transaction or a long migration',
      ],
    });
  }
  if (replication.lagging > 0) {
    issues.push({
      severity: 2,
      title: 'Standbys behind the primary',
      resource,
      expected: `every standby replaying within ${params.replicationLagSeconds} s`,
      actual: `${replication.lagging} of ${plural(replication.standbys, 'standby', 'standbys')} more than ${params.replicationLagSeconds} s behind; the furthest ${Math.round(replication.max_lag)} s`,
      nextSteps: [
        'On this server: select application_name, state, write_lag, flush_lag, replay_lag from pg_stat_replication',
        "Check the standbys' load and disk I/O, long queries on them (replay conflicts) and the network in between",
      ],
    });
  }
  if (standby?.delay != null && standby.delay > params.replicationLagSeconds) {
    issues.push({
      severity: 2,
      title: 'Replay behind the primary',
      resource,
      expected: `received WAL replayed within ${params.replicationLagSeconds} s`,
      actual: `the last replayed transaction is ${Math.round(standby.delay)} s old while received WAL waits${standby.paused ? '; replay is paused' : ''}`,
      nextSteps: standby.paused
        ? ['Resume replay if nobody paused it on purpose: select pg_wal_replay_resume()']
        : [
            'Look for long queries on this standby holding replay back (max_standby_streaming_delay, hot_standby_feedback)',
            "Check this server's disk I/O and CPU",
          ],
    });
  }
  if (!server.sees_all) {
    issues.push({
      severity: 4,
      title: 'The check cannot see other sessions',
      resource,
      expected: 'the role the check connects as is a member of pg_monitor (or pg_read_all_stats)',
      actual: "other roles' transactions and replication state are hidden from it: those findings may be missing",
      nextSteps: ['On the server: grant pg_monitor to the role the check connects as'],
    });
  }
  const metrics: Record<string, number> = {
    'postgres.up': 1,
    'postgres.in_recovery': server.in_recovery ? 1 : 0,
    'postgres.connections': server.connections,
    'postgres.connections_max': slots,
    'postgres.connections_percent': percent,
    'postgres.long_transactions': transactions.long,
    'postgres.idle_in_transaction': transactions.idle,
    'postgres.oldest_transaction_seconds': Math.round(transactions.oldest),
    'postgres.blocked_queries': locks.blocked,
    'postgres.blocking_sessions': locks.blocking,
    'postgres.standbys': replication.standbys,
    'postgres.standbys_lagging': replication.lagging,
    'postgres.replication_lag_seconds': round(replication.max_lag),
    ...(standby ? { 'postgres.replay_delay_seconds': round(standby.delay ?? 0) } : {}),
  };
  return { issues, metrics };
}

export const postgresHealth: Check<PostgresHealthParams> = {
  type: 'postgres.health',
  params: PostgresHealthParams,
  async run(params, ctx): Promise<CheckOutcome> {
    const url = postgresUrl(params);
    const resource: Resource = { kind: 'PostgreSQL', name: `${url.host}/${params.database}` };
    // The policy decides before anything is resolved or contacted; a refusal fails the run (PolicyDenied).
    const destination = ctx.policy.destination(url);
    if (!sslmodeAllowed(destination, params.sslmode)) {
      throw policyDenied(`destination ${destination.name} allows sslmode ${destination.allowSslmode ?? 'verify-full'} or stronger only`);
    }
    const password = await ctx.policy.boundSecret(params.auth.binding, destination);
    // The protocol sends the password as a C string: a NUL would cut it short, silently.
    if (password.includes('\0')) throw policyDenied(`the value of secret binding ${params.auth.binding} holds a NUL`);

    const deadline = AbortSignal.timeout(params.timeoutMs);
    const signal = AbortSignal.any([ctx.signal, deadline]);
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let client: Client | undefined;
    let connectMs: number | undefined;
    const stop = () => client?.connection.stream.destroy();
    signal.addEventListener('abort', stop, { once: true });
    try {
      // Resolved once, every address checked; pg dials exactly the checked one.
      const target = await ctx.policy.address(url, destination);
      signal.throwIfAborted();
      // pg (with its protocol parser) is loaded with the first database check, not with every Runner.
      const { Client: PgClient } = await import('pg');
      let method: 'cleartext' | 'md5' | 'sasl' | undefined;
      const config: ClientConfig = {
        host: target.address,
        port: params.port,
        database: params.database,
        user: params.user,
        // Asked for only when the server wants it, after the method is known (see the listeners below).
        password: () => {
          if (method !== 'sasl' && params.sslmode !== 'verify-full') throw new WeakAuthRefused(method ?? 'unknown');
          return password;
        },
        // Explicit, so that PGSSLMODE and friends in the Runner's environment change nothing.
        ssl: tlsOptions(params.sslmode, url.hostname),
        application_name: 'lookout-runner',
        // No connectionTimeoutMillis or query_timeout: the run's one deadline (below) closes the socket,
        // so that a timeout is always told as one, whichever step it interrupts.
        keepAlive: false,
      };
      client = new PgClient(config);
      // An error after connecting (the server going away) must not become an uncaught 'error' event.
      client.on('error', () => undefined);
      // Registered before pg's own handlers, so the method is known when the password is asked for.
      client.connection.on('authenticationCleartextPassword', () => (method = 'cleartext'));
      client.connection.on('authenticationMD5Password', () => (method = 'md5'));
      client.connection.on('authenticationSASL', () => (method = 'sasl'));
      // The deadline may have passed while pg loaded: then there is no socket yet for it to close.
      signal.throwIfAborted();
      await client.connect();
      connectMs = elapsed();
      const stats = await readStats(client, params);
      const { issues, metrics } = findings(stats, params, resource);
      const sorted = issues.sort((a, b) => a.severity - b.severity);
      return {
        status: sorted.length ? 'issues' : 'ok',
        summary: sorted.length
          ? `${resource.name}: ${sorted.map((i) => i.title.toLowerCase()).join(', ')}`
          : `${resource.name}: ${stats.server.in_recovery ? 'standby' : 'primary'} healthy, ${stats.server.connections} of ${metrics['postgres.connections_max']} connection slots in use`,
        score: scoreOf(sorted),
        issues: sorted,
        metrics: { ...metrics, 'postgres.connect_ms': connectMs },
      };
    } catch (err) {
      if (ctx.signal.aborted || isPolicyDenied(err)) throw err;
      const outcome = describeFailure(err, resource, params, deadline.aborted, elapsed());
      return connectMs === undefined ? outcome : { ...outcome, metrics: { ...outcome.metrics, 'postgres.connect_ms': connectMs } };
    } finally {
      signal.removeEventListener('abort', stop);
      await client?.end().catch(() => undefined);
    }
  },
};
