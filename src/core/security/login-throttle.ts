import type { Logger } from '../logger.ts';
import type { Redis } from '../redis.ts';

export interface ThrottleRule {
  /** Names the policy in the `RateLimit-Policy` header of a refusal, e.g. `login-account`. */
  policy: string;
  key: string;
  limit: number;
}

/** A rule at its limit: how long to wait, as a rate-limit policy a client can read. */
export interface ThrottleBlock {
  seconds: number;
  policy: { name: string; limit: number; windowSeconds: number };
}

/**
 * Counts failed logins per account and per client address over a window. `blockedFor`
 * answers, when a counter is at its limit, the longest wait and the rule that imposes it.
 */
export interface LoginThrottle {
  blockedFor(rules: ThrottleRule[]): Promise<ThrottleBlock | undefined>;
  recordFailure(rules: ThrottleRule[]): Promise<void>;
  clear(key: string): Promise<void>;
}

/** A pipeline's replies as numbers; a command that failed in it fails the whole. */
function checkedReplies(replies: [Error | null, unknown][] | null | undefined): number[] {
  return (replies ?? []).map(([error, reply]) => {
    if (error) throw error;
    return Number(reply ?? 0);
  });
}

function blockOf(rule: ThrottleRule, seconds: number, windowSeconds: number): ThrottleBlock {
  return { seconds, policy: { name: rule.policy, limit: rule.limit, windowSeconds } };
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
        // A pipeline per rule, sent side by side: on a Redis Cluster each rule's key may live
        // on another node, and one pipeline may only touch one.
        const replies = await Promise.all(
          rules.map((rule) => redis.pipeline().get(key(rule.key)).ttl(key(rule.key)).exec()),
        );
        let block: ThrottleBlock | undefined;
        rules.forEach((rule, index) => {
          const [count = 0, ttl = windowSeconds] = checkedReplies(replies[index]);
          const seconds = ttl > 0 ? ttl : windowSeconds;
          if (count >= rule.limit && seconds > (block?.seconds ?? 0))
            block = blockOf(rule, seconds, windowSeconds);
        });
        return block;
      } catch (error) {
        failOpen(error);
        return undefined;
      }
    },
    async recordFailure(rules) {
      try {
        // NX: the window starts at the first failure and is not extended by later ones.
        await Promise.all(
          rules.map((rule) =>
            redis.pipeline().incr(key(rule.key)).expire(key(rule.key), windowSeconds, 'NX').exec(),
          ),
        ).then((replies) => replies.forEach(checkedReplies));
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
      let block: ThrottleBlock | undefined;
      for (const rule of rules) {
        const counter = live(rule.key);
        const seconds = counter ? Math.max(1, Math.ceil((counter.resetAt - now()) / 1000)) : 0;
        if (counter && counter.count >= rule.limit && seconds > (block?.seconds ?? 0)) {
          block = blockOf(rule, seconds, windowSeconds);
        }
      }
      return block;
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
