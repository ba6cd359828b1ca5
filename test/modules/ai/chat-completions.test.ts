/**
 * The gateway as OpenAI's own client sees it, against a fake upstream scripted per test:
 * shapes, streaming, usage and exact cost (streamed, not, failed, cut off), retries that
 * honour Retry-After, the fallback chain and answer, the upstream queue, the cache and shared
 * calls, guards, the context window, and an upstream call stopped when the client leaves.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { count, desc, eq, sql } from 'drizzle-orm';
import OpenAI from 'openai';
import { aiCalls } from '../../../src/modules/ai/ai.table.ts';
import { bodyOf, type Gateway, PROVIDER_KEY, startGateway } from '../../support/ai.ts';

let gateway: Gateway;

before(async () => {
  gateway = await startGateway({
    env: {
      AI_GUARD_BLOCKED_PATTERNS: 'launch codes',
      AI_UPSTREAM_CONCURRENCY: '4',
      AI_UPSTREAM_QUEUE: '2',
    },
  });
});
after(() => gateway?.close());

const say = (text: string): OpenAI.ChatCompletionMessageParam[] => [
  { role: 'user', content: text },
];

/** The gateway's record of the latest call. */
async function lastCall() {
  // Written beside the answer, in the background; a cut-off stream's as its relay ends.
  await sleep(20);
  await gateway.deps.background.drain(5_000);
  const [row] = await gateway.deps.db
    .select()
    .from(aiCalls)
    .where(eq(aiCalls.userId, gateway.user.id))
    .orderBy(desc(aiCalls.createdAt), desc(aiCalls.id))
    .limit(1);
  assert.ok(row, 'the call was recorded');
  return row;
}

const post = (body: unknown, headers: Record<string, string> = {}) =>
  gateway.postJson('/v1/chat/completions', body, headers);

describe('the official openai client, with only its base URL and key changed', () => {
  test('a completion comes back in OpenAI’s shape; the provider key never leaves the server', async () => {
    gateway.fake.script('chat', { kind: 'completion', content: 'Bonjour !' });
    const answer = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      messages: say('Say hello in French'),
    });
    assert.equal(answer.choices[0]?.message.content, 'Bonjour !');
    assert.equal(answer.object, 'chat.completion');
    const [request] = gateway.fake.requests.slice(-1);
    assert.equal(request?.headers.authorization, `Bearer ${PROVIDER_KEY}`);
    assert.equal(bodyOf(request).model, 'gpt-4o-mini');
    assert.ok(
      !JSON.stringify(request?.headers).includes(gateway.key),
      'the client’s key stays here',
    );
  });

  test('a stream arrives chunk by chunk and ends; usage is always asked upstream', async () => {
    gateway.fake.script('chat', {
      kind: 'stream',
      pieces: ['Bon', 'jour', ' !'],
      chunkDelayMs: 30,
    });
    const stream = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      messages: say('Say hello'),
      stream: true,
    });
    const pieces: string[] = [];
    for await (const chunk of stream) {
      const piece = chunk.choices[0]?.delta.content;
      if (piece) pieces.push(piece);
      assert.equal(chunk.usage ?? null, null, 'no usage chunk for a client that did not ask');
    }
    assert.deepEqual(pieces, ['Bon', 'jour', ' !']);
    const [request] = gateway.fake.requests.slice(-1);
    assert.deepEqual(bodyOf(request).stream_options, {
      include_usage: true,
    });
  });

  test('GET /v1/models lists the model table in OpenAI’s shape, with exact prices', async () => {
    const models = await gateway.client.models.list();
    const ids = models.data.map((model) => model.id);
    assert.deepEqual(ids, ['gpt-test', 'gpt-backup']);
    const raw = (await (
      await fetch(`${gateway.base}/v1/models`, {
        headers: { authorization: `Bearer ${gateway.key}` },
      })
    ).json()) as { data: { pricing: { cached_input: string } }[] };
    assert.equal(raw.data[0]?.pricing.cached_input, '0.075');
  });

  test('errors are problem documents that also carry OpenAI’s error object', async () => {
    await assert.rejects(
      gateway.client.chat.completions.create({ model: 'no-such-model', messages: say('hi') }),
      (error: unknown) =>
        error instanceof OpenAI.NotFoundError &&
        error.code === 'model_not_found' &&
        error.status === 404,
    );
    const unauthorised = new OpenAI({
      baseURL: `${gateway.base}/v1`,
      apiKey: 'hsk_wrong',
      maxRetries: 0,
    });
    await assert.rejects(
      unauthorised.chat.completions.create({ model: 'gpt-test', messages: say('hi') }),
      (error: unknown) => error instanceof OpenAI.AuthenticationError,
    );
    const res = await post({ model: 'gpt-test', messages: [] });
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const body = (await res.json()) as { status: number; error: { type: string; param: string } };
    assert.equal(body.status, 422);
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(body.error.param, 'messages');
  });
});

