#!/usr/bin/env node
/** `lookout`: operator commands against the Platform database. */
import { Command, InvalidArgumentError } from 'commander';
import { BackupConfig, CliConfig, KmsConfig, SigningConfig, TemporalTokenConfig, VaultAdminConfig } from '../common/config';
import { MasterKey } from '../platform/crypto/master-key';
import { generateSigningSeed, platformSigningKey, signingKeyFromSeed } from '../platform/crypto/signing-key';
import { loadConfigOrExit, runMain } from '../common/process';
import { createPool } from '../platform/db/pool';
import { migrate } from '../platform/db/migrate';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bootstrapVault, provisionRunnerAccess } from '../platform/vault/vault-bootstrap';
import { createVaultClient } from '../platform/vault/vault-client';
import type { Pool } from 'pg';
import { createPlatformCrypto, type PlatformCrypto } from '../platform/crypto';
import { exportRunnerKeyFile, revokeWorkspaceKey, rotateWorkspaceKey } from '../platform/crypto/platform-keyring';
import { parseKeyId } from '../common/keyring';
import { rewrapAll } from '../platform/crypto/rewrap';
import { kmsFromConfig, resolveMasterKeys } from '../platform/crypto/kms';
import { appendAudit, appendAuditInTransaction, verifyAuditChain } from '../platform/repos/audit.repo';
import { inTransaction } from '../platform/repos/db';
import { bootstrap } from './services/bootstrap.service';
import { moveToOwnNamespace } from './services/namespace-move.service';
import { connectWorkspaceTemporal } from '../platform/workspace-temporal';
import { lookoutDataConverter } from '../common/data-converter';
import { createTemporalTokenIssuer, generateTemporalTokenKey } from '../platform/crypto/temporal-tokens';
import { issueClaimCode } from './services/invitations.service';
import { findUserByEmail } from '../platform/repos/users.repo';
import { workspacesInSharedNamespace } from '../platform/repos/workspaces.repo';
import { createBackup, restoreBackup } from '../platform/backup/backup';
import { backupKeyId } from '../platform/backup/format';
import { generateBackupKey, resolveBackupKey } from '../platform/backup/key';
import { addApiCommands, integer, uuid } from './cli-api';
const positiveInt = integer(1, 10_000);
const nonNegativeInt = integer(0, 600_000);

async function withPool<T>(fn: (pool: Pool, crypto: PlatformCrypto) => Promise<T>): Promise<T> {
  const config = loadConfigOrExit('lookout', CliConfig);
  const keys = await resolveMasterKeys(config);
  const pool = createPool(config.DATABASE_URL, () => undefined, 2);
  try {
    return await fn(pool, createPlatformCrypto(pool, keys.current, undefined, keys.previous));
  } finally {
    await pool.end();
  }
}

/** Like {@link withPool} for `lookout backup`: needs the backup key, not the master key (only compared with it). */
async function withBackupKey<T>(keyFile: string | undefined, fn: (pool: Pool, key: Buffer) => Promise<T>): Promise<T> {
  const config = loadConfigOrExit('lookout backup', BackupConfig);
  const key = resolveBackupKey({ envKey: config.LOOKOUT_BACKUP_KEY, keyFile, masterKey: config.LOOKOUT_MASTER_KEY });
  const pool = createPool(config.DATABASE_URL, () => undefined, 2);
  try {
    return await fn(pool, key);
  } finally {
    await pool.end();
  }
}

