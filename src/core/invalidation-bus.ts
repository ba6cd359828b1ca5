import type { Logger } from './logger.ts';
import { duplicateRedis, type Redis } from './redis.ts';

/** What a subscriber of the bus is told. */
export interface InvalidationListener {
  /** Another process (or this one) changed what `message` names. */
  message(message: string): void;
  /**
   * Messages may have been missed (the connection to Redis dropped and came back): drop
   * everything cached. Until then the caches' TTL is the bound, as without a bus.
   */
  gap(): void;
}

/**
 * Tells every process of the service that something it may have cached has changed, so
 * per-process caches (verified API keys, account status) drop it at once instead of at
 * the end of their TTL. Delivery is best effort: the TTL stays the bound when it fails.
 */
export interface InvalidationBus {
  publish(message: string): Promise<void>;
  subscribe(listener: InvalidationListener): void;
  close(): Promise<void>;
}

/**
 * The bus over Redis pub/sub, on `channel`. Subscribing takes a connection of its own (a
 * subscribed connection can do nothing else), opened from `redis`'s settings.
 */
export function redisInvalidationBus(
  redis: Redis,
  channel: string,
  logger: Logger,
): InvalidationBus {
  const listeners: InvalidationListener[] = [];
  // On a cluster a message published on any node reaches the subscribers of every node.
  const subscriber = duplicateRedis(redis, {
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
  });
  let connectedBefore = false;
  subscriber.on('ready', () => {
    // ioredis subscribes again by itself after a reconnect; what was sent meanwhile is lost.
    if (connectedBefore) for (const listener of listeners) listener.gap();
    connectedBefore = true;
  });
  subscriber.on('message', (from: string, message: string) => {
    if (from === channel) for (const listener of listeners) listener.message(message);
  });
  subscriber.subscribe(channel).catch((error: unknown) => {
    logger.warn(
      { err: error, channel },
      'could not subscribe to invalidations; caches expire by TTL',
    );
  });
  return {
    async publish(message) {
      try {
        await redis.publish(channel, message);
      } catch (error) {
        logger.warn(
          { err: error, channel },
          'could not publish an invalidation; caches expire by TTL',
        );
      }
    },
    subscribe(listener) {
      listeners.push(listener);
    },
    async close() {
      subscriber.disconnect();
    },
  };
}

/** The bus within one process, for development without Redis. */
export function localInvalidationBus(): InvalidationBus {
  const listeners: InvalidationListener[] = [];
  return {
    async publish(message) {
      for (const listener of listeners) listener.message(message);
    },
    subscribe(listener) {
      listeners.push(listener);
    },
    async close() {},
  };
}
