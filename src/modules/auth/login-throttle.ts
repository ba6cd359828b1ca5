import type { Logger } from '../../core/logger.ts';
import type { Redis } from '../../core/redis.ts';

export interface ThrottleRule {
  key: string;
  limit: number;
}

/**
 * Counts failed logins per account and per client address over a window. `blockedFor`
 * answers how many seconds to wait when any counter is at its limit.
 */
export interface LoginThrottle {
  blockedFor(rules: ThrottleRule[]): Promise<number | undefined>;
  recordFailure(rules: ThrottleRule[]): Promise<void>;
  clear(key: string): Promise<void>;
}

/**
 * Redis-backed, so every API process shares the counts. If Redis fails, logins are let
 * through (and the failure logged): the password check still protects the account, and an
 * outage should not lock everyone out.
 */
export function redisLoginThrottle(
  redis: Redis,
  windowSeconds: number,
  logger: Logger,
): LoginThrottle {
  const key = (name: string) => `login-failures:${name}`;
  const failOpen = (error: unknown) =>
    logger.warn({ err: error }, 'login throttle unavailable; allowing');
  return {
    async blockedFor(rules) {
      try {
        const pipeline = redis.pipeline();
        for (const rule of rules) pipeline.get(key(rule.key)).ttl(key(rule.key));
        const replies = (await pipeline.exec()) ?? [];
        let wait: number | undefined;
        rules.forEach((rule, index) => {
          const count = Number(replies[index * 2]?.[1] ?? 0);
          const ttl = Number(replies[index * 2 + 1]?.[1] ?? windowSeconds);
          if (count >= rule.limit) wait = Math.max(wait ?? 1, ttl > 0 ? ttl : windowSeconds);
        });
        return wait;
      } catch (error) {
        failOpen(error);
        return undefined;
      }
    },
    async recordFailure(rules) {
      try {
        const pipeline = redis.pipeline();
        // NX: the window starts at the first failure and is not extended by later ones.
        for (const rule of rules)
          pipeline.incr(key(rule.key)).expire(key(rule.key), windowSeconds, 'NX');
        await pipeline.exec();
      } catch (error) {
        failOpen(error);
      }
    },
    async clear(name) {
      try {
        await redis.del(key(name));
      } catch (error) {
        failOpen(error);
      }
    },
  };
}

/** The same rules in process memory, for development without Redis. */
export function memoryLoginThrottle(
  windowSeconds: number,
  now: () => number = Date.now,
): LoginThrottle {
  const counters = new Map<string, { count: number; resetAt: number }>();
  const live = (name: string) => {
    const counter = counters.get(name);
    if (counter && counter.resetAt <= now()) {
      counters.delete(name);
      return undefined;
    }
    return counter;
  };
  return {
    async blockedFor(rules) {
      let wait: number | undefined;
      for (const rule of rules) {
        const counter = live(rule.key);
        if (counter && counter.count >= rule.limit) {
          wait = Math.max(wait ?? 1, Math.ceil((counter.resetAt - now()) / 1000));
        }
      }
      return wait;
    },
    async recordFailure(rules) {
      for (const rule of rules) {
        const counter = live(rule.key) ?? { count: 0, resetAt: now() + windowSeconds * 1000 };
        counter.count += 1;
        counters.set(rule.key, counter);
      }
    },
    async clear(name) {
      counters.delete(name);
    },
  };
}
