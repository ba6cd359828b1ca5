import { concurrencyLimit } from '../../core/concurrency-limit.ts';
import type { Deps } from '../../core/deps.ts';
import {
  memoryReservationLimiter,
  redisReservationLimiter,
} from '../../core/rate-limit/reservations.ts';
import { memorySharedFlights, redisSharedFlights } from '../../core/single-flight.ts';
import { budgetCache } from './budget-cache.ts';
import type { AiContext } from './chat.service.ts';
import { memoryEmbeddingCache, redisEmbeddingCache } from './embedding-cache.ts';
import { guardChain, moderationGuard, ruleGuard } from './guards.ts';
import { aiLimits } from './limits.ts';
import { localModel } from './local-model.ts';
import { modelCatalog } from './models.ts';
import { DEFAULT_RETRY_POLICY } from './resilience.ts';
import { memoryResponseCache, redisResponseCache } from './response-cache.ts';
import { aiMetrics } from './telemetry.ts';
import { openAiCompatible } from './upstream.ts';

const contexts = new WeakMap<Deps, AiContext>();

/**
 * The gateway's own long-lived parts (the upstream, the model table, the guards, the cache,
 * shared calls, the upstream queue, limits and metrics), built once per set of dependencies
 * from its settings: an upstream when `AI_UPSTREAM_URL` is set, else the development model.
 */
export function aiContextOf(deps: Deps): AiContext {
  const existing = contexts.get(deps);
  if (existing) return existing;
  const { settings, redis } = deps;
  const logger = deps.logger.child({ module: 'ai' });
  const upstream = settings.AI_UPSTREAM_URL
    ? openAiCompatible({
        baseUrl: settings.AI_UPSTREAM_URL,
        apiKey: settings.AI_UPSTREAM_API_KEY,
        timeouts: {
          connectMs: settings.AI_CONNECT_TIMEOUT_MS,
          firstTokenMs: settings.AI_FIRST_TOKEN_TIMEOUT_MS,
          totalMs: settings.AI_TOTAL_TIMEOUT_MS,
        },
      })
    : // Word by word at a readable pace in development; at once in tests.
      localModel({ wordDelayMs: settings.NODE_ENV === 'development' ? 25 : 0 });
  const budgets = budgetCache({
    db: deps.db,
    invalidations: deps.invalidations,
    ttlMs: settings.API_KEY_CACHE_TTL_MS,
  });
  const context: AiContext = {
    db: deps.db,
    clock: deps.clock,
    logger,
    catalog: modelCatalog(settings),
    upstream,
    guard: guardChain([
      ruleGuard({
        blockedPatterns: settings.AI_GUARD_BLOCKED_PATTERNS,
        personalData: settings.AI_GUARD_PII,
      }),
      ...(settings.AI_MODERATION === 'upstream' ? [moderationGuard(upstream)] : []),
    ]),
    cache: redis ? redisResponseCache(redis, logger) : memoryResponseCache(),
    embeddingCache: redis ? redisEmbeddingCache(redis, logger) : memoryEmbeddingCache(),
    cacheTtlSeconds: settings.AI_CACHE_TTL_SECONDS,
    flights: redis ? redisSharedFlights(redis) : memorySharedFlights(),
    slots: concurrencyLimit({
      concurrency: settings.AI_UPSTREAM_CONCURRENCY,
      queue: settings.AI_UPSTREAM_QUEUE,
    }),
    budgets,
    limits: aiLimits({
      db: deps.db,
      budgetsOf: (caller) => budgets.of(caller),
      limiter: redis
        ? redisReservationLimiter(redis, {
            onError: settings.RATE_LIMIT_ON_REDIS_ERROR,
            logger,
            onFailure: () => deps.metrics.rateLimiterErrors.inc(),
          })
        : memoryReservationLimiter(),
      requestsPerMinute: settings.AI_REQUESTS_PER_MINUTE,
      tokensPerMinute: settings.AI_TOKENS_PER_MINUTE,
      budgetWarningRatio: settings.AI_BUDGET_WARNING_RATIO,
    }),
    metrics: aiMetrics(deps.metrics.registry),
    retry: { ...DEFAULT_RETRY_POLICY, maxRetries: settings.AI_MAX_RETRIES },
    fallbackAnswer: settings.AI_FALLBACK_ANSWER,
    logContent: settings.AI_LOG_CONTENT,
  };
  contexts.set(deps, context);
  return context;
}
