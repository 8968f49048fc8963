/**
 * The workflow code, bundled at build time (`npm run build`, the image build) into
 * `dist/workflow-bundles/`: one bundle without and one with the OpenTelemetry workflow interceptors.
 * Bundling at start loads webpack into the platform worker and leaves about 90 MiB of its resident
 * memory behind for the life of the process; a prebuilt bundle is a string read from a file.
 *
 * Each bundle is stamped with a SHA-256 of the compiled code it was made from (`dist/workflows`,
 * `dist/common`, the interceptor package's version): a worker uses a bundle only when the stamp
 * matches what is on disk now, and bundles at start otherwise, so an edit compiled without
 * re-bundling can never run stale workflow code.
 *
 * Run as a script (`node dist/workers/workflow-bundle.js`) it writes the bundles, unless they are
 * already up to date.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../common/data-converter';

export const WORKFLOW_TRACING_MODULE = require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

const DIST = path.join(__dirname, '..');
const BUNDLE_DIR = path.join(DIST, 'workflow-bundles');
const bundleFile = (tracing: boolean) => path.join(BUNDLE_DIR, tracing ? 'workflows-tracing.js' : 'workflows.js');
const stampFile = (tracing: boolean) => `${bundleFile(tracing)}.sha256`;

type BundlerLogger = Parameters<typeof bundleWorkflowCode>[0]['logger'];

/** The SDK bundler's options for the platform worker's workflows. */
export function bundleOptions(tracing: boolean, logger?: BundlerLogger): Parameters<typeof bundleWorkflowCode>[0] {
  return {
    workflowsPath: require.resolve('../workflows'),
    failureConverterPath: FAILURE_CONVERTER_PATH,
    ...(tracing ? { workflowInterceptorModules: [WORKFLOW_TRACING_MODULE] } : {}),
    ...(logger ? { logger } : {}),
  };
}

/** A SHA-256 over the compiled code a bundle is made from. */
function sourceStamp(tracing: boolean): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.js')) hash.update(path.relative(DIST, file)).update('\0').update(readFileSync(file)).update('\0');
    }
  };
  walk(path.join(DIST, 'workflows'));
  walk(path.join(DIST, 'common'));
  const sdk = JSON.parse(readFileSync(require.resolve('@temporalio/worker/package.json'), 'utf8')) as { version: string };
  hash.update(`sdk ${sdk.version} tracing ${String(tracing)}`);
  return hash.digest('hex');
}

/** The bundle built for this code, or undefined when there is none or it was built from other code. */
export function prebuiltWorkflowBundle(tracing: boolean): WorkflowBundle | undefined {
  if (!existsSync(bundleFile(tracing)) || !existsSync(stampFile(tracing))) return undefined;
  if (readFileSync(stampFile(tracing), 'utf8').trim() !== sourceStamp(tracing)) return undefined;
  return { code: readFileSync(bundleFile(tracing), 'utf8') };
}

/** Writes both bundles unless they are up to date; returns which were written. */
export async function buildWorkflowBundles(logger?: BundlerLogger): Promise<string[]> {
  mkdirSync(BUNDLE_DIR, { recursive: true });
  const written: string[] = [];
  for (const tracing of [false, true]) {
    const stamp = sourceStamp(tracing);
    if (existsSync(stampFile(tracing)) && readFileSync(stampFile(tracing), 'utf8').trim() === stamp && existsSync(bundleFile(tracing)))
      continue;
    const { code } = await bundleWorkflowCode(bundleOptions(tracing, logger));
    const tmp = `${bundleFile(tracing)}.${process.pid}.tmp`;
    writeFileSync(tmp, code);
    renameSync(tmp, bundleFile(tracing));
    writeFileSync(stampFile(tracing), `${stamp}\n`);
    written.push(path.relative(DIST, bundleFile(tracing)));
  }
  return written;
}

if (require.main === module) {
  const quiet = () => undefined;
  const say = (message: string) => process.stderr.write(`workflow bundles: ${message}\n`);
  buildWorkflowBundles({ log: quiet, trace: quiet, debug: quiet, info: quiet, warn: say, error: say }).then(
    (written) => {
      if (written.length > 0) say(`wrote ${written.join(', ')}`);
    },
    (err: unknown) => {
      say(`could not bundle the workflow code: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
