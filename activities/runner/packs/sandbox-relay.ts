/**
 * The only program of the Runner's own that runs inside a script's sandbox (see `sandbox.ts`). It is
 * plain JavaScript run with the Runner's `node -e`, so it needs no file in the sandbox:
 *
 * 1. listens on 127.0.0.1:<port> of the sandbox's own network namespace (where only `lo` exists)
 *    for each listener and pipes every TCP connection to the listener's unix socket, which the
 *    Runner's proxies serve outside;
 * 2. once every listener is up, writes `started` on fd 3 and closes it, so the Runner can tell a
 *    sandbox that never came up from a script that failed, and only then starts the script (`command`,
 *    stdio inherited: parameters on stdin, the result on stdout): fd 3 is closed before the script's
 *    exec, so the script cannot send the start signal itself (nor hold the pipe open) whatever Node
 *    does with inherited descriptors. A script that cannot be started ends the relay with status 125;
 * 3. exits with the script's status (128 + signal number when a signal ended it).
 *
 * It holds nothing secret: the script runs as the same user and may kill it or dial the sockets
 * itself, which only costs the script its own network. Every decision is made outside, by the proxies.
 *
 * Its single argument is JSON: `{ listeners: [{ port, socket }], command: [file, ...args] }`.
 */
export const RELAY_SOURCE = String.raw`'use strict';
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const { spawn } = require('node:child_process');
const config = JSON.parse(process.argv[1]);
const servers = [];
function fail(message) {
  process.stderr.write('lookout sandbox: ' + message + '\n');
  process.exit(125);
}
function start() {
  try {
    fs.writeSync(3, 'started\n');
  } catch {
    // the Runner went away: the sandbox dies with it
  }
  try {
    fs.closeSync(3);
  } catch {
    // closed already
  }
  const [file, ...args] = config.command;
  const child = spawn(file, args, { stdio: 'inherit', env: process.env });
  child.on('error', (err) => fail('cannot start the script (' + (err.code || 'error') + ')'));
  child.on('exit', (code, signal) => {
    for (const s of servers) s.close();
    process.exit(code === null ? 128 + (os.constants.signals[signal] || 0) : code);
  });
}
let pending = config.listeners.length;
for (const listener of config.listeners) {
  const server = net.createServer((client) => {
    const upstream = net.connect(listener.socket);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.on('error', (err) => fail('cannot listen on 127.0.0.1:' + listener.port + ' (' + (err.code || 'error') + ')'));
  server.listen(listener.port, '127.0.0.1', () => {
    if (--pending === 0) start();
  });
  servers.push(server);
}
if (pending === 0) start();
`;
