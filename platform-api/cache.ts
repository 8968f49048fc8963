/**
 * A bounded, short-lived cache that a change feed empties (platform/repos/change-feed.ts). It serves
 * nothing while the feed is not live, so a missed notification can never keep a stale entry: while
 * the API cannot hear about changes, every read goes to PostgreSQL, as it did before caching.
 *
 * Reads race with changes: a row read just before a change committed must not be cached after the
 * change's notification was handled. `generation()` is taken before the read and `set` drops the
 * value when any notification arrived in between.
 */
import type { ChangeSource } from '../platform/repos/change-feed';

export interface FeedCacheOptions {
  /** Most entries kept; the oldest go first. */
  max: number;
  /** Longest an entry is served, however quiet the feed. */
  ttlMs: number;
  /**
   * What a change empties: `all`, one key, or nothing (undefined). `*` (the feed dropped or came
   * back) always empties everything.
   */
  invalidates(change: string): 'all' | { key: string } | undefined;
}

export class FeedCache<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  #generation = 0;

  constructor(
    private readonly feed: ChangeSource | undefined,
    private readonly options: FeedCacheOptions,
  ) {
    feed?.subscribe((change) => {
      const what = change === '*' ? 'all' : options.invalidates(change);
      if (!what) return;
      this.#generation++;
      if (what === 'all') this.#entries.clear();
      else this.#entries.delete(what.key);
    });
  }

  get enabled(): boolean {
    return this.feed?.live === true;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Take before reading what will be `set`. */
  generation(): number {
    return this.#generation;
  }

  get(key: string): V | undefined {
    if (!this.enabled) return undefined;
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    // No reordering on a hit: entries live at most ttlMs anyway, and a hit stays a plain lookup.
    return entry.value;
  }

  set(key: string, value: V, generation: number): void {
    if (!this.enabled || generation !== this.#generation) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: Date.now() + this.options.ttlMs });
    // Oldest first (Map keeps insertion order).
    while (this.#entries.size > this.options.max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  delete(key: string): void {
    this.#generation++;
    this.#entries.delete(key);
  }
}
