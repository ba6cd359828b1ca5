import type { Result } from 'ioredis';
import type { Logger } from '../logger.ts';
import type { Redis } from '../redis.ts';

/** A limit on how often one caller may do something: `limit` requests per `windowSeconds`. */
export interface RateLimitPolicy {
  /** Names the policy in the `RateLimit-Policy` and `RateLimit` headers. */
  name: string;
  limit: number;
  windowSeconds: number;
}

export interface RateLimitOutcome {
  allowed: boolean;
  /** True when the count could not be made (Redis down) and the request was let through. */
  uncounted?: boolean;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

/** Counts hits per policy and caller. */
export interface RateLimiter {
  hit(policy: RateLimitPolicy, subject: string): Promise<RateLimitOutcome>;
}

// One round trip, atomic: every process shares the count, so together they can never
// accept more than the limit in a window.
const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) ttl = tonumber(ARGV[1]) end
return { count, ttl }
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    rateLimitHit(key: string, windowMs: number): Result<[number, number], Context>;
  }
}

function outcome(policy: RateLimitPolicy, count: number, ttlMs: number): RateLimitOutcome {
  return {
    allowed: count <= policy.limit,
    remaining: Math.max(0, policy.limit - count),
    resetSeconds: Math.max(1, Math.ceil(ttlMs / 1000)),
  };
}

/**
 * Fixed windows in Redis. When Redis fails, `onError` decides: `allow` lets the request
 * through (the failure is logged and counted), `deny` answers 503.
 */
export function redisRateLimiter(
  redis: Redis,
  options: { onError: 'allow' | 'deny'; logger: Logger; onFailure?: () => void },
): RateLimiter {
  redis.defineCommand('rateLimitHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
  let lastWarning = 0;
  return {
    async hit(policy, subject) {
      try {
        const [count, ttlMs] = await redis.rateLimitHit(
          `ratelimit:${policy.name}:${subject}`,
          policy.windowSeconds * 1000,
        );
        return outcome(policy, count, ttlMs);
      } catch (error) {
        options.onFailure?.();
        if (Date.now() - lastWarning > 10_000) {
          lastWarning = Date.now();
          options.logger.warn(
            { err: error, policy: policy.name },
            `rate limiter unavailable; ${options.onError === 'allow' ? 'allowing' : 'refusing'} requests`,
          );
        }
        if (options.onError === 'deny') throw new RateLimiterUnavailableError();
        return {
          allowed: true,
          uncounted: true,
          remaining: policy.limit,
          resetSeconds: policy.windowSeconds,
        };
      }
    },
  };
}

export class RateLimiterUnavailableError extends Error {
  constructor() {
    super('The rate limiter is unavailable');
    this.name = 'RateLimiterUnavailableError';
  }
}

/** The same windows in process memory, for development without Redis (one process only). */
export function memoryRateLimiter(now: () => number = Date.now): RateLimiter {
  const windows = new Map<string, { count: number; resetAt: number }>();
  return {
    async hit(policy, subject) {
      const key = `${policy.name}:${subject}`;
      const at = now();
      let window = windows.get(key);
      if (!window || window.resetAt <= at) {
        window = { count: 0, resetAt: at + policy.windowSeconds * 1000 };
        windows.set(key, window);
        if (windows.size > 100_000) {
          for (const [staleKey, stale] of windows)
            if (stale.resetAt <= at) windows.delete(staleKey);
        }
      }
      window.count += 1;
      return outcome(policy, window.count, window.resetAt - at);
    },
  };
}

/**
 * A limiter that never refuses, for tests that exercise routes far more often than any
 * policy allows (they build the app with `{ ...deps, rateLimiter: unlimitedRateLimiter() }`).
 */
export function unlimitedRateLimiter(): RateLimiter {
  return {
    async hit(policy) {
      return { allowed: true, remaining: policy.limit, resetSeconds: policy.windowSeconds };
    },
  };
}
