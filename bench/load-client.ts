/**
 * The load generator of api.bench.ts. It runs in its own process (child_process.fork), so that
 * making requests and timing them does not share an event loop with the server under test. It
 * receives one {@link LoadRequest} over IPC, keeps `connections` requests in flight on as many
 * keep-alive sockets for the warm-up and then the measured window, sends one {@link LoadReport}
 * back and exits.
 */
import http from 'node:http';

export interface LoadRequest {
  url: string;
  headers: Record<string, string>;
  /** Concurrent connections, each with one request in flight at a time. */
  connections: number;
  /** Requests completed before the measured window are not counted. */
  warmupMs: number;
  durationMs: number;
}

/** What the load client sends back: the window's start and end as they happen, then the report. */
export type LoadMessage = { kind: 'window-start' } | { kind: 'window-end' } | { kind: 'report'; report: LoadReport };

export interface LoadReport {
  /** Requests completed in the measured window, errors included. */
  requests: number;
  /** Requests that did not answer 200 (or failed at the socket) in the measured window. */
  errors: number;
  /** Up to five distinct error descriptions (`status 500`, `ECONNRESET`), never a body. */
  errorSamples: string[];
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Bytes of the last 200 answer's body. */
  responseBytes: number;
}

const percentile = (sorted: Float64Array, p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const round2 = (n: number) => Math.round(n * 100) / 100;

async function load(spec: LoadRequest, notify: (m: LoadMessage) => void): Promise<LoadReport> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
  const url = new URL(spec.url);
  const options: http.RequestOptions = { agent, hostname: url.hostname, port: url.port, path: url.pathname, headers: spec.headers };
  let responseBytes = 0;
  // Resolves to the status code, or to an error code when the request failed at the socket.
  const once = () =>
    new Promise<number | string>((resolve) => {
      const req = http.get(options, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => {
          if (res.statusCode === 200) responseBytes = bytes;
          resolve(res.statusCode ?? 0);
        });
        res.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'response error'));
      });
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'request error'));
    });

  const latencies: number[] = [];
  let errors = 0;
  const errorSamples = new Set<string>();
  const from = process.hrtime.bigint() + BigInt(spec.warmupMs) * 1_000_000n;
  const to = from + BigInt(spec.durationMs) * 1_000_000n;
  const timers = [
    setTimeout(() => notify({ kind: 'window-start' }), spec.warmupMs),
    setTimeout(() => notify({ kind: 'window-end' }), spec.warmupMs + spec.durationMs),
  ];
  await Promise.all(
    Array.from({ length: spec.connections }, async () => {
      for (let start = process.hrtime.bigint(); start < to; start = process.hrtime.bigint()) {
        const outcome = await once();
        const end = process.hrtime.bigint();
        // Counted by completion inside the window; the last request of each connection may end after it.
        if (end < from || end > to) continue;
        latencies.push(Number(end - start) / 1e6);
        if (outcome !== 200) {
          errors += 1;
          if (errorSamples.size < 5) errorSamples.add(typeof outcome === 'number' ? `status ${outcome}` : outcome);
          // A refused or reset socket fails at once: do not spin on it.
          if (typeof outcome === 'string') await new Promise((r) => setTimeout(r, 10));
        }
      }
    }),
  );
  timers.forEach(clearTimeout);
  agent.destroy();
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length,
    errors,
    errorSamples: [...errorSamples],
    rps: Math.round(latencies.length / (spec.durationMs / 1000)),
    p50Ms: round2(percentile(sorted, 50)),
    p99Ms: round2(percentile(sorted, 99)),
    maxMs: round2(sorted[sorted.length - 1] ?? 0),
    responseBytes,
  };
}

if (require.main === module) {
  const send = process.send?.bind(process);
  if (!send) throw new Error('load-client runs as a child of api.bench.ts (child_process.fork), with an IPC channel');
  process.once('message', (spec: LoadRequest) => {
    const notify = (m: LoadMessage) => send(m);
    load(spec, notify).then(
      (report) => send({ kind: 'report', report } satisfies LoadMessage, () => process.exit(0)),
      (err: unknown) => {
        process.stderr.write(`load-client: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  });
}
