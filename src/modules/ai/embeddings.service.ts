import type { Clock } from '../../core/clock.ts';
import type { ConcurrencyLimit } from '../../core/concurrency-limit.ts';
import type { Database } from '../../core/db/database.ts';
import { InvalidInputError } from '../../core/domain-errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { AiModel } from '../../core/settings.ts';
import { InputTooLongError, ModelNotFoundError, WrongModelKindError } from './ai-errors.ts';
import { type EmbeddingCache, embeddingKey } from './embedding-cache.ts';
import { type Guard, GuardBlockedError } from './guards.ts';
import type { AiLimits, Caller, Reservation } from './limits.ts';
import type { ModelCatalog } from './models.ts';
import { costInPicodollars, formatPicodollars } from './pricing.ts';
import { type RetryPolicy, upstreamFailure, withRetries } from './resilience.ts';
import { type AiMetrics, endCallSpan, GEN_AI, startCallSpan } from './telemetry.ts';
import { countTextTokens } from './tokens.ts';
import { type Upstream, UpstreamError } from './upstream.ts';
import {
  type InBackground,
  type RecordOptions,
  recordBesideAnswer,
  recordCall,
} from './usage.service.ts';

/** What an embeddings call needs of the gateway; a chat call's context extends it. */
export interface EmbeddingsContext {
  db: Database;
  clock: Clock;
  logger: Logger;
  catalog: ModelCatalog;
  upstream: Upstream;
  guard: Guard;
  embeddingCache: EmbeddingCache;
  cacheTtlSeconds: number;
  slots: ConcurrencyLimit;
  limits: AiLimits;
  metrics: AiMetrics;
  retry: RetryPolicy;
}

/** `default` reads and stores; `refresh` only stores; `bypass` neither. */
export type EmbeddingCacheMode = 'default' | 'refresh' | 'bypass';

export interface EmbedOptions {
  signal: AbortSignal;
  cache: EmbeddingCacheMode;
  /** False for a document's chunks: one request of their client, paced by tokens. */
  countRequest?: boolean;
  /** As a chat completion's (`recordBesideAnswer`); absent for a document's chunks. */
  recordInBackground?: InBackground;
}

export interface EmbedRequest {
  model: string;
  input: readonly string[];
  dimensions?: number | undefined;
}

export interface Embedded {
  model: AiModel;
  /** One per input, in order, each `dimensions` long. */
  vectors: Float32Array[];
  dimensions: number;
  /** Tokens of every input: the upstream's count for those it embedded, ours for the cached. */
  promptTokens: number;
  /** What was billed: the inputs the upstream embedded. */
  billedTokens: number;
  costPicodollars: bigint;
  /** `x-ratelimit-*`, `x-budget-warning`, `x-ai-cache`. */
  headers: Record<string, string>;
}

/** The embeddings model `id`, or why it cannot embed. */
export function embeddingsModel(catalog: ModelCatalog, id: string): AiModel {
  const model = catalog.find(id);
  if (!model) throw new ModelNotFoundError(id);
  if (model.kind !== 'embeddings') throw new WrongModelKindError(id, 'embeddings');
  return model;
}

/** The length of the vectors asked for: the model's own, or a shorter one it allows. */
function dimensionsOf(model: AiModel, asked: number | undefined): number {
  const native = model.dimensions ?? 0;
  if (asked === undefined || asked === native) return native;
  if (!model.variableDimensions || asked > native) {
    throw new InvalidInputError('These dimensions cannot be asked of this model', [
      {
        path: 'dimensions',
        message: model.variableDimensions
          ? `must be at most ${native}, the model's own length`
          : `${model.id} gives vectors of ${native} dimensions only`,
        code: 'invalid_dimensions',
      },
    ]);
  }
  return asked;
}

function textsOf(messages: readonly { content?: unknown }[]): string[] {
  return messages.map((message) => (typeof message.content === 'string' ? message.content : ''));
}

/**
 * Embeds texts through the gateway: the prompt guards (personal data masked before it goes
 * upstream), each input within the model's window, the per-minute limits and budgets
 * (reserved), the vectors already known from the cache, the others from the upstream (with
 * retries; no fallback model, as another model's vectors would not compare with these),
 * and one record of what it cost.
 */