describe('usage and cost', () => {
  test('a completion is recorded with its tokens and exact cost, cached input priced as cached', async () => {
    gateway.fake.script('chat', {
      kind: 'completion',
      content: 'ok',
      usage: { promptTokens: 100, cachedTokens: 20, completionTokens: 50 },
    });
    await gateway.client.chat.completions.create({ model: 'gpt-test', messages: say('count me') });
    const call = await lastCall();
    assert.equal(call.status, 'ok');
    assert.equal(call.inputTokens, 100);
    assert.equal(call.cachedInputTokens, 20);
    assert.equal(call.outputTokens, 50);
    // 80 × 0.15 + 20 × 0.075 + 50 × 0.60, per million tokens.
    assert.equal(call.cost, '0.000043500000');
    assert.equal(call.usageEstimated, false);
    assert.equal(call.apiKeyId, gateway.keyId);
  });

  test('the answer does not wait for its record, which lands once the database lets it', async () => {
    const { db } = gateway.deps;
    const calls = async () =>
      (await db.select({ n: count() }).from(aiCalls).where(eq(aiCalls.userId, gateway.user.id)))[0]
        ?.n;
    await gateway.deps.background.drain(5_000);
    const before = await calls();
    const released = Promise.withResolvers<void>();
    const locked = Promise.withResolvers<void>();
    // Reads go on; every INSERT waits for this transaction.
    const holding = db.transaction(async (tx) => {
      await tx.execute(sql`lock table ai_calls in exclusive mode`);
      locked.resolve();
      await released.promise;
    });
    await locked.promise;
    try {
      gateway.fake.script('chat', { kind: 'completion', content: 'not held up' });
      const answer = gateway.client.chat.completions.create({
        model: 'gpt-test',
        messages: say('answer me first'),
      });
      // Were the answer to wait for its record, it would wait for the lock: a bound, not a
      // figure, so that the test fails instead of waiting for itself.
      const first = await Promise.race([answer, sleep(10_000).then(() => undefined)]);
      assert.equal(first?.choices[0]?.message.content, 'not held up', 'answered, not held');
      assert.equal(await calls(), before, 'answered while its record waits');
    } finally {
      released.resolve();
      await holding;
    }
    await gateway.deps.background.drain(5_000);
    assert.equal(await calls(), (before ?? 0) + 1, 'recorded once the table is free');
  });

  test('a stream is recorded from the usage of its last chunk', async () => {
    gateway.fake.script('chat', {
      kind: 'stream',
      pieces: ['a', 'b'],
      usage: { promptTokens: 10, completionTokens: 2000 },
    });
    const stream = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      messages: say('stream me'),
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    assert.equal(usage?.completion_tokens, 2000, 'the client that asked gets the usage chunk');
    const call = await lastCall();
    assert.equal(call.stream, true);
    assert.equal(call.outputTokens, 2000);
    assert.equal(call.cost, '0.001201500000');
  });

  test('a stream without usage is counted by the tokenizer and marked estimated', async () => {
    gateway.fake.script('chat', {
      kind: 'stream',
      pieces: ['one ', 'two ', 'three'],
      usage: false,
    });
    const stream = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      messages: say('no usage please'),
      stream: true,
    });
    for await (const _ of stream) {
      // read it all
    }
    const call = await lastCall();
    assert.equal(call.usageEstimated, true);
    assert.ok(call.inputTokens > 0);
    assert.equal(call.outputTokens, 3);
  });

  test('a failed call is recorded as an error, at no cost', async () => {
    gateway.fake.script('chat', { kind: 'error', status: 400, message: 'bad request upstream' });
    await assert.rejects(
      gateway.client.chat.completions.create({ model: 'gpt-test', messages: say('fail') }),
      (error: unknown) => error instanceof OpenAI.APIError,
    );
    const call = await lastCall();
    assert.equal(call.status, 'error');
    assert.equal(call.cost, '0.000000000000');
    assert.match(call.error ?? '', /bad request upstream/);
  });

  test('a client that leaves mid-stream stops the upstream at once; what streamed is counted', async (t) => {
    gateway.fake.script('chat', {
      kind: 'stream',
      pieces: Array.from({ length: 50 }, (_, index) => `word${index} `),
      chunkDelayMs: 40,
    });
    const controller = new AbortController();
    const res = await post(
      { model: 'gpt-test', messages: say('a long answer'), stream: true },
      {},
    ).then((response) => response);
    const reader = res.body?.getReader();
    assert.ok(reader);
    let seen = '';
    while (!seen.includes('word3')) {
      const { value } = await reader.read();
      seen += new TextDecoder().decode(value);
    }
    const leftAt = performance.now();
    await reader.cancel();
    controller.abort();
    const request = gateway.fake.requests.at(-1);
    assert.ok(request);
    const end = await request.ended;
    assert.equal(end.how, 'aborted');
    const delay = (request.abortedAt ?? Infinity) - leftAt;
    // The figure is printed (tens of ms on an idle machine); the bound only proves the cause:
    // the upstream had 46 pieces, 1.8 s, still to send, and was cut off long before.
    t.diagnostic(`the upstream call was aborted ${Math.round(delay)} ms after the client left`);
    assert.ok(
      delay < 1_000,
      `the upstream call was aborted ${Math.round(delay)} ms after the client left`,
    );
    const call = await lastCall();
    assert.equal(call.status, 'cancelled');
    assert.equal(call.usageEstimated, true);
    assert.ok(
      call.outputTokens >= 4,
      `counted ${call.outputTokens} tokens streamed before the cut`,
    );
    assert.notEqual(call.cost, '0.000000000000');
  });
});

