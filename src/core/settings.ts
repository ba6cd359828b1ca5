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

/** A price in US dollars per million tokens: an exact decimal, at most 6 decimals. */
const pricePerMillion = z
  .string()
  .regex(/^\d{1,6}(\.\d{1,6})?$/, 'must be a decimal string with at most 6 decimals, e.g. "0.15"');

/** One model the AI gateway offers, as `AI_MODELS` lists it. */
export const aiModelSchema = z
  .object({
    /** The name clients use (`model` in a request). */
    id: z.string().regex(/^[\w.:/-]{1,100}$/),
    /** The upstream's name for it; the same as `id` when absent. */
    upstream: z.string().min(1).max(200).optional(),
    inputPrice: pricePerMillion,
    /** Input tokens the upstream served from its prompt cache; `inputPrice` when absent. */
    cachedInputPrice: pricePerMillion.optional(),
    outputPrice: pricePerMillion,
    /** `chat` (the default) or `embeddings`: what the model is called for. */
    kind: z.enum(['chat', 'embeddings']).default('chat'),
    /** For chat, the prompt and the answer together; for embeddings, one input's tokens. */
    contextWindow: z.number().int().positive(),
    /** The answer's token cap; required for chat, meaningless for embeddings. */
    maxOutput: z.number().int().positive().optional(),
    /** Embeddings: the length of the vectors the model returns. */
    dimensions: z.number().int().positive().max(65_536).optional(),
    /** Embeddings: whether the model honours a `dimensions` request (shorter vectors). */
    variableDimensions: z.boolean().default(false),
    /** Models to try, in order, when this one fails after its retries. */
    fallbacks: z.array(z.string()).max(5).default([]),
  })
  .strict()
  .superRefine((model, context) => {
    if (model.kind === 'chat' && model.maxOutput === undefined) {
      context.addIssue({ code: 'custom', path: ['maxOutput'], message: 'a chat model needs it' });
    }
    if (model.kind === 'embeddings' && model.dimensions === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['dimensions'],
        message: 'an embeddings model needs the length of its vectors',
      });
    }
  })
  // Chat code reads `maxOutput` as a number: an embeddings model writes nothing.
  .transform((model) => ({ ...model, maxOutput: model.maxOutput ?? 0 }));

export type AiModel = z.output<typeof aiModelSchema>;

