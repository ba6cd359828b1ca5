/**
 * Tokens per minute held across two real API processes sharing Redis: calls reserve their
 * prompt plus their output cap before they start, so together the processes never let more
 * through than the limit, however the calls are spread over them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { TEST_MODELS } from '../../support/ai.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../../support/fake-openai.ts';
import { waitFor } from '../../support/jobs.ts';
import { type ApiPair, type ApiProcess, startApiPair } from '../../support/processes.ts';

const TOKENS_PER_MINUTE = 2_000;
const MAX_TOKENS = 150;

let fake: FakeOpenAI;
let pair: ApiPair;

before(async () => {
  fake = await startFakeOpenAI();
  pair = await startApiPair('ai-limits', {
    AI_UPSTREAM_URL: fake.baseUrl,
    AI_MODELS: JSON.stringify(TEST_MODELS),
    AI_TOKENS_PER_MINUTE: String(TOKENS_PER_MINUTE),
    AI_REQUESTS_PER_MINUTE: '1000',
    AI_CACHE_TTL_SECONDS: '0',
    RATE_LIMIT_DEFAULT_REQUESTS: '100000',
    MIGRATE_ON_START: undefined,
  });
});
after(async () => {
  await pair?.close();
  await fake?.close();
});

async function json(api: ApiProcess, path: string, init: RequestInit = {}) {
  const res = await fetch(`${api.base}${path}`, init);
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  };
}

/** A user with an `ai:chat` key, made through A. */
async function keyHolder(): Promise<string> {
  const email = `ai-${randomBytes(6).toString('hex')}@example.com`;
  const password = 'correct horse battery staple';
  const registered = await json(pair.a, '/v1/auth/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, name: 'Limits' }),
  });
  assert.equal(registered.status, 201);
  const login = await json(pair.a, '/v1/auth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: email, password }).toString(),
  });
  const created = await json(pair.a, '/v1/api-keys', {
    method: 'POST',
    headers: {
      authorization: `Bearer ${login.body.access_token}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ name: 'limits', scopes: ['ai:chat'] }),
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return String(created.body.key);
}

describe('tokens per minute across two API processes', () => {
  test('together they never let through more than the limit', async () => {
    const key = await keyHolder();
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Every answer waits, so every reservation is in place at the same time.
    for (let i = 0; i < 40; i++)
      fake.script('chat', { kind: 'completion', content: 'ok', until: held });
    const send = (api: ApiProcess, index: number) =>
      fetch(`${api.base}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-test',
          messages: [{ role: 'user', content: `call ${index}` }],
          max_tokens: MAX_TOKENS,
        }),
      });
    let answered = 0;
    const calls = Array.from({ length: 40 }, (_, index) =>
      send(index % 2 === 0 ? pair.a : pair.b, index).then((res) => {
        answered += 1;
        return res;
      }),
    );
    // Released only once every call has been refused or holds its reservation at the
    // upstream: a call settled earlier gives back its unused tokens, which a slow call
    // could then rightly take.
    await waitFor(
      'every call refused or at the upstream',
      () => answered + fake.count('chat') === 40,
    );
    release();
    const answers = await Promise.all(calls);
    const allowed = answers.filter((res) => res.status === 200);
    const refused = answers.filter((res) => res.status === 429);
    assert.equal(allowed.length + refused.length, 40, answers.map((res) => res.status).join(','));
    // Each call reserves its prompt (a dozen tokens) and its 150-token cap.
    const perCall = MAX_TOKENS + 10;
    assert.ok(
      allowed.length <= Math.floor(TOKENS_PER_MINUTE / perCall),
      `${allowed.length} calls of ≥ ${perCall} tokens passed a ${TOKENS_PER_MINUTE}-token limit`,
    );
    assert.ok(
      allowed.length >= 5,
      `${allowed.length} calls passed: the limit should allow several`,
    );
    assert.equal(fake.count('chat'), allowed.length, 'the upstream saw only the calls allowed');
    const [refusal] = refused;
    assert.ok(refusal);
    assert.ok(Number(refusal.headers.get('retry-after')) > 0);
    assert.equal(refusal.headers.get('x-ratelimit-limit-tokens'), String(TOKENS_PER_MINUTE));
    const body = (await refusal.json()) as { error: { type: string; code: string } };
    assert.equal(body.error.type, 'rate_limit_error');
    // Both processes refused some: the count is shared, not per process.
    const byProcess = [pair.a, pair.b].map(
      (_, which) =>
        answers.filter((res, index) => index % 2 === which && res.status === 429).length,
    );
    assert.ok(
      byProcess.every((count) => count > 0),
      `refusals per process: ${byProcess}`,
    );
  });
});
