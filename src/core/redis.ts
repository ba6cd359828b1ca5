import { Redis } from 'ioredis';

export type { Redis };

export interface RedisOptions {
  url: string;
  keyPrefix: string;
  /**
   * `request`: connections that serve HTTP requests fail fast, so a request answers 503
   * rather than waiting for Redis to come back. `worker`: long-lived consumers retry for
   * ever, as BullMQ requires of its workers.
   */
  role: 'request' | 'worker';
}

/**
 * Opens a Redis connection. It reconnects by itself after an outage; callers never have to
 * rebuild it.
 *
 * @example
 * const redis = createRedis({ url: settings.REDIS_URL, keyPrefix: 'app:', role: 'request' });
 */
export function createRedis(options: RedisOptions): Redis {
  const failFast = options.role === 'request';
  const redis = new Redis(options.url, {
    keyPrefix: options.keyPrefix,
    connectTimeout: failFast ? 2_000 : 10_000,
    enableOfflineQueue: !failFast,
    maxRetriesPerRequest: failFast ? 1 : null,
    ...(failFast ? { commandTimeout: 2_000 } : {}),
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    lazyConnect: false,
  });
  // Without a listener ioredis prints every connection error; readiness reports them instead.
  redis.on('error', () => {});
  return redis;
}

/** Resolves once the connection is ready, or after `timeoutMs` whatever its state. */
export async function waitForRedis(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    redis.once('ready', onReady);
  });
}

/** Closes the connection, giving queued commands a moment to finish. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}