const aiModelTable = z
  .string()
  .transform((text, context) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      context.addIssue({ code: 'custom', message: 'must be a JSON array of models' });
      return z.NEVER;
    }
  })
  .pipe(z.array(aiModelSchema).min(1).max(50));

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
      secret: true,
      description:
        'PostgreSQL connection URL. Unset: an embedded PostgreSQL (PGlite) stored under `DATA_DIR`. Required in production.',
    }),
    DATABASE_POOL_MAX: positiveInt.default(10).meta({
      description: 'Connections in the PostgreSQL pool of each process.',
    }),
    DATABASE_POOLER: z.enum(['none', 'transaction']).default('none').meta({
      description:
        '`transaction`: `DATABASE_URL` is a transaction-mode pooler (PgBouncer `pool_mode = transaction`), so no statement is prepared under a name on the server. Costs one more round trip per query with parameters.',
    }),
    DATABASE_DIRECT_URL: postgresUrl.optional().meta({
      secret: true,
      description:
        'PostgreSQL itself, bypassing the pooler, for migrations (their lock lasts a session). Unset: `DATABASE_URL`; required to migrate with `DATABASE_POOLER=transaction`.',
    }),
    DATA_DIR: z.string().min(1).default('.data').meta({
      description: 'Where the embedded database and local files are kept.',
    }),
    MIGRATE_ON_START: booleanString.optional().meta({
      description:
        'Apply pending migrations at start. Default: `true`, except in production, where `npm run db:migrate` does it.',
    }),
    REDIS_URL: redisUrl.optional().meta({
      secret: true,
      description:
        'Redis connection URL. Unset in development: jobs run in-process and are not durable. Required in production.',
    }),
    REDIS_CLUSTER: booleanString.default(false).meta({
      description:
        '`REDIS_URL` is one node of a Redis Cluster: the cluster client finds the others and follows the slots. Keys that must share a slot carry hash tags (BullMQ’s become `{<REDIS_KEY_PREFIX>bull}`).',
    }),
    REDIS_KEY_PREFIX: z.string().default('app:').meta({
      description: 'Prefix of every Redis key this service writes.',
    }),
    JWT_SECRET: z
      .string()
      .min(32, 'must be at least 32 characters')
      .default(DEVELOPMENT_JWT_SECRET)
      .meta({
        secret: true,
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
        'How long a process trusts a verified API key, account or session status before reading it again. Revocations reach every process at once through Redis; this is the bound when Redis is down.',
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
    RATE_LIMIT_DEFAULT_REQUESTS: positiveInt.default(600).meta({
      description:
        'Requests each caller (a user, or a client address when anonymous) may make to an operation per window, unless the operation declares its own limit.',
    }),
    RATE_LIMIT_DEFAULT_WINDOW_SECONDS: positiveInt.default(60).meta({
      description: 'The window of the default rate limit, in seconds.',
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
        'Port of the worker process’s `/livez`, `/readyz` (and `/metrics`) endpoints; `npm run dev` serves its probes from the API instead. 0: any free port.',
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
      description:
        'Largest file upload accepted: a multipart body, or a JSON Lines body (`application/jsonl`) read as it streams.',
    }),
    METRICS_TOKEN: z.string().min(16).optional().meta({
      secret: true,
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
    QUIET_MEMORY_RELEASE_MS: z.coerce.number().int().min(0).default(15_000).meta({
      description:
        'After a burst of load, once no request has started for this long, the API hands back the memory the burst made V8 hold (one collection, a pause of tens to a few hundred ms; only with --expose-gc, as npm start runs it). V8 then optimises the request path again: the next burst runs its first 2-3 s slower (at about half speed on the bench machine, decision 108). 0 turns it off: no slower start after a lull, and the memory stays held.',
    }),
    SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000).meta({
      description: 'How long a stopping process lets requests in flight finish.',
    }),
    READINESS_TIMEOUT_MS: positiveInt.default(2_000).meta({
      description: 'How long each `/readyz` check may take before it counts as failed.',
    }),
    AI_UPSTREAM_URL: z
      .url({ protocol: /^https?$/ })
      .optional()
      .meta({
        description:
          'Base URL of an OpenAI-compatible API (`https://api.openai.com/v1`, Ollama’s `http://127.0.0.1:11434/v1`). Unset: the built-in local development model.',
      }),
    AI_UPSTREAM_API_KEY: z.string().min(1).optional().meta({
      secret: true,
      description:
        'The provider’s key, sent upstream as `Authorization: Bearer`; it never leaves the server.',
    }),
    AI_MODELS: aiModelTable.optional().meta({
      description:
        'The model table, a JSON array: `[{"id","upstream","kind","inputPrice","cachedInputPrice","outputPrice","contextWindow","maxOutput","dimensions","variableDimensions","fallbacks"}]`, prices in US dollars per million tokens as decimal strings. `kind` is `chat` (the default) or `embeddings` (with `dimensions`, the length of its vectors). Required with `AI_UPSTREAM_URL`.',
    }),
    AI_CONNECT_TIMEOUT_MS: positiveInt.default(5_000).meta({
      description: 'How long connecting to the upstream (and its response headers) may take.',
    }),
    AI_FIRST_TOKEN_TIMEOUT_MS: positiveInt.default(30_000).meta({
      description: 'How long the upstream may take to send its first token.',
    }),
    AI_TOTAL_TIMEOUT_MS: positiveInt.default(300_000).meta({
      description: 'How long one upstream call may take in all, streamed or not.',
    }),
    AI_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(2).meta({
      description:
        'Retries of an upstream call on 429, 5xx and connection errors (before any byte has gone to the client), with exponential backoff that honours `Retry-After`.',
    }),
    // Calls in flight are the call rate times how long an answer takes (Little's law), and a
    // streamed answer takes seconds: at 32, a process streaming five-second answers queued
    // past six calls a second (decision 096).
    AI_UPSTREAM_CONCURRENCY: positiveInt.default(256).meta({
      description:
        'Upstream calls one API process makes at once (calls a second times seconds an answer takes); more wait in a queue.',
    }),
    AI_UPSTREAM_QUEUE: z.coerce.number().int().min(0).default(128).meta({
      description:
        'Calls that may wait for a free upstream slot; past it the answer is 503 with `Retry-After`.',
    }),
    AI_FALLBACK_ANSWER: z.string().min(1).max(2_000).optional().meta({
      description:
        'When every model of the chain fails, answer this text (marked as a fallback) instead of an error.',
    }),
    AI_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).default(3_600).meta({
      description:
        'How long a deterministic answer (temperature 0, or a seed) is cached and replayed. 0: no cache.',
    }),
    AI_REQUESTS_PER_MINUTE: positiveInt.default(60).meta({
      description: 'Calls per minute each API key (or user, with a token) may make to the gateway.',
    }),
    AI_TOKENS_PER_MINUTE: positiveInt.default(200_000).meta({
      description:
        'Tokens per minute each API key (or user) may use: prompt plus the output cap are reserved before a call and corrected after.',
    }),
    AI_BUDGET_WARNING_RATIO: z.coerce.number().min(0).max(1).default(0.8).meta({
      description: 'Past this share of a budget, answers carry `X-Budget-Warning`.',
    }),
    AI_GUARD_BLOCKED_PATTERNS: commaList.default([]).meta({
      description:
        'Comma-separated regular expressions (case-insensitive) that a prompt or answer must not match; a match is refused. They run on every prompt and streamed answer with JavaScript’s backtracking engine: keep them simple, with no nested repetition such as `(a+)+`, whose time can grow exponentially with the text.',
    }),
    AI_GUARD_PII: z.enum(['off', 'mask', 'refuse']).default('mask').meta({
      description:
        'Personal data in prompts (email addresses, card numbers): masked before it is logged or sent upstream (`mask`), refused (`refuse`), or left alone (`off`).',
    }),
    AI_MODERATION: z.enum(['off', 'upstream']).default('off').meta({
      description: 'Also check prompts and answers with the upstream’s `/moderations` endpoint.',
    }),
    AI_BATCH_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8).meta({
      description:
        'Lines of one batch a worker runs at once, within the key’s tokens per minute and budgets.',
    }),
    AI_BATCH_MAX_LINES: positiveInt.default(50_000).meta({
      description: 'Requests one batch file may hold.',
    }),
    AI_LOG_CONTENT: booleanString.default(false).meta({
      description:
        'Log prompts and answers. Off: log lines carry sizes, tokens and timings, never text.',
    }),
  })
  .transform((env) => ({
    ...env,
    MIGRATE_ON_START: env.MIGRATE_ON_START ?? env.NODE_ENV !== 'production',
    LOG_FORMAT: env.LOG_FORMAT ?? (env.NODE_ENV === 'development' ? 'pretty' : 'json'),
  }));

