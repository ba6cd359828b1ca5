/**
 * The fake OpenAI upstream of test/support/fake-openai.ts is faithful to the wire format: the
 * official `openai` client (pointed at it with `baseURL`) reads its completions, streams,
 * errors (and retries on them as it would on OpenAI's), embeddings, moderations and models;
 * raw `fetch` and `eventsource-parser` (what the gateway uses) read its events; and it
 * records what it received, how long the replies took, and when a client left.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { EventSourceParserStream } from 'eventsource-parser/stream';
import OpenAI, {
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  RateLimitError,
} from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import {
  type FakeOpenAI,
  fakeEmbedding,
  type RecordedRequest,
  startFakeOpenAI,
} from './fake-openai.ts';

const KEY = 'sk-provider';
const MODEL = 'gpt-4o-mini';

let fake: FakeOpenAI;
let client: OpenAI;

beforeEach(async () => {
  fake = await startFakeOpenAI({ apiKey: KEY });
  client = openai();
});
afterEach(() => fake.close());

function openai(options: ConstructorParameters<typeof OpenAI>[0] = {}): OpenAI {
  return new OpenAI({ apiKey: KEY, baseURL: fake.baseUrl, maxRetries: 0, ...options });
}

const ask = (content: string) => ({
  model: MODEL,
  messages: [{ role: 'user' as const, content }],
});

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

const textOf = (chunks: readonly ChatCompletionChunk[]): string =>
  chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');

/** The error a promise rejects with (failing if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

/** POSTs JSON with the provider's key, as the gateway would. */
function post(path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${fake.origin}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

function only(requests: readonly RecordedRequest[]): RecordedRequest {
  assert.equal(requests.length, 1);
  return requests[0] as RecordedRequest;
}

describe('chat completions, through the openai client', () => {
  test('a scripted completion arrives whole, with usage and cached tokens', async () => {
    fake.script('chat', { kind: 'completion', content: 'Bonjour', usage: { cachedTokens: 3 } });
    const { data, request_id } = await client.chat.completions
      .create({
        model: MODEL,
        messages: [
          { role: 'system', content: 'Be brief' },
          { role: 'user', content: 'Say hello please' },
        ],
      })
      .withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.model, MODEL);
    assert.equal(data.choices[0]?.message.role, 'assistant');
    assert.equal(data.choices[0]?.message.content, 'Bonjour');
    assert.equal(data.choices[0]?.finish_reason, 'stop');
    assert.deepEqual(data.usage, {
      prompt_tokens: 5,
      completion_tokens: 1,
      total_tokens: 6,
      prompt_tokens_details: { cached_tokens: 3 },
    });
    assert.equal(request_id, only(fake.requests).requestId);
  });

  test('usage has no details unless cached tokens are scripted, and none at all with usage: false', async () => {
    fake.script(
      'chat',
      { kind: 'completion', content: 'a b', usage: { promptTokens: 40 } },
      { kind: 'completion', content: 'a b', usage: false },
    );
    const first = await client.chat.completions.create(ask('hi'));
    assert.deepEqual(first.usage, { prompt_tokens: 40, completion_tokens: 2, total_tokens: 42 });
    const second = await client.chat.completions.create(ask('hi'));
    assert.equal(second.usage, undefined);
  });

  test('an empty script echoes the last user message, cut to the output cap', async () => {
    const echo = await client.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'an answer' },
        { role: 'user', content: [{ type: 'text', text: 'one two three four' }] },
      ],
    });
    assert.equal(echo.choices[0]?.message.content, 'one two three four');
    assert.equal(echo.usage?.completion_tokens, 4);
    const capped = await client.chat.completions.create({
      ...ask('one two three four'),
      max_completion_tokens: 2,
    });
    assert.equal(capped.choices[0]?.message.content, 'one two');
    assert.equal(capped.choices[0]?.finish_reason, 'length');
    const streamed = await collect(
      await client.chat.completions.create({ ...ask('streamed echo here'), stream: true }),
    );
    assert.equal(textOf(streamed), 'streamed echo here');
  });

  test('a stream: the role first, a chunk per piece, the finish reason, usage only in the last chunk', async () => {
    fake.script('chat', {
      kind: 'stream',
      pieces: ['Hel', 'lo', ' there'],
      usage: { cachedTokens: 2 },
    });
    const chunks = await collect(
      await client.chat.completions.create({
        ...ask('greet me now'),
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    assert.equal(chunks.length, 1 + 3 + 1 + 1);
    for (const chunk of chunks) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.id, chunks[0]?.id);
      assert.equal(chunk.model, MODEL);
    }
    assert.equal(chunks[0]?.choices[0]?.delta.role, 'assistant');
    assert.equal(textOf(chunks), 'Hello there');
    assert.deepEqual(
      chunks.map((chunk) => chunk.choices[0]?.finish_reason ?? null),
      [null, null, null, null, 'stop', null],
    );
    const last = chunks.at(-1);
    assert.deepEqual(last?.choices, []);
    assert.deepEqual(last?.usage, {
      prompt_tokens: 3,
      completion_tokens: 3,
      total_tokens: 6,
      prompt_tokens_details: { cached_tokens: 2 },
    });
    for (const chunk of chunks.slice(0, -1)) assert.equal(chunk.usage, null);
  });

  test('no usage chunk unless include_usage is asked, nor when the script omits it', async () => {
    fake.script(
      'chat',
      { kind: 'stream', pieces: ['a'] },
      { kind: 'stream', pieces: ['a'], usage: false },
    );
    const unasked = await collect(
      await client.chat.completions.create({ ...ask('x'), stream: true }),
    );
    assert.equal(unasked.length, 3);
    assert.ok(unasked.every((chunk) => chunk.usage === undefined && chunk.choices.length === 1));
    const omitted = await collect(
      await client.chat.completions.create({
        ...ask('x'),
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    assert.equal(omitted.length, 3);
    assert.ok(omitted.every((chunk) => chunk.usage === null && chunk.choices.length === 1));
  });

  test("tool-call deltas add up to whole calls in the client's stream helper, and in a completion", async () => {
    const call = { id: 'call_1', name: 'get_weather', arguments: ['{"city":', '"Paris"}'] };
    fake.script(
      'chat',
      { kind: 'stream', pieces: ['Let me', ' check.'], toolCalls: [call] },
      { kind: 'completion', toolCalls: [call] },
    );
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      },
    ];
    const streamed = await client.chat.completions
      .stream({ ...ask('weather?'), tools })
      .finalChatCompletion();
    const whole = await client.chat.completions.create({ ...ask('weather?'), tools });
    for (const completion of [streamed, whole]) {
      const choice = completion.choices[0];
      assert.equal(choice?.finish_reason, 'tool_calls');
      assert.deepEqual(choice?.message.tool_calls, [
        {
          id: 'call_1',
          type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
        },
      ]);
    }
    assert.equal(streamed.choices[0]?.message.content, 'Let me check.');
    assert.equal(whole.choices[0]?.message.content, null);
  });

  test('a completion asked as a stream is streamed, in word-sized pieces', async () => {
    fake.script('chat', {
      kind: 'completion',
      content: 'Three little words',
      finishReason: 'length',
    });
    const chunks = await collect(
      await client.chat.completions.create({ ...ask('x'), stream: true }),
    );
    assert.deepEqual(
      chunks.slice(1, 4).map((chunk) => chunk.choices[0]?.delta.content),
      ['Three', ' little', ' words'],
    );
    assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, 'length');
  });
});

