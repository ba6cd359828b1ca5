/**
 * The gateway's policies, each configured as an operator would: spend budgets (a hard stop a
 * client can tell from a rate limit, and a warning as one nears), the first-token timeout,
 * the configured fallback answer, moderation, a guard stopping a stream, a client leaving a
 * call that is not streamed, and the usage report.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { createApp } from '../../../src/app.ts';
import { listen } from '../../../src/core/http-server.ts';
import { createDeps } from '../../../src/deps.ts';
import { type Gateway, startGateway } from '../../support/ai.ts';
import { createTestUser } from '../../support/auth.ts';

let gateway: Gateway;
let admin: { headers: { authorization: string } };

before(async () => {
  gateway = await startGateway({
    env: {
      AI_FIRST_TOKEN_TIMEOUT_MS: '300',
      AI_MAX_RETRIES: '0',
      AI_FALLBACK_ANSWER: 'The assistant is busy; please try again in a minute.',
      AI_MODERATION: 'upstream',
      AI_GUARD_BLOCKED_PATTERNS: 'self[- ]destruct',
    },
  });
  admin = await createTestUser(gateway.deps, { role: 'admin' });
});
after(() => gateway?.close());

const ask = (text: string, extra: Record<string, unknown> = {}, signal?: AbortSignal) =>
  fetch(`${gateway.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gateway.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'gpt-test',
      messages: [{ role: 'user', content: text }],
      ...extra,
    }),
    ...(signal ? { signal } : {}),
  });

/** The text a server-sent event stream of chunks spells. */
function contentOf(stream: string): string {
  return stream
    .split('\n\n')
    .map((event) => event.replace(/^data: /, ''))
    .filter((data) => data.startsWith('{'))
    .map((data) => {
      const chunk = JSON.parse(data) as { choices?: { delta?: { content?: string } }[] };
      return chunk.choices?.[0]?.delta?.content ?? '';
    })
    .join('');
}

