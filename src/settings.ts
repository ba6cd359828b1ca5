import { existsSync } from 'node:fs';
import { z } from 'zod';

/** Refused outside development and tests, so a copied `.env.example` cannot reach production. */
export const DEVELOPMENT_JWT_SECRET = 'development-only-secret-change-me-0123456789';

const booleanString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const commaList = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0),
);

const port = z.coerce.number().int().min(0).max(65_535);
const positiveInt = z.coerce.number().int().positive();

const postgresUrl = z.url({
  protocol: /^postgres(ql)?$/,
  error: 'must be a postgres:// or postgresql:// URL',
});
const redisUrl = z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' });

/**
 * Every setting the process reads, from the environment (and `.env`, loaded by the entry
 * points). The README's configuration table is generated from this schema.
 */
export const settingsSchema = z
  .object({
    NODE_ENV: z
      .enum(['development', 'test', 'production'])
      .default('development')
      .meta({ description: 'Run mode. Production requires real secrets and external services.' }),
    HOST: z.string().min(1).default('127.0.0.1').meta({
      description: 'Interface the HTTP server binds to (`0.0.0.0` in containers).',
    }),
    PORT: port.default(3000).meta({ description: 'HTTP port of the API.' }),
    PUBLIC_URL: z.url().optional().meta({
      description: 'Public base URL, listed as the server in the OpenAPI document.',
    }),
    DATABASE_URL: postgresUrl.optional().meta({
      description:
        'PostgreSQL connection URL. Unset: an embedded PostgreSQL (PGlite) stored under `DATA_DIR`. Required in production.',
    }),
    DATABASE_POOL_MAX: positiveInt.default(10).meta({
      description: 'Connections in the PostgreSQL pool of each process.',
    }),
    DATA_DIR: z.string().min(1).default('.data').meta({
      description: 'Where the embedded database and local files are kept.',
    }),
    MIGRATE_ON_START: booleanString.optional().meta({
      description:
        'Apply pending migrations at start. Default: `true`, except in production, where `npm run db:migrate` does it.',
    }),
    REDIS_URL: redisUrl.optional().meta({
      description:
        'Redis connection URL. Unset in development: jobs run in-process and are not durable. Required in production.',
    }),
    REDIS_KEY_PREFIX: z.string().default('app:').meta({
      description: 'Prefix of every Redis key this service writes.',
    }),
    JWT_SECRET: z
      .string()
      .min(32, 'must be at least 32 characters')
      .default(DEVELOPMENT_JWT_SECRET)
      .meta({
        description: 'HMAC key for access tokens, at least 32 characters. Required in production.',
      }),
    ACCESS_TOKEN_TTL_SECONDS: positiveInt.default(900).meta({
      description: 'Lifetime of an access token (JWT).',
    }),
    REFRESH_TOKEN_TTL_SECONDS: positiveInt.default(30 * 24 * 3600).meta({
      description: 'Lifetime of a refresh token; each refresh issues a new one.',
    }),
    API_KEY_CACHE_TTL_MS: positiveInt.default(5_000).meta({
      description:
        'How long a process trusts a verified API key or account status before reading it again: the most a revocation takes to reach every process.',
    }),
    LOGIN_MAX_FAILURES_PER_ACCOUNT: positiveInt.default(5).meta({
      description: 'Failed logins for one account within the window before it answers 429.',
    }),
    LOGIN_MAX_FAILURES_PER_IP: positiveInt.default(50).meta({
      description: 'Failed logins from one client address within the window before it answers 429.',
    }),
    LOGIN_FAILURE_WINDOW_SECONDS: positiveInt.default(900).meta({
      description: 'The window over which failed logins are counted.',
    }),
    IDEMPOTENCY_TTL_SECONDS: positiveInt.default(86_400).meta({
      description: 'How long an `Idempotency-Key` is remembered and its first response replayed.',
    }),
    RATE_LIMIT_ON_REDIS_ERROR: z.enum(['allow', 'deny']).default('allow').meta({
      description:
        'When Redis fails, rate-limited routes let requests through (`allow`, logged and counted) or answer 503 (`deny`).',
    }),
    TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0).meta({
      description:
        'Reverse proxies in front of the API. 0: the client address is the socket peer; n: the n-th address from the right of `X-Forwarded-For`.',
    }),
    WORKER_JOBS: commaList.default([]).meta({
      description:
        'Jobs a worker runs (comma-separated names, or on its command line). Empty: all of them.',
    }),
    WORKER_CONCURRENCY_SCALE: z.coerce.number().positive().max(100).default(1).meta({
      description: 'Multiplies every job’s own concurrency in a worker process.',
    }),
    WORKER_HEALTH_PORT: port.default(3001).meta({
      description:
        'Port of the worker’s `/livez`, `/readyz` (and `/metrics`) endpoints. 0: any free port.',
    }),
    WORKER_SHUTDOWN_TIMEOUT_MS: positiveInt.default(25_000).meta({
      description:
        'How long a stopping worker lets active jobs finish before leaving them to another worker.',
    }),
    JOB_LOCK_MS: positiveInt.default(30_000).meta({
      description:
        'A worker silent this long is presumed dead and its active jobs are run again elsewhere.',
    }),
    SSE_HEARTBEAT_MS: positiveInt.default(15_000).meta({
      description:
        'How often an idle event stream sends a heartbeat comment, so proxies keep it open.',
    }),
    STORAGE_DRIVER: z.enum(['database', 'filesystem']).default('database').meta({
      description:
        'Where exports and uploads are kept: the database (any process can serve them) or files under `DATA_DIR/files` (one machine, or a shared volume).',
    }),
    UPLOAD_MAX_BYTES: positiveInt.default(10 * 1_048_576).meta({
      description: 'Largest file upload (multipart body) accepted.',
    }),
    METRICS_TOKEN: z.string().min(16).optional().meta({
      description: 'When set, `/metrics` answers only to `Authorization: Bearer <token>`.',
    }),
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional().meta({
      description:
        'OTLP/HTTP collector URL. Set: traces of requests, SQL, Redis and jobs are exported. Unset: tracing is off.',
    }),
    OTEL_SERVICE_NAME: z.string().min(1).default('hono-service-template').meta({
      description: 'The service name traces are reported under.',
    }),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .meta({ description: 'Least severe level written to the log.' }),
    LOG_FORMAT: z.enum(['json', 'pretty']).optional().meta({
      description: 'Log line format. Default: `pretty` in development, `json` otherwise.',
    }),
    CORS_ORIGINS: commaList.default([]).meta({
      description: 'Comma-separated origins allowed by CORS (`*` for any). Empty: CORS off.',
    }),
    BODY_LIMIT_BYTES: positiveInt.default(1_048_576).meta({
      description: 'Largest request body accepted, checked before the body is read.',
    }),
    REQUEST_TIMEOUT_MS: positiveInt.default(30_000).meta({
      description: 'A request still unanswered after this long gets 503.',
    }),
    KEEP_ALIVE_TIMEOUT_MS: positiveInt.default(65_000).meta({
      description:
        'How long an idle keep-alive connection stays open. Keep it above the load balancer’s idle timeout (60 s on AWS ALB), or it will reuse connections the API just closed.',
    }),
    WEB_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1).meta({
      description:
        'API processes to run on this machine (node:cluster, like gunicorn’s -w), sharing the port.',
    }),
    SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000).meta({
      description: 'How long a stopping process lets requests in flight finish.',
    }),
    READINESS_TIMEOUT_MS: positiveInt.default(2_000).meta({
      description: 'How long each `/readyz` check may take before it counts as failed.',
    }),
  })
  .transform((env) => ({
    ...env,
    MIGRATE_ON_START: env.MIGRATE_ON_START ?? env.NODE_ENV !== 'production',
    LOG_FORMAT: env.LOG_FORMAT ?? (env.NODE_ENV === 'development' ? 'pretty' : 'json'),
  }));