describe('errors and retries, as the openai client handles them', () => {
  test("a scripted error arrives in OpenAI's shape, as the client's typed error", async () => {
    fake.script('chat', {
      kind: 'error',
      status: 400,
      message: 'This model can read 8 tokens.',
      code: 'context_length_exceeded',
      param: 'messages',
      headers: { 'x-request-id': 'req_scripted' },
    });
    const error = await rejection(client.chat.completions.create(ask('x')));
    assert.ok(error instanceof BadRequestError);
    assert.equal(error.status, 400);
    assert.equal(error.code, 'context_length_exceeded');
    assert.equal(error.param, 'messages');
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.requestID, 'req_scripted');
    assert.match(error.message, /This model can read 8 tokens/);
  });

  test('statuses map to the client errors: 429, 500, 502, 503', async () => {
    const cases = [
      [429, RateLimitError],
      [500, InternalServerError],
      [502, InternalServerError],
      [503, InternalServerError],
    ] as const;
    for (const [status, kind] of cases) {
      fake.script('chat', { kind: 'error', status });
      const error = await rejection(client.chat.completions.create(ask('x')));
      assert.ok(error instanceof kind, `${status}`);
      assert.equal(error.status, status);
    }
    assert.equal(fake.count('chat'), cases.length);
  });

  test("retry-after, in seconds, is honoured by the client's own retry", async () => {
    fake.script(
      'chat',
      { kind: 'error', status: 429, retryAfter: 1 },
      { kind: 'completion', content: 'after the wait' },
    );
    const answer = await openai({ maxRetries: 1 }).chat.completions.create(ask('x'));
    assert.equal(answer.choices[0]?.message.content, 'after the wait');
    const [first, second] = fake.requests;
    assert.ok(first && second);
    // The client's own backoff for a first retry is at most 500 ms.
    assert.ok(
      second.receivedAt - first.receivedAt >= 990,
      `${second.receivedAt - first.receivedAt}`,
    );
  });

  test('retry-after-ms is honoured, and wins over retry-after', async () => {
    fake.script(
      'chat',
      { kind: 'error', status: 503, retryAfterMs: 900, retryAfter: 30 },
      { kind: 'completion', content: 'ok' },
    );
    await openai({ maxRetries: 1 }).chat.completions.create(ask('x'));
    const [first, second] = fake.requests;
    assert.ok(first && second);
    const gap = second.receivedAt - first.receivedAt;
    assert.ok(gap >= 890 && gap < 5_000, `${gap}`);
  });

  test('the client gives up after maxRetries, with the last error', async () => {
    fake.script(
      'chat',
      { kind: 'error', status: 503, retryAfterMs: 10 },
      { kind: 'error', status: 500, retryAfterMs: 10 },
      { kind: 'error', status: 502, retryAfterMs: 10 },
    );
    const error = await rejection(openai({ maxRetries: 2 }).chat.completions.create(ask('x')));
    assert.ok(error instanceof InternalServerError);
    assert.equal(error.status, 502);
    assert.equal(fake.count('chat'), 3);
    assert.equal(fake.pending('chat'), 0);
  });

  test("a proxy's HTML error page reaches the client as an APIError with its text", async () => {
    fake.script('chat', {
      kind: 'raw',
      status: 502,
      contentType: 'text/html',
      body: '<h1>Bad gateway</h1>',
    });
    const error = await rejection(client.chat.completions.create(ask('x')));
    assert.ok(error instanceof APIError);
    assert.equal(error.status, 502);
    assert.match(error.message, /Bad gateway/);
  });

  test('an error event mid-stream throws from the iterator, after the pieces before it', async () => {
    fake.script('chat', {
      kind: 'stream',
      pieces: ['a', 'b', 'c'],
      errorAfter: { chunks: 1, message: 'Overloaded mid-way' },
    });
    const seen: string[] = [];
    const stream = await client.chat.completions.create({ ...ask('x'), stream: true });
    const error = await rejection(
      (async () => {
        for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
      })(),
    );
    assert.ok(error instanceof APIError);
    assert.match(error.message, /Overloaded mid-way/);
    assert.deepEqual(seen, ['', 'a']);
    assert.equal((await only(fake.requests).ended).how, 'finished');
  });

  test('with apiKey set, another key is refused 401 invalid_api_key, and no script is used', async () => {
    fake.script('chat', { kind: 'completion', content: 'kept' });
    const error = await rejection(
      openai({ apiKey: 'sk-client' }).chat.completions.create(ask('x')),
    );
    assert.ok(error instanceof AuthenticationError);
    assert.equal(error.code, 'invalid_api_key');
    assert.equal(only(fake.requests).reply, null);
    assert.equal(only(fake.requests).headers.authorization, 'Bearer sk-client');
    assert.equal(fake.pending('chat'), 1);
  });
});

