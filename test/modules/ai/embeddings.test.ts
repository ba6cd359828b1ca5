/**
 * `POST /v1/embeddings` as OpenAI's own client sees it, against the fake upstream: shapes
 * (numbers and base64), usage and exact cost recorded, each text's vector cached, shorter
 * vectors where the model allows, guards, and the wrong kind of model refused. Then the
 * built-in development model: deterministic, and texts that share words are closer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { and, desc, eq } from 'drizzle-orm';
import OpenAI from 'openai';
import { createApp } from '../../../src/app.ts';
import { aiCalls } from '../../../src/modules/ai/ai.table.ts';
import { bodyOf, type Gateway, startGateway, TEST_MODELS } from '../../support/ai.ts';
import { createTestApiKey, createTestUser } from '../../support/auth.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';
import { fakeEmbedding } from '../../support/fake-openai.ts';

const EMBEDDING_MODELS = [
  ...TEST_MODELS,
  {
    id: 'embed-test',
    upstream: 'text-embedding-3-small',
    kind: 'embeddings',
    inputPrice: '0.02',
    outputPrice: '0',
    contextWindow: 50,
    dimensions: 64,
    variableDimensions: true,
  },
];

let gateway: Gateway;

before(async () => {
  gateway = await startGateway({
    env: { AI_MODELS: JSON.stringify(EMBEDDING_MODELS), AI_GUARD_BLOCKED_PATTERNS: 'launch codes' },
  });
});
after(() => gateway?.close());

async function embeddingCalls() {
  // Written beside the answer, in the background.
  await sleep(20);
  await gateway.deps.background.drain(5_000);
  return gateway.deps.db
    .select()
    .from(aiCalls)
    .where(and(eq(aiCalls.userId, gateway.user.id), eq(aiCalls.operation, 'embeddings')))
    .orderBy(desc(aiCalls.createdAt), desc(aiCalls.id));
}

const post = (body: unknown, headers: Record<string, string> = {}) =>
  gateway.postJson('/v1/embeddings', body, headers);

describe('refusals', () => {
  test('an unknown model is 404, an upstream that fails is 502, a used-up budget is 402', async () => {
    const unknown = await post({ model: 'no-such-model', input: 'x' });
    assert.equal(unknown.status, 404, await unknown.clone().text());
    // Its first try and both retries (AI_MAX_RETRIES); a refusal as invalid is the caller's
    // 400 (upstream-refusals.test.ts).
    gateway.fake.script(
      'embeddings',
      ...Array.from({ length: 3 }, () => ({
        kind: 'error' as const,
        status: 503,
        retryAfterMs: 10,
      })),
    );
    const failed = await post({ model: 'embed-test', input: 'a text the upstream fails' });
    assert.equal(failed.status, 502, await failed.clone().text());
    const admin = await createTestUser(gateway.deps, { role: 'admin' });
    const budget = await gateway.keyBudget(admin, { period: 'day', limitUsd: '0' });
    assert.equal(budget.status, 201, await budget.clone().text());
    try {
      const spent = await post({ model: 'embed-test', input: 'a text past the budget' });
      assert.equal(spent.status, 402, await spent.clone().text());
    } finally {
      const { id } = (await budget.json()) as { id: string };
      await fetch(`${gateway.base}/v1/ai/budgets/${id}`, {
        method: 'DELETE',
        headers: admin.headers,
      });
    }
  });
});

const close = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((value, index) => Math.abs(value - (b[index] ?? 0)) < 1e-6);

describe('the official openai client, unchanged but for its base URL and key', () => {
  test('embeds a list of texts: one vector each, in order, the upstream’s own', async () => {
    const texts = ['The refund window is thirty days', 'Parcels leave the warehouse daily'];
    const answer = await gateway.client.embeddings.create({ model: 'embed-test', input: texts });
    assert.equal(answer.object, 'list');
    assert.equal(answer.model, 'embed-test');
    assert.equal(answer.data.length, 2);
    answer.data.forEach((entry, index) => {
      assert.equal(entry.index, index);
      assert.ok(
        close(entry.embedding, fakeEmbedding(texts[index] ?? '', 64)),
        'the vector the upstream gave, through base64 and back',
      );
    });
    const [request] = gateway.fake.requests.slice(-1);
    assert.equal(bodyOf(request).model, 'text-embedding-3-small');
    assert.ok(answer.usage.prompt_tokens > 0);
  });

  test('records the call with its tokens and exact cost', async () => {
    const answer = await gateway.client.embeddings.create({
      model: 'embed-test',
      input: 'one two three four five six seven eight nine ten',
    });
    const [call] = await embeddingCalls();
    assert.ok(call);
    assert.equal(call.status, 'ok');
    assert.equal(call.model, 'embed-test');
    // The fake counts one token a word: 10 tokens at $0.02 per million.
    assert.equal(call.inputTokens, 10);
    assert.equal(call.cost, '0.000000200000');
    assert.equal(answer.usage.prompt_tokens, 10);
  });

  test('a text sent again is answered from the cache, and not billed again', async () => {
    const input = 'cache me if you can';
    await gateway.client.embeddings.create({ model: 'embed-test', input });
    const before = gateway.fake.count('embeddings');
    const res = await post({ model: 'embed-test', input: [input] });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-ai-cache'), 'hit');
    assert.equal(gateway.fake.count('embeddings'), before, 'no upstream call');
    const [call] = await embeddingCalls();
    assert.equal(call?.cacheHit, true);
    assert.equal(call?.cost, '0.000000000000');
    // Half known, half new: only the new text goes upstream.
    const mixed = await post({ model: 'embed-test', input: [input, 'something new'] });
    assert.equal(mixed.headers.get('x-ai-cache'), 'miss');
    const [request] = gateway.fake.requests.slice(-1);
    assert.deepEqual(bodyOf(request).input, ['something new']);
  });
});

describe('the shapes and the refusals', () => {
  test('floats by default over plain HTTP; base64 as asked', async () => {
    const floats = await post({ model: 'embed-test', input: 'hello world' });
    assert.equal(floats.status, 200);
    const body = (await floats.json()) as { data: { embedding: number[] }[] };
    assert.ok(Array.isArray(body.data[0]?.embedding));
    assert.equal(body.data[0]?.embedding.length, 64);
    const encoded = await post({
      model: 'embed-test',
      input: 'hello world',
      encoding_format: 'base64',
    });
    const text = (await encoded.json()) as { data: { embedding: string }[] };
    const bytes = Buffer.from(text.data[0]?.embedding ?? '', 'base64');
    assert.equal(bytes.length, 64 * 4, 'float32 little-endian, 4 bytes a dimension');
    assert.ok(Math.abs(bytes.readFloatLE(0) - (body.data[0]?.embedding[0] ?? 0)) < 1e-6);
  });

  test('shorter vectors go upstream as `dimensions`, where the model allows', async () => {
    const res = await post({ model: 'embed-test', input: 'short vectors', dimensions: 16 });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { data: { embedding: number[] }[] };
    assert.equal(body.data[0]?.embedding.length, 16);
    assert.equal(bodyOf(gateway.fake.requests.at(-1)).dimensions, 16);
    const longer = await post({ model: 'embed-test', input: 'too long', dimensions: 65 });
    assert.equal(longer.status, 422);
  });

  test('a chat model cannot embed, nor an embeddings model chat: 400 invalid_model', async () => {
    await assert.rejects(
      gateway.client.embeddings.create({ model: 'gpt-test', input: 'hi' }),
      (error: unknown) => error instanceof OpenAI.BadRequestError && error.code === 'invalid_model',
    );
    await assert.rejects(
      gateway.client.chat.completions.create({
        model: 'embed-test',
        messages: [{ role: 'user', content: 'hi' }],
      }),
      (error: unknown) => error instanceof OpenAI.BadRequestError && error.code === 'invalid_model',
    );
  });

  test('guards apply: a blocked text is refused before anything goes upstream', async () => {
    const before = gateway.fake.count('embeddings');
    const res = await post({ model: 'embed-test', input: ['fine', 'the launch codes are 0000'] });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { code: string };
    assert.equal(body.code, 'content_filter');
    assert.equal(gateway.fake.count('embeddings'), before);
  });

  test('a text longer than the model’s input window is refused, naming it', async () => {
    const res = await post({ model: 'embed-test', input: ['ok', 'word '.repeat(200)] });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { code: string; detail: string };
    assert.equal(body.code, 'context_length_exceeded');
    assert.match(body.detail, /Input 1/);
  });

  test('empty texts, token arrays and unknown fields are 422', async () => {
    for (const input of ['', [''], [1, 2, 3], [[1, 2]]]) {
      const res = await post({ model: 'embed-test', input });
      assert.equal(res.status, 422, JSON.stringify(input));
    }
    assert.equal((await post({ model: 'embed-test', input: 'x', nope: 1 })).status, 422);
  });
});

describe('the development model, offline', () => {
  let deps: TestDeps;
  let headers: Record<string, string>;

  before(async () => {
    deps = await createTestDeps();
    const owner = await createTestUser(deps);
    const { key } = await createTestApiKey(deps, owner.user, ['ai:chat']);
    headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  });
  after(() => deps?.close());

  test('is deterministic, and texts that share words are closer than texts that do not', async () => {
    const app = createApp(deps);
    const embed = async (input: string[]) => {
      const res = await app.request('/v1/embeddings', {
        method: 'POST',
        headers,
        body: JSON.stringify({ model: 'dev-local-embed', input }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      const body = (await res.json()) as { data: { embedding: number[] }[] };
      return body.data.map((entry) => entry.embedding);
    };
    const [question, answer, other] = await embed([
      'How many days is the refund window?',
      'Refunds: the refund window is 30 days from delivery.',
      'Our office dog is called Biscuit and loves long walks.',
    ]);
    const dot = (a: number[] = [], b: number[] = []) =>
      a.reduce((sum, value, index) => sum + value * (b[index] ?? 0), 0);
    assert.ok(dot(question, answer) > dot(question, other) + 0.2);
    const [again] = await embed(['How many days is the refund window?']);
    assert.deepEqual(again, question);
    assert.equal(question?.length, 1536);
  });
});
