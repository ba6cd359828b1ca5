import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { Redis } from 'ioredis';
import type { Clock } from '../../src/core/clock.ts';
import { createLogger, type Logger } from '../../src/core/logger.ts';
import { type Redis as AppRedis, createRedis, waitForRedis } from '../../src/core/redis.ts';
import { parseSettings } from '../../src/core/settings.ts';
import { activeTraceIds } from '../../src/core/tracing.ts';
import { createDeps, type OwnedDeps } from '../../src/deps.ts';
import { createTestDatabase } from './database.ts';
import { saveRecordedResponses } from './response-recording.ts';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface CapturedLogs {
  logger: Logger;
  /** Every line written so far, raw. */
  text(): string;
  /** Every line written so far, parsed. */
  records(): Record<string, unknown>[];
}

/** A JSON logger that writes into memory, for tests that read what was logged. */
export async function captureLogs(
  level: 'trace' | 'info' | 'warn' = 'info',
): Promise<CapturedLogs> {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  // The trace ids are added as the app's own logger adds them when tracing is on.
  const logger = await createLogger({ level, format: 'json', destination, mixin: activeTraceIds });
  const text = () => chunks.join('');
  return {
    logger,
    text,
    records: () =>
      text()
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

export interface TestDepsOptions {
  /** Environment on top of the test defaults (a string per variable, as in real life). */
  env?: Record<string, string | undefined>;
  clock?: Clock;
  logger?: Logger;
  /** Turns tracing on, into this exporter. */
  traceExporter?: SpanExporter;
  /** Rewrites the test database's URL before the app gets it (through a pooler, say). */
  databaseUrl?: (url: string) => string;
}

export interface TestDeps extends OwnedDeps {
  /** Every Redis key of this test starts with it. */
  redisPrefix: string;
}

/**
 * Real dependencies for one test file: its own database cloned from the migrated template,
 * its own Redis key prefix, a silent logger. `close()` drops and deletes all of it.
 */
export async function createTestDeps(options: TestDepsOptions = {}): Promise<TestDeps> {
  const database = await createTestDatabase();
  const redisPrefix = `test:${randomBytes(6).toString('hex')}:`;
  const settings = parseSettings({
    NODE_ENV: 'test',
    DATABASE_URL: options.databaseUrl ? options.databaseUrl(database.url) : database.url,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: redisPrefix,
    LOG_LEVEL: 'silent',
    MIGRATE_ON_START: 'false',
    DATABASE_POOL_MAX: '5',
    ...options.env,
  });
  const deps = await createDeps(settings, {
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.traceExporter ? { traceExporter: options.traceExporter } : {}),
  });
  return {
    ...deps,
    redisPrefix,
    async close() {
      await saveRecordedResponses(deps.metrics);
      await deps.close();
      await Promise.all([database.drop(), deleteRedisKeys(redisPrefix)]);
    },
  };
}

/**
 * A connection under `keyPrefix`, fail-fast as the app's request connections are, and
 * ready: such a connection refuses commands until it has connected (no offline queue), so
 * a test using it at once would see a cache miss or a denial on a busy machine.
 */
export async function readyTestRedis(keyPrefix: string): Promise<AppRedis> {
  const redis = createRedis({ url: TEST_REDIS_URL, keyPrefix, role: 'request' });
  if (await waitForRedis(redis, 10_000)) return redis;
  redis.disconnect();
  throw new Error(`Redis at ${TEST_REDIS_URL} did not become ready in 10 s`);
}

/** Deletes every key under `prefix`, leaving other tests' keys alone. */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
