/**
 * Runs before `npm test` (after check-node.mjs): the suite needs PostgreSQL at
 * TEST_DATABASE_URL and Redis at TEST_REDIS_URL. When either does not answer, it stops here
 * with one line saying what is missing and how to get it, rather than every test file
 * failing with connection errors.
 */
import postgres from 'postgres';

// The test harness's own defaults (test/support/database.ts and deps.ts; a test compares).
const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const TIMEOUT_MS = 2_000;
/** What compose.yaml publishes for the tests: `docker compose up -d postgres redis`. */
const COMPOSE_URLS =
  'TEST_DATABASE_URL=postgres://app:app@127.0.0.1:15432/app TEST_REDIS_URL=redis://127.0.0.1:16379';

/** The URL as it may be printed: any password replaced by `***`. */
export function printable(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** Why a connection failed, in a few words. */
function reason(error: unknown): string {
  const code = error instanceof Error && 'code' in error ? String(error.code) : undefined;
  if (code === 'ECONNREFUSED') return 'nothing listens there';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'no such host';
  if (code === 'CONNECT_TIMEOUT' || code === 'ETIMEDOUT' || code === 'TIMEOUT') {
    return `no answer within ${TIMEOUT_MS / 1000} s`;
  }
  return error instanceof Error ? error.message : String(error);
}

function withinTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })),
      TIMEOUT_MS,
    );
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

async function checkPostgres(url: string): Promise<void> {
  const sql = postgres(url, {
    max: 1,
    connect_timeout: TIMEOUT_MS / 1000,
    onnotice: () => {},
  });
  try {
    await withinTimeout(sql`select 1`);
  } finally {
    void sql.end({ timeout: 0 });
  }
}

async function checkRedis(url: string): Promise<void> {
  // Loaded only here: the check of PostgreSQL alone should not pay for it.
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  // connect() rejects with "Connection is closed."; the socket's own error says why.
  let cause: unknown;
  redis.on('error', (error: unknown) => {
    cause ??= error;
  });
  try {
    await withinTimeout(redis.connect().then(() => redis.ping()));
  } catch (error) {
    throw cause ?? error;
  } finally {
    redis.disconnect();
  }
}

/**
 * The one line to print when a service does not answer, or undefined when both do.
 *
 * @example
 * await problemWithServices({ databaseUrl: 'postgres://postgres@127.0.0.1:5432/test', redisUrl: 'redis://127.0.0.1:6379' })
 */
export async function problemWithServices(urls: {
  databaseUrl: string;
  redisUrl: string;
}): Promise<string | undefined> {
  const [database, redis] = await Promise.allSettled([
    checkPostgres(urls.databaseUrl),
    checkRedis(urls.redisUrl),
  ]);
  const missing = [
    database.status === 'rejected'
      ? `PostgreSQL at ${printable(urls.databaseUrl)} (${reason(database.reason)})`
      : undefined,
    redis.status === 'rejected'
      ? `Redis at ${printable(urls.redisUrl)} (${reason(redis.reason)})`
      : undefined,
  ].filter((what) => what !== undefined);
  if (missing.length === 0) return undefined;
  return (
    `npm test needs ${missing.join(' and ')}: start local ones, or run ` +
    `\`docker compose up -d postgres redis\` and then \`${COMPOSE_URLS} npm test\``
  );
}

if (import.meta.main) {
  const problem = await problemWithServices({
    databaseUrl: process.env.TEST_DATABASE_URL ?? DEFAULT_DATABASE_URL,
    redisUrl: process.env.TEST_REDIS_URL ?? DEFAULT_REDIS_URL,
  });
  if (problem) process.stderr.write(`${problem}\n`);
  // Sockets still closing must not keep the test run waiting.
  process.exit(problem ? 1 : 0);
}
