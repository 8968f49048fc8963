/**
 * The change feed: one dedicated PostgreSQL connection that LISTENs on `lookout_changes`, where the
 * triggers of migration 0016 publish what changed (`tokens`, `runs`, `run:<id>`, `keys`). Caches
 * subscribe to it and serve nothing while it is not live: a cache entry is only as trustworthy as
 * the feed that would have told it to go. A lost connection is reopened with backoff; every
 * subscriber is told to forget everything when it drops and again once it listens again, since
 * notifications sent in between are lost.
 */
import { Client } from 'pg';
import type { Logger } from '../../common/logger';

export const CHANGE_CHANNEL = 'lookout_changes';

export type ChangeListener = (change: string) => void;

export interface ChangeSource {
  /** Whether changes are being received now. */
  readonly live: boolean;
  /** `listener('*')` means: forget everything (the feed dropped or came back). Returns an unsubscribe. */
  subscribe(listener: ChangeListener): () => void;
  /**
   * Tells this process's subscribers at once about a change it just committed: its own next request
   * must not wait for the notification to come back from PostgreSQL. Other processes hear it there.
   */
  announce(change: string): void;
}

export class ChangeFeed implements ChangeSource {
  #client: Client | undefined;
  #live = false;
  #closed = false;
  #retryMs = 250;
  #timer: NodeJS.Timeout | undefined;
  readonly #listeners = new Set<ChangeListener>();

  private constructor(
    private readonly url: string,
    private readonly logger: Logger,
  ) {}

  /** Starts listening; resolves once the first LISTEN succeeded or failed (it keeps retrying after a failure). */
  static async start(url: string, logger: Logger): Promise<ChangeFeed> {
    const feed = new ChangeFeed(url, logger);
    await feed.#connect();
    return feed;
  }

  get live(): boolean {
    return this.#live;
  }

  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  announce(change: string): void {
    this.#emit(change);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#setLive(false);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  #emit(change: string): void {
    for (const listener of this.#listeners) listener(change);
  }

  #setLive(live: boolean): void {
    if (this.#live === live) return;
    this.#live = live;
    this.#emit('*');
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new Client({ connectionString: this.url, connectionTimeoutMillis: 10_000, keepAlive: true });
    const lost = (err?: Error) => {
      if (this.#client !== client) return;
      this.#client = undefined;
      this.#setLive(false);
      void client.end().catch(() => undefined);
      if (this.#closed) return;
      this.logger.warn({ err }, 'change feed lost; caches are off until it is back');
      this.#schedule();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (message) => {
      if (message.channel === CHANGE_CHANNEL && message.payload) this.#emit(message.payload);
    });
    this.#client = client;
    try {
      await client.connect();
      await client.query(`listen ${CHANGE_CHANNEL}`);
    } catch (err) {
      lost(err as Error);
      return;
    }
    if (this.#client !== client) return;
    this.#retryMs = 250;
    // Anything cached before this point may have missed a notification: `live` tells subscribers to start afresh.
    this.#setLive(true);
    this.logger.debug('change feed listening');
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#connect(), this.#retryMs);
    this.#timer.unref();
    this.#retryMs = Math.min(this.#retryMs * 2, 10_000);
  }
}
