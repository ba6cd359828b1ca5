import { randomUUID } from 'node:crypto';
import type { Result } from 'ioredis';
import type { Logger } from './logger.ts';
import { PartLog } from './part-log.ts';
import type { Redis } from './redis.ts';
import {
  parseEntries,
  redisStreamReader,
  type StreamEntry,
  streamIdAfter,
} from './redis-stream-reader.ts';

/**
 * The one who does the work for everyone who asked for the same thing at the same time. It
 * publishes its result in parts, in order (await each `publish` before the next), then
 * finishes, or fails. Sharing is best effort and never fails the leader's own work: when
 * Redis is unreachable, or the lead was lost (no `publish` for longer than `ttlMs`), the
 * calls do nothing and the followers fail instead.
 */
export interface FlightLeader {
  role: 'leader';
  publish(part: string): Promise<void>;
  /** Ends the flight: followers stop after the last part; the next `join` starts anew. */
  finish(): Promise<void>;
  /** Ends the flight in failure: followers get `FlightFailedError` saying `reason`. */
  fail(reason: string): Promise<void>;
}

export interface FlightFollower {
  role: 'follower';
  /**
   * Every part the leader published, from the first, as they come; ends when the leader
   * finishes; throws `FlightFailedError` when it fails or goes silent for longer than
   * `ttlMs` (a leader killed with -9), and the join's `signal.reason` as soon as it aborts.
   */
  parts: AsyncIterable<string>;
}

export type Flight = FlightLeader | FlightFollower;

export interface JoinOptions {
  /**
   * How long a leader may go without publishing before it counts as gone: longer than
   * the longest wait for a part (the first one included), as short as that allows, since
   * followers of a killed leader wait this long.
   */
  ttlMs: number;
  /** Aborting it ends a follower's reading at once. */
  signal?: AbortSignal;
}

/**
 * Identical work in flight at the same time, done once: the first to `join` a key leads
 * and publishes its result; the others follow and receive each part, from the first,
 * across processes with the Redis implementation. Once the flight ends, the next `join`
 * starts a new one. Keys are compared as given: make one from a digest of the request.
 *
 * @example
 * const flight = await flights.join(`chat:${digest}`, { ttlMs: 30_000, signal });
 * if (flight.role === 'follower') {
 *   try {
 *     for await (const part of flight.parts) send(part);
 *     return;
 *   } catch (error) {
 *     if (!(error instanceof FlightFailedError)) throw error;
 *     // The leader failed or died: do the work here.
 *   }
 * }
 * const leader = flight.role === 'leader' ? flight : undefined;
 * try {
 *   for await (const part of work()) {
 *     send(part);
 *     await leader?.publish(part);
 *   }
 *   await leader?.finish();
 * } catch (error) {
 *   await leader?.fail(String(error));
 *   throw error;
 * }
 */
export interface SharedFlights {
  join(key: string, options: JoinOptions): Promise<Flight>;
  /** Stops following (followers fail) and releases connections, at shutdown. */
  close(): Promise<void>;
}

/** The flight a follower was following ended without its result. */
export class FlightFailedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FlightFailedError';
  }
}

const failedBecause = (reason: string) =>
  new FlightFailedError(`The flight's leader failed: ${reason}`);
const wentSilent = (ttlMs: number) =>
  new FlightFailedError(`The flight's leader went silent for more than ${ttlMs} ms`);
const closedError = () => new FlightFailedError('The shared flights were closed');

function checkTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs < 1) {
    throw new RangeError(`ttlMs must be at least 1, got ${ttlMs}`);
  }
  return Math.ceil(ttlMs);
}

/** A leader's handle: publishing after the end is a bug; ending twice does nothing. */
function leaderHandle(settle: {
  publish(part: string): Promise<void>;
  finish(): Promise<void>;
  fail(reason: string): Promise<void>;
}): FlightLeader {
  let ended = false;
  return {
    role: 'leader',
    async publish(part) {
      if (ended) throw new Error('publish after the flight was finished or failed');
      await settle.publish(part);
    },
    async finish() {
      if (ended) return;
      ended = true;
      await settle.finish();
    },
    async fail(reason) {
      if (ended) return;
      ended = true;
      await settle.fail(reason);
    },
  };
}

/**
 * Flights within one process, for development without Redis. The same promises as Redis's:
 * followers read from the first part, and a leader that publishes nothing for `ttlMs`
 * loses the lead and its followers fail.
 *
 * @example
 * const flights = memorySharedFlights();
 */
