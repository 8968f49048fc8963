/**
 * API token uses, counted per token and interval instead of written per request. Each interval
 * leaves one hash-chained `token.used` row per token that was used (how many times, on which
 * routes, from which addresses, first and last use) and one statement that moves `last_used_at`.
 * A request never waits for either. A write that fails is merged back and tried again at the next
 * interval; what an API process counted since its last write is written when it stops (SIGTERM); a
 * process that is killed loses at most one interval of counts (the requests themselves are in the
 * access logs of whatever fronts the API).
 */
import type { Pool } from 'pg';
import type { Logger } from '../../common/logger';
import type { AuditBatcher } from '../../platform/repos/audit.repo';
import { touchTokens } from '../../platform/repos/tokens.repo';

/** Distinct client addresses kept per token and interval; more are counted, not listed. */
const MAX_ADDRESSES = 16;

interface Uses {
  workspaceId: string;
  count: number;
  routes: Map<string, number>;
  addresses: Set<string>;
  otherAddresses: number;
  lastIp: string | undefined;
  /** Epoch milliseconds. */
  first: number;
  last: number;
}

export class TokenUseRecorder {
  #pending = new Map<string, Uses>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly audit: AuditBatcher,
    private readonly logger: Logger,
    /** How often uses are written (LOOKOUT_TOKEN_USE_INTERVAL_MS, default a minute). */
    readonly intervalMs = 60_000,
  ) {
    this.#timer = setInterval(() => void this.flush(), intervalMs);
    this.#timer.unref();
  }

  /** Counts one use; `route` is the route template (`GET /v1/runs/:id`), never the raw path. */
  record(tokenId: string, workspaceId: string, route: string, ip: string | undefined): void {
    const now = Date.now();
    let uses = this.#pending.get(tokenId);
    if (!uses) {
      uses = { workspaceId, count: 0, routes: new Map(), addresses: new Set(), otherAddresses: 0, lastIp: ip, first: now, last: now };
      this.#pending.set(tokenId, uses);
    }
    uses.count++;
    uses.last = now;
    uses.routes.set(route, (uses.routes.get(route) ?? 0) + 1);
    if (ip !== undefined) {
      uses.lastIp = ip;
      if (uses.addresses.size < MAX_ADDRESSES || uses.addresses.has(ip)) uses.addresses.add(ip);
      else uses.otherAddresses++;
    }
  }

  /** Writes what was counted so far; resolves when it is committed (or merged back after a failure). */
  flush(): Promise<void> {
    const run = (this.#flushing ?? Promise.resolve()).then(() => this.#write());
    this.#flushing = run;
    return run;
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  async #write(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    const results = await Promise.allSettled(
      [...batch].map(([tokenId, u]) =>
        this.audit.append({
          workspaceId: u.workspaceId,
          actor: `token:${tokenId}`,
          action: 'token.used',
          outcome: 'success',
          details: {
            count: u.count,
            routes: Object.fromEntries([...u.routes].sort(([a], [b]) => a.localeCompare(b))),
            addresses: [...u.addresses],
            ...(u.otherAddresses > 0 ? { otherAddresses: u.otherAddresses } : {}),
            from: new Date(u.first).toISOString(),
            to: new Date(u.last).toISOString(),
          },
          ip: u.lastIp,
        }),
      ),
    );
    const failed = [...batch].filter((_, i) => results[i]!.status === 'rejected');
    for (const [tokenId, u] of failed) this.#mergeBack(tokenId, u);
    if (failed.length > 0) this.logger.warn({ tokens: failed.length }, 'token uses not written; retrying at the next interval');
    const written = [...batch].filter((_, i) => results[i]!.status === 'fulfilled').map(([id, u]) => ({ id, at: new Date(u.last) }));
    await touchTokens(this.pool, written).catch((err: unknown) => this.logger.warn({ err }, 'token last-use times not written'));
  }

  #mergeBack(tokenId: string, older: Uses): void {
    const newer = this.#pending.get(tokenId);
    if (!newer) {
      this.#pending.set(tokenId, older);
      return;
    }
    newer.count += older.count;
    newer.first = older.first;
    for (const [route, n] of older.routes) newer.routes.set(route, (newer.routes.get(route) ?? 0) + n);
    for (const ip of older.addresses)
      if (newer.addresses.size < MAX_ADDRESSES || newer.addresses.has(ip)) newer.addresses.add(ip);
      else newer.otherAddresses++;
    newer.otherAddresses += older.otherAddresses;
  }
}