describe('budgets', () => {
  test('a budget near its end warns; used up, it stops with 402, not a rate limit', async () => {
    // 200 output tokens at $0.60 per million is $0.00012 at most per call: a $0.0003 budget
    // allows two calls' reservations, warns on the second, and refuses the third.
    const created = await gateway.keyBudget(admin, { period: 'day', limitUsd: '0.0003' });
    assert.equal(created.status, 201, await created.clone().text());
    const budgetId = ((await created.json()) as { id: string }).id;
    for (let i = 0; i < 2; i++) {
      gateway.fake.script('chat', {
        kind: 'completion',
        content: 'ok',
        usage: { promptTokens: 10, completionTokens: 200 },
      });
    }
    const first = await ask('one', { max_tokens: 200 });
    assert.equal(first.status, 200);
    const second = await ask('two', { max_tokens: 200 });
    assert.equal(second.status, 200);
    assert.match(second.headers.get('x-budget-warning') ?? '', /% of the key's daily budget used/);
    const third = await ask('three', { max_tokens: 200 });
    assert.equal(third.status, 402);
    const body = (await third.json()) as { code: string; error: { type: string; code: string } };
    assert.equal(body.code, 'insufficient_quota');
    assert.equal(body.error.type, 'insufficient_quota');
    // A prompt template's call spends from the same budget.
    const keyHeaders = {
      authorization: `Bearer ${gateway.key}`,
      'content-type': 'application/json',
    };
    const template = await fetch(`${gateway.base}/v1/ai/templates`, {
      method: 'POST',
      headers: keyHeaders,
      body: JSON.stringify({
        name: 'budgeted',
        model: 'gpt-test',
        messages: [{ role: 'user', content: 'Say {{word}}' }],
        variables: { type: 'object', properties: { word: { type: 'string' } }, required: ['word'] },
      }),
    });
    assert.equal(template.status, 201, await template.clone().text());
    const templateId = ((await template.json()) as { id: string }).id;
    const templateCall = await fetch(`${gateway.base}/v1/ai/templates/${templateId}/completions`, {
      method: 'POST',
      headers: keyHeaders,
      body: JSON.stringify({ variables: { word: 'hello' } }),
    });
    assert.equal(templateCall.status, 402, await templateCall.clone().text());
    const client = new OpenAI({
      baseURL: `${gateway.base}/v1`,
      apiKey: gateway.key,
      maxRetries: 2,
    });
    const started = performance.now();
    await assert.rejects(
      client.chat.completions.create({
        model: 'gpt-test',
        messages: [{ role: 'user', content: 'x' }],
      }),
      (error: unknown) => error instanceof OpenAI.APIError && error.status === 402,
    );
    assert.ok(performance.now() - started < 1_000, 'the official client does not retry a 402');
    const status = (await (
      await fetch(`${gateway.base}/v1/ai/budgets/${budgetId}`, { headers: admin.headers })
    ).json()) as { spentUsd: string };
    assert.equal(status.spentUsd, '0.000243000000', '2 × (10 × 0.15 + 200 × 0.60) per million');
    await fetch(`${gateway.base}/v1/ai/budgets/${budgetId}`, {
      method: 'DELETE',
      headers: admin.headers,
    });
    gateway.fake.script('chat', { kind: 'completion', content: 'free again' });
    assert.equal((await ask('four')).status, 200);
  });

  test('a budget set through one process binds calls through another at once', async () => {
    // A second API process: the same database and Redis, its own budget cache, warmed by a
    // call made before the budget exists.
    const other = await createDeps(gateway.deps.settings);
    const server = await listen({ fetch: createApp(other).fetch, host: '127.0.0.1', port: 0 });
    try {
      const askOther = () =>
        fetch(`http://127.0.0.1:${server.port}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${gateway.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] }),
        });
      assert.equal((await askOther()).status, 200, 'no budget yet');
      const created = await gateway.keyBudget(admin, { period: 'month', limitUsd: '0.000001' });
      assert.equal(created.status, 201);
      const { id } = (await created.json()) as { id: string };
      // Pub/sub delivers in well under the 5 s the cache would otherwise keep the old answer.
      let status = 0;
      for (let attempt = 0; attempt < 20 && status !== 402; attempt++) {
        status = (await askOther()).status;
        if (status !== 402) await sleep(25);
      }
      assert.equal(status, 402, 'the other process enforces the new budget');
      await fetch(`${gateway.base}/v1/ai/budgets/${id}`, {
        method: 'DELETE',
        headers: admin.headers,
      });
      for (let attempt = 0; attempt < 20 && status !== 200; attempt++) {
        status = (await askOther()).status;
        if (status !== 200) await sleep(25);
      }
      assert.equal(status, 200, 'and forgets a deleted one');
    } finally {
      await server.drain(1_000);
      await other.close();
    }
  });
});

describe('timeouts and the fallback answer', () => {
  test('an upstream slower to its first token than allowed fails over; then the fallback answer', async () => {
    gateway.fake.script(
      'chat',
      { kind: 'stream', pieces: ['too', 'late'], firstChunkDelayMs: 1_000 },
      { kind: 'stream', pieces: ['also', 'late'], firstChunkDelayMs: 1_000 },
    );
    const before = gateway.fake.requests.length;
    const res = await ask('hurry', { stream: true });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-ai-fallback'), 'true');
    const text = await res.text();
    assert.equal(contentOf(text), 'The assistant is busy; please try again in a minute.');
    assert.match(text, /"fallback":true/);
    // Each model was given up before its first chunk was written, on the fake's own clock (a
    // bound on the client's elapsed time would also count the machine's load).
    const tried = gateway.fake.requests.slice(before).filter((sent) => sent.endpoint === 'chat');
    assert.equal(tried.length, 2);
    for (const request of tried) {
      assert.equal((await request.ended).how, 'aborted');
      assert.deepEqual(request.writtenAt, [], 'given up before its first chunk');
    }
    const json = await ask('hurry again');
    // Non-streamed: the first two replies were used above; the fake answers at once now.
    assert.equal(json.status, 200);
  });
});

describe('guards that read answers', () => {
  test('moderation flags a prompt before it goes to the model', async () => {
    const before = gateway.fake.count('chat');
    const res = await ask('how to make a forbidden thing');
    assert.equal(res.status, 400);
    const body = (await res.json()) as { guard: string; stage: string };
    assert.deepEqual([body.guard, body.stage], ['moderation', 'input']);
    assert.equal(gateway.fake.count('chat'), before);
  });

  test('a blocked pattern in a streamed answer ends it with content_filter', async () => {
    gateway.fake.script('chat', {
      kind: 'stream',
      pieces: ['Step one: ', 'initiate self', '-destruct ', 'sequence now'],
      chunkDelayMs: 20,
    });
    const text = await (await ask('tell me a story', { stream: true })).text();
    assert.match(text, /"finish_reason":"content_filter"/);
    assert.ok(!text.includes('sequence now'), 'nothing after the block was relayed');
    assert.match(text, /data: \[DONE\]\n\n$/);
  });
});

describe('a client that leaves a call that is not streamed', () => {
  test('the upstream call is aborted as the client leaves', async (t) => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    gateway.fake.script('chat', { kind: 'completion', content: 'too late', until: held });
    const controller = new AbortController();
    const before = gateway.fake.count('chat');
    const call = ask('wait for me', {}, controller.signal).catch((error: unknown) => error);
    const [request] = (await gateway.fake.waitForRequests(before + 1, { endpoint: 'chat' })).slice(
      -1,
    );
    assert.ok(request);
    await sleep(50);
    const leftAt = performance.now();
    controller.abort();
    await call;
    const end = await request.ended;
    release();
    assert.equal(end.how, 'aborted');
    const delay = (request.abortedAt ?? Infinity) - leftAt;
    // The figure is printed (a few ms on an idle machine); the answer was held until after the
    // abort, so any abort is the client's doing, and the bound only says it came promptly.
    t.diagnostic(`aborted ${Math.round(delay)} ms after the client left`);
    assert.ok(delay < 1_000, `aborted ${Math.round(delay)} ms after the client left`);
  });
});

describe('token limits', () => {
  test('a caller’s next call counts the last call’s real tokens, not its reservation', async () => {
    const remaining = (response: Response) =>
      Number(response.headers.get('x-ratelimit-remaining-tokens'));
    const resetSeconds = (response: Response) =>
      Number.parseInt(response.headers.get('x-ratelimit-reset-tokens') ?? '', 10);
    for (const stream of [false, true]) {
      // A minute's window may turn between the two calls: then the pair is asked again.
      for (let attempt = 1; ; attempt++) {
        const usage = { promptTokens: 7, completionTokens: 13 };
        gateway.fake.script(
          'chat',
          stream
            ? { kind: 'stream', pieces: ['a', 'b'], usage }
            : { kind: 'completion', content: 'ok', usage },
        );
        const first = await ask(
          'count me',
          stream ? { stream: true, stream_options: { include_usage: true } } : {},
        );
        assert.equal(first.status, 200);
        await first.text();
        // The same prompt, so the same reservation: what differs is the first call's tokens,
        // its reservation until settled, its 20 real ones after.
        gateway.fake.script('chat', { kind: 'completion', content: 'ok' });
        const second = await ask('count me');
        assert.equal(second.status, 200);
        await second.text();
        if (resetSeconds(second) > resetSeconds(first) && attempt < 3) continue;
        assert.equal(remaining(second), remaining(first) - 20, `stream: ${stream}`);
        break;
      }
    }
  });
});

describe('usage reports', () => {
  test('by day and model for the caller; everyone’s for an administrator', async () => {
    await gateway.deps.background.drain(5_000); // the calls' records, written beside answers
    const mine = (await (
      await fetch(`${gateway.base}/v1/ai/usage`, {
        headers: { authorization: `Bearer ${gateway.key}` },
      })
    ).json()) as { data: { model: string; calls: number; cost: string }[]; totalCost: string };
    const row = mine.data.find((entry) => entry.model === 'gpt-test');
    assert.ok(row && row.calls >= 3, JSON.stringify(mine));
    assert.match(mine.totalCost, /^\d+\.\d{12}$/);
    const other = await fetch(`${gateway.base}/v1/ai/usage?userId=${gateway.user.id}`, {
      headers: { authorization: `Bearer ${gateway.key}` },
    });
    assert.equal(other.status, 403, 'only administrators name a user');
    const all = (await (
      await fetch(`${gateway.base}/v1/ai/usage?userId=${gateway.user.id}`, {
        headers: admin.headers,
      })
    ).json()) as { totalCost: string };
    assert.equal(all.totalCost, mine.totalCost);
  });
});
