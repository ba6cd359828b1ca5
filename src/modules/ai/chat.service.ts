import type { Span } from '@opentelemetry/api';
import type { AiModel } from '../../core/settings.ts';
import {
  FlightFailedError,
  type FlightLeader,
  type SharedFlights,
} from '../../core/single-flight.ts';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatMessage,
} from './ai.schemas.ts';
import {
  ContextLengthError,
  ModelNotFoundError,
  UpstreamFailedError,
  WrongModelKindError,
} from './ai-errors.ts';
import type { BudgetCache } from './budget-cache.ts';
import type { EmbeddingsContext } from './embeddings.service.ts';
import { GuardBlockedError } from './guards.ts';
import type { Caller, Reservation } from './limits.ts';
import { costInPicodollars, formatPicodollars, type TokenCounts } from './pricing.ts';
import { upstreamFailure, withRetries } from './resilience.ts';
import { answerKey, isDeterministic, type ResponseCache } from './response-cache.ts';
import { groundMessages } from './retrieval.ts';
import { chunksOf, StreamAssembly } from './stream-assembly.ts';
import { endCallSpan, GEN_AI, startCallSpan } from './telemetry.ts';
import {
  countMessageTokens,
  countPromptTokens,
  countTextTokens,
  messageText,
  promptTokensOf,
} from './tokens.ts';
import { type StreamEvent, UpstreamError } from './upstream.ts';
import {
  type CallRecord,
  type InBackground,
  type RecordOptions,
  recordBesideAnswer,
  recordCall,
} from './usage.service.ts';

/**
 * Everything a chat call needs, built once per process from the service's dependencies: what
 * an embeddings call needs (a grounded chat makes one), and what only chat has.
 */
export interface AiContext extends EmbeddingsContext {
  cache: ResponseCache;
  flights: SharedFlights;
  /** The budgets calls must fit, cached; told when one changes. */
  budgets: BudgetCache;
  fallbackAnswer: string | undefined;
  logContent: boolean;
}

/**
 * How the client wants the answer cache used: `default` caches deterministic requests only;
 * `force` caches any (the client accepts a replayed sample); `refresh` skips reading but
 * stores; `bypass` neither reads nor stores.
 */
export type CacheMode = 'default' | 'force' | 'refresh' | 'bypass';

export interface ChatOptions {
  /** Aborted when the client leaves: the upstream call stops with it. */
  signal: AbortSignal;
  cache: CacheMode;
  /** False for a batch's lines: one request of their client, paced by tokens. */
  countRequest?: boolean;
  /** Hears what the call was billed, once it is recorded (a batch sums its lines). */
  onBilled?: (bill: Bill) => void;
  /** Where the call's record and settlement run without the answer waiting (`recordBesideAnswer`). */
  recordInBackground?: InBackground;
}

/** What a call was billed, as recorded. */
export interface Bill {
  status: CallRecord['status'];
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  costPicodollars: bigint;
}

/**
 * The answer: whole, or as the data of server-sent events to relay (the route adds `[DONE]`),
 * in groups of those that are ready together.
 */
export type ChatResult =
  | { kind: 'json'; completion: ChatCompletion; headers: Record<string, string> }
  | { kind: 'stream'; events: AsyncIterable<readonly string[]>; headers: Record<string, string> };

/** What came back from the upstream, before it is relayed. */
type Answer =
  | { kind: 'json'; completion: ChatCompletion; model: AiModel; requestId: string | undefined }
  | {
      kind: 'stream';
      /** The first events that arrived, never none. */
      first: StreamEvent[];
      rest: AsyncIterator<StreamEvent[]>;
      model: AiModel;
      requestId: string | undefined;
      release: () => void;
    };

/** Characters of the answer read again by the next incremental guard check. */
const GUARD_OVERLAP = 1_000;

/** How a call ended, for its record, its reservations, its span and its metrics. */
interface Outcome {
  status: CallRecord['status'];
  tokens?: TokenCounts & { estimated: boolean };
  /** The model whose prices apply; absent when nothing was billed. */
  chargedModel?: AiModel;
  cacheHit?: boolean;
  upstreamModel?: string | null;
  upstreamRequestId?: string | null;
  finishReason?: string | null;
  timeToFirstTokenMs?: number | null;
  error?: unknown;
}

