import { setTimeout as sleep } from 'node:timers/promises';
import { connectionFor, duplicateRedis, keyPrefixOf, type Redis } from './redis.ts';

/** A stream entry as Redis gives it: its id and its flat list of fields and values. */
export type StreamEntry = [id: string, fields: string[]];

/**
 * Follows many Redis streams on one blocking connection per process: one `XREAD BLOCK`
 * names every watched stream, and a new watch wakes the read under way (`CLIENT UNBLOCK`)
 * so that it is included at once. However many streams are followed, the process holds
 * one extra connection, and only while something is watched; a blocking read never holds
 * up the shared connection's commands. On a Redis Cluster one read can name only keys of one
 * slot: every key watched by one reader must share a hash tag (`{flight}:…`).
 *
 * @example
 * const reader = redisStreamReader(redis);
 * const stop = reader.watch('events:42', '0-0', (entries) => handle(entries));
 * // later
 * stop();
 */
export interface RedisStreamReader {
  /**
   * Calls `onEntries` with the entries of `key` after `fromId` as they arrive, in order,
   * each once, until the returned function is called. One watch per key at a time.
   */
  watch(key: string, fromId: string, onEntries: (entries: StreamEntry[]) => void): () => void;
  /** Stops every watch and closes the connection. */
  close(): void;
}

export interface RedisStreamReaderOptions {
  /** The longest a read blocks before it is sent again (ms): 1 s unless told. */
  blockMs?: number;
  /** Told of each failed read; the reader tries again after a pause, for ever. */
  onError?: (error: unknown) => void;
}

/**
 * Whether stream id `a` comes after `b` (ids are `<ms>-<sequence>`, compared as numbers).
 *
 * @example
 * streamIdAfter('1700000000000-10', '1700000000000-9'); // true
 */
export function streamIdAfter(a: string, b: string): boolean {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs > bMs || (aMs === bMs && aSeq > bSeq);
}

/** `XREAD`'s reply, checked: `[[key, [[id, [field, value, ...]], ...]], ...]` or null. */
function parseStreamReply(reply: unknown): [key: string, entries: StreamEntry[]][] {
  if (reply === null) return [];
  if (!Array.isArray(reply)) throw new TypeError('unexpected XREAD reply');
  return reply.map((stream: unknown) => {
    if (!Array.isArray(stream) || typeof stream[0] !== 'string') {
      throw new TypeError('unexpected XREAD reply');
    }
    return [stream[0], parseEntries(stream[1])];
  });
}

/**
 * `XRANGE`'s reply (or one stream's entries in `XREAD`'s), checked.
 *
 * @example
 * const entries = parseEntries(await redis.xrange('events:42', '-', '+'));
 */
export function parseEntries(entries: unknown): StreamEntry[] {
  if (!Array.isArray(entries)) throw new TypeError('unexpected stream entries');
  return entries.map((entry: unknown) => {
    if (
      !Array.isArray(entry) ||
      typeof entry[0] !== 'string' ||
      !Array.isArray(entry[1]) ||
      !entry[1].every((field: unknown) => typeof field === 'string')
    ) {
      throw new TypeError('unexpected stream entry');
    }
    return [entry[0], entry[1].map(String)];
  });
}

interface Watch {
  lastId: string;
  onEntries(entries: StreamEntry[]): void;
}

/**
 * The reader over `redis`'s server and key prefix; its blocking connection is a duplicate of
 * `redis`, opened at the first watch and closed when nothing is watched.
 *
 * @example
 * const reader = redisStreamReader(redis, { onError: (error) => logger.warn({ err: error }) });
 */
