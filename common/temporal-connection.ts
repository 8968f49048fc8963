/**
 * How every Lookout process reaches Temporal: plaintext on loopback for development, TLS in
 * production, optionally with a client certificate (mTLS) or an API key, and optionally pinned to
 * one CA so that a server certificate from any other CA is refused.
 */
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';

export interface TemporalConnectionSettings {
  LOOKOUT_TEMPORAL_ADDRESS: string;
  LOOKOUT_TEMPORAL_TLS?: boolean | undefined;
  LOOKOUT_TEMPORAL_TLS_CA_FILE?: string | undefined;
  LOOKOUT_TEMPORAL_TLS_CERT_FILE?: string | undefined;
  LOOKOUT_TEMPORAL_TLS_KEY_FILE?: string | undefined;
  LOOKOUT_TEMPORAL_TLS_SERVER_NAME?: string | undefined;
  LOOKOUT_TEMPORAL_API_KEY?: string | undefined;
}

export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | false;
  apiKey?: string;
}

function read(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read the Temporal ${what} file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}

/** Options for `Connection.connect` and `NativeConnection.connect`. */
export function temporalConnectionOptions(s: TemporalConnectionSettings): TemporalConnectionOptions {
  const wantsTls =
    s.LOOKOUT_TEMPORAL_TLS ?? Boolean(s.LOOKOUT_TEMPORAL_API_KEY || s.LOOKOUT_TEMPORAL_TLS_CA_FILE || s.LOOKOUT_TEMPORAL_TLS_CERT_FILE);
  const options: TemporalConnectionOptions = { address: s.LOOKOUT_TEMPORAL_ADDRESS };
  if (s.LOOKOUT_TEMPORAL_API_KEY) options.apiKey = s.LOOKOUT_TEMPORAL_API_KEY;
  if (!wantsTls) {
    options.tls = false;
    return options;
  }
  const tls: TLSConfig = {};
  if (s.LOOKOUT_TEMPORAL_TLS_CA_FILE) tls.serverRootCACertificate = read(s.LOOKOUT_TEMPORAL_TLS_CA_FILE, 'CA');
  if (s.LOOKOUT_TEMPORAL_TLS_SERVER_NAME) tls.serverNameOverride = s.LOOKOUT_TEMPORAL_TLS_SERVER_NAME;
  if (s.LOOKOUT_TEMPORAL_TLS_CERT_FILE && s.LOOKOUT_TEMPORAL_TLS_KEY_FILE) {
    tls.clientCertPair = {
      crt: read(s.LOOKOUT_TEMPORAL_TLS_CERT_FILE, 'client certificate'),
      key: read(s.LOOKOUT_TEMPORAL_TLS_KEY_FILE, 'client key'),
    };
  }
  options.tls = tls;
  return options;
}

/**
 * Connects with `connect` and turns a failure into one clear line that says how it connected, so
 * that a plaintext client at a TLS port (or the reverse) is obvious.
 */
export async function connectTemporal<T>(
  options: TemporalConnectionOptions,
  connect: (o: TemporalConnectionOptions) => Promise<T>,
): Promise<T> {
  try {
    return await connect(options);
  } catch (err) {
    const how =
      options.tls === false
        ? 'plaintext (set LOOKOUT_TEMPORAL_TLS=true if the server requires TLS)'
        : `TLS${options.tls?.clientCertPair ? ' with a client certificate' : ''}${options.tls?.serverRootCACertificate ? ' trusting only the configured CA' : ''}`;
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new Error(`cannot connect to Temporal at ${options.address} over ${how}: ${reason}`, { cause: err });
  }
}
