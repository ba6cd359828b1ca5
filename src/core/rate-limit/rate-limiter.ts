import type { Result } from 'ioredis';
import type { Logger } from '../logger.ts';
import type { Redis } from '../redis.ts';
import { perTurn } from '../turn-batch.ts';

/** A limit on how often one caller may do something: `limit` requests per `windowSeconds`. */
export interface RateLimitPolicy {
  /** Names the policy in the `RateLimit-Policy` and `RateLimit` headers. */
  readonly name: string;
  readonly limit: number;
  readonly windowSeconds: number;
}

export interface RateLimitOutcome {
  allowed: boolean;
  /** True when the count could not be made (Redis down) and the request was let through. */
  uncounted?: boolean;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

/**
 * Counts hits per policy and caller. A hit answered from what the process already holds (a
 * lease, its own memory) comes back as it is, not in a promise: most hits of a busy caller,
 * each spared a turn of the microtask queue (decision 088).
 */
export interface RateLimiter {
  hit(policy: RateLimitPolicy, subject: string): RateLimitOutcome | Promise<RateLimitOutcome>;
}

// One round trip for the hits of an event-loop turn, atomic: every process shares the
// counts, so together they can never accept more than a limit in a window. KEYS[i] is
// counted in a window of ARGV[3i-2] ms, up to a limit of ARGV[3i]: it takes up to ARGV[3i-1]
// requests' worth, as many as the limit leaves (none once it is reached, so a refusal counts
// nothing). The answer lists, for each key in turn, its count, what it took, and its TTL.
const TAKE_SCRIPT = `
local answer = {}
for i = 1, #KEYS do
  local window = ARGV[3 * i - 2]
  local want = tonumber(ARGV[3 * i - 1])
  local limit = tonumber(ARGV[3 * i])
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  local taken = math.max(0, math.min(want, limit - count))
  if taken > 0 then count = redis.call('INCRBY', KEYS[i], taken) end
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[i], window) ttl = tonumber(window) end
  answer[3 * i - 2] = count
  answer[3 * i - 1] = taken
  answer[3 * i] = ttl
end
return answer
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** `numberOfKeys` keys, then a window in ms, a wanted count and a limit for each. */
    rateLimitTake(
      numberOfKeys: number,
      ...keysThenArguments: (string | number)[]
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

/**
 * The most requests a process takes ahead: 1% of the limit (decision 058), so what processes
 * hold unused when a window ends is a small share of it.
 */
const LEASE_SHARE = 0.01;

/** How many requests' worth one process may take ahead for `policy`; 1: none ahead. */
export function leaseCap(policy: RateLimitPolicy): number {
  return Math.max(1, Math.floor(policy.limit * LEASE_SHARE));
}

/** Requests' worth a process took from Redis for one key and has not used yet. */
interface Lease {
  left: number;
  /** The key's count in Redis when last taken from, what this process's figures start from. */
  count: number;
  /** `Date.now()` at which the window ends. */
  expiresAt: number;
  /** How many it took ahead last time: doubled each time the key comes back in a window. */
  ahead: number;
}

interface Hit {
  key: string;
  policy: RateLimitPolicy;
}

/** One key's part of a turn's script call: what its hits want, then what Redis answered. */
interface KeyTake {
  policy: RateLimitPolicy;
  hits: number;
  /** Requests' worth to take beyond the hits, for the lease. */
  ahead: number;
  /** The key's count before this call took anything. */
  before: number;
  ttlMs: number;
  /** Hits given their outcome so far. */
  answered: number;
}

/**
 * Fixed windows in Redis. Hits of one turn of the event loop go in one script call
 * (`perTurn`), the hits of one key taken together. For a policy whose limit is in the
 * hundreds or more, a process takes a few requests ahead (a lease: up to 1% of the limit) and
 * answers from them before going back to Redis, so a busy caller costs Redis a
 * call every few requests instead of every one. Every request is still counted in Redis
 * before it is let through, so processes together never accept more than the limit; a lease
 * left over when its window ends goes unused. The remaining count a process reports is
 * exact for its own requests and misses the others' since it last went to Redis. When Redis
 * fails, `onError` decides: `allow` lets the request through (the failure is logged and
 * counted), `deny` answers 503; a `deny` limiter takes nothing ahead, so an outage refuses
 * the very next request.
 */
export function redisRateLimiter(
  redis: Redis,
  options: { onError: 'allow' | 'deny'; logger: Logger; onFailure?: () => void },
): RateLimiter {
  redis.defineCommand('rateLimitTake', { lua: TAKE_SCRIPT });
  // A limiter told to refuse when Redis fails wants Redis to count each request as it comes,
  // so that an outage refuses the next one: it takes nothing ahead.
  const leasing = options.onError === 'allow';
  const leases = new Map<string, Lease>();
  // A lost connection ends the leases: what was taken may be gone with a Redis that restarts.
  redis.on('close', () => leases.clear());

  /** What a turn's hits take from Redis: one entry per key, each hit its own outcome. */
  const take = perTurn(
    async (hits: Hit[]): Promise<RateLimitOutcome[]> => {
      const takes = new Map<string, KeyTake>();
      const now = Date.now();
      const ofHit = hits.map(({ key, policy }) => {
        let entry = takes.get(key);
        if (entry) {
          entry.hits += 1;
          return entry;
        }
        const cap = leasing ? leaseCap(policy) : 1;
        const last = leases.get(key);
        const ahead =
          cap === 1 ? 0 : last && last.expiresAt > now ? Math.min(cap, last.ahead * 2) : 1;
        entry = { policy, hits: 1, ahead, before: 0, ttlMs: 0, answered: 0 };
        takes.set(key, entry);
        return entry;
      });
      const entries = [...takes];
      const answer = await redis.rateLimitTake(
        entries.length,
        ...entries.map(([key]) => key),
        ...entries.flatMap(([, { policy, hits: wanted, ahead }]) => [
          policy.windowSeconds * 1000,
          wanted + ahead,
          policy.limit,
        ]),
      );
      const answeredAt = Date.now();
      for (const [index, [key, entry]] of entries.entries()) {
        const [count, taken, ttlMs] = answer.slice(3 * index, 3 * index + 3);
        if (count === undefined || taken === undefined || ttlMs === undefined)
          throw new Error('The rate-limit script answered fewer counts than it was sent');
        entry.before = count - taken;
        entry.ttlMs = ttlMs;
        const ahead = taken - Math.min(taken, entry.hits);
        if (ahead > 0 || entry.ahead > 0) {
          const held = leases.get(key);
          const same = held !== undefined && held.expiresAt > answeredAt;
          leases.set(key, {
            left: (same ? held.left : 0) + ahead,
            count: Math.max(count, same ? held.count : 0),
            expiresAt: answeredAt + ttlMs,
            ahead: entry.ahead,
          });
        }
      }
      if (leases.size > 100_000) {
        for (const [key, lease] of leases) if (lease.expiresAt <= answeredAt) leases.delete(key);
      }
      // A key's hits, in the order asked, get the counts it took; past those, a count over
      // the limit, which refuses them.
      return ofHit.map((entry) => {
        entry.answered += 1;
        return outcome(entry.policy, entry.before + entry.answered, entry.ttlMs);
      });
    },
    { alone: redis.isCluster },
  );

  let lastWarning = 0;
  const takeOrFail = async (key: string, policy: RateLimitPolicy): Promise<RateLimitOutcome> => {
    try {
      return await take({ key, policy });
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
  };
  return {
    hit(policy, subject) {
      const key = `ratelimit:${policy.name}:${subject}`;
      const lease = leases.get(key);
      if (lease && lease.left > 0) {
        const now = Date.now();
        if (lease.expiresAt > now) {
          lease.left -= 1;
          return outcome(policy, lease.count - lease.left, lease.expiresAt - now);
        }
      }
      return takeOrFail(key, policy);
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
    hit(policy, subject) {
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
    hit(policy) {
      return { allowed: true, remaining: policy.limit, resetSeconds: policy.windowSeconds };
    },
  };
}
