import { ttlCache } from './ttl-cache.ts';

/**
 * A per-process read-through cache: least-recently-used entries go first past `max`, each
 * lives `ttlMs` at most, and concurrent misses for one key share one `load`. Invalidation
 * is exact: a load that was under way when an entry was deleted still answers the requests
 * waiting on it, but is not kept, and the next request loads afresh.
 *
 * @example
 * const users = localCache({ max: 10_000, ttlMs: 5_000, load: (id) => findUserById(db, id) });
 * const user = await users.get(id);
 * users.delete(id); // after changing it
 */
export interface LocalCache<V> {
  get(key: string): Promise<V>;
  /**
   * The cached value, boxed (a value may be `null`), without loading it: `undefined` when
   * it is not cached. For a caller that answers at once when it can: an `await` of what is
   * already known still costs a turn of the microtask queue and its allocations.
   */
  peek(key: string): { value: V } | undefined;
  /**
   * `then` of the value: at once when it is cached (no promise), else once it has loaded.
   * For a caller that answers in the same turn when it can.
   */
  use<R>(key: string, then: (value: V) => R | Promise<R>): R | Promise<R>;
  delete(key: string): void;
  /** Deletes every entry whose value matches, e.g. all entries of one user. */
  deleteWhere(matches: (value: V) => boolean): void;
  /** Forgets everything, e.g. when invalidations may have been missed. */
  clear(): void;
}

export interface LocalCacheOptions<V> {
  max: number;
  ttlMs: number;
  load: (key: string) => Promise<V>;
  /** Which loaded values to keep; the others are answered but loaded again next time. */
  keep?: (value: V) => boolean;
}

export function localCache<V>(options: LocalCacheOptions<V>): LocalCache<V> {
  // Values are boxed: lru-cache stores no null or undefined, and "not found" is an answer.
  const entries = ttlCache<string, { value: V }>({ max: options.max, ttlMs: options.ttlMs });
  const loading = new Map<string, Promise<V>>();
  // Bumped by every invalidation; a load that began under an older one is not kept.
  let generation = 0;
  const invalidated = () => {
    generation += 1;
    loading.clear();
  };
  const cache: LocalCache<V> = {
    async get(key) {
      const hit = entries.get(key);
      if (hit) return hit.value;
      const pending = loading.get(key);
      if (pending) return pending;
      const started = generation;
      const load = options.load(key).then(
        (value) => {
          if (loading.get(key) === load) loading.delete(key);
          if (started === generation && (options.keep?.(value) ?? true)) {
            entries.set(key, { value });
          }
          return value;
        },
        (error: unknown) => {
          if (loading.get(key) === load) loading.delete(key);
          throw error;
        },
      );
      loading.set(key, load);
      return load;
    },
    peek(key) {
      return entries.get(key);
    },
    use(key, then) {
      const hit = entries.get(key);
      return hit ? then(hit.value) : cache.get(key).then(then);
    },
    delete(key) {
      invalidated();
      entries.delete(key);
    },
    deleteWhere(matches) {
      invalidated();
      for (const [key, { value }] of entries.entries()) if (matches(value)) entries.delete(key);
    },
    clear() {
      invalidated();
      entries.clear();
    },
  };
  return cache;
}