describe('streams that go wrong', () => {
  test('a stream cut mid-way throws in the client, after the pieces before the cut', async () => {
    fake.script('chat', { kind: 'stream', pieces: ['a', 'b', 'c', 'd'], cutAfter: 2 });
    const seen: string[] = [];
    const stream = await client.chat.completions.create({ ...ask('x'), stream: true });
    const error = await rejection(
      (async () => {
        for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
      })(),
    );
    assert.ok(error instanceof Error);
    assert.ok(!(error instanceof APIUserAbortError));
    assert.deepEqual(seen, ['', 'a', 'b']);
    const end = await only(fake.requests).ended;
    assert.equal(end.how, 'cut');
    assert.equal(only(fake.requests).abortedAt, undefined);
  });

  test('slow first chunk: headers at once, the first chunk after firstChunkDelayMs, then chunkDelayMs apart', async () => {
    fake.script('chat', {
      kind: 'stream',
      pieces: ['a', 'b', 'c'],
      firstChunkDelayMs: 300,
      chunkDelayMs: 100,
    });
    const response = await post('/v1/chat/completions', { ...ask('x'), stream: true });
    const headersAt = performance.now();
    const arrivals: number[] = [];
    const reader = response.body
      ?.pipeThrough(new TextDecoderStream())
      .pipeThrough(new EventSourceParserStream())
      .getReader();
    assert.ok(reader);
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
      arrivals.push(performance.now());
    }
    // role, a, b, c, finish, [DONE]
    assert.equal(arrivals.length, 6);
    // The delays are checked on the fake's own clock: the client's arrivals carry its scheduling
    // too, and a late arrival of one chunk shortens the gap to the next (seen in CI: 94.8 ms).
    const request = only(fake.requests);
    const [role = 0, a = 0, b = 0, c = 0] = request.writtenAt;
    assert.equal(request.writtenAt.length, 6);
    // setTimeout may fire up to a millisecond early on performance.now()'s finer clock.
    assert.ok(role - request.receivedAt >= 299, `first chunk ${role - request.receivedAt} ms in`);
    assert.ok(b - a >= 99 && c - b >= 99, `pieces ${b - a}, ${c - b} ms apart`);
    // The first piece is not held back by the pieces' delay: it comes with the role chunk.
    assert.ok(a - role < b - a, 'the first piece comes with the role chunk');
    // The headers did not wait for the first chunk: they were read before it was written.
    assert.ok(headersAt < role, 'the headers came before the first chunk was written');
    assert.ok(arrivals.every((at, index) => at >= (request.writtenAt[index] ?? Infinity)));
  });

  test('a stalled stream stays open until the client leaves; the fake records when', async () => {
    fake.script('chat', { kind: 'stream', pieces: ['a', 'b'], stallAfter: 1 });
    const seen: string[] = [];
    const stream = await client.chat.completions.create({ ...ask('x'), stream: true });
    let leftAt = 0;
    for await (const chunk of stream) {
      seen.push(chunk.choices[0]?.delta.content ?? '');
      if (seen.length === 2) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(only(fake.requests).end, undefined, 'still open');
        leftAt = performance.now();
        break; // the client aborts its request
      }
    }
    const end = await only(fake.requests).ended;
    assert.equal(end.how, 'aborted');
    assert.equal(only(fake.requests).abortedAt, end.at);
    // The stream was stalled: the end is the client's; the bound only says it came promptly.
    assert.ok(end.at - leftAt < 1_000, `${end.at - leftAt}`);
    assert.deepEqual(seen, ['', 'a']);
  });

  test('a client leaving mid-stream is recorded at once, and the fake writes no more', async (t) => {
    fake.script('chat', {
      kind: 'stream',
      pieces: Array.from({ length: 50 }, (_, at) => `w${at} `),
      chunkDelayMs: 20,
    });
    const stream = await client.chat.completions.create({ ...ask('x'), stream: true });
    let leftAt = 0;
    let seen = 0;
    for await (const _ of stream) {
      seen += 1;
      if (seen === 3) {
        leftAt = performance.now();
        stream.controller.abort();
      }
    }
    const request = only(fake.requests);
    const end = await request.ended;
    assert.equal(end.how, 'aborted');
    t.diagnostic(`recorded ${Math.round(end.at - leftAt)} ms after the client left`);
    // 47 pieces, about 940 ms, were still to come: the fake stopped at the abort, not at the end.
    assert.ok(request.writtenAt.length < 53, `${request.writtenAt.length} events written`);
    assert.ok(
      request.writtenAt.every((at) => at <= end.at),
      'nothing written after the end',
    );
  });
});