function addBackupCommands(program: Command): void {
  const backup = program.command('backup').description('encrypted backups of the Platform database, under a backup key of their own');
  backup
    .command('keygen')
    .description('make a new backup key (32 random bytes, base64); keep it apart from the master key and from the backups')
    .option('--out <file>', 'write the key to this new file (mode 0600) instead of printing it')
    .action((opts: { out?: string }) => {
      const key = generateBackupKey();
      const id = backupKeyId(Buffer.from(key, 'base64'));
      if (opts.out) {
        writeFileSync(opts.out, `${key}\n`, { mode: 0o600, flag: 'wx' });
        process.stdout.write(`wrote a new backup key (key id ${id}) to ${opts.out}\n`);
      } else {
        process.stdout.write(`${key}\n`);
        process.stderr.write(`new backup key, key id ${id}; store it apart from the backups\n`);
      }
    });
  backup
    .command('create')
    .description(
      'write a consistent dump of the database at DATABASE_URL, encrypted under the backup key (LOOKOUT_BACKUP_KEY or --key-file)',
    )
    .requiredOption('--out <file>', 'backup file to write (mode 0600)')
    .option('--key-file <file>', 'file holding the backup key, instead of LOOKOUT_BACKUP_KEY')
    .option('--force', 'replace an existing file')
    .action((opts: { out: string; keyFile?: string; force?: boolean }) =>
      withBackupKey(opts.keyFile, async (pool, key) => {
        if (!opts.force && existsSync(opts.out)) throw new Error(`${opts.out} exists; pass --force to replace it`);
        const s = await createBackup(pool, { file: opts.out, key });
        await appendAudit(pool, {
          workspaceId: null,
          actor: 'system:cli',
          action: 'backup.created',
          target: `backup-key:${s.keyId}`,
          outcome: 'success',
          details: { createdAt: s.createdAt, schemaVersion: s.schemaVersion, rows: s.rows },
        });
        process.stdout.write(
          `wrote ${opts.out}: ${s.rows} rows in ${s.tables} tables, schema version ${s.schemaVersion}, ${s.bytes} bytes, key id ${s.keyId} (${s.durationMs} ms)\n`,
        );
      }),
    );
  backup
    .command('restore')
    .description('load a backup into the empty database at DATABASE_URL (same LOOKOUT_MASTER_KEY needed afterwards to read sealed data)')
    .requiredOption('--in <file>', 'backup file to read')
    .option('--key-file <file>', 'file holding the backup key, instead of LOOKOUT_BACKUP_KEY')
    .action((opts: { in: string; keyFile?: string }) =>
      withBackupKey(opts.keyFile, async (pool, key) => {
        const s = await restoreBackup(pool, { file: opts.in, key });
        await appendAudit(pool, {
          workspaceId: null,
          actor: 'system:cli',
          action: 'backup.restored',
          target: `backup-key:${s.keyId}`,
          outcome: 'success',
          details: { createdAt: s.createdAt, schemaVersion: s.schemaVersion, rows: s.rows },
        });
        const later = s.migratedAfter.length ? `; then applied migrations ${s.migratedAfter.join(', ')}` : '';
        process.stdout.write(
          `restored ${s.rows} rows in ${s.tables} tables from ${opts.in} (made ${s.createdAt}, schema version ${s.schemaVersion}, key id ${s.keyId}) in ${s.durationMs} ms${later}\n`,
        );
      }),
    );
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

  const users = program.command('users').description('user accounts');
  users
    .command('invite')
    .description(
      'print a one-use code with which the owner of an account claims it and sets a password (MFA enrolment follows at the first login); give it to them yourself',
    )
    .requiredOption('--email <email>', 'the user, e.g. the owner made by `admin bootstrap`')
    .action((opts: { email: string }) =>
      withPool(async (pool) => {
        const user = await findUserByEmail(pool, opts.email);
        if (!user) {
          process.stderr.write('no user with that email; invite them to a workspace instead\n');
          process.exitCode = 1;
          return;
        }
        const made = await issueClaimCode(pool, user, 'system:cli');
        process.stdout.write(
          [
            `invitation ${made.invitation}`,
            `expires    ${made.expiresAt}`,
            '',
            'POST it with a password to /v1/auth/invitations/accept; it works once. Claiming an account',
            'revokes any password, second factor and sessions it had unless its owner had claimed it before.',
            '',
          ].join('\n'),
        );
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
      withPool(async (pool, crypto) => {
        await migrate(pool);
        const temporal = await connectWorkspaceTemporal(loadConfigOrExit('lookout', CliConfig), {
          db: pool,
          identity: `lookout-cli:${process.pid}`,
          dataConverter: lookoutDataConverter(crypto.payloadKeys),
        });
        const out = await bootstrap(pool, crypto, temporal, {
          workspaceName: opts.workspace,
          ownerEmail: opts.owner,
          probeUrl: opts.probeUrl,
          runnerName: opts.runner,
          taskName: opts.task,
        }).finally(() => temporal.connection.close());
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
            `namespace  ${out.temporalNamespace ?? '(the shared namespace)'}`,
            `API token  ${out.token}`,
            `runner key ${out.runnerAttestationKey}`,
            '',
            "The token and the Runner's key are shown only now: store the token in a secret manager, and the",
            "key in the Runner's Secret as runner-key (the Runner signs its results with it).",
            '',
          ].join('\n'),
        );
      }),
    );

  program
    .command('workspaces')
    .description('workspaces')
    .command('move-namespace')
    .description("move workspaces from the shared Temporal namespace into namespaces of their own (then point each one's Runners at it)")
    .option('--workspace <id>', 'one workspace', uuid)
    .option('--all', 'every workspace still in the shared namespace')
    .action((opts: { workspace?: string; all?: boolean }) =>
      withPool(async (pool, crypto) => {
        if (!opts.workspace === !opts.all) throw new InvalidArgumentError('give --workspace <id> or --all');
        const config = loadConfigOrExit('lookout', CliConfig);
        const temporal = await connectWorkspaceTemporal(config, {
          db: pool,
          identity: `lookout-cli:${process.pid}`,
          dataConverter: lookoutDataConverter(crypto.payloadKeys),
        });
        try {
          const ids = opts.workspace ? [opts.workspace] : await workspacesInSharedNamespace(pool);
          for (const id of ids) {
            const moved = await moveToOwnNamespace({ pool, temporal }, id, 'system:cli');
            process.stdout.write(
              moved.alreadyMoved
                ? `workspace ${id}: already in ${moved.to}\n`
                : `workspace ${id}: ${moved.from} -> ${moved.to} (${moved.schedules} schedules); set temporal.namespace=${moved.to} on its Runners\n`,
            );
          }
        } finally {
          await temporal.connection.close();
        }
      }),
    );

  const keys = program.command('keys').description('workspace keys');
  keys
    .command('rotate')
    .description('make a new active key for a workspace; retired keys keep decrypting older history')
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .option('--purpose <purpose>', 'payload (Temporal payloads, shared with the Runner) or data (sealed columns)', 'payload')
    .action((opts: { workspace: string; purpose: string }) =>
      withPool(async (pool, crypto) => {
        if (opts.purpose !== 'payload' && opts.purpose !== 'data') throw new InvalidArgumentError('--purpose must be payload or data');
        const purpose = opts.purpose;
        const id = await inTransaction(pool, async (tx) => {
          const newId = await rotateWorkspaceKey(tx, crypto.master, opts.workspace, purpose);
          await appendAuditInTransaction(tx, {
            workspaceId: opts.workspace,
            actor: 'system:cli',
            action: 'keys.rotated',
            target: `key:${purpose}:${newId}`,
            outcome: 'success',
          });
          return newId;
        });
        process.stdout.write(
          `new active ${purpose} key ${id}${purpose === 'payload' ? '; export the key file again for the Runner and the codec server' : ''}\n`,
        );
      }),
    );
  keys
    .command('revoke')
    .description(
      'revoke a key (a leaked Runner key file): refused from then on by the Platform, the codec and in attestations; an active key is replaced first',
    )
    .requiredOption('--key <id>', 'the key id, <workspace id>:v<n> (payload metadata and key files name it)')
    .option(
      '--purpose <purpose>',
      'payload (shared with the Runner) or data (sealed columns: revoking one makes what it sealed unreadable)',
      'payload',
    )
    .action((opts: { key: string; purpose: string }) =>
      withPool(async (pool, crypto) => {
        if (opts.purpose !== 'payload' && opts.purpose !== 'data') throw new InvalidArgumentError('--purpose must be payload or data');
        const purpose = opts.purpose;
        const workspaceId = parseKeyId(opts.key)?.workspaceId;
        if (!workspaceId) throw new InvalidArgumentError('--key must be a key id, <workspace id>:v<n>');
        const { rotatedTo } = await inTransaction(pool, async (tx) => {
          const done = await revokeWorkspaceKey(tx, crypto.master, opts.key, purpose);
          await appendAuditInTransaction(tx, {
            workspaceId,
            actor: 'system:cli',
            action: 'keys.revoked',
            target: `key:${purpose}:${opts.key}`,
            outcome: 'success',
            details: done.rotatedTo ? { rotatedTo: done.rotatedTo } : {},
          });
          return done;
        });
        process.stdout.write(
          `revoked ${purpose} key ${opts.key}${rotatedTo ? `; new active key ${rotatedTo}` : ''}` +
            (purpose === 'payload' ? '; export the key file again for the Runner and the codec server\n' : '\n'),
        );
      }),
    );
  keys
    .command('rewrap')
    .description(
      'move every value wrapped under an older master key (LOOKOUT_MASTER_KEY_PREVIOUS) to LOOKOUT_MASTER_KEY; resumable, safe beside running processes',
    )
    .option('--batch-size <n>', 'values per transaction', positiveInt, 100)
    .option('--pause-ms <ms>', 'pause between batches, to spare a busy database', nonNegativeInt, 0)
    .action((opts: { batchSize: number; pauseMs: number }) =>
      withPool(async (pool, crypto) => {
        const result = await rewrapAll(pool, crypto.master, {
          batchSize: opts.batchSize,
          pauseMs: opts.pauseMs,
          onBatch: (p) =>
            process.stdout.write(`rewrapped ${p.rewrapped} ${p.kind} value(s)${p.skipped ? `, ${p.skipped} changed meanwhile` : ''}\n`),
        });
        const left = Object.values(result.left).reduce((a, b) => a + b, 0);
        await appendAudit(pool, {
          workspaceId: null,
          actor: 'system:cli',
          action: 'keys.rewrapped',
          target: `master-key:${crypto.master.fingerprint}`,
          outcome: left === 0 ? 'success' : 'failure',
          details: { rewrapped: result.rewrapped, left: result.left },
        });
        process.stdout.write(
          left === 0
            ? `done: ${result.rewrapped} value(s) rewrapped; everything is under master key ${crypto.master.fingerprint}, the previous keys can go\n`
            : `${result.rewrapped} value(s) rewrapped, ${left} left (changed meanwhile): run it again\n`,
        );
        if (left > 0) process.exitCode = 2;
      }),
    );
  keys
    .command('export')
    .description("write the workspace's payload keys (active and retired) to a key file for its Runner and codec server")
    .requiredOption('--workspace <id>', 'workspace id', uuid)
    .requiredOption('--out <file>', 'file to write (created with mode 0600)')
    .action((opts: { workspace: string; out: string }) =>
      withPool(async (pool, crypto) => {
        const file = await exportRunnerKeyFile(pool, crypto.master, opts.workspace);
        writeFileSync(opts.out, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'w' });
        chmodSync(opts.out, 0o600);
        await appendAudit(pool, {
          workspaceId: opts.workspace,
          actor: 'system:cli',
          action: 'keys.exported',
          target: `workspace:${opts.workspace}`,
          outcome: 'success',
          details: { keys: file.keys.map((k) => k.id) },
        });
        process.stdout.write(`wrote ${file.keys.length} key(s) to ${opts.out}; put it in a Kubernetes Secret for the Runner\n`);
      }),
    );

  keys
    .command('signing-keygen')
    .description("a new task-signing key for the Platform (rotation: pin its public key in every Runner policy's platformKeys first)")
    .requiredOption('--out <file>', 'file for the private key, base64 (created with mode 0600): LOOKOUT_PLATFORM_SIGNING_KEY')
    .action((opts: { out: string }) => {
      const seed = generateSigningSeed();
      writeFileSync(opts.out, `${seed}\n`, { mode: 0o600, flag: 'wx' });
      const key = signingKeyFromSeed(Buffer.from(seed, 'base64'));
      process.stdout.write(
        `wrote the private key to ${opts.out}\npublic key (pin it in Runner policies' platformKeys): ${key.publicKey}\nkey id: ${key.keyId}\n`,
      );
    });
  keys
    .command('signing-public')
    .description('the public task-signing key the Platform uses now (LOOKOUT_PLATFORM_SIGNING_KEY, else derived from the master key)')
    .action(async () => {
      const config = loadConfigOrExit('lookout', SigningConfig);
      const key = platformSigningKey(MasterKey.fromBase64((await resolveMasterKeys(config)).current), config.LOOKOUT_PLATFORM_SIGNING_KEY);
      process.stdout.write(`${key.publicKey}\n`);
    });

  program
    .command('runner')
    .description('a Runner')
    .command('keygen')
    .description(
      "a Runner's own result-attestation key, made where the Runner runs: the private half to a file (its Secret's runner-key), the public half to register it with",
    )
    .requiredOption('--out <file>', 'file for the private key, base64 (created with mode 0600)')
    .action((opts: { out: string }) => {
      const seed = generateSigningSeed();
      writeFileSync(opts.out, `${seed}\n`, { mode: 0o600, flag: 'wx' });
      const key = signingKeyFromSeed(Buffer.from(seed, 'base64'));
      process.stdout.write(
        `wrote the private key to ${opts.out}\nattestationPublicKey (give it at registration): ${key.publicKey}\nkey id: ${key.keyId}\n`,
      );
    });

  const kmsCmd = program
    .command('kms')
    .description('the master key wrapped by Vault / OpenBao Transit (LOOKOUT_KMS_ADDR, LOOKOUT_KMS_TOKEN, LOOKOUT_KMS_TRANSIT_KEY)');
  kmsCmd
    .command('generate-master')
    .description('a new master key made and wrapped by the KMS: prints LOOKOUT_MASTER_KEY_WRAPPED (the key itself is never shown)')
    .action(async () => {
      const kms = kmsFromConfig(loadConfigOrExit('lookout kms', KmsConfig));
      process.stdout.write(`LOOKOUT_MASTER_KEY_WRAPPED=${await kms.generateWrapped()}\n`);
    });
  kmsCmd
    .command('rewrap-master')
    .description("the wrapped master key re-encrypted under the Transit key's newest version (after rotating it in the KMS)")
    .requiredOption('--wrapped <ciphertext>', 'the current LOOKOUT_MASTER_KEY_WRAPPED')
    .action(async (opts: { wrapped: string }) => {
      const kms = kmsFromConfig(loadConfigOrExit('lookout kms', KmsConfig));
      process.stdout.write(`LOOKOUT_MASTER_KEY_WRAPPED=${await kms.rewrap(opts.wrapped)}\n`);
    });

  const temporalCmd = program.command('temporal').description("Temporal credentials issued with the Platform's token key");
  temporalCmd
    .command('keygen')
    .description(
      'a new P-256 key for Temporal tokens (LOOKOUT_TEMPORAL_TOKEN_KEY_FILE); its JWKS is served at /.well-known/lookout/temporal-jwks.json',
    )
    .requiredOption('--out <file>', 'file for the private key, PEM (created with mode 0600)')
    .action((opts: { out: string }) => {
      const pem = generateTemporalTokenKey();
      writeFileSync(opts.out, pem, { mode: 0o600, flag: 'wx' });
      process.stdout.write(`wrote the key to ${opts.out}; key id ${createTemporalTokenIssuer(pem).kid}\n`);
    });
  temporalCmd
    .command('token')
    .description("a token for the Platform's own Temporal connection (temporal-system:admin) or any other permission, to a file")
    .requiredOption('--out <file>', 'file for the token (created with mode 0600): e.g. LOOKOUT_TEMPORAL_API_KEY')
    .option('--subject <sub>', 'the sub claim', 'lookout-platform')
    .option('--permission <p...>', 'permissions, "<namespace>:<read|write|worker|admin>"', ['temporal-system:admin'])
    .option('--ttl-days <n>', 'validity in days')
    .action((opts: { out: string; subject: string; permission: string[]; ttlDays?: string }) => {
      const config = loadConfigOrExit('lookout temporal token', TemporalTokenConfig);
      for (const p of opts.permission)
        if (!/^[A-Za-z0-9._-]+:(read|write|worker|admin)$/.test(p)) throw new InvalidArgumentError(`bad permission ${JSON.stringify(p)}`);
      const issuer = createTemporalTokenIssuer(
        readFileSync(config.LOOKOUT_TEMPORAL_TOKEN_KEY_FILE, 'utf8'),
        config.LOOKOUT_TEMPORAL_TOKEN_TTL_DAYS,
      );
      const issued = issuer.issue(opts.subject, opts.permission, opts.ttlDays ? Number(opts.ttlDays) : undefined);
      writeFileSync(opts.out, `${issued.token}\n`, { mode: 0o600, flag: 'wx' });
      process.stdout.write(`wrote a token for ${opts.permission.join(', ')} to ${opts.out}; expires ${issued.expiresAt}\n`);
    });

  const vault = program.command('vault').description('Vault / OpenBao');
  vault
    .command('bootstrap')
    .description(
      'configure Vault/OpenBao for Lookout (KV v2 mount, the Platform policy without read, AppRole, a workspace Runner role) and write the credentials to files, never to the terminal',
    )
    .requiredOption('--workspace <id>', 'workspace whose Runner gets a read-only role', uuid)
    .requiredOption('--out <dir>', 'directory for platform-token and runner-approle.json (mode 0600)')
    .option('--mount <mount>', 'KV v2 mount', 'lookout')
    .action(async (opts: { workspace: string; out: string; mount: string }) => {
      const config = loadConfigOrExit('lookout vault bootstrap', VaultAdminConfig);
      const admin = createVaultClient({ endpoint: config.LOOKOUT_VAULT_ADDR, token: config.LOOKOUT_VAULT_ADMIN_TOKEN });
      const { platformToken } = await bootstrapVault(admin, opts.mount);
      const runner = await provisionRunnerAccess(admin, opts.mount, opts.workspace);
      mkdirSync(opts.out, { recursive: true, mode: 0o700 });
      writeFileSync(path.join(opts.out, 'platform-token'), platformToken, { mode: 0o600 });
      writeFileSync(path.join(opts.out, 'runner-approle.json'), JSON.stringify({ roleId: runner.roleId, secretId: runner.secretId }), {
        mode: 0o600,
      });
      process.stdout.write(
        `configured mount ${opts.mount}/, policy lookout-platform and the Runner role of workspace ${opts.workspace}; credentials written to ${opts.out}\n`,
      );
    });

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
  addBackupCommands(program);
  addPackCommands(program);
  addApiCommands(program);
  return program;
}

