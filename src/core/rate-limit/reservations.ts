import type { Result } from 'ioredis';
import { DependencyUnavailableError } from '../dependency-errors.ts';
import type { Logger } from '../logger.ts';
import type { Redis } from '../redis.ts';
import { perTurn } from '../turn-batch.ts';

/**
 * The window a reservation counts in: a fixed window of `seconds` (fractions allowed) that
 * starts with its first reservation, or a calendar period that ends at `endsAt` (e.g. the
 * end of the UTC day; the key should name the period, `spend:team-1:2030-01-31`).
 */
export type ReservationWindow = { seconds: number } | { endsAt: Date };

export interface ReservationOutcome {
  allowed: boolean;
  /**
   * With `existing`: the window was not there, so nothing was reserved; seed it from your
   * own record (`seed`) and reserve again.
   */
  missing?: boolean;
  /** True when the count could not be made (Redis down) and the reservation was let through. */
  uncounted?: boolean;
  /** What the window holds now, this reservation included when it was allowed. */
  used: number;
  /** What the window can still take (0 when it is full or over full). */
  remaining: number;
  /** Seconds until the window ends, at least 1 while it lasts; 0 when there is no window. */
  resetSeconds: number;
}

export interface ReserveOptions {
  /**
   * Reserve only in a window that exists: a missing one (a new period, or Redis lost its
   * data) answers `missing` rather than starting at 0, for windows whose count must start
   * from a record elsewhere (spend so far, from the database). Still one round trip.
   */
  existing?: boolean;
}

export interface ReservationUsage {
  used: number;
  /** Seconds until the window ends, 0 when there is none. */
  resetSeconds: number;
  /** True when Redis could not be asked and the zeros are a guess (`onError: 'allow'`). */
  uncounted?: boolean;
}

/**
 * Budgets of amounts, not hits: tokens or money reserved before work whose real cost is
 * known only afterwards, then corrected. Every process shares the Redis implementation's
 * windows, so together they never reserve past the limit.
 *
 * @example
 * const day = { endsAt: endOfUtcDay(now) };
 * const key = `tokens:${teamId}:${now.toISOString().slice(0, 10)}`;
 * const outcome = await reservations.reserve(key, estimate, dailyLimit, day);
 * if (!outcome.allowed) throw new TooManyAttemptsError(outcome.resetSeconds);
 * const actual = await callModel();
 * await reservations.adjust(key, actual - estimate);
 */
export interface ReservationLimiter {
  /**
   * Reserves `amount` (a non-negative safe integer) against `limit` in the window `key`: refused,
   * with nothing reserved, when used + amount would exceed the limit. A window's first
   * reservation starts it; later ones never move its end. A zero amount asks without
   * starting a window. Atomic across processes.
   */
  reserve(
    key: string,
    amount: number,
    limit: number,
    window: ReservationWindow,
    options?: ReserveOptions,
  ): Promise<ReservationOutcome>;
  /**
   * Corrects the window by `delta` (a safe integer) once the real amount is known: negative
   * gives room back, positive takes more, even past the limit (the work is done; the next
   * reservation is refused instead). Never below 0; a no-op once the window has ended.
   */
  adjust(key: string, delta: number): Promise<void>;
  /**
   * Starts the window at `value` unless it exists already, e.g. from the database's record
   * of spend after Redis lost its data. A window that exists is left as it is.
   */
  seed(key: string, value: number, window: ReservationWindow): Promise<void>;
  /** What the window holds now. */
  used(key: string): Promise<ReservationUsage>;
}

/** Redis could not be asked and `onError` is `deny`: the app answers 503. */
export class ReservationsUnavailableError extends DependencyUnavailableError {
  constructor(options?: { cause?: unknown }) {
    super('The reservation limiter is unavailable; retry shortly', options);
    this.name = 'ReservationsUnavailableError';
  }
}

function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    // Past 2^53 Lua's doubles (and JavaScript's) stop counting exactly.
    throw new RangeError(
      `${name} must be a${min === 0 ? ' non-negative' : ''} safe integer, got ${value}`,
    );
  }
}

