import type { Result } from 'ioredis';
import type { Logger } from '../logger.ts';
import type { Redis } from '../redis.ts';
import { perTurn } from '../turn-batch.ts';

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

// One round trip for every hit of an event-loop turn, atomic: every process shares the
// counts, so together they can never accept more than a limit in a window. KEYS[i] is
// counted in a window of ARGV[i] ms; the answer lists each key's count and TTL in turn.
const HITS_SCRIPT = `
local answer = {}
for i = 1, #KEYS do
  local window = ARGV[i]
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('PEXPIRE', KEYS[i], window) end
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[i], window) ttl = tonumber(window) end
  answer[2 * i - 1] = count
  answer[2 * i] = ttl
end
return answer
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** `numberOfKeys` keys, then as many windows in ms: see HITS_SCRIPT. */
    rateLimitHits(
      numberOfKeys: number,
      ...keysThenWindows: (string | number)[]
    ): Result<number[], Context>;
  }
}

function outcome(policy: RateLimitPolicy, count: number, ttlMs: number): RateLimitOutcome {
  return {
    allowed: count <= policy.limit,
    remaining: Math.max(0, policy.limit - count),
    resetSeconds: Math.max(1, Math.ceil(ttlMs / 1000)),
  };
}

interface Counted {
  count: number;
  ttlMs: number;
}

/** Counts the hits of a turn with one script call (`perTurn`), each caller its own count. */
function hitCounter(redis: Redis): (hit: { key: string; windowMs: number }) => Promise<Counted> {
  return perTurn(
    async (hits: { key: string; windowMs: number }[]): Promise<Counted[]> => {
      const answer = await redis.rateLimitHits(
        hits.length,
        ...hits.map((hit) => hit.key),
        ...hits.map((hit) => hit.windowMs),
      );
      return hits.map((_, index) => {
        const count = answer[2 * index];
        const ttlMs = answer[2 * index + 1];
        if (count === undefined || ttlMs === undefined)
          throw new Error('The rate-limit script answered fewer counts than it was sent');
        return { count, ttlMs };
      });
    },
    { alone: redis.isCluster },
  );
}

/**
 * Fixed windows in Redis. When Redis fails, `onError` decides: `allow` lets the request
 * through (the failure is logged and counted), `deny` answers 503.
 */
export function redisRateLimiter(
  redis: Redis,
  options: { onError: 'allow' | 'deny'; logger: Logger; onFailure?: () => void },
): RateLimiter {
  redis.defineCommand('rateLimitHits', { lua: HITS_SCRIPT });
  const count = hitCounter(redis);
  let lastWarning = 0;
  return {
    async hit(policy, subject) {
      try {
        const { count: hits, ttlMs } = await count({
          key: `ratelimit:${policy.name}:${subject}`,
          windowMs: policy.windowSeconds * 1000,
        });
        return outcome(policy, hits, ttlMs);
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