describe('resilience', () => {
  test('a 429 is retried after its Retry-After, before anything reached the client', async () => {
    gateway.fake.script(
      'chat',
      { kind: 'error', status: 429, retryAfterMs: 300 },
      { kind: 'completion', content: 'after the wait' },
    );
    const before = gateway.fake.count('chat');
    const started = performance.now();
    const answer = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      messages: say('retry me'),
    });
    assert.equal(answer.choices[0]?.message.content, 'after the wait');
    assert.equal(gateway.fake.count('chat') - before, 2);
    const [first, second] = gateway.fake.requests.slice(-2);
    assert.ok(first && second);
    assert.ok(second.receivedAt - first.receivedAt >= 290, 'waited as the upstream asked');
    assert.ok(performance.now() - started >= 290);
  });

  test('a model that keeps failing gives way to its fallback model', async () => {
    gateway.fake.script(
      'chat',
      { kind: 'error', status: 503, retryAfterMs: 10 },
      { kind: 'error', status: 503, retryAfterMs: 10 },
      { kind: 'error', status: 503, retryAfterMs: 10 },
      { kind: 'completion', content: 'from the backup' },
    );
    const answer = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      messages: say('fall back'),
    });
    assert.equal(answer.choices[0]?.message.content, 'from the backup');
    const last = gateway.fake.requests.at(-1);
    assert.equal(bodyOf(last).model, 'gpt-4o');
    const call = await lastCall();
    assert.equal(call.upstreamModel, 'gpt-4o');
  });

  test('with every model failing, the client gets a 502 problem', async () => {
    for (let i = 0; i < 6; i++)
      gateway.fake.script('chat', { kind: 'error', status: 500, retryAfterMs: 1 });
    const res = await post({ model: 'gpt-test', messages: say('all fail') });
    assert.equal(res.status, 502);
    const body = (await res.json()) as { code: string; error: { type: string } };
    assert.equal(body.code, 'upstream_error');
    assert.equal(body.error.type, 'server_error');
  });

  test('past the upstream queue, calls are refused with 503 and Retry-After', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    for (let i = 0; i < 6; i++)
      gateway.fake.script('chat', { kind: 'completion', content: 'late', until: held });
    const before = gateway.fake.count('chat');
    const calls = Array.from({ length: 7 }, (_, index) =>
      post({ model: 'gpt-test', messages: say(`queue ${index}`) }),
    );
    // Four reach the upstream and are held there; of the other three, two wait in the queue
    // and one is refused at once: the first answer to come back, while the rest are held.
    await gateway.fake.waitForRequests(before + 4, { endpoint: 'chat' });
    const first = await Promise.race(calls);
    assert.equal(first.status, 503, 'the call past the queue is refused without waiting');
    release();
    const statuses = (await Promise.all(calls)).map((res) => res.status);
    // 4 at once and 2 waiting: the 7th is refused.
    assert.equal(statuses.filter((status) => status === 503).length, 1, statuses.join(','));
    assert.equal(statuses.filter((status) => status === 200).length, 6, statuses.join(','));
  });
});