/** The window as the scripts take it: `in` milliseconds from now, or `at` a Unix time in ms. */
function windowArgs(window: ReservationWindow): ['in' | 'at', number] {
  if ('seconds' in window) {
    if (!Number.isFinite(window.seconds) || window.seconds <= 0) {
      throw new RangeError(`a window's seconds must be positive, got ${window.seconds}`);
    }
    return ['in', Math.max(1, Math.ceil(window.seconds * 1000))];
  }
  const at = window.endsAt.getTime();
  if (!Number.isFinite(at)) throw new RangeError('a window ends at a valid date');
  return ['at', at];
}

function resetSecondsOf(ttlMs: number): number {
  return ttlMs > 0 ? Math.max(1, Math.ceil(ttlMs / 1000)) : 0;
}

function outcome(allowed: boolean, used: number, limit: number, ttlMs: number) {
  return {
    allowed,
    used,
    remaining: Math.max(0, limit - used),
    resetSeconds: resetSecondsOf(ttlMs),
  };
}

// Starting a window is one SET with its expiry, so no window ever exists without one. An
// `endsAt` already past (the caller's clock behind Redis's at the end of a period) makes
// Redis delete the key at once: the reservation is allowed and counted in no window.
const START_WINDOW = `
local function start(key, value, mode, ms, condition)
  if mode == 'at' then
    return redis.call('SET', key, value, 'PXAT', ms, condition)
  end
  return redis.call('SET', key, value, 'PX', ms, condition)
end
`;

// One round trip for every reservation of a turn, each atomic: a check and its increment
// cannot interleave with another process's, so together they never pass the limit, and a
// turn's reservations of one key are taken in the order asked. Counters are integers below
// 2^53, which Lua's doubles hold exactly; they travel as Redis's own digits both ways (ARGV
// in, the stored string out), since ioredis reads integer replies near 2^53 inexactly. Each
// reservation answers a status (0 refused, 1 reserved, 2 missing), the count and the TTL.
const RESERVE_SCRIPT = `${START_WINDOW}
local function reserve(key, amount_text, limit_text, mode, ms, existing)
  local amount = tonumber(amount_text)
  local limit = tonumber(limit_text)
  local current = redis.call('GET', key)
  if not current then
    if existing == '1' then return 2, '0', -2 end
    if amount > limit then return 0, '0', -2 end
    if amount == 0 then return 1, '0', -2 end
    start(key, amount_text, mode, ms, 'NX')
    return 1, amount_text, redis.call('PTTL', key)
  end
  local ttl = redis.call('PTTL', key)
  if tonumber(current) + amount > limit then return 0, current, ttl end
  if amount > 0 then
    redis.call('INCRBY', key, amount_text)
    current = redis.call('GET', key)
  end
  if ttl == -1 then
    -- A counter without an expiry (written by hand) would never reset: give it the window.
    redis.call(mode == 'at' and 'PEXPIREAT' or 'PEXPIRE', key, ms)
    ttl = redis.call('PTTL', key)
  end
  return 1, current, ttl
end
local answer = {}
for i = 1, #KEYS do
  local a = 5 * (i - 1)
  local status, used, ttl = reserve(KEYS[i], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5])
  answer[3 * i - 2] = status
  answer[3 * i - 1] = used
  answer[3 * i] = ttl
end
return answer
`;

// INCRBY keeps the expiry, and a missing key stays missing: an adjustment that arrives
// after its window ended must not start a new window without one. A turn's adjustments go
// together, each key's delta in ARGV at its place.
const ADJUST_SCRIPT = `
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local used = redis.call('INCRBY', KEYS[i], ARGV[i])
    if used < 0 then redis.call('SET', KEYS[i], '0', 'KEEPTTL') end
  end
end
return 0
`;

const SEED_SCRIPT = `${START_WINDOW}
if start(KEYS[1], ARGV[1], ARGV[2], ARGV[3], 'NX') then return 1 end
return 0
`;