export type Settings = z.output<typeof settingsSchema>;

/** The environment did not validate; `problems` holds one readable line per problem. */
export class SettingsError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid environment:\n${problems.map((line) => `  - ${line}`).join('\n')}`);
    this.name = 'SettingsError';
    this.problems = problems;
  }
}

/**
 * Parses settings from an environment-like record. Empty strings count as unset, as an
 * `.env` line `FOO=` means "no value" to most people.
 *
 * @example
 * const settings = parseSettings(process.env);
 */
export function parseSettings(env: Record<string, string | undefined>): Settings {
  const known = Object.keys(settingsSchema.in.shape);
  const present = Object.fromEntries(
    known.flatMap((key) => {
      const value = env[key];
      return value === undefined || value === '' ? [] : [[key, value]];
    }),
  );
  const result = settingsSchema.safeParse(present);
  const problems = result.success
    ? []
    : result.error.issues.map((issue) => {
        const key = String(issue.path[0] ?? '(environment)');
        const value = present[key];
        const message =
          issue.code === 'invalid_type'
            ? `expected ${issue.expected}, got ${JSON.stringify(value)}`
            : issue.message;
        return `${key}: ${message}`;
      });
  // Checked on the raw values so these show up beside any other problem, in one list.
  if (present.NODE_ENV === 'production') problems.push(...productionProblems(present));
  if (Number(present.WEB_CONCURRENCY ?? 1) > 1 && !present.DATABASE_URL) {
    problems.push(
      'WEB_CONCURRENCY: more than one process needs DATABASE_URL (the embedded database serves one process)',
    );
  }
  if (problems.length > 0 || !result.success) throw new SettingsError(problems);
  return result.data;
}

function productionProblems(present: Record<string, string>): string[] {
  const problems: string[] = [];
  for (const key of ['DATABASE_URL', 'REDIS_URL']) {
    if (!present[key]) problems.push(`${key}: is required in production`);
  }
  const secret = present.JWT_SECRET;
  if (secret === undefined || secret === DEVELOPMENT_JWT_SECRET) {
    problems.push(
      'JWT_SECRET: must be set to a real secret in production (the development default is refused)',
    );
  }
  return problems;
}

/**
 * Reads settings from `.env` (when present) under the real environment, which wins.
 * For entry points only: everything else receives `Settings` as a value.
 */
export function loadSettings(envFile = '.env'): Settings {
  if (existsSync(envFile)) process.loadEnvFile(envFile);
  return parseSettings(process.env);
}