export type Settings = z.output<typeof settingsSchema>;

export type SettingName = keyof typeof settingsSchema.in.shape;

/**
 * The names of every setting, and which of them are secrets (`secret: true` in their meta):
 * deployments keep those in a secret store, the rest in plain configuration.
 *
 * @example
 * SETTING_NAMES.filter((name) => isSecretSetting(name)); // ['DATABASE_URL', ...]
 */
export const SETTING_NAMES = Object.keys(settingsSchema.in.shape) as SettingName[];

export function isSecretSetting(name: SettingName): boolean {
  return settingsSchema.in.shape[name].meta()?.secret === true;
}

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
  if (
    present.REDIS_CLUSTER &&
    ['1', 'true', 'yes'].includes(present.REDIS_CLUSTER) &&
    !present.REDIS_URL
  ) {
    problems.push('REDIS_CLUSTER: needs REDIS_URL, a node of the cluster');
  }
  if (present.AI_UPSTREAM_URL && !present.AI_MODELS) {
    problems.push(
      'AI_MODELS: is required with AI_UPSTREAM_URL (the models it offers, and their prices)',
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

/** Levenshtein's distance between `a` and `b`, or `limit + 1` once it is past `limit`. */
function distanceWithin(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const value = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + cost,
      );
      current.push(value);
      best = Math.min(best, value);
    }
    if (best > limit) return limit + 1;
    previous = current;
  }
  return previous[b.length] ?? limit + 1;
}

/**
 * Variables of `env` that are no setting but a letter or two from one that is not set
 * (`RATE_LIMT_DEFAULT_REQUESTS`): such a typo leaves the setting at its default without a
 * word, where a settings class of pydantic's would refuse the unknown name. Short names are
 * left alone (`TERM`, `HOME`), and so is a slip at both ends of a name.
 */
export function misspeltSettings(
  env: Record<string, string | undefined>,
): { name: string; setting: SettingName }[] {
  const known = new Set<string>(SETTING_NAMES);
  return Object.keys(env).flatMap((name) => {
    if (known.has(name) || name.length < 6 || !/^[A-Z][A-Z0-9_]*$/.test(name)) return [];
    const limit = name.length >= 12 ? 2 : 1;
    // A slip seldom touches both ends: comparing only names that share one keeps start-up
    // cheap with the hundreds of variables a cluster may set.
    const setting = SETTING_NAMES.find(
      (candidate) =>
        env[candidate] === undefined &&
        (candidate.startsWith(name.slice(0, 2)) || candidate.endsWith(name.slice(-2))) &&
        distanceWithin(name, candidate, limit) <= limit,
    );
    return setting ? [{ name, setting }] : [];
  });
}

/**
 * Reads settings from `.env` (when present) under the real environment, which wins, and
 * warns on standard error of each variable that looks like a misspelt setting. For entry
 * points only: everything else receives `Settings` as a value.
 */
export function loadSettings(envFile = '.env'): Settings {
  if (existsSync(envFile)) process.loadEnvFile(envFile);
  for (const { name, setting } of misspeltSettings(process.env)) {
    // Written at once, not through `process.emitWarning` (next tick): a process that stops
    // for an invalid environment must still show it, since the slip may be the cause.
    process.stderr.write(
      `Warning: ${name} is no setting of this service: did you mean ${setting}?\n`,
    );
  }
  return parseSettings(process.env);
}