type Finish = (outcome: Outcome) => Promise<void>;

/** Parts of a shared call, as the leader publishes them to its followers. */
type FlightPart =
  | { type: 'chunk'; data: string }
  | { type: 'completion'; completion: ChatCompletion };

/** The upper bound of an answer's tokens: what the client capped it at, within the model's. */
function outputCap(request: ChatCompletionRequest, model: AiModel): number {
  const asked = request.max_completion_tokens ?? request.max_tokens ?? model.maxOutput;
  return Math.min(asked, model.maxOutput);
}

/**
 * The messages that fit `room` tokens: as they are, or (with `truncation: 'auto'`) without
 * the oldest turns that are not system messages; the last message always stays.
 */
async function fitContext(
  messages: ChatMessage[],
  model: AiModel,
  cap: number,
  truncation: 'auto' | 'disabled' | undefined,
): Promise<{ messages: ChatMessage[]; promptTokens: number }> {
  const room = model.contextWindow - cap;
  // Each message is counted once, and the oldest dropped in one pass: recounting what is
  // left after each drop made a long conversation's truncation quadratic.
  const counts = await countMessageTokens(messages);
  let promptTokens = promptTokensOf(counts);
  const dropped = new Set<number>();
  if (truncation === 'auto') {
    for (let index = 0; index < messages.length - 1 && promptTokens > room; index++) {
      if (messages[index]?.role === 'system') continue;
      dropped.add(index);
      promptTokens -= counts[index] ?? 0;
    }
  }
  if (promptTokens > room) throw new ContextLengthError(promptTokens, cap, model.contextWindow);
  const kept = dropped.size === 0 ? messages : messages.filter((_, index) => !dropped.has(index));
  return { messages: kept, promptTokens };
}

/** The tokens of a finished answer: the upstream's usage when it sent one, else counted. */
async function tokensOf(
  usage: ChatCompletion['usage'],
  promptTokens: number,
  outputText: string,
): Promise<TokenCounts & { estimated: boolean }> {
  if (usage) {
    return {
      input: usage.prompt_tokens,
      cachedInput: usage.prompt_tokens_details?.cached_tokens ?? 0,
      output: usage.completion_tokens,
      estimated: false,
    };
  }
  return {
    input: promptTokens,
    cachedInput: 0,
    output: await countTextTokens(outputText),
    estimated: true,
  };
}

function textOf(completion: ChatCompletion): string {
  return completion.choices[0]?.message.content ?? '';
}

/**
 * One chat completion through the gateway: guards on the prompt, the context window, the
 * per-minute limits and budgets (reserved), then the answer from the cache, from a shared
 * identical call, or from the upstream (with retries, then the fallback models, then the
 * configured fallback answer), guards on the answer, and one record of what it cost.
 */
export async function runChat(
  ctx: AiContext,
  caller: Caller,
  request: ChatCompletionRequest,
  options: ChatOptions,
): Promise<ChatResult> {
  const { retrieval, ...plain } = request;
  if (!retrieval) return runChatCall(ctx, caller, plain, options);
  const model = ctx.catalog.find(request.model);
  if (!model) throw new ModelNotFoundError(request.model);
  if (model.kind !== 'chat') throw new WrongModelKindError(request.model, 'chat');
  // The context gets what the conversation and the answer leave of the window.
  const room =
    model.contextWindow - outputCap(request, model) - (await countPromptTokens(request.messages));
  const grounded = await groundMessages(ctx, caller, request.messages, retrieval, {
    room: room - 16,
    signal: options.signal,
  });
  const result = await runChatCall(ctx, caller, { ...plain, messages: grounded.messages }, options);
  const { citations } = grounded;
  if (result.kind === 'json') return { ...result, completion: { ...result.completion, citations } };
  const events = result.events;
  return {
    ...result,
    events: (async function* () {
      let first = true;
      for await (const group of events) {
        const [data] = group;
        if (first && data !== undefined) {
          first = false;
          // Before the answer, in a chunk without choices, as OpenAI's usage chunk is.
          const chunk: unknown = JSON.parse(data);
          const head = typeof chunk === 'object' && chunk !== null ? chunk : {};
          const cited = JSON.stringify({
            id: 'id' in head ? head.id : 'chatcmpl-citations',
            object: 'chat.completion.chunk',
            created: 'created' in head ? head.created : Math.floor(Date.now() / 1000),
            model: 'model' in head ? head.model : request.model,
            choices: [],
            citations,
          });
          yield [cited, ...group];
          continue;
        }
        yield group;
      }
    })(),
  };
}