export function memorySharedFlights(): SharedFlights {
  const flights = new Map<string, { log: PartLog; silence: NodeJS.Timeout }>();
  return {
    async join(key, options) {
      const ttlMs = checkTtl(options.ttlMs);
      options.signal?.throwIfAborted();
      const current = flights.get(key);
      if (current) return { role: 'follower', parts: current.log.read(options.signal) };
      const log = new PartLog();
      const end = () => {
        clearTimeout(flight.silence);
        if (flights.get(key) === flight) flights.delete(key);
      };
      const flight = {
        log,
        silence: setTimeout(() => {
          end();
          log.fail(wentSilent(ttlMs));
        }, ttlMs),
      };
      flights.set(key, flight);
      return leaderHandle({
        async publish(part) {
          // Once the lead is lost the log is done, and this adds nothing.
          if (log.done) return;
          log.append(part);
          flight.silence.refresh();
        },
        async finish() {
          end();
          log.end();
        },
        async fail(reason) {
          end();
          log.fail(failedBecause(reason));
        },
      });
    },
    async close() {
      for (const { log, silence } of flights.values()) {
        clearTimeout(silence);
        log.fail(closedError());
      }
      flights.clear();
    },
  };
}

// Field names of the stream's entries: a part, the end, a failure.
const PART = 'p';
const END = 'end';
const FAIL = 'fail';

// The lead is taken, or its holder's flight id returned, in one step: a caller is either
// the leader or knows which flight to follow, never neither.
const JOIN_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`;

// Only the lead's holder may write, and each part renews the lead and the stream: a leader
// that stops publishing (killed) leaves both to expire after the TTL.
const PUBLISH_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[2], '*', '${PART}', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
`;

// The last entry and the lead's release in one step, so a follower that finds the lead gone
// and no last entry in the stream knows the leader died. The stream stays a TTL longer for
// followers still reading it; the next join starts a new flight with a stream of its own.
const SETTLE_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[2], '*', ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('DEL', KEYS[1])
return 1
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    flightJoin(lead: string, flightId: string, ttlMs: number): Result<string | null, Context>;
    flightPublish(
      lead: string,
      parts: string,
      flightId: string,
      ttlMs: number,
      part: string,
    ): Result<number, Context>;
    flightSettle(
      lead: string,
      parts: string,
      flightId: string,
      field: string,
      value: string,
      keepMs: number,
    ): Result<number, Context>;
  }
}

export interface RedisSharedFlightsOptions {
  /** Told of Redis failures, at most every 10 s. */
  logger?: Logger;
  /** Called on every Redis failure, e.g. to count them. */
  onFailure?: () => void;
  /** How long the followers' read blocks before it is sent again (ms): 1 s unless told. */
  blockMs?: number;
}

/** What a process knows of one flight it follows, shared by its followers there. */
interface Following {
  log: PartLog;
  readers: number;
  stop(): void;
}

/**
 * Flights shared by every process through Redis. The lead is `{flight}:<key>:lead` (`SET NX
 * PX ttl`, holding the flight's id); the parts go to the stream `{flight}:<key>:parts:<id>`,
 * a stream per flight, so a flight that starts as another ends never meets its parts.
 * Followers read streams on one blocking connection per process (see `redisStreamReader`),
 * and followers of one flight in one process share its reading. A follower checks the lead
 * every quarter TTL (at most every second) while no part comes: gone without a last entry
 * in the stream means the leader died. When Redis is unreachable at `join`, the caller leads
 * alone (nothing shared) rather than fail.
 *
 * @example
 * const flights = redisSharedFlights(redis, { logger });
 */