export function redisStreamReader(
  redis: Redis,
  options: RedisStreamReaderOptions = {},
): RedisStreamReader {
  const blockMs = options.blockMs ?? 1_000;
  // Reply keys carry the connection's prefix; watches are known by the caller's key.
  const prefix = keyPrefixOf(redis);
  const watches = new Map<string, Watch>();
  let connection: Redis | undefined;
  let clientId: number | undefined;
  let running = false;
  let closed = false;
  // Bumped by each new watch; a read sent before the latest bump lacks a stream.
  let generation = 0;
  // The key read first: on a cluster, the read goes to the node that holds it.
  let reading: { generation: number; key: string } | undefined;
  let waking = false;

  const open = () => {
    const reader = duplicateRedis(redis, {
      // Commands go only on a ready connection (the loop waits for one) and a read fails at
      // once when it drops: nothing is queued to be resent later under a client id that has
      // changed, or left pending past a close. A blocked read has its time before it times out.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      commandTimeout: blockMs + 5_000,
    });
    // A new connection has a new id; it is asked again before the next read.
    reader.on('ready', () => {
      clientId = undefined;
    });
    return reader;
  };

  let interrupt: (() => void) | undefined;
  /** Waits `ms`, or less: until `until` is ready, or the reader closes. */
  const pause = (ms: number, until?: Redis) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        until?.off('ready', done);
        interrupt = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      until?.once('ready', done);
      interrupt = done;
    });

  const loop = async () => {
    running = true;
    let failures = 0;
    while (watches.size > 0 && !closed) {
      connection ??= open();
      const reader = connection;
      if (reader.status !== 'ready') {
        // Reconnecting by itself; watches fail by their own deadlines if it takes too long.
        clientId = undefined;
        await pause(blockMs, reader);
        continue;
      }
      try {
        const keys = [...watches.keys()];
        const first = `${prefix}${keys[0] ?? ''}`;
        clientId ??= Number(await connectionFor(reader, first).client('ID'));
        const ids = keys.map((key) => watches.get(key)?.lastId ?? '0-0');
        reading = { generation, key: first };
        const reply: unknown = await reader.xread(
          'COUNT',
          1_000,
          'BLOCK',
          blockMs,
          'STREAMS',
          ...keys,
          ...ids,
        );
        reading = undefined;
        failures = 0;
        for (const [fullKey, entries] of parseStreamReply(reply)) {
          const watch = watches.get(fullKey.slice(prefix.length));
          if (!watch) continue;
          // A watch ended and started again during the read may have another position.
          const fresh = entries.filter(([id]) => streamIdAfter(id, watch.lastId));
          const last = fresh.at(-1);
          if (!last) continue;
          watch.lastId = last[0];
          watch.onEntries(fresh);
        }
      } catch (error) {
        reading = undefined;
        clientId = undefined;
        if (closed) break;
        options.onError?.(error);
        failures += 1;
        await pause(Math.min(50 * 2 ** failures, 1_000));
      }
    }
    running = false;
    connection?.disconnect();
    connection = undefined;
    clientId = undefined;
  };

  /** Ends the read under way if it was sent before the latest watch, so it is sent again. */
  const wake = async () => {
    if (waking) return;
    waking = true;
    try {
      // 0: the read has not reached Redis yet (it goes on another connection); retry for a
      // while, after which the read ends by itself within `blockMs` anyway.
      for (let attempt = 0; attempt < 50; attempt++) {
        if (!reading || reading.generation >= generation || clientId === undefined || closed) {
          break;
        }
        if ((await connectionFor(redis, reading.key).client('UNBLOCK', clientId)) === 1) break;
        await sleep(2);
      }
    } catch {
      // The read ends by itself within `blockMs`.
    } finally {
      waking = false;
    }
  };

  return {
    watch(key, fromId, onEntries) {
      if (closed) throw new Error('the stream reader is closed');
      if (watches.has(key)) throw new Error(`${key} is watched already`);
      const watch: Watch = { lastId: fromId, onEntries };
      watches.set(key, watch);
      generation += 1;
      if (!running) void loop();
      else void wake();
      return () => {
        if (watches.get(key) === watch) watches.delete(key);
      };
    },
    close() {
      closed = true;
      watches.clear();
      interrupt?.();
      connection?.disconnect();
    },
  };
}