// The count and its TTL read together, so they belong to the same window.
const USED_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if not current then return { '0', -2 } end
return { current, redis.call('PTTL', KEYS[1]) }
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /**
     * `numberOfKeys` keys, then an amount, a limit, a window (`in` or `at`, and ms) and
     * `existing` (`0` or `1`) for each; answers a status, a count and a TTL for each.
     */
    reservationReserve(
      numberOfKeys: number,
      ...keysThenArguments: (string | number)[]
    ): Result<(number | string)[], Context>;
    /** `numberOfKeys` keys, then a delta for each. */
    reservationAdjust(
      numberOfKeys: number,
      ...keysThenDeltas: (string | number)[]
    ): Result<number, Context>;
    reservationSeed(
      key: string,
      value: number,
      mode: 'in' | 'at',
      ms: number,
    ): Result<number, Context>;
    reservationUsed(key: string): Result<[string, number], Context>;
  }
}

/** One reservation as the script takes it. */
interface ReserveCall {
  key: string;
  amount: number;
  limit: number;
  mode: 'in' | 'at';
  ms: number;
  existing: boolean;
}

export interface RedisReservationLimiterOptions {
  /**
   * When Redis fails: `allow` lets reservations through uncounted, `deny` refuses them with
   * `ReservationsUnavailableError` (503). Either way the failure is logged (at most every
   * 10 s) and counted through `onFailure`.
   */
  onError: 'allow' | 'deny';
  logger: Logger;
  onFailure?: () => void;
}

/**
 * Reservation windows in Redis, under `reservation:<key>`: one integer counter per window,
 * expiring with it, each operation a Lua script; the reservations of one turn of the event
 * loop are one script call, and so are its adjustments.
 *
 * @example
 * const reservations = redisReservationLimiter(redis, { onError: 'deny', logger });
 */
export function redisReservationLimiter(
  redis: Redis,
  options: RedisReservationLimiterOptions,
): ReservationLimiter {
  redis.defineCommand('reservationReserve', { lua: RESERVE_SCRIPT });
  redis.defineCommand('reservationAdjust', { lua: ADJUST_SCRIPT });
  redis.defineCommand('reservationSeed', { numberOfKeys: 1, lua: SEED_SCRIPT });
  redis.defineCommand('reservationUsed', { numberOfKeys: 1, lua: USED_SCRIPT });
  const keyOf = (key: string) => `reservation:${key}`;
  // The reservations and adjustments of one turn of the event loop go in one script call
  // each (as the rate limiter's hits do, decision 046): a gateway call reserves requests and
  // tokens at once, and settles when it ends, and many calls end in one turn under load.
  // On a Redis Cluster each goes alone: one script touches keys of one hash slot only.
  const reserveInTurn = perTurn(
    async (asked: ReserveCall[]): Promise<[number, string, number][]> => {
      const answer = await redis.reservationReserve(
        asked.length,
        ...asked.map(({ key }) => keyOf(key)),
        ...asked.flatMap(({ amount, limit, mode, ms, existing }) => [
          amount,
          limit,
          mode,
          ms,
          existing ? '1' : '0',
        ]),
      );
      return asked.map((_, index) => {
        const [status, used, ttlMs] = answer.slice(3 * index, 3 * index + 3);
        if (typeof status !== 'number' || typeof used !== 'string' || typeof ttlMs !== 'number')
          throw new Error('The reservation script answered fewer outcomes than it was asked');
        return [status, used, ttlMs];
      });
    },
    { alone: redis.isCluster },
  );
  const adjustInTurn = perTurn(
    async (asked: { key: string; delta: number }[]): Promise<undefined[]> => {
      await redis.reservationAdjust(
        asked.length,
        ...asked.map(({ key }) => keyOf(key)),
        ...asked.map(({ delta }) => delta),
      );
      return asked.map(() => undefined);
    },
    { alone: redis.isCluster },
  );
  let lastWarning = 0;
  const failed = (error: unknown, operation: string, key: string) => {
    options.onFailure?.();
    if (Date.now() - lastWarning > 10_000) {
      lastWarning = Date.now();
      options.logger.warn(
        { err: error, operation, key },
        `reservation limiter unavailable; ${options.onError === 'allow' ? 'allowing' : 'refusing'} reservations`,
      );
    }
  };
  return {
    async reserve(key, amount, limit, window, reserveOptions) {
      checkInteger('amount', amount, 0);
      checkInteger('limit', limit, 0);
      const [mode, ms] = windowArgs(window);
      try {
        const [status, used, ttlMs] = await reserveInTurn({
          key,
          amount,
          limit,
          mode,
          ms,
          existing: reserveOptions?.existing === true,
        });
        if (status === 2) return { ...outcome(false, 0, limit, -2), missing: true };
        return outcome(status === 1, Number(used), limit, ttlMs);
      } catch (error) {
        failed(error, 'reserve', key);
        if (options.onError === 'deny') throw new ReservationsUnavailableError({ cause: error });
        const ttlMs = mode === 'in' ? ms : ms - Date.now();
        return { ...outcome(true, 0, limit, ttlMs), uncounted: true };
      }
    },
    async adjust(key, delta) {
      checkInteger('delta', delta, Number.MIN_SAFE_INTEGER);
      try {
        await adjustInTurn({ key, delta });
      } catch (error) {
        // Never thrown: the work is done and there is nothing left to refuse. The window is
        // off by `delta` until it ends.
        failed(error, 'adjust', key);
      }
    },
    async seed(key, value, window) {
      checkInteger('value', value, 0);
      const [mode, ms] = windowArgs(window);
      try {
        await redis.reservationSeed(keyOf(key), value, mode, ms);
      } catch (error) {
        // Never thrown: with Redis down the next reservation meets `onError` anyway.
        failed(error, 'seed', key);
      }
    },
    async used(key) {
      try {
        const [used, ttlMs] = await redis.reservationUsed(keyOf(key));
        return { used: Number(used), resetSeconds: resetSecondsOf(ttlMs) };
      } catch (error) {
        failed(error, 'used', key);
        if (options.onError === 'deny') throw new ReservationsUnavailableError({ cause: error });
        return { used: 0, resetSeconds: 0, uncounted: true };
      }
    },
  };
}

