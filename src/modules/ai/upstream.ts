import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { Agent, type Dispatcher } from 'undici';
import { withoutTrailingSlashes } from '../../core/url-encoding.ts';
import {
  ChatCompletion,
  type ChatCompletionChunk as Chunk,
  type ChatCompletion as Completion,
} from './ai.schemas.ts';
import { isChatCompletionChunk } from './chunk-check.ts';

/** One event of a streamed answer: the upstream's `data` text as it came, and its parse. */
export interface StreamEvent {
  data: string;
  chunk: Chunk;
}

/**
 * What an upstream answers a chat call with. A stream's events come in groups, those that
 * arrived together (one chunk of the body), never empty: handled a group at a time, an
 * answer costs a few promises per chunk rather than per event (decision 080).
 */
export type ChatReply =
  | { kind: 'json'; completion: Completion; requestId: string | undefined }
  | { kind: 'stream'; events: AsyncIterable<StreamEvent[]>; requestId: string | undefined };

export interface ModerationResult {
  flagged: boolean;
  /** The categories that were flagged, e.g. `violence`. */
  categories: string[];
}

/** An embeddings call as the upstream receives it: its own model name, text only. */
export interface EmbeddingsCall {
  model: string;
  input: readonly string[];
  /** Shorter vectors, for models that honour it. */
  dimensions?: number | undefined;
}

export interface EmbeddingsReply {
  vectors: number[][];
  promptTokens: number;
  requestId: string | undefined;
}

/**
 * An OpenAI-compatible API, or the built-in development model. `body` is the request as the
 * upstream receives it (its own model name, `stream` as wanted); `signal` aborts the call
 * when the client leaves or a timeout passes.
 */
export interface Upstream {
  readonly name: string;
  chat(body: Record<string, unknown>, signal: AbortSignal): Promise<ChatReply>;
  moderate(input: string, signal: AbortSignal): Promise<ModerationResult>;
  embed(request: EmbeddingsCall, signal: AbortSignal): Promise<EmbeddingsReply>;
}

/**
 * A failed upstream call. `status` is the upstream's HTTP status, absent for a connection
 * error or a timeout; `retryable` says whether trying again may help (429, 5xx, connection
 * errors, timeouts), and `retryAfterMs` how long the upstream asked to wait.
 */
export class UpstreamError extends Error {
  readonly status: number | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  /** OpenAI's error `code` from the upstream's body, e.g. `context_length_exceeded`. */
  readonly code: string | undefined;
  /** OpenAI's error `param` from the upstream's body: the field it refused, e.g. `temperature`. */
  readonly param: string | undefined;
  /** What the upstream said, in its own words (the message adds where it came from). */
  readonly reason: string;

  constructor(
    message: string,
    init: {
      status?: number;
      retryable: boolean;
      retryAfterMs?: number;
      code?: string;
      param?: string;
      reason?: string;
    },
  ) {
    super(message);
    this.name = 'UpstreamError';
    this.status = init.status;
    this.retryable = init.retryable;
    this.retryAfterMs = init.retryAfterMs;
    this.code = init.code;
    this.param = init.param;
    this.reason = init.reason ?? message;
  }
}

export interface UpstreamTimeouts {
  /** Until the upstream's response headers. */
  connectMs: number;
  /** Until the first token: the first event of a stream, or the whole body otherwise. */
  firstTokenMs: number;
  /** The whole call. */
  totalMs: number;
}

/** A response header by its lower-case name; repeated ones joined, as `Headers.get` does. */
export type HeaderLookup = (name: string) => string | undefined;

/** An upstream's answer once its head has arrived; its body is read as it comes. */
type UpstreamResponse = Dispatcher.ResponseData;