/** Check packs: what a pack author runs before a Runner's owner pins the pack. */
function addPackCommands(program: Command): void {
  const pack = program.command('pack').description('check packs (README: Write your own check)');
  const collect = (value: string, previous: Record<string, string>) => {
    const m = /^([a-z0-9-]+)=([A-Za-z_][A-Za-z0-9_]*)$/.exec(value);
    if (!m) throw new InvalidArgumentError('give <binding>=<ENV_VAR>');
    return { ...previous, [m[1]!]: m[2]! };
  };
  pack
    .command('test')
    .description("run a pack's checks locally against a kubeconfig and print each result exactly as it would leave the Runner")
    .argument('<dir>', 'the pack folder (with pack.yaml)')
    .option('--kubeconfig <file>', 'the cluster to read (default KUBECONFIG, else none)')
    .option('--check <name>', 'only this check')
    .option('--params <json>', 'parameters for the checks (a JSON object)')
    .option('--policy <file>', "test against a Runner owner's policy file instead of granting what the pack declares")
    .option(
      '--secret <binding=ENV_VAR>',
      'a secret binding for script checks, its value from an environment variable (repeatable)',
      collect,
      {},
    )
    .option('--allow-addresses <cidrs>', 'private ranges the declared destinations may resolve to (comma-separated)')
    .option('--raw-data', 'include raw excerpts (issue details) as a Runner whose policy allows them would')
    .action(
      async (
        dir: string,
        opts: {
          kubeconfig?: string;
          check?: string;
          params?: string;
          policy?: string;
          secret: Record<string, string>;
          allowAddresses?: string;
          rawData?: boolean;
        },
      ) => {
        const { testPack, parseParamsOption } = await import('../activities/runner/packs/pack-test.js');
        const kubeconfig = opts.kubeconfig ?? process.env['KUBECONFIG'];
        const kube = kubeconfig
          ? (await import('../activities/runner/kube.js')).loadKubeClients({ kubeconfig, timeoutMs: 30_000 })
          : undefined;
        process.exitCode = await testPack({
          dir,
          check: opts.check,
          params: opts.params ? parseParamsOption(opts.params) : undefined,
          kube,
          policyFile: opts.policy,
          secrets: opts.secret,
          allowAddresses: opts.allowAddresses?.split(',').filter(Boolean),
          rawData: opts.rawData,
          out: (line) => process.stdout.write(`${line}\n`),
          err: (line) => process.stderr.write(`${line}\n`),
        });
      },
    );
  pack
    .command('digest')
    .description('print the digest of a pack folder, to pin it in a Runner policy (packs[].digest)')
    .argument('<dir>', 'the pack folder')
    .action(async (dir: string) => {
      const { packDigest, readManifest } = await import('../activities/runner/packs/loader.js');
      readManifest(dir);
      process.stdout.write(`${packDigest(dir)}\n`);
    });
}

if (require.main === module) runMain('lookout', async () => void (await buildCli().parseAsync(process.argv)));