describe('hangs, holds and aborts', () => {
  test("a hang never answers: the client's timeout fires, and the fake records when it left", async () => {
    fake.script('chat', { kind: 'hang' });
    const start = performance.now();
    const error = await rejection(openai({ timeout: 300 }).chat.completions.create(ask('x')));
    const gaveUpAt = performance.now();
    assert.ok(error instanceof APIConnectionTimeoutError);
    const request = only(fake.requests);
    const end = await request.ended;
    assert.equal(end.how, 'aborted');
    assert.ok(request.abortedAt !== undefined && request.abortedAt - start >= 290);
    assert.ok(Math.abs(end.at - gaveUpAt) < 1_000, `${end.at - gaveUpAt}`);
  });

  test('the abort of a fetch is recorded as the client leaves', async () => {
    fake.script('chat', { kind: 'hang' });
    const controller = new AbortController();
    const call = post('/v1/chat/completions', ask('x'), { signal: controller.signal });
    const [request] = await fake.waitForRequests(1, { endpoint: 'chat' });
    assert.ok(request);
    assert.equal(request.end, undefined);
    const leftAt = performance.now();
    controller.abort();
    await assert.rejects(call, { name: 'AbortError' });
    const end = await request.ended;
    assert.equal(end.how, 'aborted');
    // A hang never ends by itself: the end is the client's; the bound says it came promptly.
    assert.ok(end.at >= leftAt && end.at - leftAt < 1_000, `${end.at - leftAt}`);
    assert.equal(request.abortedAt, end.at);
  });

  test('a held reply waits for its promise; delayMs waits first', async () => {
    let release = (): void => {};
    const until = new Promise<void>((resolve) => {
      release = resolve;
    });
    fake.script('chat', { kind: 'completion', content: 'released', until, delayMs: 50 });
    const answer = client.chat.completions.create(ask('x'));
    const [request] = await fake.waitForRequests(1);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(request?.end, undefined, 'still held');
    const releasedAt = performance.now();
    release();
    assert.equal((await answer).choices[0]?.message.content, 'released');
    const end = await request?.ended;
    assert.equal(end?.how, 'finished');
    assert.ok(end && end.at >= releasedAt);
  });

  test('close() cuts hung requests and open streams', async () => {
    fake.script('chat', { kind: 'hang' }, { kind: 'stream', pieces: ['a'], stallAfter: 1 });
    const hung = post('/v1/chat/completions', ask('x'));
    const streaming = await post('/v1/chat/completions', { ...ask('x'), stream: true });
    const body = streaming.text();
    const requests = await fake.waitForRequests(2);
    await fake.close();
    await assert.rejects(hung);
    await assert.rejects(body);
    for (const request of requests) assert.equal((await request.ended).how, 'cut');
  });
});