describe('cache and shared calls', () => {
  test('a deterministic request is answered once by the model, then from the cache, streamed or not', async () => {
    const body = { model: 'gpt-test', messages: say('cache this exact thing'), temperature: 0 };
    gateway.fake.script('chat', { kind: 'completion', content: 'cached words here' });
    const before = gateway.fake.count('chat');
    const first = await post(body);
    assert.equal(first.headers.get('x-ai-cache'), 'miss');
    const second = await post(body);
    assert.equal(second.headers.get('x-ai-cache'), 'hit');
    assert.equal(
      ((await second.json()) as OpenAI.ChatCompletion).choices[0]?.message.content,
      'cached words here',
    );
    const streamed = await gateway.client.chat.completions.create({ ...body, stream: true });
    let text = '';
    for await (const chunk of streamed) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, 'cached words here');
    assert.equal(gateway.fake.count('chat') - before, 1);
    const skipped = await post(body, { 'cache-control': 'no-cache' });
    assert.equal(skipped.headers.get('x-ai-cache'), 'miss');
    assert.equal(gateway.fake.count('chat') - before, 2);
  });

  test('20 concurrent identical requests make one upstream call', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    gateway.fake.script('chat', { kind: 'completion', content: 'shared answer', until: held });
    const before = gateway.fake.count('chat');
    const body = { model: 'gpt-test', messages: say('twenty at once'), seed: 7 };
    const calls = Array.from({ length: 20 }, () => post(body));
    await gateway.fake.waitForRequests(before + 1, { endpoint: 'chat' });
    await sleep(300); // everyone has joined the flight
    release();
    const answers = await Promise.all(calls);
    for (const res of answers) assert.equal(res.status, 200);
    const texts = await Promise.all(
      answers.map(
        async (res) => ((await res.json()) as OpenAI.ChatCompletion).choices[0]?.message.content,
      ),
    );
    assert.deepEqual(new Set(texts), new Set(['shared answer']));
    assert.equal(gateway.fake.count('chat') - before, 1);
    const kinds = answers.map((res) => res.headers.get('x-ai-cache'));
    assert.equal(kinds.filter((kind) => kind === 'miss').length, 1, kinds.join(','));
  });
});

