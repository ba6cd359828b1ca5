import { type Clock, systemClock } from './core/clock.ts';
import { type Database, type DatabaseHandle, openDatabase } from './core/db/database.ts';
import { createLogger, type Logger } from './core/logger.ts';
import { closeRedis, createRedis, type Redis, waitForRedis } from './core/redis.ts';
import type { Settings } from './settings.ts';

/**
 * Every long-lived dependency of the service, built once per process and handed to
 * `createApp` (FastAPI's `Depends`, without the magic). A test builds its own, or spreads
 * this one and replaces a member: `createApp({ ...deps, clock: manualClock(start) })`.
 */
export interface Deps {
  settings: Settings;
  logger: Logger;
  clock: Clock;
  db: Database;
  /** Liveness of the database connection, for readiness checks. */
  database: Pick<DatabaseHandle, 'kind' | 'ping'>;
  /** Absent when `REDIS_URL` is unset (development only). */
  redis: Redis | undefined;
  /** Aborted when the process starts shutting down: readiness fails, streams end. */
  shutdown: AbortSignal;
}

export interface OwnedDeps extends Deps {
  /** Marks the process as stopping; `shutdown` aborts. */
  beginShutdown(): void;
  /** Closes pools and connections, in reverse order of opening. */
  close(): Promise<void>;
}

export interface CreateDepsOptions {
  logger?: Logger;
  clock?: Clock;
}

/**
 * Builds every dependency from settings. Migrations run here in development and embedded
 * mode; production leaves the schema to `npm run db:migrate` unless `MIGRATE_ON_START=true`.
 *
 * @example
 * const deps = await createDeps(parseSettings(process.env));
 * try { ... } finally { await deps.close(); }
 */
export async function createDeps(
  settings: Settings,
  options: CreateDepsOptions = {},
): Promise<OwnedDeps> {
  const logger =
    options.logger ??
    (await createLogger({ level: settings.LOG_LEVEL, format: settings.LOG_FORMAT }));
  const database = await openDatabase({
    url: settings.DATABASE_URL,
    poolMax: settings.DATABASE_POOL_MAX,
    dataDir: settings.DATA_DIR,
  });
  if (database.kind === 'embedded') {
    logger.info(
      { dataDir: settings.DATA_DIR },
      'no DATABASE_URL: using the embedded PostgreSQL (PGlite)',
    );
  }
  const redis = settings.REDIS_URL
    ? createRedis({
        url: settings.REDIS_URL,
        keyPrefix: settings.REDIS_KEY_PREFIX,
        role: 'request',
      })
    : undefined;
  try {
    if (settings.MIGRATE_ON_START) await database.migrate();
    if (redis && !(await waitForRedis(redis, settings.READINESS_TIMEOUT_MS))) {
      logger.warn('Redis is not reachable yet; readiness fails until it is');
    }
  } catch (error) {
    await Promise.allSettled([database.close(), redis ? closeRedis(redis) : undefined]);
    throw error;
  }
  const shutdown = new AbortController();
  return {
    settings,
    logger,
    clock: options.clock ?? systemClock,
    db: database.db,
    database,
    redis,
    shutdown: shutdown.signal,
    beginShutdown: () => shutdown.abort(),
    async close() {
      shutdown.abort();
      if (redis) await closeRedis(redis);
      await database.close();
      logger.flush();
    },
  };
}
