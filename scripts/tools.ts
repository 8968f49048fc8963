/**
 * Real servers for development and tests, built from the Go module proxy into a cache outside git,
 * keyed by version, and reused. `LOOKOUT_TEMPORAL_CLI` names an existing binary instead.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const TEMPORAL_CLI_VERSION = '1.5.1';

export function toolCacheDir(): string {
  if (process.env['LOOKOUT_TOOL_CACHE']) return process.env['LOOKOUT_TOOL_CACHE'];
  const base = process.env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache');
  return path.join(base, 'lookout', 'tools');
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function cachedTemporalPath(): string {
  return path.join(toolCacheDir(), `temporal-${TEMPORAL_CLI_VERSION}`, 'temporal');
}

/** The Temporal CLI to use, if one is available without building: configured, cached, or on PATH. */
export function findTemporalCli(): string | undefined {
  const configured = process.env['LOOKOUT_TEMPORAL_CLI'];
  if (configured) {
    if (!isExecutable(configured)) throw new Error(`LOOKOUT_TEMPORAL_CLI=${configured} is not an executable file`);
    return configured;
  }
  const cached = cachedTemporalPath();
  if (isExecutable(cached)) return cached;
  const onPath = spawnSync('temporal', ['--version'], { encoding: 'utf8' });
  if (onPath.status === 0 && /temporal version/.test(onPath.stdout)) {
    const which = spawnSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' });
    return which.stdout.trim() || 'temporal';
  }
  return undefined;
}

/**
 * Returns a Temporal CLI, building v1.5.1 with `go install` (CGO off) into the cache when none is
 * found. Throws one clear line when it cannot.
 */
export function ensureTemporalCli(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  const found = findTemporalCli();
  if (found) return found;
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0) {
    throw new Error('the Temporal CLI is missing and Go is not installed to build it: install Go >= 1.24, or set LOOKOUT_TEMPORAL_CLI to a temporal binary');
  }
  const target = cachedTemporalPath();
  mkdirSync(path.dirname(target), { recursive: true });
  const staging = mkdtempSync(path.join(path.dirname(target), '.build-'));
  log(`building the Temporal CLI v${TEMPORAL_CLI_VERSION} from the Go module proxy into ${path.dirname(target)} (a few minutes, once)…`);
  const started = Date.now();
  const build = spawnSync(
    'go',
    [
      'install',
      '-trimpath',
      '-ldflags',
      `-s -w -X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`,
      `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`,
    ],
    { env: { ...process.env, CGO_ENABLED: '0', GOBIN: staging, GOFLAGS: '-buildvcs=false' }, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const built = path.join(staging, 'temporal');
  if (build.status !== 0 || !existsSync(built)) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`building the Temporal CLI v${TEMPORAL_CLI_VERSION} failed (go install exit ${build.status ?? build.signal}); see the Go output above, or set LOOKOUT_TEMPORAL_CLI`);
  }
  renameSync(built, target);
  rmSync(staging, { recursive: true, force: true });
  log(`built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)} s`);
  return target;
}

if (require.main === module) {
  try {
    const cli = ensureTemporalCli();
    process.stdout.write(`temporal CLI: ${cli}\n`);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
