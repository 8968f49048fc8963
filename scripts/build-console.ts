/**
 * Builds the web console (platform-api/console) into dist/console: one ES module bundle and one
 * stylesheet, minified, with their sizes (raw and gzip) printed. esbuild only: no Babel, no dev
 * server, no CDN; the API serves these files itself (platform-api/console-assets.ts).
 */
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const root = path.resolve(__dirname, '..', '..');
const source = path.join(root, 'platform-api', 'console');
export const CONSOLE_OUT = path.join(root, 'dist', 'console');

export async function buildConsole(log: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<void> {
  // Built beside the old build and renamed into place: a failed build leaves the last good one served.
  const staging = `${CONSOLE_OUT}.staging`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const started = Date.now();
  await build({
    entryPoints: { app: path.join(source, 'main.tsx') },
    outdir: staging,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: path.join(source, 'tsconfig.json'),
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
  });
  copyFileSync(path.join(source, 'index.html'), path.join(staging, 'index.html'));
  rmSync(CONSOLE_OUT, { recursive: true, force: true });
  renameSync(staging, CONSOLE_OUT);
  const sizes = ['app.js', 'app.css', 'index.html'].map((f) => {
    const bytes = statSync(path.join(CONSOLE_OUT, f)).size;
    const gzip = gzipSync(readFileSync(path.join(CONSOLE_OUT, f))).length;
    return { f, bytes, gzip };
  });
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  log(
    `console: built in ${Date.now() - started} ms: ${sizes.map((s) => `${s.f} ${kb(s.bytes)} (${kb(s.gzip)} gzip)`).join(', ')}; total ${kb(
      sizes.reduce((a, s) => a + s.gzip, 0),
    )} gzip`,
  );
}

if (require.main === module) {
  buildConsole().catch((err: unknown) => {
    process.stderr.write(`build-console: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