/**
 * The same windows in process memory, for development without Redis (one process only).
 *
 * @example
 * const reservations = memoryReservationLimiter();
 */
export function memoryReservationLimiter(now: () => number = Date.now): ReservationLimiter {
  const windows = new Map<string, { used: number; endsAt: number }>();
  /** The window under `key` while it lasts; an ended one is forgotten. */
  const live = (key: string, at: number) => {
    const window = windows.get(key);
    if (window && window.endsAt <= at) windows.delete(key);
    return window && window.endsAt > at ? window : undefined;
  };
  const start = (key: string, used: number, window: ReservationWindow, at: number) => {
    const [mode, ms] = windowArgs(window);
    const endsAt = mode === 'in' ? at + ms : ms;
    // As in Redis: a period that is already over keeps nothing.
    if (endsAt <= at) return undefined;
    if (windows.size >= 100_000) {
      for (const [staleKey, stale] of windows) if (stale.endsAt <= at) windows.delete(staleKey);
    }
    const started = { used, endsAt };
    windows.set(key, started);
    return started;
  };
  return {
    async reserve(key, amount, limit, window, reserveOptions) {
      checkInteger('amount', amount, 0);
      checkInteger('limit', limit, 0);
      windowArgs(window);
      const at = now();
      const current = live(key, at);
      if (!current && reserveOptions?.existing) {
        return { ...outcome(false, 0, limit, -2), missing: true };
      }
      const used = current?.used ?? 0;
      const ttlMs = current ? current.endsAt - at : -2;
      if (used + amount > limit) return outcome(false, used, limit, ttlMs);
      if (amount === 0) return outcome(true, used, limit, ttlMs);
      if (current) {
        current.used += amount;
        return outcome(true, current.used, limit, ttlMs);
      }
      const started = start(key, amount, window, at);
      return outcome(true, amount, limit, started ? started.endsAt - at : -2);
    },
    async adjust(key, delta) {
      checkInteger('delta', delta, Number.MIN_SAFE_INTEGER);
      const current = live(key, now());
      if (current) current.used = Math.max(0, current.used + delta);
    },
    async seed(key, value, window) {
      checkInteger('value', value, 0);
      windowArgs(window);
      const at = now();
      if (!live(key, at)) start(key, value, window, at);
    },
    async used(key) {
      const at = now();
      const current = live(key, at);
      return current
        ? { used: current.used, resetSeconds: resetSecondsOf(current.endsAt - at) }
        : { used: 0, resetSeconds: 0 };
    },
  };
}