describe('recording and counting', () => {
  test('each request is recorded: method, path, headers, parsed body, arrival time', async () => {
    const before = performance.now();
    await openai({ defaultHeaders: { 'x-trace': 't1' } }).chat.completions.create({
      ...ask('hello'),
      temperature: 0,
    });
    const request = only(fake.requests);
    assert.equal(request.method, 'POST');
    assert.equal(request.path, '/v1/chat/completions');
    assert.equal(request.endpoint, 'chat');
    assert.equal(request.headers.authorization, `Bearer ${KEY}`);
    assert.equal(request.headers['x-trace'], 't1');
    assert.deepEqual(request.body, { ...ask('hello'), temperature: 0 });
    assert.ok(request.receivedAt >= before && request.receivedAt <= performance.now());
    assert.deepEqual(request.reply, { kind: 'default' });
    assert.equal((await request.ended).how, 'finished');
  });

  test('20 concurrent requests are all counted, per endpoint; waitForRequests resolves at n', async () => {
    let release = (): void => {};
    const until = new Promise<void>((resolve) => {
      release = resolve;
    });
    fake.script('chat', ...Array.from({ length: 20 }, () => ({ kind: 'default' as const, until })));
    const calls = Array.from({ length: 20 }, () => client.chat.completions.create(ask('same')));
    const requests = await fake.waitForRequests(20, { endpoint: 'chat' });
    assert.equal(requests.length, 20);
    assert.equal(fake.count('chat'), 20);
    assert.equal(fake.count('embeddings'), 0);
    assert.equal(new Set(requests.map((request) => request.seq)).size, 20);
    release();
    const answers = await Promise.all(calls);
    assert.ok(answers.every((answer) => answer.choices[0]?.message.content === 'same'));
    await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' });
    assert.deepEqual([fake.count('chat'), fake.count('embeddings'), fake.count()], [20, 1, 21]);
    await assert.rejects(fake.waitForRequests(2, { endpoint: 'embeddings', timeoutMs: 50 }), {
      message: /waited 50 ms for 2 request\(s\) to embeddings, got 1/,
    });
  });

  test('the script is used in order, one reply per request, then the default; reset() forgets', async () => {
    fake.script(
      'chat',
      { kind: 'completion', content: 'one' },
      { kind: 'completion', content: 'two' },
    );
    assert.equal(fake.pending('chat'), 2);
    const contents: (string | null | undefined)[] = [];
    for (let at = 0; at < 3; at += 1) {
      contents.push(
        (await client.chat.completions.create(ask('echo'))).choices[0]?.message.content,
      );
    }
    assert.deepEqual(contents, ['one', 'two', 'echo']);
    assert.equal(fake.pending('chat'), 0);
    fake.script('chat', { kind: 'hang' });
    fake.reset();
    assert.deepEqual([fake.requests.length, fake.pending('chat')], [0, 0]);
    assert.throws(() => fake.script('embeddings', { kind: 'stream', pieces: [] }), TypeError);
  });

  test("what the fake refuses itself is in OpenAI's error shape and uses no script", async () => {
    fake.script('chat', { kind: 'completion', content: 'kept' });
    const cases: [Response, number, string | null][] = [
      [await post('/v1/nowhere', {}), 404, null],
      [await fetch(`${fake.baseUrl}/chat/completions`), 404, null],
      [await post('/v1/chat/completions', '{not json'), 400, null],
      [await post('/v1/chat/completions', { model: MODEL }), 400, 'missing_required_parameter'],
      [await post('/v1/embeddings', { model: 'e', input: '' }), 400, null],
    ];
    for (const [response, status, code] of cases) {
      assert.equal(response.status, status);
      const body = (await response.json()) as { error: Record<string, unknown> };
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(body.error.code, code);
      assert.ok(response.headers.get('x-request-id'));
    }
    assert.deepEqual(
      fake.requests.map((request) => [request.endpoint, request.reply]),
      [
        [null, null],
        ['chat', null],
        ['chat', null],
        ['chat', null],
        ['embeddings', null],
      ],
    );
    assert.equal(fake.pending('chat'), 1);
  });
});

