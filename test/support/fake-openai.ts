/**
 * A fake OpenAI-compatible upstream for the AI gateway's tests: a real HTTP server on loopback
 * (node:http, a free port on 127.0.0.1) that speaks OpenAI's REST and server-sent-event shapes
 * at `/v1/chat/completions`, `/v1/embeddings`, `/v1/moderations` and `/v1/models`, answers what
 * each test scripts, and records every request it receives (headers, body, arrival time, and
 * when the client left before the answer was complete). Its faithfulness to the wire format is
 * proven with the official `openai` client in fake-openai.test.ts.
 *
 * Each endpoint has a queue of scripted replies, one consumed per request; an empty queue
 * answers the endpoint's usual reply (`{ kind: 'default' }`): chat echoes the last user
 * message (JSON, or streamed when the request asks `stream: true`), embeddings are hashed
 * bag-of-words vectors, moderations flag `flaggedWords`, models lists `models`. What the fake
 * refuses itself uses no script: an unknown path or method (404), another key than `apiKey`
 * (401), a body that is not JSON or lacks `model`, `messages` or `input` (400), all in
 * OpenAI's error shape. Tokens are counted one per word. Times are `performance.now()` of the
 * test process, so they compare with the test's own readings.
 *
 * @example
 * const fake = await startFakeOpenAI({ apiKey: 'sk-provider' });
 * after(() => fake.close());
 * fake.script(
 *   'chat',
 *   { kind: 'error', status: 429, retryAfterMs: 50 },
 *   { kind: 'stream', pieces: ['Hel', 'lo'], chunkDelayMs: 10, usage: { cachedTokens: 3 } },
 * );
 * // Point the gateway (AI_UPSTREAM_URL) or an OpenAI client (baseURL) at fake.baseUrl, then:
 * const [first] = await fake.waitForRequests(1, { endpoint: 'chat' });
 * assert.equal(first?.headers.authorization, 'Bearer sk-provider');
 * assert.equal(fake.count('chat'), 2);
 * // A client that left: `(await request.ended).how === 'aborted'`, at `request.abortedAt`.
 */
import { createHash } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** The endpoints the fake serves (`models` covers `/v1/models` and `/v1/models/{id}`). */
export type Endpoint = 'chat' | 'embeddings' | 'moderations' | 'models';

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/** OpenAI's error body: `{ error: { message, type, code, param } }`. */
export interface OpenAIError {
  message: string;
  type: string;
  code: string | null;
  param: string | null;
}

/** What every reply but `hang` may add. */
export interface ReplyTiming {
  /** Wait this long before answering anything (the status line included). */
  delayMs?: number;
  /** Answer only once this settles (and after `delayMs`): holds a reply until the test says. */
  until?: Promise<unknown>;
  /** More response headers, e.g. `{ 'x-request-id': 'req_1' }` (each response has one). */
  headers?: Record<string, string>;
}

/**
 * Token counts of a chat answer; each defaults to one token per word (of the prompt's
 * messages, of the answer). `prompt_tokens_details.cached_tokens` is only sent when
 * `cachedTokens` is given, as some OpenAI-compatible servers send no details.
 */
export interface Usage {
  promptTokens?: number;
  completionTokens?: number;
  cachedTokens?: number;
}

export interface ToolCall {
  /** `call_fake_<n>` when absent. */
  id?: string;
  name: string;
  /** The JSON arguments; when streamed, each string of a list is its own delta. */
  arguments: string | readonly string[];
}

/**
 * A `chat.completion`. Sent to a request with `stream: true`, it is streamed instead, its
 * content in word-sized pieces.
 *
 * @example
 * fake.script('chat', { kind: 'completion', content: 'Hi', usage: { cachedTokens: 4 } });
 */
export interface CompletionReply extends ReplyTiming {
  kind: 'completion';
  /** The echo of the last user message when absent (null when there are `toolCalls`). */
  content?: string | null;
  toolCalls?: readonly ToolCall[];
  /** `tool_calls` when there are some, `stop` otherwise. */
  finishReason?: FinishReason;
  /** The request's `model` when absent. */
  model?: string;
  /** `false`: no `usage` in the answer. */
  usage?: Usage | false;
}