export async function runEmbeddings(
  ctx: EmbeddingsContext,
  caller: Caller,
  request: EmbedRequest,
  options: EmbedOptions,
): Promise<Embedded> {
  const started = performance.now();
  const model = embeddingsModel(ctx.catalog, request.model);
  const dimensions = dimensionsOf(model, request.dimensions);
  const upstreamModel = ctx.catalog.upstreamName(model);
  const span = startCallSpan('embeddings', model.id, { [GEN_AI.provider]: ctx.upstream.name });
  let reservation: Reservation | undefined;
  const record = async (
    status: 'ok' | 'error' | 'blocked' | 'cancelled',
    outcome: { tokens: number; estimated: boolean; cost: bigint; cacheHit: boolean },
    error?: unknown,
  ) => {
    const latencyMs = Math.round(performance.now() - started);
    // Started here, beside the record (`recordBesideAnswer`).
    const settled = reservation
      ?.settle({ tokens: outcome.tokens, costPicodollars: outcome.cost })
      .catch((settleError: unknown) => {
        ctx.logger.warn({ err: settleError }, 'could not settle an AI call’s reservations');
      });
    const stored = (recordOptions: RecordOptions) =>
      recordCall(
        ctx.db,
        {
          userId: caller.userId,
          apiKeyId: caller.apiKeyId ?? null,
          operation: 'embeddings',
          model: model.id,
          upstreamModel,
          stream: false,
          status,
          inputTokens: outcome.tokens,
          cachedInputTokens: 0,
          outputTokens: 0,
          usageEstimated: outcome.estimated,
          costPicodollars: outcome.cost,
          latencyMs,
          timeToFirstTokenMs: null,
          finishReason: null,
          cacheHit: outcome.cacheHit,
          upstreamRequestId: null,
          error:
            error === undefined ? null : error instanceof Error ? error.message : String(error),
        },
        recordOptions,
      ).catch((recordError: unknown) => {
        ctx.logger.error({ err: recordError }, 'could not record an AI call');
      });
    const account = () => {
      const labels = { operation: 'embeddings', model: model.id };
      ctx.metrics.calls.inc({ ...labels, status, cache: outcome.cacheHit ? 'hit' : 'miss' });
      ctx.metrics.duration.observe({ ...labels, status }, latencyMs / 1000);
      if (outcome.tokens > 0)
        ctx.metrics.tokens.observe({ ...labels, type: 'input' }, outcome.tokens);
      span.setAttribute(GEN_AI.inputTokens, outcome.tokens);
      endCallSpan(span, status === 'ok' ? undefined : (error ?? status));
      ctx.logger.info(
        {
          ai: {
            operation: 'embeddings',
            model: model.id,
            status,
            inputs: request.input.length,
            inputTokens: outcome.tokens,
            cacheHit: outcome.cacheHit,
            cost: formatPicodollars(outcome.cost),
            latencyMs,
          },
        },
        'AI call',
      );
    };
    await recordBesideAnswer(stored, settled, options.recordInBackground, account);
  };

  let texts: string[];
  let tokens: number[];
  try {
    const guarded = await ctx.guard.input(
      request.input.map((text) => ({ role: 'user' as const, content: text })),
      options.signal,
    );
    texts = textsOf(guarded);
    tokens = await Promise.all(texts.map(countTextTokens));
    tokens.forEach((count, index) => {
      if (count > model.contextWindow)
        throw new InputTooLongError(index, count, model.contextWindow);
    });
    const need = tokens.reduce((sum, count) => sum + count, 0);
    reservation = await ctx.limits.reserve(
      caller,
      {
        tokens: need,
        maxCostPicodollars: costInPicodollars(model, { input: need, cachedInput: 0, output: 0 }),
      },
      ctx.clock.now(),
      { countRequest: options.countRequest ?? true },
    );
  } catch (error) {
    if (error instanceof GuardBlockedError) {
      await record('blocked', { tokens: 0, estimated: false, cost: 0n, cacheHit: false }, error);
    } else {
      endCallSpan(span, error);
    }
    // The moderation guard asks the upstream too.
    throw upstreamFailure(ctx.logger, error);
  }

  const cacheable = ctx.cacheTtlSeconds > 0 && options.cache !== 'bypass';
  const keys = cacheable
    ? texts.map((text) => embeddingKey(upstreamModel, dimensions, text))
    : undefined;
  const vectors: (Float32Array | undefined)[] =
    keys && options.cache === 'default'
      ? await ctx.embeddingCache.getMany(keys)
      : texts.map(() => undefined);
  const missing = vectors.flatMap((vector, index) => (vector ? [] : [index]));
  const headers: Record<string, string> = {
    ...reservation.headers,
    'x-ai-cache': !keys ? 'bypass' : missing.length === 0 ? 'hit' : 'miss',
  };
  const cachedTokens = vectors.reduce(
    (sum, vector, index) => sum + (vector ? (tokens[index] ?? 0) : 0),
    0,
  );
  if (missing.length === 0) {
    await record('ok', { tokens: 0, estimated: false, cost: 0n, cacheHit: true });
    return {
      model,
      vectors: vectors.filter((vector) => vector !== undefined),
      dimensions,
      promptTokens: cachedTokens,
      billedTokens: 0,
      costPicodollars: 0n,
      headers,
    };
  }

  const missingTexts = missing.map((index) => texts[index] ?? '');
  const estimate = missing.reduce((sum, index) => sum + (tokens[index] ?? 0), 0);
  try {
    const reply = await withRetries(
      async () => {
        const release = await ctx.slots.acquire(options.signal);
        try {
          return await ctx.upstream.embed(
            {
              model: upstreamModel,
              input: missingTexts,
              dimensions: dimensions === model.dimensions ? undefined : dimensions,
            },
            options.signal,
          );
        } finally {
          release();
        }
      },
      {
        policy: ctx.retry,
        signal: options.signal,
        onRetry: (error, retry, delayMs) => {
          ctx.metrics.retries.inc({ model: model.id });
          ctx.logger.warn(
            { err: error, model: model.id, retry, delayMs },
            'retrying the AI upstream',
          );
        },
      },
    );
    if (
      reply.vectors.length !== missing.length ||
      reply.vectors.some((vector) => vector.length !== dimensions)
    ) {
      throw new UpstreamError(
        `the upstream answered ${reply.vectors.length} vectors for ${missing.length} inputs, or vectors of another length than ${dimensions}`,
        { retryable: false },
      );
    }
    const fresh: [string, Float32Array][] = [];
    reply.vectors.forEach((values, position) => {
      const index = missing[position] ?? 0;
      const vector = Float32Array.from(values);
      vectors[index] = vector;
      const key = keys?.[index];
      if (key) fresh.push([key, vector]);
    });
    if (fresh.length > 0) await ctx.embeddingCache.setMany(fresh, ctx.cacheTtlSeconds);
    const estimated = reply.promptTokens <= 0;
    const billedTokens = estimated ? estimate : reply.promptTokens;
    const cost = costInPicodollars(model, { input: billedTokens, cachedInput: 0, output: 0 });
    await record('ok', { tokens: billedTokens, estimated, cost, cacheHit: false });
    if (reply.requestId) headers['x-upstream-request-id'] = reply.requestId;
    return {
      model,
      vectors: vectors.filter((vector) => vector !== undefined),
      dimensions,
      promptTokens: cachedTokens + billedTokens,
      billedTokens,
      costPicodollars: cost,
      headers,
    };
  } catch (error) {
    // As for chat: a call the client left may have been read, and its input is counted.
    const aborted = options.signal.aborted;
    const cost = aborted
      ? costInPicodollars(model, { input: estimate, cachedInput: 0, output: 0 })
      : 0n;
    await record(
      aborted ? 'cancelled' : 'error',
      { tokens: aborted ? estimate : 0, estimated: true, cost, cacheHit: false },
      error,
    );
    // The upstream's failure in the gateway's words: a request it refused is the caller's
    // (400), anything else is not a bug of this service either (502).
    throw aborted ? error : upstreamFailure(ctx.logger, error);
  }
}
