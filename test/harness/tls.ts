/**
 * TLS for tests: certificates made with openssl, and a real TLS terminator (Node's tls server,
 * ALPN h2, TLS 1.2+, AEAD ciphers) in front of the plaintext Temporal dev server.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { serverTlsOptions } from '../../common/tls';

export interface Pki {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA and one leaf certificate it signs, for `localhost` / 127.0.0.1, usable as server or client. */
export function makePki(name: string): Pki {
  const dir = mkdtempSync(path.join(os.tmpdir(), `lookout-pki-${name}-`));
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    `/CN=Lookout test CA ${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl(dir, [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'leaf.key',
    '-out',
    'leaf.csr',
    '-subj',
    '/CN=localhost',
  ]);
  writeFileSync(
    path.join(dir, 'leaf.ext'),
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n',
  );
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'leaf.pem',
    '-days',
    '2',
    '-extfile',
    'leaf.ext',
  ]);
  return { dir, caFile: path.join(dir, 'ca.pem'), certFile: path.join(dir, 'leaf.pem'), keyFile: path.join(dir, 'leaf.key') };
}

/** Terminates TLS on a free loopback port and forwards to `target` (host:port). */
export async function startTlsProxy(options: {
  target: string;
  server: Pki;
  clientCa?: Pki;
}): Promise<{ address: string; stop(): Promise<void> }> {
  const [host, port] = options.target.split(':') as [string, string];
  const sockets = new Set<net.Socket>();
  const server = tls.createServer(
    {
      ...serverTlsOptions({ cert: readFileSync(options.server.certFile), key: readFileSync(options.server.keyFile) }),
      ALPNProtocols: ['h2'],
      ...(options.clientCa ? { ca: readFileSync(options.clientCa.caFile), requestCert: true, rejectUnauthorized: true } : {}),
    },
    (client) => {
      const upstream = net.connect(Number(port), host);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