describe('embeddings, moderations and models', () => {
  const cosine = (a: readonly number[], b: readonly number[]): number =>
    a.reduce((sum, value, at) => sum + value * (b[at] ?? 0), 0);

  test("embeddings are deterministic unit vectors, through the client's base64 default and as floats", async () => {
    const input = ['the cat sat on the mat', 'the cat sat', 'quarterly stock market report'];
    const answer = await client.embeddings.create({ model: 'text-embedding-3-small', input });
    assert.equal(only(fake.requests).headers['content-type'], 'application/json');
    assert.equal(
      (only(fake.requests).body as { encoding_format: string }).encoding_format,
      'base64',
    );
    assert.equal(answer.object, 'list');
    assert.equal(answer.model, 'text-embedding-3-small');
    assert.deepEqual(answer.usage, { prompt_tokens: 13, total_tokens: 13 });
    const vectors = answer.data.map((item) => item.embedding);
    assert.deepEqual(
      answer.data.map((item) => item.index),
      [0, 1, 2],
    );
    for (const [at, vector] of vectors.entries()) {
      assert.equal(vector.length, 64);
      assert.ok(Math.abs(cosine(vector, vector) - 1) < 1e-5);
      assert.deepEqual(vector, fakeEmbedding(input[at] ?? ''));
    }
    const [mat, cat, stock] = vectors as [number[], number[], number[]];
    assert.ok(cosine(mat, cat) > cosine(mat, stock));

    const floats = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'The cat sat!',
      encoding_format: 'float',
      dimensions: 8,
    });
    assert.deepEqual(floats.data[0]?.embedding, fakeEmbedding('the cat sat', 8));
  });

  test('moderations flag an input with a configured word, as violence', async () => {
    const answer = await client.moderations.create({
      model: 'omni-moderation-latest',
      input: ['hello there', 'this is Forbidden text', 'unforbiddenly fine'],
    });
    assert.deepEqual(
      answer.results.map((result) => result.flagged),
      [false, true, false],
    );
    const flagged = answer.results[1];
    assert.equal(flagged?.categories.violence, true);
    assert.equal(flagged?.categories.hate, false);
    assert.ok((flagged?.category_scores.violence ?? 0) > 0.5);

    await using custom = await startFakeOpenAI({ flaggedWords: ['bomb'] });
    const other = new OpenAI({ apiKey: 'k', baseURL: custom.baseUrl, maxRetries: 0 });
    const single = await other.moderations.create({ input: 'how to make a BOMB' });
    assert.equal(single.results[0]?.flagged, true);
  });

  test('models lists the configured ids; an unknown one is a 404 model_not_found', async () => {
    await using custom = await startFakeOpenAI({ models: ['m1', 'org/m2'] });
    const other = new OpenAI({ apiKey: 'k', baseURL: custom.baseUrl, maxRetries: 0 });
    const ids: string[] = [];
    for await (const model of other.models.list()) ids.push(model.id);
    assert.deepEqual(ids, ['m1', 'org/m2']);
    assert.equal((await other.models.retrieve('org/m2')).id, 'org/m2');
    const error = await rejection(other.models.retrieve('nope'));
    assert.ok(error instanceof NotFoundError);
    assert.equal(error.code, 'model_not_found');
    assert.equal(custom.count('models'), 3);
  });

  test('embeddings and moderations take scripted errors, holds and hangs too', async () => {
    fake.script('embeddings', { kind: 'error', status: 429, retryAfter: 2 });
    fake.script('moderations', { kind: 'default', delayMs: 200 });
    const error = await rejection(client.embeddings.create({ model: 'e', input: 'x' }));
    assert.ok(error instanceof RateLimitError);
    assert.equal(error.headers.get('retry-after'), '2');
    const start = performance.now();
    await client.moderations.create({ input: 'x' });
    assert.ok(performance.now() - start >= 195);
  });
});