/**
 * A `text/event-stream` of `chat.completion.chunk` events, as OpenAI sends them: a first
 * chunk whose delta is `{ role: 'assistant', content: '' }`, one chunk per piece (then per
 * tool-call delta), a chunk with `finish_reason`, then, when the request asked
 * `stream_options.include_usage`, a last chunk with `choices: []` and `usage` (the others
 * carry `usage: null`), then `data: [DONE]`. `cutAfter`, `stallAfter` and `errorAfter`
 * count the chunks after the first (the role) one.
 *
 * @example
 * fake.script('chat', { kind: 'stream', pieces: ['Hel', 'lo'], firstChunkDelayMs: 500 });
 * fake.script('chat', { kind: 'stream', pieces: ['a', 'b', 'c'], cutAfter: 1 });
 * fake.script('chat', { kind: 'stream', toolCalls: [{ name: 'f', arguments: ['{"a"', ':1}'] }] });
 */
export interface StreamReply extends ReplyTiming {
  kind: 'stream';
  /** The echo of the last user message, in word-sized pieces, when absent. */
  pieces?: readonly string[];
  toolCalls?: readonly ToolCall[];
  finishReason?: FinishReason;
  model?: string;
  /** Sent only when the request asked `stream_options.include_usage`; `false`: never. */
  usage?: Usage | false;
  /** After the headers, before the first chunk: a slow first token. */
  firstChunkDelayMs?: number;
  /** Between two chunks of pieces or tool-call deltas. */
  chunkDelayMs?: number;
  /**
   * Destroy the socket after this many chunks (once they are flushed and `chunkDelayMs`, at
   * least 50 ms, has passed, so the client has read them): no finish chunk, usage or `[DONE]`.
   */
  cutAfter?: number;
  /** Send nothing more after this many chunks, and keep the connection open. */
  stallAfter?: number;
  /** After this many chunks, send `data: {"error": {...}}` and end the response. */
  errorAfter?: { chunks: number } & Partial<OpenAIError>;
}

/**
 * An error in OpenAI's shape, with the headers a client's retry reads. `message`, `type` and
 * `code` default by status: 429 is `requests`/`rate_limit_exceeded`, 401 `invalid_api_key`,
 * 404 `model_not_found`, 5xx `server_error`, others `invalid_request_error`.
 *
 * @example
 * fake.script('chat', { kind: 'error', status: 429, retryAfter: 1 });
 * fake.script('chat', { kind: 'error', status: 503, retryAfterMs: 20, headers: { 'x-a': '1' } });
 * fake.script('chat', { kind: 'error', status: 400, code: 'context_length_exceeded' });
 */
export interface ErrorReply extends ReplyTiming, Partial<OpenAIError> {
  kind: 'error';
  status: number;
  /** `retry-after`: seconds, or an HTTP date. */
  retryAfter?: number | string;
  /** `retry-after-ms`. */
  retryAfterMs?: number;
}

/**
 * Any body, as is: a proxy's HTML error page, malformed JSON or events.
 *
 * @example
 * fake.script('chat', { kind: 'raw', status: 502, contentType: 'text/html', body: '<p>502' });
 */
export interface RawReply extends ReplyTiming {
  kind: 'raw';
  /** 200 when absent. */
  status?: number;
  /** `text/plain; charset=utf-8` when absent. */
  contentType?: string;
  body: string;
}

/**
 * The endpoint's usual answer, as an empty queue gives, here delayed or held.
 *
 * @example
 * fake.script('embeddings', { kind: 'default', delayMs: 200 });
 */
export interface DefaultReply extends ReplyTiming {
  kind: 'default';
}

/**
 * Never answers, not even the status line, until the client leaves or the fake closes.
 *
 * @example
 * fake.script('chat', { kind: 'hang' });
 */
export interface HangReply {
  kind: 'hang';
}

export type Reply =
  | CompletionReply
  | StreamReply
  | ErrorReply
  | RawReply
  | DefaultReply
  | HangReply;

/**
 * How a request ended: the fake `finished` its answer, the client left before that
 * (`aborted`), or the fake cut the connection (`cutAfter`, or `close()`).
 */
export interface RequestEnd {
  how: 'finished' | 'aborted' | 'cut';
  /** `performance.now()`. */
  at: number;
}