async function runChatCall(
  ctx: AiContext,
  caller: Caller,
  request: ChatCompletionRequest,
  options: ChatOptions,
): Promise<ChatResult> {
  const started = performance.now();
  const model = ctx.catalog.find(request.model);
  if (!model) throw new ModelNotFoundError(request.model);
  if (model.kind !== 'chat') throw new WrongModelKindError(request.model, 'chat');
  const stream = request.stream === true;
  const includeUsage = request.stream_options?.include_usage === true;
  const span = startCallSpan('chat', model.id, {
    [GEN_AI.provider]: ctx.upstream.name,
    ...(request.temperature === undefined
      ? {}
      : { [GEN_AI.requestTemperature]: request.temperature }),
    ...(request.seed === undefined ? {} : { [GEN_AI.requestSeed]: request.seed }),
  });
  const base = {
    userId: caller.userId,
    apiKeyId: caller.apiKeyId ?? null,
    operation: 'chat',
    model: model.id,
    stream,
  };
  let reservation: Reservation | undefined;
  let promptTokens = 0;
  /** Records the call once, settles its reservations, and ends its span and metrics. */
  const finish: Finish = async (outcome) => {
    const tokens = outcome.tokens ?? { input: 0, cachedInput: 0, output: 0, estimated: false };
    const cost =
      outcome.cacheHit || !outcome.chargedModel
        ? 0n
        : costInPicodollars(outcome.chargedModel, tokens);
    const latencyMs = Math.round(performance.now() - started);
    // Started here, beside the record (`recordBesideAnswer`).
    const settled = reservation
      ?.settle({ tokens: tokens.input + tokens.output, costPicodollars: cost })
      .catch((error: unknown) => {
        ctx.logger.warn({ err: error }, 'could not settle an AI call’s reservations');
      });
    const { error } = outcome;
    options.onBilled?.({
      status: outcome.status,
      inputTokens: tokens.input,
      cachedInputTokens: tokens.cachedInput,
      outputTokens: tokens.output,
      costPicodollars: cost,
    });
    const record = (recordOptions: RecordOptions) =>
      recordCall(
        ctx.db,
        {
          ...base,
          status: outcome.status,
          upstreamModel: outcome.upstreamModel,
          upstreamRequestId: outcome.upstreamRequestId,
          finishReason: outcome.finishReason,
          timeToFirstTokenMs: outcome.timeToFirstTokenMs,
          cacheHit: outcome.cacheHit,
          inputTokens: tokens.input,
          cachedInputTokens: tokens.cachedInput,
          outputTokens: tokens.output,
          usageEstimated: tokens.estimated,
          costPicodollars: cost,
          latencyMs,
          error:
            error === undefined ? null : error instanceof Error ? error.message : String(error),
        },
        recordOptions,
      ).then(
        () => undefined,
        (recordError: unknown) => {
          ctx.logger.error({ err: recordError }, 'could not record an AI call');
        },
      );
    const account = () => {
      const labels = { operation: 'chat', model: model.id };
      ctx.metrics.calls.inc({
        ...labels,
        status: outcome.status,
        cache: outcome.cacheHit ? 'hit' : 'miss',
      });
      ctx.metrics.duration.observe({ ...labels, status: outcome.status }, latencyMs / 1000);
      if (!outcome.cacheHit && outcome.chargedModel) {
        ctx.metrics.tokens.observe({ ...labels, type: 'input' }, tokens.input);
        ctx.metrics.tokens.observe({ ...labels, type: 'cached_input' }, tokens.cachedInput);
        ctx.metrics.tokens.observe({ ...labels, type: 'output' }, tokens.output);
      }
      span.setAttributes({
        [GEN_AI.inputTokens]: tokens.input,
        [GEN_AI.outputTokens]: tokens.output,
        [GEN_AI.cachedInputTokens]: tokens.cachedInput,
        ...(outcome.upstreamModel ? { [GEN_AI.responseModel]: outcome.upstreamModel } : {}),
        ...(outcome.finishReason ? { [GEN_AI.finishReasons]: [outcome.finishReason] } : {}),
      });
      const failed = outcome.status !== 'ok' && outcome.status !== 'fallback';
      endCallSpan(span, failed ? (error ?? outcome.status) : undefined);
      // Sizes, tokens and timings; the text only when AI_LOG_CONTENT asks for it.
      ctx.logger.info(
        {
          ai: {
            model: model.id,
            upstreamModel: outcome.upstreamModel,
            status: outcome.status,
            stream,
            cacheHit: outcome.cacheHit ?? false,
            inputTokens: tokens.input,
            cachedInputTokens: tokens.cachedInput,
            outputTokens: tokens.output,
            estimated: tokens.estimated,
            cost: formatPicodollars(cost),
            latencyMs,
            timeToFirstTokenMs: outcome.timeToFirstTokenMs,
            messages: request.messages.length,
            promptChars: request.messages.reduce(
              (sum, message) => sum + messageText(message).length,
              0,
            ),
            ...(ctx.logContent ? { prompt: request.messages } : {}),
          },
        },
        'AI call',
      );
    };
    await recordBesideAnswer(record, settled, options.recordInBackground, account);
  };

  let messages: ChatMessage[];
  try {
    messages = await ctx.guard.input(request.messages, options.signal);
    const cap = outputCap(request, model);
    const fitted = await fitContext(messages, model, cap, request.truncation);
    messages = fitted.messages;
    promptTokens = fitted.promptTokens;
    const maxCost = costInPicodollars(model, { input: promptTokens, cachedInput: 0, output: cap });
    reservation = await ctx.limits.reserve(
      caller,
      { tokens: promptTokens + cap, maxCostPicodollars: maxCost },
      ctx.clock.now(),
      { countRequest: options.countRequest ?? true },
    );
  } catch (error) {
    if (error instanceof GuardBlockedError) {
      await finish({ status: 'blocked', error });
    } else {
      endCallSpan(span, error);
    }
    // The moderation guard asks the upstream too.
    throw upstreamFailure(ctx.logger, error);
  }

  const prepared: ChatCompletionRequest = { ...request, messages };
  const headers: Record<string, string> = { ...reservation.headers };
  const cacheable =
    ctx.cacheTtlSeconds > 0 &&
    options.cache !== 'bypass' &&
    (options.cache === 'force' || isDeterministic(prepared));
  const key = cacheable ? answerKey(prepared) : undefined;

  /** An answer from elsewhere (the cache, or a shared call): relayed, recorded at no cost. */
  const replay = async (completion: ChatCompletion, how: 'hit' | 'shared'): Promise<ChatResult> => {
    headers['x-ai-cache'] = how;
    const tokens = await tokensOf(completion.usage, promptTokens, textOf(completion));
    await finish({
      status: 'ok',
      cacheHit: true,
      tokens,
      upstreamModel: completion.model,
      finishReason: completion.choices[0]?.finish_reason ?? null,
      timeToFirstTokenMs: Math.round(performance.now() - started),
    });
    if (!stream) return { kind: 'json', completion, headers };
    const events = (async function* () {
      yield Array.from(chunksOf(completion, { includeUsage }), (chunk) => JSON.stringify(chunk));
    })();
    return { kind: 'stream', events, headers };
  };

  try {
    if (key && options.cache !== 'refresh') {
      const cached = await ctx.cache.get(key);
      if (cached) return await replay(cached, 'hit');
    }
    let leader: FlightLeader | undefined;
    if (key) {
      const flight = await ctx.flights.join(key, { ttlMs: 30_000, signal: options.signal });
      if (flight.role === 'follower') {
        const shared = await followFlight(flight.parts).catch((error: unknown) => {
          // The leader failed or left: this call makes its own.
          if (error instanceof FlightFailedError) return undefined;
          throw error;
        });
        if (shared) return await replay(shared, 'shared');
      } else {
        leader = flight;
      }
    }
    headers['x-ai-cache'] = key ? 'miss' : 'bypass';
    const answer = await callUpstream(ctx, prepared, model, stream, options.signal, span).catch(
      async (error: unknown) => {
        await leader?.fail(error instanceof Error ? error.message : String(error));
        throw error;
      },
    );
    if (answer === undefined) {
      // Every model failed, and a fallback answer is configured.
      await leader?.fail('fallback');
      return fallback(ctx, model, stream, includeUsage, headers, finish, started);
    }
    if (answer.requestId) headers['x-upstream-request-id'] = answer.requestId;
    if (answer.kind === 'json') {
      const { completion } = answer;
      try {
        await ctx.guard.output(textOf(completion), options.signal, { final: true });
      } catch (error) {
        await leader?.fail('blocked');
        if (error instanceof GuardBlockedError) {
          await finish({
            status: 'blocked',
            chargedModel: answer.model,
            tokens: await tokensOf(completion.usage, promptTokens, textOf(completion)),
            upstreamModel: completion.model,
            error,
          });
        }
        throw error;
      }
      const tokens = await tokensOf(completion.usage, promptTokens, textOf(completion));
      await finish({
        status: 'ok',
        chargedModel: answer.model,
        tokens,
        upstreamModel: completion.model,
        upstreamRequestId: answer.requestId ?? null,
        finishReason: completion.choices[0]?.finish_reason ?? null,
        timeToFirstTokenMs: Math.round(performance.now() - started),
      });
      if (key) await ctx.cache.set(key, completion, ctx.cacheTtlSeconds);
      if (leader) {
        await leader.publish(
          JSON.stringify({ type: 'completion', completion } satisfies FlightPart),
        );
        await leader.finish();
      }
      return { kind: 'json', completion, headers };
    }
    return {
      kind: 'stream',
      headers,
      events: relay(ctx, answer, {
        promptTokens,
        includeUsage,
        started,
        signal: options.signal,
        key,
        leader,
        model: model.id,
        finish,
      }),
    };
  } catch (error) {
    if (error instanceof GuardBlockedError) throw error;
    // A call the upstream refused or never answered is not billed; one the client left
    // may have been read by the model, whose prompt is then counted.
    const aborted = options.signal.aborted;
    await finish(
      aborted
        ? {
            status: 'cancelled',
            tokens: { input: promptTokens, cachedInput: 0, output: 0, estimated: true },
            chargedModel: model,
            error,
          }
        : { status: 'error', error },
    );
    throw aborted ? error : upstreamFailure(ctx.logger, error);
  }
}