describe('guards and the context window', () => {
  test('a blocked pattern is refused before any upstream call, naming the guard', async () => {
    const before = gateway.fake.count('chat');
    const res = await post({ model: 'gpt-test', messages: say('tell me the launch codes') });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { guard: string; code: string };
    assert.equal(body.guard, 'rules');
    assert.equal(body.code, 'content_filter');
    assert.equal(gateway.fake.count('chat'), before);
    const call = await lastCall();
    assert.equal(call.status, 'blocked');
  });

  test('personal data is masked before it goes upstream', async () => {
    gateway.fake.script('chat', { kind: 'completion', content: 'noted' });
    await gateway.client.chat.completions.create({
      model: 'gpt-test',
      messages: say('mail ada@example.com, card 4111 1111 1111 1111'),
    });
    const sent = JSON.stringify(gateway.fake.requests.at(-1)?.body);
    assert.ok(!sent.includes('ada@example.com') && !sent.includes('4111 1111'), sent);
    assert.match(sent, /\[email\].*\[card number\]/);
  });

  test('a special token’s name in a prompt or an answer is text: counted, sent and recorded', async () => {
    // gpt-tokenizer refuses such text by default: the count threw and the call was a 500.
    const quote = 'a transcript that ends in <|endoftext|> then <|endofprompt|>';
    gateway.fake.script('chat', {
      kind: 'stream',
      pieces: ['it said ', '<|endoftext|>'],
      usage: false,
    });
    const stream = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      messages: say(quote),
      stream: true,
    });
    let answer = '';
    for await (const chunk of stream) answer += chunk.choices[0]?.delta.content ?? '';
    assert.equal(answer, 'it said <|endoftext|>');
    const sent = gateway.fake.requests.at(-1)?.body as { messages: { content: string }[] };
    assert.equal(sent.messages.at(-1)?.content, quote);
    const call = await lastCall();
    assert.equal(call.status, 'ok');
    assert.equal(call.usageEstimated, true);
    // "<|endoftext|>" as text is several tokens, not the one special token.
    assert.ok(call.outputTokens > 3, `${call.outputTokens} output tokens`);
  });

  test('over the window: refused, or the oldest turns dropped with truncation auto', async () => {
    // Each about 1,000 tokens: with the 200-token cap, two do not fit the 2,000 window.
    const long = 'word '.repeat(1_000);
    const messages = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: long },
      { role: 'assistant' as const, content: long },
      { role: 'user' as const, content: 'and now?' },
    ];
    const refused = await post({ model: 'gpt-test', messages });
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { code: string }).code, 'context_length_exceeded');
    gateway.fake.script('chat', { kind: 'completion', content: 'short' });
    const fitted = await post({ model: 'gpt-test', messages, truncation: 'auto' });
    assert.equal(fitted.status, 200);
    const sent = gateway.fake.requests.at(-1)?.body as { messages: { role: string }[] };
    assert.deepEqual(
      sent.messages.map((message) => message.role),
      ['system', 'assistant', 'user'],
      'only the oldest turn went; the system message and the last turn stay',
    );
  });

  test('a thousand turns far over the window are fitted in one count, not one per dropped turn', async () => {
    // About 700 KB of text no tokenizer cache has seen, some 300,000 tokens against a window
    // of 2,000: recounting what is left after each dropped turn took minutes, all of them on
    // the event loop.
    const messages = Array.from({ length: 999 }, (_, index) => ({
      role: index % 2 === 0 ? ('user' as const) : ('assistant' as const),
      content: randomBytes(525).toString('base64'),
    }));
    messages.push({ role: 'user', content: 'and now?' });
    gateway.fake.script('chat', { kind: 'completion', content: 'short' });
    const fitted = await post({ model: 'gpt-test', messages, truncation: 'auto' });
    assert.equal(fitted.status, 200);
    const sent = gateway.fake.requests.at(-1)?.body as { messages: { content: string }[] };
    const kept = sent.messages.map((message) => message.content);
    assert.ok(kept.length >= 2 && kept.length < 10, `${kept.length} turns kept`);
    assert.deepEqual(
      kept,
      messages.slice(-kept.length).map((message) => message.content),
      'the newest turns that fit stay, the last of them the question',
    );
  });

  test('a prompt of one unbroken stretch near the body limit is counted, not stuck on', async () => {
    // 720 KB of CJK text without a space is one stretch to the tokenizer, whose byte-pair
    // merging costs the square of its length, and was one run of letters for the guard's
    // email pattern, tried from each of them (the `@` makes it look): each held the event
    // loop for minutes, past this test's timeout, before a word was sent upstream.
    const refused = await post({
      model: 'gpt-test',
      messages: say(`${'漢字仮名交じり文'.repeat(30_000)}@`),
    });
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { code: string }).code, 'context_length_exceeded');
  });
});