export interface RecordedRequest {
  /** 1 for the fake's first request, and so on (not reset by `reset()`). */
  readonly seq: number;
  readonly method: string;
  /** As requested, query included. */
  readonly path: string;
  /** By path, whatever the method; null for a path the fake does not serve (answered 404). */
  readonly endpoint: Endpoint | null;
  /** Lowercase names, e.g. `headers.authorization`. */
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body; undefined when there was none or it was not JSON. */
  readonly body: unknown;
  /** `performance.now()` when the request arrived. */
  readonly receivedAt: number;
  /** The `x-request-id` of the answer (unless a reply's headers set another). */
  readonly requestId: string;
  /** The reply served; null when the fake refused the request itself (404, 401, 400). */
  readonly reply: Reply | null;
  /** How it ended, once it has. */
  readonly end: RequestEnd | undefined;
  /** `performance.now()` when the client closed the connection before the answer was complete. */
  readonly abortedAt: number | undefined;
  /**
   * `performance.now()` when each server-sent event of a stream was written, in order: the
   * fake's own clock, so a test checks its delays without the client's scheduling in them.
   */
  readonly writtenAt: readonly number[];
  /** Settles when the request ends, however it does. */
  readonly ended: Promise<RequestEnd>;
}

export interface FakeOpenAIOptions {
  /** When set, any other `Authorization: Bearer` key is answered 401 `invalid_api_key`. */
  apiKey?: string;
  /**
   * What `/v1/models` lists; by default gpt-4o-mini, gpt-4o, text-embedding-3-small and
   * omni-moderation-latest.
   */
  models?: readonly string[];
  /**
   * Moderation flags an input containing one of these words (any case) as `violence`;
   * `['forbidden']` by default.
   */
  flaggedWords?: readonly string[];
  /** The length of embedding vectors when the request has no `dimensions`; 64 by default. */
  embeddingDimensions?: number;
}