/** The answer a leader shared, from its parts: a whole completion, or its chunks. */
async function followFlight(parts: AsyncIterable<string>): Promise<ChatCompletion | undefined> {
  const assembly = new StreamAssembly();
  for await (const text of parts) {
    const part = JSON.parse(text) as FlightPart;
    if (part.type === 'completion') return part.completion;
    assembly.add(JSON.parse(part.data) as ChatCompletionChunk);
  }
  return assembly.chunks > 0 ? assembly.completion() : undefined;
}

/**
 * The upstream's answer, from the first model of the chain that gives one: each model tried
 * again on retryable failures (after `Retry-After`) before anything was relayed, then the
 * next. A stream counts as answered once its first event has arrived. Undefined when all
 * failed and a fallback answer is configured.
 */
async function callUpstream(
  ctx: AiContext,
  request: ChatCompletionRequest,
  requested: AiModel,
  stream: boolean,
  signal: AbortSignal,
  span: Span,
): Promise<(Answer & { upstreamModel: string }) | undefined> {
  const errors: string[] = [];
  for (const model of ctx.catalog.chain(requested.id)) {
    const upstreamModel = ctx.catalog.upstreamName(model);
    const body: Record<string, unknown> = {
      ...request,
      model: upstreamModel,
      stream,
      // Usage arrives only in the last chunk, and only when asked: always ask.
      ...(stream ? { stream_options: { ...request.stream_options, include_usage: true } } : {}),
    };
    delete body.truncation;
    delete body.retrieval;
    try {
      const answer = await withRetries(
        async () => {
          const release = await ctx.slots.acquire(signal);
          try {
            const reply = await ctx.upstream.chat(body, signal);
            if (reply.kind === 'json') {
              release();
              return {
                kind: 'json' as const,
                completion: reply.completion,
                model,
                requestId: reply.requestId,
              };
            }
            const rest = reply.events[Symbol.asyncIterator]();
            const first = await rest.next();
            if (first.done)
              throw new UpstreamError('the upstream stream was empty', { retryable: true });
            return {
              kind: 'stream' as const,
              first: first.value,
              rest,
              model,
              requestId: reply.requestId,
              release,
            };
          } catch (error) {
            release();
            throw error;
          }
        },
        {
          policy: ctx.retry,
          signal,
          onRetry: (error, retry, delayMs) => {
            ctx.metrics.retries.inc({ model: model.id });
            ctx.logger.warn(
              { err: error, model: model.id, retry, delayMs },
              'retrying the AI upstream',
            );
          },
        },
      );
      span.setAttribute(GEN_AI.responseModel, upstreamModel);
      return { ...answer, upstreamModel };
    } catch (error) {
      // A request the provider refused (the caller's, or the gateway's key), or a client that
      // left: no other model would do better.
      if (
        signal.aborted ||
        !(error instanceof UpstreamError) ||
        (error.status !== undefined &&
          error.status < 500 &&
          error.status !== 429 &&
          error.status !== 408)
      ) {
        throw error;
      }
      errors.push(`${model.id}: ${error.message}`);
      ctx.logger.warn(
        { err: error, model: model.id },
        'AI model failed; trying the next of its chain',
      );
    }
  }
  if (ctx.fallbackAnswer !== undefined) return undefined;
  throw new UpstreamFailedError(errors.join('; '));
}

