import { join } from 'node:path';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { createBackgroundTasks } from './core/background-tasks.ts';
import { memoryCache, redisCache } from './core/cache.ts';
import { type Clock, systemClock } from './core/clock.ts';
import { databaseOptions, openDatabase } from './core/db/database.ts';
import type { Deps } from './core/deps.ts';
import {
  type InvalidationBus,
  localInvalidationBus,
  redisInvalidationBus,
} from './core/invalidation-bus.ts';
import { bullmqJobQueue, bullmqPrefix } from './core/jobs/bullmq-queue.ts';
import { memoryJobQueue } from './core/jobs/memory-queue.ts';
import { createLogger, type Logger } from './core/logger.ts';
import { createMetrics } from './core/metrics.ts';
import { memoryRateLimiter, redisRateLimiter } from './core/rate-limit/rate-limiter.ts';
import { closeRedis, createRedis, waitForRedis } from './core/redis.ts';
import { accessTokens } from './core/security/access-tokens.ts';
import { memoryLoginThrottle, redisLoginThrottle } from './core/security/login-throttle.ts';
import type { Settings } from './core/settings.ts';
import { databaseStorage } from './core/storage/database-storage.ts';
import { filesystemStorage } from './core/storage/filesystem-storage.ts';
import { activeTraceIds, startTracing } from './core/tracing.ts';
import { createAuthenticator } from './modules/auth/authenticator.ts';
import { JOBS, SCOPES } from './modules.ts';

export interface OwnedDeps extends Deps {
  /** Marks the process as stopping; `shutdown` aborts. */
  beginShutdown(): void;
  /** Closes pools and connections, in reverse order of opening. */
  close(): Promise<void>;
}

export interface CreateDepsOptions {
  logger?: Logger;
  clock?: Clock;
  /** Turns tracing on with this exporter (tests read spans from memory). */
  traceExporter?: SpanExporter;
}

/**
 * Builds every dependency from settings, for the modules in `MODULES` (their jobs and
 * scopes, `JOBS` and `SCOPES`). Migrations run here in development and embedded
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
  const tracing =
    settings.OTEL_EXPORTER_OTLP_ENDPOINT || options.traceExporter
      ? await startTracing({
          serviceName: settings.OTEL_SERVICE_NAME,
          ...(settings.OTEL_EXPORTER_OTLP_ENDPOINT
            ? { endpoint: settings.OTEL_EXPORTER_OTLP_ENDPOINT }
            : {}),
          ...(options.traceExporter ? { exporter: options.traceExporter } : {}),
        })
      : undefined;
  const logger =
    options.logger ??
    (await createLogger({
      level: settings.LOG_LEVEL,
      format: settings.LOG_FORMAT,
      ...(tracing ? { mixin: activeTraceIds } : {}),
    }));
  const database = await openDatabase(databaseOptions(settings, settings.DATABASE_POOL_MAX));
  if (database.kind === 'embedded') {
    logger.info(
      { dataDir: settings.DATA_DIR },
      'no DATABASE_URL: using the embedded PostgreSQL (PGlite)',
    );
  }
  const redis = settings.REDIS_URL
    ? createRedis({
        url: settings.REDIS_URL,
        cluster: settings.REDIS_CLUSTER,
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
  const clock = options.clock ?? systemClock;
  const jobs = redis
    ? bullmqJobQueue({
        url: settings.REDIS_URL ?? '',
        cluster: settings.REDIS_CLUSTER,
        prefix: bullmqPrefix(settings.REDIS_KEY_PREFIX, settings.REDIS_CLUSTER),
        definitions: JOBS,
        redis,
        logger,
        lockMs: settings.JOB_LOCK_MS,
      })
    : memoryJobQueue();
  await jobs.ready();
  const metrics = createMetrics();
  metrics.setQueueDepth(() => jobs.depth());
  if (!jobs.durable) {
    logger.warn(
      'no REDIS_URL: jobs run inside this process and are lost if it stops (not durable)',
    );
  }
  const scopes = SCOPES;
  const tokens = accessTokens(settings.JWT_SECRET, settings.ACCESS_TOKEN_TTL_SECONDS, scopes);
  // Channels are not keys: Redis applies no prefix to them, so the prefix is written here.
  const invalidations: InvalidationBus = redis
    ? redisInvalidationBus(redis, `${settings.REDIS_KEY_PREFIX}invalidations`, logger)
    : localInvalidationBus();
  return {
    settings,
    logger,
    clock,
    db: database.db,
    database,
    redis,
    shutdown: shutdown.signal,
    tokens,
    scopes,
    auth: createAuthenticator({
      db: database.db,
      clock,
      tokens,
      scopes,
      logger,
      cacheTtlMs: settings.API_KEY_CACHE_TTL_MS,
      invalidations,
    }),
    loginThrottle: redis
      ? redisLoginThrottle(redis, settings.LOGIN_FAILURE_WINDOW_SECONDS, logger)
      : memoryLoginThrottle(settings.LOGIN_FAILURE_WINDOW_SECONDS),
    jobs,
    background: createBackgroundTasks(),
    rateLimiter: redis
      ? redisRateLimiter(redis, {
          onError: settings.RATE_LIMIT_ON_REDIS_ERROR,
          logger,
          onFailure: () => metrics.rateLimiterErrors.inc(),
        })
      : memoryRateLimiter(),
    metrics,
    cache: redis ? redisCache(redis, logger) : memoryCache(),
    invalidations,
    tracing,
    storage:
      settings.STORAGE_DRIVER === 'database'
        ? databaseStorage(database.db)
        : filesystemStorage(join(settings.DATA_DIR, 'files')),
    beginShutdown: () => shutdown.abort(),
    async close() {
      shutdown.abort();
      await jobs.close();
      await invalidations.close();
      if (redis) await closeRedis(redis);
      await database.close();
      await tracing?.shutdown();
      logger.flush();
    },
  };
}