function headersOf(response: UpstreamResponse): HeaderLookup {
  return (name) => {
    const value = response.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
}

/** `retry-after-ms` (OpenAI's), else `retry-after` in seconds or as an HTTP date. */
export function retryAfterOf(header: HeaderLookup, now = Date.now()): number | undefined {
  const exact = header('retry-after-ms');
  const ms = Number(exact);
  if (exact !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  const value = header('retry-after');
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (value.trim() !== '' && Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The message, code and param of an OpenAI-style error body, or the start of whatever it is. */
function describeError(text: string): {
  message: string;
  code: string | undefined;
  param: string | undefined;
} {
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body === 'object' && body !== null && 'error' in body) {
      const error = body.error;
      if (typeof error === 'object' && error !== null) {
        const message =
          'message' in error && typeof error.message === 'string' ? error.message : '';
        const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
        const param = 'param' in error && typeof error.param === 'string' ? error.param : undefined;
        return { message: message || text.slice(0, 300), code, param };
      }
    }
  } catch {
    // Not JSON: an HTML error page from a proxy, say.
  }
  return { message: text.slice(0, 300), code: undefined, param: undefined };
}

/**
 * A deadline that can be cleared: aborts `controller` with a timeout error after `ms`.
 * Returns the function that clears it.
 */
function deadline(controller: AbortController, ms: number, what: string): () => void {
  const timer = setTimeout(
    () => controller.abort(new UpstreamError(`${what} (${ms} ms)`, { retryable: true })),
    ms,
  );
  return () => clearTimeout(timer);
}

/** An event larger than this is an upstream gone wrong, not an answer to wait for. */
const MAX_EVENT_BYTES = 16 * 1024 * 1024;

/** One event of a streamed answer, parsed and checked; an error the upstream sent, thrown. */
function streamEventOf(data: string): StreamEvent {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    throw new UpstreamError('the upstream sent an event that is not JSON', { retryable: false });
  }
  // Checked in place, not parsed into a copy: every event of every answer comes here.
  if (!isChatCompletionChunk(json)) {
    const { message, code } = describeError(data);
    throw new UpstreamError(`the upstream failed mid-stream: ${message}`, {
      retryable: false,
      ...(code === undefined ? {} : { code }),
    });
  }
  return { data, chunk: json };
}

/**
 * The JSON body of an answer whose head said success. Nothing of it has reached the client
 * yet, so a body that breaks off (a reset keep-alive connection, an upstream restarting) is
 * worth trying again; one that is not JSON is not. Aborted by `signal`, it ends with the
 * abort's reason.
 */
async function jsonOf(response: UpstreamResponse, signal: AbortSignal): Promise<unknown> {
  let text: string;
  try {
    text = await response.body.text();
  } catch (error) {
    if (signal.aborted) throw abortReason(signal, 'aborted');
    throw new UpstreamError(`the upstream's answer broke off: ${String(error)}`, {
      retryable: true,
    });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new UpstreamError('the upstream answered something that is not JSON', {
      retryable: false,
    });
  }
}

/**
 * Reads the events of a server-sent event body: `feed` takes a chunk as it arrives from the
 * socket and gives back the events it completed (an event ends at a blank line, so the
 * body's end completes none). Not a generator of its own: a layer of async iteration per
 * event cost a streamed call more than the events' parse (decision 080).
 */
function serverSentEventReader(): (chunk: Buffer) => EventSourceMessage[] {
  const decoder = new TextDecoder();
  let events: EventSourceMessage[] = [];
  // Text fed since an event or a comment last ended: what the parser may be holding. Counted
  // here rather than by its `maxBufferSize`, which reports through `onError`, and given an
  // `onError` the parser builds an error, stack and all, for every line that is no field:
  // 2.7 s for a megabyte of them.
  let pending = 0;
  let ended = false;
  const parser = createParser({
    onEvent: (event) => {
      events.push(event);
      ended = true;
    },
    onComment: () => {
      ended = true;
    },
  });
  return (chunk) => {
    const text = decoder.decode(chunk, { stream: true });
    ended = false;
    parser.feed(text);
    pending = ended ? 0 : pending + text.length;
    if (pending > MAX_EVENT_BYTES) {
      throw new UpstreamError('the upstream sent an event too large to be one', {
        retryable: false,
      });
    }
    const completed = events;
    events = [];
    return completed;
  };
}

function abortReason(signal: AbortSignal, fallback: string): unknown {
  return signal.reason ?? new UpstreamError(fallback, { retryable: true });
}

/**
 * An OpenAI-compatible HTTP API through undici's `request` on a keep-alive pool (decision 061:
 * half the CPU of Node's `http` client a call; decision 047: `fetch` built web streams, a
 * `Request`, a `Response` and their `Headers` for every call), with the server-sent events
 * parsed by `eventsource-parser`: each event's `data` is kept as the upstream wrote it, so a
 * stream is passed through to the client as it arrives (decision 020).
 */
export function openAiCompatible(options: {
  baseUrl: string;
  apiKey: string | undefined;
  timeouts: UpstreamTimeouts;
}): Upstream {
  const base = new URL(options.baseUrl);
  const origin = base.origin;
  const prefix = withoutTrailingSlashes(base.pathname);
  // The call's own deadlines (connect, first token, total) bound it; undici's would cut a
  // long answer at five minutes. Idle sockets are unreferenced: they keep no process alive.
  const agent = new Agent({
    connect: { timeout: options.timeouts.connectMs },
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
  };

  /** Sends `payload`; resolves with the response once its head has arrived. */
  function send(path: string, payload: string, signal: AbortSignal): Promise<UpstreamResponse> {
    return agent.request({
      origin,
      path: `${prefix}${path}`,
      method: 'POST',
      headers,
      body: payload,
      signal,
    });
  }

  /** POSTs `body` to `path`, under the connect and total timeouts and the caller's signal. */
  async function post(
    path: string,
    body: unknown,
    signal: AbortSignal,
  ): Promise<{
    response: UpstreamResponse;
    controller: AbortController;
    clearTotal: () => void;
  }> {
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const clearTotal = deadline(
      controller,
      options.timeouts.totalMs,
      'the upstream call took too long',
    );
    const clearConnect = deadline(
      controller,
      options.timeouts.connectMs,
      'the upstream did not answer in time',
    );
    try {
      const response = await send(path, JSON.stringify(body), controller.signal);
      const status = response.statusCode;
      if (status < 200 || status > 299) {
        const { message, code, param } = describeError(await response.body.text());
        const retryable = status === 429 || status >= 500 || status === 408;
        const retryAfterMs = retryAfterOf(headersOf(response));
        throw new UpstreamError(`upstream ${status}: ${message}`, {
          status,
          retryable,
          reason: message,
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
          ...(code === undefined ? {} : { code }),
          ...(param === undefined ? {} : { param }),
        });
      }
      return { response, controller, clearTotal };
    } catch (error) {
      clearTotal();
      if (error instanceof UpstreamError) throw error;
      if (controller.signal.aborted) throw abortReason(controller.signal, 'aborted');
      throw new UpstreamError(`the upstream could not be reached: ${String(error)}`, {
        retryable: true,
      });
    } finally {
      clearConnect();
      signal.removeEventListener('abort', onAbort);
    }
  }

  async function* events(
    response: UpstreamResponse,
    controller: AbortController,
    clearTotal: () => void,
    signal: AbortSignal,
  ): AsyncGenerator<StreamEvent[]> {
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const clearFirst = deadline(
      controller,
      options.timeouts.firstTokenMs,
      'the upstream sent no token in time',
    );
    let done = false;
    try {
      const eventsOf = serverSentEventReader();
      // Stopping at `[DONE]` leaves the body as it is, not destroyed: the rest is read below,
      // so the connection goes back to the pool.
      for await (const chunk of response.body.iterator({ destroyOnReturn: false })) {
        const arrived = eventsOf(chunk as Buffer);
        if (arrived.length === 0) continue;
        clearFirst();
        const events: StreamEvent[] = [];
        for (const event of arrived) {
          if (event.data === '[DONE]') {
            done = true;
            break;
          }
          try {
            events.push(streamEventOf(event.data));
          } catch (error) {
            // The events before a bad one are still the answer's: they go first.
            if (events.length > 0) yield events;
            throw error;
          }
        }
        if (events.length > 0) yield events;
        if (done) return;
      }
      throw new UpstreamError('the upstream stream ended without [DONE]', { retryable: false });
    } catch (error) {
      if (controller.signal.aborted && !(error instanceof UpstreamError)) {
        throw abortReason(controller.signal, 'aborted');
      }
      throw error instanceof UpstreamError
        ? error
        : new UpstreamError(`the upstream stream broke: ${String(error)}`, { retryable: false });
    } finally {
      clearFirst();
      signal.removeEventListener('abort', onAbort);
      if (done) {
        // What follows `[DONE]` (the body's end) is read so the connection can serve the next
        // call; an upstream that goes on sending is cut at the total deadline.
        response.body.resume();
        if (response.body.closed) clearTotal();
        else response.body.once('close', clearTotal);
      } else {
        clearTotal();
        // A consumer that stops early (the client left) must not leave the upstream running.
        controller.abort(signal.reason ?? new Error('the stream was not read to its end'));
      }
    }
  }

  return {
    name: new URL(base).host,
    async chat(body, signal) {
      const { response, controller, clearTotal } = await post('/chat/completions', body, signal);
      const requestId = headersOf(response)('x-request-id');
      if (body.stream === true) {
        return {
          kind: 'stream',
          events: events(response, controller, clearTotal, signal),
          requestId,
        };
      }
      const clearFirst = deadline(
        controller,
        options.timeouts.firstTokenMs,
        'the upstream sent no answer in time',
      );
      try {
        const completion = ChatCompletion.safeParse(await jsonOf(response, controller.signal));
        if (!completion.success) {
          throw new UpstreamError('the upstream answered something that is not a chat completion', {
            retryable: false,
          });
        }
        return { kind: 'json', completion: completion.data, requestId };
      } finally {
        clearFirst();
        clearTotal();
      }
    },
    async moderate(input, signal) {
      const { response, controller, clearTotal } = await post('/moderations', { input }, signal);
      try {
        const body = await jsonOf(response, controller.signal);
        const result =
          typeof body === 'object' &&
          body !== null &&
          'results' in body &&
          Array.isArray(body.results)
            ? (body.results[0] as unknown)
            : undefined;
        if (typeof result !== 'object' || result === null)
          return { flagged: false, categories: [] };
        const flagged = 'flagged' in result && result.flagged === true;
        const categories =
          'categories' in result &&
          typeof result.categories === 'object' &&
          result.categories !== null
            ? Object.entries(result.categories)
                .filter(([, on]) => on === true)
                .map(([name]) => name)
            : [];
        return { flagged, categories };
      } finally {
        clearTotal();
      }
    },
    async embed({ model, input, dimensions }, signal) {
      const { response, controller, clearTotal } = await post(
        '/embeddings',
        { model, input, encoding_format: 'float', ...(dimensions ? { dimensions } : {}) },
        signal,
      );
      try {
        const body = await jsonOf(response, controller.signal);
        const data =
          typeof body === 'object' && body !== null && 'data' in body && Array.isArray(body.data)
            ? body.data
            : [];
        // Placed by their `index`: nothing promises the upstream keeps the inputs' order.
        const vectors: number[][] = data.map(() => []);
        data.forEach((entry: unknown, position: number) => {
          if (typeof entry !== 'object' || entry === null) return;
          const index =
            'index' in entry && Number.isInteger(entry.index) ? Number(entry.index) : position;
          if ('embedding' in entry && Array.isArray(entry.embedding) && index < vectors.length)
            vectors[index] = entry.embedding.map(Number);
        });
        const usage =
          typeof body === 'object' && body !== null && 'usage' in body ? body.usage : undefined;
        const promptTokens =
          typeof usage === 'object' && usage !== null && 'prompt_tokens' in usage
            ? Number(usage.prompt_tokens)
            : 0;
        return {
          vectors,
          promptTokens,
          requestId: headersOf(response)('x-request-id'),
        };
      } finally {
        clearTotal();
      }
    },
  };
}