export function redisSharedFlights(
  redis: Redis,
  options: RedisSharedFlightsOptions = {},
): SharedFlights {
  redis.defineCommand('flightJoin', { numberOfKeys: 1, lua: JOIN_SCRIPT });
  redis.defineCommand('flightPublish', { numberOfKeys: 2, lua: PUBLISH_SCRIPT });
  redis.defineCommand('flightSettle', { numberOfKeys: 2, lua: SETTLE_SCRIPT });
  let lastWarning = 0;
  const failed = (error: unknown, operation: string) => {
    options.onFailure?.();
    if (options.logger && Date.now() - lastWarning > 10_000) {
      lastWarning = Date.now();
      options.logger.warn({ err: error, operation }, 'shared flights: Redis failed; not sharing');
    }
  };
  const reader = redisStreamReader(redis, {
    onError: (error) => failed(error, 'read'),
    ...(options.blockMs ? { blockMs: options.blockMs } : {}),
  });
  const following = new Map<string, Following>();
  // One hash tag for every flight: on a Redis Cluster the scripts touch the lead and the
  // stream together, and the followers' one read names every stream followed.
  const leadKey = (key: string) => `{flight}:${key}:lead`;
  const partsKey = (key: string, flightId: string) => `{flight}:${key}:parts:${flightId}`;

  function follow(key: string, flightId: string, ttlMs: number): Following {
    const streamKey = partsKey(key, flightId);
    const existing = following.get(streamKey);
    if (existing) return existing;
    const log = new PartLog();
    let lastId = '0-0';
    let aliveAt = Date.now();
    let checking = false;
    const deliver = (entries: StreamEntry[]) => {
      for (const [id, [field, value = ''] = []] of entries) {
        // The reader and a check may both bring an entry: each counts once.
        if (log.done || !streamIdAfter(id, lastId)) continue;
        lastId = id;
        // A part is written with a renewal of the lead: proof of life.
        aliveAt = Date.now();
        if (field === PART) log.append(value);
        else if (field === END) log.end();
        else if (field === FAIL) log.fail(failedBecause(value));
      }
      if (log.done) state.stop();
    };
    const checkEveryMs = Math.min(1_000, Math.max(20, Math.floor(ttlMs / 4)));
    const check = async () => {
      if (checking || log.done || Date.now() - aliveAt < checkEveryMs) return;
      checking = true;
      try {
        if ((await redis.get(leadKey(key))) === flightId) {
          aliveAt = Date.now();
          return;
        }
        // The lead is gone, or another flight's. A leader that ended wrote its last entry in
        // the same step (read it, if the reader has not yet); without one, it died.
        deliver(parseEntries(await redis.xrange(streamKey, `(${lastId}`, '+')));
        if (!log.done) log.fail(wentSilent(ttlMs));
      } catch (error) {
        // Redis unreachable counts as silence: the leader could not publish either.
        failed(error, 'check');
        if (Date.now() - aliveAt > ttlMs) {
          log.fail(
            new FlightFailedError(`No word of the flight's leader for more than ${ttlMs} ms`, {
              cause: error,
            }),
          );
        }
      } finally {
        checking = false;
        if (log.done) state.stop();
      }
    };
    const timer = setInterval(() => void check(), checkEveryMs);
    const unwatch = reader.watch(streamKey, lastId, deliver);
    const state: Following = {
      log,
      readers: 0,
      stop() {
        clearInterval(timer);
        unwatch();
        if (following.get(streamKey) === state) following.delete(streamKey);
      },
    };
    following.set(streamKey, state);
    return state;
  }

  function leader(key: string, flightId: string, ttlMs: number): FlightLeader {
    const lead = leadKey(key);
    const parts = partsKey(key, flightId);
    let sharing = true;
    const settle = async (field: string, value: string) => {
      sharing = false;
      try {
        await redis.flightSettle(lead, parts, flightId, field, value, ttlMs);
      } catch (error) {
        // Followers see the lead expire, and fail.
        failed(error, 'settle');
      }
    };
    return leaderHandle({
      async publish(part) {
        if (!sharing) return;
        try {
          // 0: the lead expired (nothing published for `ttlMs`); the followers have failed.
          if ((await redis.flightPublish(lead, parts, flightId, ttlMs, part)) === 0) {
            sharing = false;
          }
        } catch (error) {
          failed(error, 'publish');
          // A part may be missing now: followers must not go on past a gap.
          await settle(FAIL, 'the leader lost a part');
        }
      },
      finish: async () => {
        if (sharing) await settle(END, '');
      },
      fail: async (reason) => {
        if (sharing) await settle(FAIL, reason);
      },
    });
  }

  return {
    async join(key, options) {
      const ttlMs = checkTtl(options.ttlMs);
      options.signal?.throwIfAborted();
      const flightId = randomUUID();
      let holder: string | null;
      try {
        holder = await redis.flightJoin(leadKey(key), flightId, ttlMs);
      } catch (error) {
        failed(error, 'join');
        // Nothing can be shared: do the work alone rather than fail it.
        const alone = async () => {};
        return leaderHandle({ publish: alone, finish: alone, fail: alone });
      }
      if (holder === null) return leader(key, flightId, ttlMs);
      const state = follow(key, holder, ttlMs);
      state.readers += 1;
      const { signal } = options;
      return {
        role: 'follower',
        parts: (async function* () {
          try {
            yield* state.log.read(signal);
          } finally {
            // The last reader here to leave stops the reading (unless the flight ended).
            state.readers -= 1;
            if (state.readers === 0) state.stop();
          }
        })(),
      };
    },
    async close() {
      reader.close();
      for (const state of [...following.values()]) {
        state.log.fail(closedError());
        state.stop();
      }
    },
  };
}
