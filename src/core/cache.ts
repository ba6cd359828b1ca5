import type { Logger } from './logger.ts';
import type { Redis } from './redis.ts';
import { perTurn } from './turn-batch.ts';

/**
 * Caches expensive reads for a while, shared by every process through Redis. A failing
 * Redis never fails a request: the value is computed as if nothing was cached.
 */
export interface Cache {
  /** The cached value under `key`, or `load()`'s, stored for `ttlSeconds`. */
  remember<T>(
    key: string,
    ttlSeconds: number,
    load: () => Promise<T>,
  ): Promise<{ value: T; hit: boolean }>;
  /** Forgets `key`, after a write that changes it. */
  forget(key: string): Promise<void>;
}

export function redisCache(redis: Redis, logger: Logger): Cache {
  const keyOf = (key: string) => `cache:${key}`;
  const warn = (error: unknown, key: string) =>
    logger.warn({ err: error, key }, 'cache unavailable');
  // Every write of a cached resource forgets: the keys of a turn go in one DEL.
  const del = perTurn(
    async (keys: string[]) => {
      await redis.del(...keys);
      return keys.map(() => undefined);
    },
    { alone: redis.isCluster },
  );
  return {
    async remember(key, ttlSeconds, load) {
      try {
        const cached = await redis.get(keyOf(key));
        if (cached !== null) return { value: JSON.parse(cached), hit: true };
      } catch (error) {
        warn(error, key);
      }
      const value = await load();
      try {
        await redis.set(keyOf(key), JSON.stringify(value), 'EX', ttlSeconds);
      } catch (error) {
        warn(error, key);
      }
      return { value, hit: false };
    },
    async forget(key) {
      try {
        await del(keyOf(key));
      } catch (error) {
        // The entry expires on its own; until then a reader may see the old value.
        warn(error, key);
      }
    },
  };
}

/** The same in process memory, for development without Redis. */
export function memoryCache(now: () => number = Date.now): Cache {
  const entries = new Map<string, { json: string; expiresAt: number }>();
  return {
    async remember(key, ttlSeconds, load) {
      const entry = entries.get(key);
      if (entry && entry.expiresAt > now()) return { value: JSON.parse(entry.json), hit: true };
      const value = await load();
      entries.set(key, { json: JSON.stringify(value), expiresAt: now() + ttlSeconds * 1000 });
      return { value, hit: false };
    },
    async forget(key) {
      entries.delete(key);
    },
  };
}