export interface FakeOpenAI {
  /** `http://127.0.0.1:<port>/v1`: a client's `baseURL`, the gateway's `AI_UPSTREAM_URL`. */
  readonly baseUrl: string;
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  /** Every request received since the start (or `reset()`), in order of arrival. */
  readonly requests: readonly RecordedRequest[];
  /** Adds replies to the end of an endpoint's queue; each request takes the first. */
  script(endpoint: Endpoint, ...replies: Reply[]): void;
  /** Replies still queued for an endpoint. */
  pending(endpoint: Endpoint): number;
  /** Requests received, to one endpoint or to any path. */
  count(endpoint?: Endpoint): number;
  /**
   * The requests (to one endpoint, or all) once there are at least `n`; fails after
   * `timeoutMs` (5 s by default), naming what did arrive.
   */
  waitForRequests(
    n: number,
    options?: { endpoint?: Endpoint; timeoutMs?: number },
  ): Promise<RecordedRequest[]>;
  /** Forgets the requests and empties every queue (requests in flight carry on). */
  reset(): void;
  /** Cuts every open connection and stops listening. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_MODELS = [
  'gpt-4o-mini',
  'gpt-4o',
  'text-embedding-3-small',
  'omni-moderation-latest',
];
const ENDPOINTS: readonly Endpoint[] = ['chat', 'embeddings', 'moderations', 'models'];
const ROUTES: Record<string, { endpoint: Endpoint; method: string }> = {
  '/v1/chat/completions': { endpoint: 'chat', method: 'POST' },
  '/v1/embeddings': { endpoint: 'embeddings', method: 'POST' },
  '/v1/moderations': { endpoint: 'moderations', method: 'POST' },
  '/v1/models': { endpoint: 'models', method: 'GET' },
};
const MODERATION_CATEGORIES = [
  'harassment',
  'harassment/threatening',
  'hate',
  'hate/threatening',
  'illicit',
  'illicit/violent',
  'self-harm',
  'self-harm/intent',
  'self-harm/instructions',
  'sexual',
  'sexual/minors',
  'violence',
  'violence/graphic',
] as const;
const FLAGGED_CATEGORY = 'violence';
const CUT_GRACE_MS = 50;

/** Starts a fake on a free port of 127.0.0.1. */
export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const models = options.models ?? DEFAULT_MODELS;
  const flaggedWords = (options.flaggedWords ?? ['forbidden']).map(
    (word) => new RegExp(`(^|[^\\p{L}\\p{N}])${escapeRegExp(word)}($|[^\\p{L}\\p{N}])`, 'iu'),
  );
  const defaultDimensions = options.embeddingDimensions ?? 64;
  const queues = new Map<Endpoint, Reply[]>(ENDPOINTS.map((endpoint) => [endpoint, []]));
  const requests: RecordedRequest[] = [];
  const waiters = new Set<() => void>();
  let seq = 0;
  let closing = false;

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = performance.now();
    seq += 1;
    const number = seq;
    const requestId = `req_fake_${number}`;
    const closed = new AbortController();
    let cutting = false;
    let end: RequestEnd | undefined;
    let settle: (end: RequestEnd) => void = () => {};
    const ended = new Promise<RequestEnd>((resolve) => {
      settle = resolve;
    });
    const finish = (how: RequestEnd['how']): void => {
      if (end) return;
      end = { how, at: performance.now() };
      settle(end);
    };
    res.on('error', () => {});
    res.on('finish', () => finish('finished'));
    res.on('close', () => {
      closed.abort();
      if (!res.writableFinished) finish(cutting || closing ? 'cut' : 'aborted');
    });

    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      // The client left while sending: recorded below, with what arrived.
    }
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    let unparsable = false;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        unparsable = true;
      }
    }

    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const pathname = new URL(path, 'http://fake').pathname.replace(/\/+$/, '');
    const modelId = /^\/v1\/models\/(.+)$/.exec(pathname)?.[1];
    const route = modelId ? { endpoint: 'models' as const, method: 'GET' } : ROUTES[pathname];
    const endpoint = route?.endpoint ?? null;

    // Refusals the fake makes itself, before any script is consumed.
    const notFound = {
      status: 404,
      error: openAIError(`Invalid URL (${method} ${pathname})`, 'invalid_request_error'),
    };
    let refusal: { status: number; error: OpenAIError } | undefined;
    if (!route || route.method !== method) {
      refusal = notFound;
    } else if (
      options.apiKey !== undefined &&
      req.headers.authorization !== `Bearer ${options.apiKey}`
    ) {
      refusal = {
        status: 401,
        error: openAIError(
          'Incorrect API key provided.',
          'invalid_request_error',
          'invalid_api_key',
        ),
      };
    } else if (unparsable) {
      refusal = {
        status: 400,
        error: openAIError(
          'We could not parse the JSON body of your request.',
          'invalid_request_error',
        ),
      };
    } else {
      const problem = invalidBody(route.endpoint, body);
      if (problem) refusal = { status: 400, error: problem };
    }
    const reply = refusal || !endpoint ? null : (queues.get(endpoint)?.shift() ?? DEFAULT);

    const writtenAt: number[] = [];
    const record: RecordedRequest = {
      seq: number,
      method,
      path,
      endpoint,
      headers: req.headers,
      body,
      receivedAt,
      requestId,
      reply,
      get end() {
        return end;
      },
      get abortedAt() {
        return end?.how === 'aborted' ? end.at : undefined;
      },
      writtenAt,
      ended,
    };
    requests.push(record);
    for (const waiter of [...waiters]) waiter();

    if (closed.signal.aborted) return;
    if (refusal || !reply || !endpoint) {
      const error = refusal ?? notFound;
      sendJson(res, error.status, { error: error.error }, { 'x-request-id': requestId });
      return;
    }
    if (reply.kind === 'hang') return;
    if (reply.delayMs && !(await pause(reply.delayMs, closed.signal))) return;
    if (reply.until && !(await hold(reply.until, closed.signal))) return;
    const headers = { 'x-request-id': requestId, ...reply.headers };
    const context: ReplyContext = {
      res,
      body: body as Record<string, unknown>,
      number,
      headers,
      signal: closed.signal,
      writtenAt,
      cut: () => {
        cutting = true;
        res.socket?.destroy();
      },
    };

    switch (reply.kind) {
      case 'error':
        sendError(context, reply);
        return;
      case 'raw':
        res.writeHead(reply.status ?? 200, {
          'content-type': reply.contentType ?? 'text/plain; charset=utf-8',
          ...headers,
        });
        res.end(reply.body);
        return;
      case 'completion':
      case 'stream':
        await sendChat(context, reply);
        return;
      case 'default':
        break;
    }
    switch (endpoint) {
      case 'chat':
        await sendChat(context, echoReply(context.body));
        return;
      case 'embeddings':
        sendJson(res, 200, embeddingsAnswer(context.body, defaultDimensions), headers);
        return;
      case 'moderations':
        sendJson(res, 200, moderationAnswer(context.body, number, flaggedWords), headers);
        return;
      case 'models':
        if (modelId === undefined) {
          sendJson(res, 200, { object: 'list', data: models.map(modelObject) }, headers);
        } else if (models.includes(decodeURIComponent(modelId))) {
          sendJson(res, 200, modelObject(decodeURIComponent(modelId)), headers);
        } else {
          const message = `The model '${decodeURIComponent(modelId)}' does not exist`;
          const error = openAIError(message, 'invalid_request_error', 'model_not_found', 'model');
          sendJson(res, 404, { error }, headers);
        }
        return;
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const matching = (endpoint: Endpoint | undefined): RecordedRequest[] =>
    requests.filter((request) => endpoint === undefined || request.endpoint === endpoint);

  const close = async (): Promise<void> => {
    closing = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  return {
    baseUrl: `${origin}/v1`,
    origin,
    requests,
    script(endpoint, ...replies) {
      for (const reply of replies) {
        if ((reply.kind === 'completion' || reply.kind === 'stream') && endpoint !== 'chat') {
          throw new TypeError(`a ${reply.kind} reply is for 'chat', not '${endpoint}'`);
        }
      }
      queues.get(endpoint)?.push(...replies);
    },
    pending: (endpoint) => queues.get(endpoint)?.length ?? 0,
    count: (endpoint) => matching(endpoint).length,
    waitForRequests(n, { endpoint, timeoutMs = 5_000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = matching(endpoint);
          if (found.length < n) return;
          stop();
          resolve(found);
        };
        const timer = setTimeout(() => {
          stop();
          const seen = requests.map((request) => `${request.method} ${request.path}`);
          const to = endpoint ? ` to ${endpoint}` : '';
          reject(
            new Error(
              `fake OpenAI: waited ${timeoutMs} ms for ${n} request(s)${to}, ` +
                `got ${matching(endpoint).length} (all received: ${seen.join(', ') || 'none'})`,
            ),
          );
        }, timeoutMs);
        const stop = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    reset() {
      requests.length = 0;
      for (const queue of queues.values()) queue.length = 0;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * The vector `/v1/embeddings` answers for a text: each word (lowercase letters and digits)
 * hashed to a position and a sign, the sum scaled to length 1, at float32 precision. Texts
 * sharing words are close; the same text always gives the same vector.
 */
export function fakeEmbedding(text: string, dimensions = 64): number[] {
  const words = wordsOf(text.toLowerCase());
  return hashedVector(words.length > 0 ? words : [text.trim()], dimensions);
}

const DEFAULT: DefaultReply = { kind: 'default' };

interface ReplyContext {
  res: ServerResponse;
  body: Record<string, unknown>;
  number: number;
  headers: Record<string, string>;
  signal: AbortSignal;
  writtenAt: number[];
  cut: () => void;
}

function openAIError(
  message: string,
  type: string,
  code: string | null = null,
  param: string | null = null,
): OpenAIError {
  return { message, type, code, param };
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string>,
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

const ERROR_DEFAULTS: Record<number, [message: string, type: string, code: string | null]> = {
  400: ['Invalid request (scripted).', 'invalid_request_error', null],
  401: ['Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'],
  403: ['You are not allowed to do this (scripted).', 'invalid_request_error', null],
  404: ['The model does not exist (scripted).', 'invalid_request_error', 'model_not_found'],
  429: ['Rate limit reached (scripted).', 'requests', 'rate_limit_exceeded'],
};

function sendError({ res, headers }: ReplyContext, reply: ErrorReply): void {
  const [message, type, code] =
    ERROR_DEFAULTS[reply.status] ??
    (reply.status >= 500
      ? ['The server had an error while processing your request (scripted).', 'server_error', null]
      : ['Request failed (scripted).', 'invalid_request_error', null]);
  const error = openAIError(
    reply.message ?? message,
    reply.type ?? type,
    reply.code === undefined ? code : reply.code,
    reply.param ?? null,
  );
  const retry: Record<string, string> = {};
  if (reply.retryAfter !== undefined) retry['retry-after'] = String(reply.retryAfter);
  if (reply.retryAfterMs !== undefined) retry['retry-after-ms'] = String(reply.retryAfterMs);
  sendJson(res, reply.status, { error }, { ...retry, ...headers });
}

function invalidBody(endpoint: Endpoint, body: unknown): OpenAIError | undefined {
  if (endpoint === 'models') return undefined;
  const missing = (param: string): OpenAIError =>
    openAIError(
      `Missing required parameter: '${param}'.`,
      'invalid_request_error',
      'missing_required_parameter',
      param,
    );
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return openAIError('The body must be a JSON object.', 'invalid_request_error');
  }
  const fields = body as Record<string, unknown>;
  if (endpoint !== 'moderations' && typeof fields.model !== 'string') return missing('model');
  if (endpoint === 'chat') {
    if (!Array.isArray(fields.messages)) return missing('messages');
    if (fields.messages.length === 0) {
      return openAIError(
        "Invalid 'messages': empty array.",
        'invalid_request_error',
        'empty_array',
        'messages',
      );
    }
    return undefined;
  }
  if (fields.input === undefined) return missing('input');
  if (endpoint === 'embeddings') {
    const inputs = embeddingInputs(fields.input);
    if (!inputs || inputs.some((input) => input.length === 0)) {
      return openAIError(
        "'$.input' is invalid: give a non-empty string, a list of them, or token arrays.",
        'invalid_request_error',
        null,
        'input',
      );
    }
  }
  return undefined;
}

// --- chat ---------------------------------------------------------------------------------

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) =>
      typeof part === 'object' && part !== null && typeof part.text === 'string' ? part.text : '',
    )
    .filter((text) => text !== '')
    .join(' ');
}

function wordsOf(text: string): string[] {
  return text.match(/[\p{L}\p{N}]+/gu) ?? [];
}

function countWords(text: string): number {
  return text.match(/\S+/g)?.length ?? 0;
}

/** Word-sized pieces that join back into the text: `'Hi, you'` → `['Hi,', ' you']`. */
function piecesOf(text: string): string[] {
  const pieces: string[] = text.match(/\s*\S+/g) ?? [];
  const rest = text.slice(pieces.join('').length);
  if (rest !== '') pieces.push(rest);
  return pieces;
}

function promptTokens(body: Record<string, unknown>): number {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  return messages.reduce<number>(
    (sum, message) => sum + countWords(textOf((message as { content?: unknown })?.content)),
    0,
  );
}

/** The default chat reply: the last user message, cut to the request's output cap. */
function echoReply(body: Record<string, unknown>): CompletionReply {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const lastUser = messages.findLast(
    (message) => (message as { role?: unknown })?.role === 'user',
  ) as { content?: unknown } | undefined;
  const text = textOf(lastUser?.content);
  const cap = body.max_completion_tokens ?? body.max_tokens;
  const pieces = piecesOf(text);
  if (typeof cap === 'number' && pieces.length > cap) {
    return { kind: 'completion', content: pieces.slice(0, cap).join(''), finishReason: 'length' };
  }
  return { kind: 'completion', content: text };
}

function usageObject(spec: Usage | undefined, prompt: number, completion: number) {
  const promptTokens = spec?.promptTokens ?? prompt;
  const completionTokens = spec?.completionTokens ?? completion;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    ...(spec?.cachedTokens === undefined
      ? {}
      : { prompt_tokens_details: { cached_tokens: spec.cachedTokens } }),
  };
}

function argumentPieces(call: ToolCall): readonly string[] {
  return typeof call.arguments === 'string' ? [call.arguments] : call.arguments;
}

function callId(call: ToolCall, number: number, index: number): string {
  return call.id ?? `call_fake_${number}_${index}`;
}

async function sendChat(context: ReplyContext, reply: CompletionReply | StreamReply) {
  if (reply.kind === 'stream') return sendStream(context, reply);
  if (context.body.stream !== true) return sendCompletion(context, reply);
  // A completion asked as a stream: its content in word-sized pieces (the echo when absent).
  const echo = reply.content === undefined && !reply.toolCalls;
  const pieces = echo ? undefined : piecesOf(reply.content ?? '');
  return sendStream(context, { ...reply, kind: 'stream', pieces });
}

function sendCompletion({ res, body, number, headers }: ReplyContext, reply: CompletionReply) {
  const echo = reply.content === undefined && !reply.toolCalls ? echoReply(body) : undefined;
  const content = echo ? (echo.content ?? null) : (reply.content ?? null);
  const toolCalls = reply.toolCalls?.map((call, index) => ({
    id: callId(call, number, index),
    type: 'function',
    function: { name: call.name, arguments: argumentPieces(call).join('') },
  }));
  const finishReason =
    reply.finishReason ?? echo?.finishReason ?? (toolCalls ? 'tool_calls' : 'stop');
  const completion =
    piecesOf(content ?? '').length +
    (reply.toolCalls ?? []).reduce((sum, call) => sum + argumentPieces(call).length, 0);
  sendJson(
    res,
    200,
    {
      id: `chatcmpl-fake${number}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: reply.model ?? body.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content,
            refusal: null,
            annotations: [],
            ...(toolCalls ? { tool_calls: toolCalls } : {}),
          },
          logprobs: null,
          finish_reason: finishReason,
        },
      ],
      ...(reply.usage === false
        ? {}
        : { usage: usageObject(reply.usage, promptTokens(body), completion) }),
      service_tier: 'default',
      system_fingerprint: 'fp_fake',
    },
    headers,
  );
}

async function sendStream(context: ReplyContext, reply: StreamReply): Promise<void> {
  const { res, body, number, headers, signal } = context;
  const streamOptions = (body.stream_options ?? {}) as Record<string, unknown>;
  const includeUsage = streamOptions.include_usage === true;
  const obfuscate = streamOptions.include_obfuscation !== false;
  let pieces = reply.pieces;
  let echoFinish: FinishReason | undefined;
  if (!pieces && !reply.toolCalls) {
    const echo = echoReply(body);
    pieces = piecesOf(echo.content ?? '');
    echoFinish = echo.finishReason;
  }
  const deltas: Record<string, unknown>[] = (pieces ?? []).map((content) => ({ content }));
  for (const [index, call] of (reply.toolCalls ?? []).entries()) {
    deltas.push({
      tool_calls: [
        {
          index,
          id: callId(call, number, index),
          type: 'function',
          function: { name: call.name, arguments: '' },
        },
      ],
    });
    for (const piece of argumentPieces(call)) {
      deltas.push({ tool_calls: [{ index, function: { arguments: piece } }] });
    }
  }
  const finishReason =
    reply.finishReason ?? echoFinish ?? (reply.toolCalls ? 'tool_calls' : 'stop');
  const base = {
    id: `chatcmpl-fake${number}`,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model: reply.model ?? body.model,
    service_tier: 'default',
    system_fingerprint: 'fp_fake',
  };
  const chunk = (delta: Record<string, unknown>, finish: FinishReason | null = null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
    ...(obfuscate ? { obfuscation: 'fake' } : {}),
  });
  let flushed: Promise<void> = Promise.resolve();
  const send = (data: unknown): boolean => {
    if (signal.aborted) return false;
    const event = `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
    context.writtenAt.push(performance.now());
    flushed = new Promise((resolve) => res.write(event, () => resolve()));
    return true;
  };
  // A socket destroyed at once would drop what is still buffered, and a client's fetch drops
  // what it has not read yet when the connection fails: the cut waits until both are done.
  const cut = async (): Promise<void> => {
    await flushed;
    if (await pause(Math.max(reply.chunkDelayMs ?? 0, CUT_GRACE_MS), signal)) context.cut();
  };

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    ...headers,
  });
  res.flushHeaders();
  if (reply.firstChunkDelayMs && !(await pause(reply.firstChunkDelayMs, signal))) return;
  if (!send(chunk({ role: 'assistant', content: pieces?.length ? '' : null, refusal: null }))) {
    return;
  }
  for (let at = 0; at <= deltas.length; at += 1) {
    if (at === reply.cutAfter) return cut();
    if (at === reply.stallAfter) return;
    if (reply.errorAfter && at === reply.errorAfter.chunks) {
      const { chunks: _, ...error } = reply.errorAfter;
      send({
        error: openAIError(
          error.message ?? 'The server had an error while processing your request (scripted).',
          error.type ?? 'server_error',
          error.code ?? null,
          error.param ?? null,
        ),
      });
      res.end();
      return;
    }
    const delta = deltas[at];
    if (!delta) break;
    if (at > 0 && reply.chunkDelayMs && !(await pause(reply.chunkDelayMs, signal))) return;
    if (!send(chunk(delta))) return;
  }
  if (reply.cutAfter !== undefined && reply.cutAfter > deltas.length) return cut();
  if (reply.stallAfter !== undefined && reply.stallAfter > deltas.length) return;
  if (!send(chunk({}, finishReason))) return;
  if (includeUsage && reply.usage !== false) {
    const completion = deltas.length;
    send({
      ...base,
      choices: [],
      usage: usageObject(reply.usage, promptTokens(body), completion),
      ...(obfuscate ? { obfuscation: 'fake' } : {}),
    });
  }
  send('[DONE]');
  res.end();
}

