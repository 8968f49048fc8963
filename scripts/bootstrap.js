#!/usr/bin/env node
// Installs and builds whatever is missing before `npm start` and `npm test`, on a fresh clone too.
// Plain CommonJS that runs on any Node >= 18, since it may run before the pinned Node 24 is installed.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, lstatSync, statSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`bootstrap: ${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(1);
  }
};
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

// 1. Dependencies (and the pinned Node 24 at node_modules/.bin/node) when missing or stale.
const marker = path.join(root, 'node_modules', '.package-lock.json');
// A node_modules that is a link (a git worktree sharing another checkout's) belongs to that checkout:
// `npm ci` would empty it through the link.
const shared = existsSync(path.join(root, 'node_modules')) && lstatSync(path.join(root, 'node_modules')).isSymbolicLink();
const stale =
  !existsSync(marker) ||
  mtime(path.join(root, 'package-lock.json')) > mtime(marker) ||
  !existsSync(path.join(root, 'node_modules', '.bin', 'node'));
if (stale && !shared) {
  process.stderr.write('bootstrap: installing dependencies (npm ci)…\n');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}
const node = path.join(root, 'node_modules', '.bin', 'node');

// 2. Build (type-checks everything) and copy the SQL migrations beside the compiled code.
run(node, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json']);
run(node, ['-e', "require('node:fs').cpSync('platform/db/migrations','dist/platform/db/migrations',{recursive:true})"]);
// The workflow code bundled once per change of it, so that the platform worker need not load webpack.
run(node, [path.join(root, 'dist', 'workers', 'workflow-bundle.js')]);
// The web console (platform-api/console), bundled by esbuild into dist/console; prints its size.
run(node, [path.join(root, 'dist', 'scripts', 'build-console.js')]);

// 3. The real servers, built once into the tool cache: the Temporal CLI (dev server + Web UI), and
//    for the test suite etcd and kube-apiserver too.
run(node, [path.join(root, 'dist', 'scripts', 'tools.js'), ...process.argv.slice(2)]);