/** The configured answer when every model failed, marked as such. */
async function fallback(
  ctx: AiContext,
  model: AiModel,
  stream: boolean,
  includeUsage: boolean,
  headers: Record<string, string>,
  finish: Finish,
  started: number,
): Promise<ChatResult> {
  headers['x-ai-fallback'] = 'true';
  const completion: ChatCompletion & { fallback: true } = {
    id: `chatcmpl-fallback-${Math.round(started)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: model.id,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: ctx.fallbackAnswer ?? '' },
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
    fallback: true,
  };
  await finish({ status: 'fallback', finishReason: 'stop' });
  if (!stream) return { kind: 'json', completion, headers };
  const events = (async function* () {
    yield Array.from(chunksOf(completion, { includeUsage }), (chunk) =>
      JSON.stringify({ ...chunk, fallback: true }),
    );
  })();
  return { kind: 'stream', events, headers };
}

/** The last event of an answer a guard blocked: the answer's ids, `content_filter`, the guard. */
function blockedEvent(
  chunk: Pick<StreamEvent['chunk'], 'id' | 'created' | 'model'>,
  error: GuardBlockedError,
): string {
  return JSON.stringify({
    id: chunk.id,
    object: 'chat.completion.chunk',
    created: chunk.created,
    model: chunk.model,
    choices: [{ index: 0, delta: {}, finish_reason: 'content_filter' }],
    gateway: { blockedBy: error.guard },
  });
}

/**
 * Relays a streamed answer as it arrives, the events that arrived together as one group, and
 * on the way: gathers it (for the record, the cache and the followers of a shared call),
 * checks each event against the guards (a block ends it with `content_filter`), and hides the
 * usage chunk from a client that did not ask for it. However it ends (done, blocked, failed,
 * or the client gone), the call is recorded with the tokens that were streamed.
 */
async function* relay(
  ctx: AiContext,
  answer: Extract<Answer, { kind: 'stream' }> & { upstreamModel: string },
  run: {
    promptTokens: number;
    includeUsage: boolean;
    started: number;
    signal: AbortSignal;
    key: string | undefined;
    leader: FlightLeader | undefined;
    /** The model as the client named it, for metrics and the events the gateway writes. */
    model: string;
    finish: Finish;
  },
): AsyncGenerator<readonly string[]> {
  const assembly = new StreamAssembly();
  const timeToFirstTokenMs = Math.round(performance.now() - run.started);
  ctx.metrics.timeToFirstToken.observe({ model: run.model }, timeToFirstTokenMs / 1000);
  let status: CallRecord['status'] = 'cancelled';
  let failure: unknown;
  // The text the guards read next: the last GUARD_OVERLAP characters they passed (for a
  // pattern across two chunks), then what is new. Kept apart from the whole answer, whose
  // every slice would copy it all: for an answer in small pieces, quadratic (a megabyte
  // streamed four characters at a time took 87 s).
  let unguarded = '';
  // The group being relayed: what a failure leaves of it goes out before the error.
  let relayed: string[] = [];
  try {
    for (let group: StreamEvent[] | undefined = answer.first; group !== undefined; ) {
      for (const event of group) {
        const added = assembly.add(event.chunk);
        if (run.leader) {
          await run.leader.publish(
            JSON.stringify({ type: 'chunk', data: event.data } satisfies FlightPart),
          );
        }
        // Only what is new, with the overlap: the text before it passed already, and reading
        // it all again at every chunk is quadratic too.
        if (added !== '') {
          try {
            unguarded += added;
            const checking = ctx.guard.output(unguarded, run.signal, { final: false });
            if (checking) await checking;
            unguarded = unguarded.slice(-GUARD_OVERLAP);
          } catch (error) {
            if (!(error instanceof GuardBlockedError)) throw error;
            status = 'blocked';
            failure = error;
            relayed.push(blockedEvent(event.chunk, error));
            yield relayed;
            return;
          }
        }
        const usageOnly = event.chunk.choices.length === 0 && event.chunk.usage;
        // Passed through as the upstream wrote it, byte for byte.
        if (!usageOnly || run.includeUsage) relayed.push(event.data);
      }
      if (relayed.length > 0) yield relayed;
      relayed = [];
      const next = await answer.rest.next();
      group = next.done ? undefined : next.value;
    }
    // The whole answer, once, for the guards that read it whole (moderation): what it finds
    // has been streamed already, so the call ends as blocked, said in a last event.
    try {
      await ctx.guard.output(assembly.text, run.signal, { final: true });
    } catch (error) {
      if (!(error instanceof GuardBlockedError)) throw error;
      status = 'blocked';
      failure = error;
      const [head] = answer.first;
      if (head) yield [blockedEvent(head.chunk, error)];
      return;
    }
    status = 'ok';
  } catch (error) {
    status = run.signal.aborted ? 'cancelled' : 'error';
    failure = error;
    // Mid-stream, an error can only be told as an event: OpenAI's clients raise it.
    if (!run.signal.aborted) {
      yield [
        ...relayed,
        JSON.stringify({
          error: {
            message: error instanceof Error ? error.message : String(error),
            type: 'server_error',
            code: 'upstream_error',
          },
        }),
      ];
    }
  } finally {
    answer.release();
    // Stops the upstream if the client left mid-answer (no-op once it has ended).
    await answer.rest.return?.(undefined).catch(() => undefined);
    const complete = status === 'ok';
    const tokens = await tokensOf(
      complete ? assembly.usage : undefined,
      run.promptTokens,
      assembly.text,
    );
    await run.finish({
      status,
      chargedModel: answer.model,
      tokens,
      upstreamModel: answer.upstreamModel,
      upstreamRequestId: answer.requestId ?? null,
      finishReason: assembly.finishReason,
      timeToFirstTokenMs,
      ...(failure === undefined ? {} : { error: failure }),
    });
    if (complete && run.key)
      await ctx.cache.set(run.key, assembly.completion(), ctx.cacheTtlSeconds);
    if (run.leader) {
      if (complete) await run.leader.finish();
      else await run.leader.fail(status);
    }
  }
}