// --- embeddings, moderations, models ------------------------------------------------------

/** Each input as its list of words (a token array's numbers as `#n` words); undefined: invalid. */
function embeddingInputs(input: unknown): string[][] | undefined {
  const tokens = (list: unknown[]): string[] | undefined =>
    list.every((token) => Number.isInteger(token)) ? list.map((token) => `#${token}`) : undefined;
  const one = (item: unknown): string[] | undefined => {
    if (typeof item === 'string') {
      if (item.trim() === '') return [];
      const words = wordsOf(item.toLowerCase());
      return words.length > 0 ? words : [item.trim()];
    }
    return Array.isArray(item) ? tokens(item) : undefined;
  };
  if (typeof input === 'string') return [one(input) ?? []];
  if (!Array.isArray(input) || input.length === 0) return undefined;
  if (input.every((item) => typeof item === 'number')) {
    const single = tokens(input);
    return single && [single];
  }
  const all = input.map(one);
  return all.every((item) => item !== undefined) ? (all as string[][]) : undefined;
}

function hashedVector(words: readonly string[], dimensions: number): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  for (const word of words) {
    const digest = createHash('sha256').update(word).digest();
    const at = digest.readUInt32LE(0) % dimensions;
    vector[at] = (vector[at] ?? 0) + ((digest[4] ?? 0) & 1 ? -1 : 1);
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((value) => Math.fround(value / norm));
}

