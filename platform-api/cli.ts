#!/usr/bin/env node
/** `lookout`: operator commands against the Platform database. */
import { Command, InvalidArgumentError } from 'commander';
import { CliConfig } from '../common/config';
import { loadConfigOrExit, runMain } from '../workers/process-utils';
import { createPool } from './db/pool';
import { migrate } from './db/migrate';
import { verifyAuditChain } from './repos/audit.repo';
import { bootstrap } from './services/bootstrap.service';

function uuid(value: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)) throw new InvalidArgumentError('must be a UUID');
  return value;
}

async function withPool<T>(fn: (pool: ReturnType<typeof createPool>) => Promise<T>): Promise<T> {
  const config = loadConfigOrExit('lookout', CliConfig);
  const pool = createPool(config.DATABASE_URL, () => undefined, 2);
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

export function buildCli(): Command {
  const program = new Command('lookout').description('Lookout platform administration').showHelpAfterError();

  program
    .command('migrate')
    .description('apply pending database migrations')
    .action(() =>
      withPool(async (pool) => {
        const applied = await migrate(pool);
        process.stdout.write(applied.length ? `applied migrations ${applied.join(', ')}\n` : 'database is up to date\n');
      }),
    );

  const admin = program.command('admin').description('administration');
  admin
    .command('bootstrap')
    .description('create a workspace, its owner, an owner API token (shown once), a Runner and a first http.probe task')
    .requiredOption('--workspace <name>', 'workspace name')
    .requiredOption('--owner <email>', 'owner e-mail')
    .requiredOption('--probe-url <url>', 'URL the first http.probe task checks')
    .option('--runner <name>', 'Runner name', 'default')
    .option('--task <name>', 'task name', 'api-health')
    .option('--json', 'print JSON')
    .action((opts: { workspace: string; owner: string; probeUrl: string; runner: string; task: string; json?: boolean }) =>
      withPool(async (pool) => {
        await migrate(pool);
        const out = await bootstrap(pool, {
          workspaceName: opts.workspace,
          ownerEmail: opts.owner,
          probeUrl: opts.probeUrl,
          runnerName: opts.runner,
          taskName: opts.task,
        });
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(out)}\n`);
          return;
        }
        process.stdout.write(
          [
            `workspace  ${out.workspaceId}`,
            `owner      ${out.ownerId}`,
            `runner     ${out.runnerId} (task queue ${out.taskQueue})`,
            `task       ${out.taskId}`,
            `API token  ${out.token}`,
            '',
            'The token is shown only now; store it in a secret manager.',
            '',
          ].join('\n'),
        );
      }),
    );

  const audit = program.command('audit').description('audit log');
  audit
    .command('verify')
    .description("verify a workspace's audit hash chain")
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .action((opts: { workspace: string }) =>
      withPool(async (pool) => {
        const result = await verifyAuditChain(pool, opts.workspace);
        if (result.ok) {
          process.stdout.write(`audit chain intact: ${result.rows} events\n`);
        } else {
          process.stdout.write(`audit chain broken at event ${result.brokenAt} (${result.rows} events)\n`);
          process.exitCode = 1;
        }
      }),
    );
  return program;
}

if (require.main === module) runMain('lookout', async () => void (await buildCli().parseAsync(process.argv)));
