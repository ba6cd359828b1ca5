import { LRUCache } from 'lru-cache';

export interface TtlCacheOptions {
  /** Entries kept at most; the least recently used go first. */
  max: number;
  /** How long an entry lives after it is set. */
  ttlMs: number;
}

/**
 * An LRU cache whose entries expire `ttlMs` after they are set. lru-cache keeps the time it
 * last read for `ttlResolution` (1 ms by default) and arms a 1 ms timer to forget it each
 * time it reads the clock anew: up to a thousand timers a second for each cache on a busy
 * path, and one a lookup at a moderate rate. At a resolution of 0 it reads
 * `performance.now()` on each lookup instead, which costs less than a timer (decision 085).
 */
export function ttlCache<K extends {}, V extends {}>(options: TtlCacheOptions): LRUCache<K, V> {
  return new LRUCache<K, V>({
    max: options.max,
    ttl: options.ttlMs,
    ttlResolution: 0,
  });
}