function embeddingsAnswer(body: Record<string, unknown>, defaultDimensions: number) {
  const inputs = embeddingInputs(body.input) ?? [];
  const dimensions =
    typeof body.dimensions === 'number' && body.dimensions > 0
      ? body.dimensions
      : defaultDimensions;
  const base64 = body.encoding_format === 'base64';
  const tokens = inputs.reduce((sum, words) => sum + words.length, 0);
  return {
    object: 'list',
    data: inputs.map((words, index) => {
      const vector = hashedVector(words, dimensions);
      return {
        object: 'embedding',
        index,
        embedding: base64
          ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
          : vector,
      };
    }),
    model: body.model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}

function moderationAnswer(
  body: Record<string, unknown>,
  number: number,
  flaggedWords: readonly RegExp[],
) {
  const { input } = body;
  const texts =
    typeof input === 'string'
      ? [input]
      : Array.isArray(input) && input.every((item) => typeof item === 'string')
        ? input
        : [textOf(input)];
  return {
    id: `modr-fake${number}`,
    model: typeof body.model === 'string' ? body.model : 'omni-moderation-latest',
    results: texts.map((text) => {
      const flagged = flaggedWords.some((word) => word.test(text));
      const is = (category: string) => flagged && category === FLAGGED_CATEGORY;
      return {
        flagged,
        categories: Object.fromEntries(MODERATION_CATEGORIES.map((name) => [name, is(name)])),
        category_scores: Object.fromEntries(
          MODERATION_CATEGORIES.map((name) => [name, is(name) ? 0.98 : 0.0001]),
        ),
        category_applied_input_types: Object.fromEntries(
          MODERATION_CATEGORIES.map((name) => [name, ['text']]),
        ),
      };
    }),
  };
}

function modelObject(id: string) {
  return { id, object: 'model', created: 1_700_000_000, owned_by: 'fake-openai' };
}

// --- waiting --------------------------------------------------------------------------------

/** Waits `ms`; false when the connection closed first. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** Waits for `until` to settle; false when the connection closed first. */
async function hold(until: Promise<unknown>, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  const closed = new Promise<void>((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  await Promise.race([until.then(undefined, () => {}), closed]);
  return !signal.aborted;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
