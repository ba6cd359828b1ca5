import type { BackgroundTasks } from './background-tasks.ts';
import type { Cache } from './cache.ts';
import type { Clock } from './clock.ts';
import type { Database, DatabaseHandle } from './db/database.ts';
import type { InvalidationBus } from './invalidation-bus.ts';
import type { JobQueue } from './jobs/job-queue.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import type { RateLimiter } from './rate-limit/rate-limiter.ts';
import type { Redis } from './redis.ts';
import type { AccessTokenCodec } from './security/access-tokens.ts';
import type { LoginThrottle } from './security/login-throttle.ts';
import type { Authenticator } from './security/principal.ts';
import type { ScopeCatalog } from './security/scopes.ts';
import type { Settings } from './settings.ts';
import type { FileStorage } from './storage/file-storage.ts';
import type { Tracing } from './tracing.ts';

/**
 * Every long-lived dependency of the service, built once per process by `createDeps`
 * (src/deps.ts) and handed to every module's routes and jobs (FastAPI's `Depends`, without
 * the magic). Declared in core so modules depend on this shape, not on the code that
 * builds it. A test builds its own, or spreads one and replaces a member:
 * `createApp({ ...deps, clock: manualClock(start) })`.
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
  /** The scopes of every module, and which roles may hold them. */
  scopes: ScopeCatalog;
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
  /**
   * Tells every process that something it caches changed (Redis pub/sub; in-process without
   * Redis). Messages are `<kind>:<id>`; each listener ignores the kinds it does not know.
   */
  invalidations: InvalidationBus;
  /** Present when tracing is on (`OTEL_EXPORTER_OTLP_ENDPOINT`). */
  tracing: Tracing | undefined;
}
