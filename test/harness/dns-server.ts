/**
 * A real DNS server for the `dns.resolve` tests: dnsmasq (Debian's dnsmasq-base, scripts/tools.ts)
 * on a free loopback port, answering for one zone and NXDOMAIN for any other name in it, plus two
 * domains whose upstream is broken the ways resolvers break in the field:
 *
 * - `servfail.test` is forwarded to a second, validating dnsmasq whose DNSSEC trust anchor the
 *   answers cannot chain to: it answers SERVFAIL, as a resolver does for a broken signature;
 * - `silent.test` is forwarded to a UDP socket that reads and never answers (a dead upstream).
 *
 * Every query the front server receives is logged, so a test can tell that a name was never asked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../platform/db/embedded';
import { ensureDnsmasq } from '../../scripts/tools';

export interface DnsZone {
  /** The domain answered from this zone only: names in it that the zone lacks are NXDOMAIN. */
  domain: string;
  /** Names and their addresses (IPv4 and IPv6). */
  hosts?: Record<string, string[]>;
  cnames?: Record<string, string>;
  mx?: { name: string; exchange: string; priority: number }[];
  txt?: { name: string; text: string }[];
  srv?: { name: string; target: string; port: number }[];
}

export interface RunningDnsServer {
  /** `127.0.0.1:<port>`, as LOOKOUT_DNS_SERVERS takes it. */
  address: string;
  /** The domain whose names answer SERVFAIL, and the one whose names get no answer. */
  servfailDomain: string;
  silentDomain: string;
  /** The front server's log: one `query[TYPE] name` line per query. */
  log(): string;
  stop(): Promise<void>;
}

/** A root trust anchor no answer here can chain to (the real root's KSK-2017 digest, for a zone that is not the root's). */
const TRUST_ANCHOR = '.,20326,8,2,E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D';

/** One dnsmasq on a free port; retried on another port if that one was taken meanwhile. */
async function dnsmasq(args: string[]): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const bin = ensureDnsmasq();
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    let output = '';
    const child = spawn(
      bin,
      [
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        '--no-resolv',
        '--no-hosts',
        '--no-poll',
        '--pid-file=',
        '--listen-address=127.0.0.1',
        '--bind-interfaces',
        `--port=${port}`,
        '--log-facility=-',
        ...args,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 10_000;
    while (!/started, version/.test(output) && child.exitCode === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    if (/started, version/.test(output) && child.exitCode === null) return { child, port, output: () => output };
    child.kill('SIGKILL');
    if (attempt >= 3 || !/already in use/.test(output)) throw new Error(`dnsmasq did not start:\n${output.slice(-2000)}`);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Starts the servers for `zone`; `stop()` ends every process and socket it started. */
export async function startDnsServer(zone: DnsZone): Promise<RunningDnsServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lookout-dns-'));
  // dnsmasq started as root reads its hosts file as `nobody`.
  chmodSync(dir, 0o755);
  const hostsFile = path.join(dir, 'hosts');
  writeFileSync(
    hostsFile,
    Object.entries(zone.hosts ?? {})
      .flatMap(([name, addresses]) => addresses.map((a) => `${a} ${name}\n`))
      .join(''),
    { mode: 0o644 },
  );
  const servfailDomain = 'servfail.test';
  const silentDomain = 'silent.test';
  const started: ChildProcess[] = [];
  const silent = dgram.createSocket('udp4');
  silent.on('message', () => undefined);
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  try {
    // The broken signature: an upstream with answers, and a validator in front of it.
    const upstream = await dnsmasq([`--address=/${servfailDomain}/192.0.2.53`]);
    started.push(upstream.child);
    const validator = await dnsmasq(['--dnssec', `--trust-anchor=${TRUST_ANCHOR}`, `--server=127.0.0.1#${upstream.port}`]);
    started.push(validator.child);
    const front = await dnsmasq([
      '--log-queries',
      `--addn-hosts=${hostsFile}`,
      `--local=/${zone.domain}/`,
      ...Object.entries(zone.cnames ?? {}).map(([alias, target]) => `--cname=${alias},${target}`),
      ...(zone.mx ?? []).map((m) => `--mx-host=${m.name},${m.exchange},${m.priority}`),
      ...(zone.txt ?? []).map((t) => `--txt-record=${t.name},${t.text}`),
      ...(zone.srv ?? []).map((s) => `--srv-host=${s.name},${s.target},${s.port}`),
      `--server=/${servfailDomain}/127.0.0.1#${validator.port}`,
      `--server=/${silentDomain}/127.0.0.1#${(silent.address() as { port: number }).port}`,
    ]);
    started.push(front.child);
    return {
      address: `127.0.0.1:${front.port}`,
      servfailDomain,
      silentDomain,
      log: front.output,
      async stop() {
        await Promise.all(started.map(stopChild));
        silent.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(started.map(stopChild));
    silent.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
