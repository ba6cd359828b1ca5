import { join } from 'node:path';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { type BackgroundTasks, createBackgroundTasks } from './core/background-tasks.ts';
import { type Cache, memoryCache, redisCache } from './core/cache.ts';
import { type Clock, systemClock } from './core/clock.ts';
import { type Database, type DatabaseHandle, openDatabase } from './core/db/database.ts';
import { bullmqJobQueue } from './core/jobs/bullmq-queue.ts';
import { redisJobEventLog } from './core/jobs/job-events.ts';
import type { JobQueue } from './core/jobs/job-queue.ts';
import { memoryJobQueue } from './core/jobs/memory-queue.ts';
import { createLogger, type Logger } from './core/logger.ts';
import { createMetrics, type Metrics } from './core/metrics.ts';
import {
  memoryRateLimiter,
  type RateLimiter,
  redisRateLimiter,
} from './core/rate-limit/rate-limiter.ts';
import { closeRedis, createRedis, type Redis, waitForRedis } from './core/redis.ts';
import { type AccessTokenCodec, accessTokens } from './core/security/access-tokens.ts';
import type { Authenticator } from './core/security/principal.ts';
import { databaseStorage } from './core/storage/database-storage.ts';
import type { FileStorage } from './core/storage/file-storage.ts';
import { filesystemStorage } from './core/storage/filesystem-storage.ts';
import { activeTraceIds, startTracing, type Tracing } from './core/tracing.ts';
import { JOBS } from './jobs.ts';
import { createAuthenticator } from './modules/auth/authenticator.ts';
import {
  type LoginThrottle,
  memoryLoginThrottle,
  redisLoginThrottle,
} from './modules/auth/login-throttle.ts';
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
  /** Issues and verifies access tokens (JWT). */
  tokens: AccessTokenCodec;
  /** Turns request credentials into a principal; `actAs(principal)` in tests. */
  auth: Authenticator;
  /** Counts failed logins, shared through Redis when there is one. */
  loginThrottle: LoginThrottle;
  /** Durable jobs on BullMQ, or in-process ones when there is no Redis. */
  jobs: JobQueue;
  /** Work that runs after a response is sent, drained at shutdown. */
  background: BackgroundTasks;
  /** Exports and uploads, readable by every process. */
  storage: FileStorage;
  /** Shared through Redis, so limits hold across every API process. */
  rateLimiter: RateLimiter;
  metrics: Metrics;
  /** Expensive reads, shared through Redis when there is one. */
  cache: Cache;
  /** Present when tracing is on (`OTEL_EXPORTER_OTLP_ENDPOINT`). */
  tracing: Tracing | undefined;
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
  /** Turns tracing on with this exporter (tests read spans from memory). */
  traceExporter?: SpanExporter;
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
  const clock = options.clock ?? systemClock;
  const jobs = redis
    ? bullmqJobQueue({
        url: settings.REDIS_URL ?? '',
        prefix: `${settings.REDIS_KEY_PREFIX}bull`,
        definitions: JOBS,
        events: redisJobEventLog(redis, { ttlSeconds: 7 * 24 * 3600, pollMs: 250 }),
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
  const tokens = accessTokens(settings.JWT_SECRET, settings.ACCESS_TOKEN_TTL_SECONDS);
  return {
    settings,
    logger,
    clock,
    db: database.db,
    database,
    redis,
    shutdown: shutdown.signal,
    tokens,
    auth: createAuthenticator({
      db: database.db,
      clock,
      tokens,
      logger,
      cacheTtlMs: settings.API_KEY_CACHE_TTL_MS,
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
    tracing,
    storage:
      settings.STORAGE_DRIVER === 'database'
        ? databaseStorage(database.db)
        : filesystemStorage(join(settings.DATA_DIR, 'files')),
    beginShutdown: () => shutdown.abort(),
    async close() {
      shutdown.abort();
      await jobs.close();
      if (redis) await closeRedis(redis);
      await database.close();
      await tracing?.shutdown();
      logger.flush();
    },
  };
}