describe('the raw wire format', () => {
  test('a stream is text/event-stream of data: lines, ending in [DONE], read by eventsource-parser', async () => {
    fake.script('chat', {
      kind: 'stream',
      pieces: ['Hi', ' you'],
      headers: { 'x-ratelimit-remaining-tokens': '99' },
    });
    const response = await post('/v1/chat/completions', {
      ...ask('x'),
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(response.headers.get('x-request-id'), only(fake.requests).requestId);
    assert.equal(response.headers.get('x-ratelimit-remaining-tokens'), '99');
    const text = await response.text();
    assert.ok(text.endsWith('\n\ndata: [DONE]\n\n'));
    const blocks = text.split('\n\n').filter((block) => block !== '');
    assert.ok(
      blocks.every((block) => /^data: [^\n]+$/.test(block)),
      text,
    );

    const events: string[] = [];
    const reader = new Response(text).body
      ?.pipeThrough(new TextDecoderStream())
      .pipeThrough(new EventSourceParserStream())
      .getReader();
    assert.ok(reader);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      events.push(value.data);
    }
    assert.equal(events.length, blocks.length);
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1).map((data) => JSON.parse(data));
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '', refusal: null });
    assert.deepEqual(
      chunks.map((chunk) => chunk.usage === null),
      [true, true, true, true, false],
    );
    assert.deepEqual(chunks.at(-1).usage, {
      prompt_tokens: 1,
      completion_tokens: 2,
      total_tokens: 3,
    });
  });

  test('a cut stream ends without [DONE]: fetch fails reading the body', async () => {
    fake.script('chat', { kind: 'stream', pieces: ['a', 'b'], cutAfter: 1 });
    const response = await post('/v1/chat/completions', { ...ask('x'), stream: true });
    await assert.rejects(response.text(), { name: 'TypeError', message: 'terminated' });
  });

  test('an error carries retry-after, retry-after-ms and x-request-id headers as scripted', async () => {
    fake.script('chat', {
      kind: 'error',
      status: 429,
      retryAfter: 3,
      retryAfterMs: 2500,
      headers: { 'x-request-id': 'req_abc' },
    });
    const response = await post('/v1/chat/completions', ask('x'));
    assert.equal(response.status, 429);
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.equal(response.headers.get('retry-after'), '3');
    assert.equal(response.headers.get('retry-after-ms'), '2500');
    assert.equal(response.headers.get('x-request-id'), 'req_abc');
    assert.deepEqual(await response.json(), {
      error: {
        message: 'Rate limit reached (scripted).',
        type: 'requests',
        code: 'rate_limit_exceeded',
        param: null,
      },
    });
  });
});
