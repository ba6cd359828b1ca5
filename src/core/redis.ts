import { Cluster, Redis as RedisServer } from 'ioredis';
import { keepStringPrototypeFast } from './string-prototype.ts';

// ioredis has just declared its `String` subclass, which slows every string method call.
keepStringPrototypeFast();

/**
 * A connection to Redis: to one server, or to a Redis Cluster (`REDIS_CLUSTER=true`). Code
 * written against it works on both as long as each command, pipeline and script touches keys
 * of one hash slot: the same key, or keys that share a hash tag (`{flight}:…`).
 */
export type Redis = RedisServer | Cluster;

export interface RedisConnection {
  /** `redis://` or `rediss://`; for a cluster, any one of its nodes (it finds the others). */
  url: string;
  /** The server is a Redis Cluster: use the cluster client, which follows `MOVED`. */
  cluster?: boolean | undefined;
}

/** How a connection behaves when Redis is slow or away. */
export interface RedisTuning {
  keyPrefix?: string | undefined;
  connectTimeout: number;
  /** False: a command sent while disconnected fails at once instead of waiting. */
  enableOfflineQueue: boolean;
  /** Null: retry for ever, as BullMQ requires of its workers. */
  maxRetriesPerRequest: number | null;
  commandTimeout?: number | undefined;
}

const retryStrategy = (attempt: number) => Math.min(attempt * 200, 2_000);

/**
 * Opens a connection to `connection.url` tuned as told, through the cluster client when the
 * server is a cluster. It reconnects by itself after an outage; callers never rebuild it.
 *
 * @example
 * const redis = connectRedis({ url, cluster: false }, { connectTimeout: 2_000, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
 */
export function connectRedis(connection: RedisConnection, tuning: RedisTuning): Redis {
  const { keyPrefix, enableOfflineQueue, ...perNode } = tuning;
  if (!connection.cluster) {
    const redis = new RedisServer(connection.url, {
      ...tuning,
      ...(keyPrefix ? { keyPrefix } : {}),
      retryStrategy,
      lazyConnect: false,
    });
    // Without a listener ioredis prints every connection error; readiness reports them instead.
    redis.on('error', () => {});
    return redis;
  }
  const url = new URL(connection.url);
  const cluster = new Cluster([{ host: url.hostname, port: Number(url.port || 6379) }], {
    ...(keyPrefix ? { keyPrefix } : {}),
    enableOfflineQueue,
    clusterRetryStrategy: retryStrategy,
    redisOptions: {
      ...perNode,
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  });
  cluster.on('error', () => {});
  cluster.on('node error', () => {});
  return cluster;
}

export interface RedisOptions extends RedisConnection {
  keyPrefix: string;
  /**
   * `request`: connections that serve HTTP requests fail fast, so a request answers 503
   * rather than waiting for Redis to come back. `worker`: long-lived consumers retry for
   * ever, as BullMQ requires of its workers.
   */
  role: 'request' | 'worker';
}

/**
 * Opens the connection a process's requests (or its workers) use, with the key prefix.
 * Without ioredis' auto-pipelining (decision 093): the commands every request sends are
 * gathered per turn (`perTurn`), and a pipeline built per tick for the one command left cost
 * more CPU than the write it saved; on a cluster it also routed a script by its key count
 * rather than its keys (decision 075).
 *
 * @example
 * const redis = createRedis({ url: settings.REDIS_URL, cluster: settings.REDIS_CLUSTER, keyPrefix: 'app:', role: 'request' });
 */
export function createRedis(options: RedisOptions): Redis {
  const failFast = options.role === 'request';
  return connectRedis(options, {
    keyPrefix: options.keyPrefix,
    connectTimeout: failFast ? 2_000 : 10_000,
    enableOfflineQueue: !failFast,
    maxRetriesPerRequest: failFast ? 1 : null,
    ...(failFast ? { commandTimeout: 2_000 } : {}),
  });
}

/** Per-node settings a duplicate changes: see `duplicateRedis`. */
export interface DuplicateOverrides {
  enableOfflineQueue?: boolean;
  maxRetriesPerRequest?: number | null;
  autoResendUnfulfilledCommands?: boolean;
  commandTimeout?: number;
}

/**
 * A new connection to the same server or cluster with the same settings (key prefix
 * included) but for `overrides`: for a subscriber or a blocking reader, which cannot share
 * the connection everyone else uses.
 *
 * @example
 * const subscriber = duplicateRedis(redis, { enableOfflineQueue: true, maxRetriesPerRequest: null });
 */
export function duplicateRedis(redis: Redis, overrides: DuplicateOverrides): Redis {
  if (!(redis instanceof Cluster)) {
    const duplicate = redis.duplicate({
      ...overrides,
      lazyConnect: false,
    });
    duplicate.on('error', () => {});
    return duplicate;
  }
  const { enableOfflineQueue, ...perNode } = overrides;
  const duplicate = redis.duplicate(undefined, {
    ...redis.options,
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    redisOptions: { ...redis.options.redisOptions, ...perNode },
  });
  duplicate.on('error', () => {});
  duplicate.on('node error', () => {});
  return duplicate;
}

/**
 * The connection that serves `key` (with its prefix): `redis` itself, or in a cluster the
 * connection to the primary that holds the key's slot. For commands that name no key but
 * must reach that node, such as `CLIENT ID` beside a blocked read on the key.
 */
export function connectionFor(redis: Redis, prefixedKey: string): RedisServer {
  if (!(redis instanceof Cluster)) return redis;
  const node = redis.slots[hashSlot(prefixedKey)]?.[0];
  const found = redis
    .nodes('master')
    .find((candidate) => `${candidate.options.host}:${candidate.options.port}` === node);
  if (!found) throw new Error(`no connection to the node of slot ${hashSlot(prefixedKey)} yet`);
  return found;
}

/** The key prefix `redis` writes before every key. */
export function keyPrefixOf(redis: Redis): string {
  return redis.options.keyPrefix ?? '';
}

const CRC16_TABLE = Array.from({ length: 256 }, (_, byte) => {
  let crc = byte << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : crc << 1;
  return crc & 0xffff;
});

/**
 * The hash tag of a key, as Redis Cluster reads it: the part between the first `{` and the
 * next `}`, when not empty.
 *
 * @example
 * hashTag('{app:bull}:exports') === 'app:bull'; hashTag('{}a{b}') === undefined;
 */
export function hashTag(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open === -1) return undefined;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}

/**
 * The Redis Cluster hash slot of a key (CRC16/XMODEM of its hash tag, else of the whole key,
 * modulo 16384).
 *
 * @example
 * hashSlot('{flight}:abc:lead') === hashSlot('{flight}:abc:parts:1'); // true
 */
export function hashSlot(key: string): number {
  const bytes = Buffer.from(hashTag(key) ?? key);
  let crc = 0;
  for (const byte of bytes)
    crc = ((crc << 8) & 0xffff) ^ (CRC16_TABLE[((crc >> 8) ^ byte) & 0xff] ?? 0);
  return crc % 16_384;
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
