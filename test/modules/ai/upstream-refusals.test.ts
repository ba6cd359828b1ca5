/**
 * An upstream that refuses a request as invalid (400, 404, 422: a parameter it does not take)
 * is the caller's 400, never a 500: in the provider's words, with OpenAI's error body (the
 * official client raises BadRequestError), not retried, no fallback model tried, and recorded
 * as a failed call. Chat, streamed or not, embeddings, and a batch's line (in its errors
 * file). The provider refusing the gateway's own key (401, 403) is a 502 the operator is told
 * of in the log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { and, desc, eq } from 'drizzle-orm';
import OpenAI from 'openai';
import type { JobWorker } from '../../../src/core/jobs/job-queue.ts';
import { aiCalls } from '../../../src/modules/ai/ai.table.ts';
import { runBatch } from '../../../src/modules/ai/batches.jobs.ts';
import { type Gateway, startGateway, TEST_MODELS } from '../../support/ai.ts';
import { createTestApiKey } from '../../support/auth.ts';
import { type CapturedLogs, captureLogs } from '../../support/deps.ts';
import { waitFor } from '../../support/jobs.ts';

let gateway: Gateway;
let logs: CapturedLogs;
let worker: JobWorker;

const REFUSAL = {
  kind: 'error',
  status: 400,
  message: "Unsupported value: 'temperature' does not support 3 with this model.",
  type: 'invalid_request_error',
  code: 'unsupported_value',
  param: 'temperature',
} as const;

before(async () => {
  logs = await captureLogs();
  gateway = await startGateway({
    logger: logs.logger,
    env: {
      AI_MODELS: JSON.stringify([
        ...TEST_MODELS,
        {
          id: 'embed-test',
          upstream: 'text-embedding-3-small',
          kind: 'embeddings',
          inputPrice: '0.02',
          outputPrice: '0',
          contextWindow: 500,
          dimensions: 16,
        },
      ]),
      AI_CACHE_TTL_SECONDS: '0',
      // One line at a time: the scripted refusal meets the line the test expects.
      AI_BATCH_CONCURRENCY: '1',
    },
  });
  worker = await gateway.deps.jobs.startWorker([runBatch], gateway.deps);
});
after(async () => {
  await worker?.close(5_000);
  await gateway?.close();
});

const say = (content: string) => [{ role: 'user' as const, content }];

async function lastCall(operation: 'chat' | 'embeddings') {
  await sleep(20); // an embeddings call's record is written as its answer ends
  await gateway.deps.background.drain(5_000); // a chat call's, beside its answer
  const [call] = await gateway.deps.db
    .select()
    .from(aiCalls)
    .where(and(eq(aiCalls.userId, gateway.user.id), eq(aiCalls.operation, operation)))
    .orderBy(desc(aiCalls.createdAt), desc(aiCalls.id))
    .limit(1);
  assert.ok(call, `a ${operation} call was recorded`);
  return call;
}

/** The client's error: BadRequestError, in the provider's words, with its code and param. */
function isProviderRefusal(error: unknown): boolean {
  assert.ok(error instanceof OpenAI.BadRequestError, `BadRequestError, got ${String(error)}`);
  assert.equal(error.status, 400);
  assert.match(error.message, /does not support 3 with this model/);
  assert.equal(error.code, 'unsupported_value');
  assert.equal(error.param, 'temperature');
  assert.equal(error.type, 'invalid_request_error');
  return true;
}

describe('chat completions the provider refuses as invalid', () => {
  test('not streamed: a 400 the official client raises as BadRequestError; not retried, no fallback, recorded as failed', async () => {
    const before = gateway.fake.count('chat');
    gateway.fake.script('chat', REFUSAL);
    await assert.rejects(
      gateway.client.chat.completions.create({
        model: 'gpt-test',
        messages: say('refuse me'),
        temperature: 1.5,
      }),
      isProviderRefusal,
    );
    assert.equal(gateway.fake.count('chat') - before, 1, 'sent once: not retried, no fallback');
    const call = await lastCall('chat');
    assert.equal(call.status, 'error');
    assert.equal(call.cost, '0.000000000000');
    assert.match(call.error ?? '', /does not support 3/);
  });

  test('streamed: the same 400 before any event, raised by the client as it starts', async () => {
    const before = gateway.fake.count('chat');
    gateway.fake.script('chat', REFUSAL);
    await assert.rejects(
      gateway.client.chat.completions.create({
        model: 'gpt-test',
        messages: say('refuse my stream'),
        stream: true,
      }),
      isProviderRefusal,
    );
    assert.equal(gateway.fake.count('chat') - before, 1);
    const call = await lastCall('chat');
    assert.equal(call.status, 'error');
    assert.equal(call.stream, true);
  });

  for (const status of [404, 422, 413]) {
    test(`a ${status} is a problem document of status 400 too, with OpenAI's error body`, async () => {
      gateway.fake.script('chat', {
        kind: 'error',
        status,
        message: `refused with ${status}`,
        type: 'invalid_request_error',
        code: null,
        param: null,
      });
      const res = await fetch(`${gateway.base}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${gateway.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-test', messages: say(`refuse with ${status}`) }),
      });
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(body.status, 400);
      assert.equal(body.upstreamStatus, status);
      assert.equal(body.code, 'upstream_rejected', 'no code of the provider’s: the gateway’s');
      assert.deepEqual(body.error, {
        message: `The model provider refused the request: refused with ${status}`,
        type: 'invalid_request_error',
        code: 'upstream_rejected',
        param: null,
      });
    });
  }
});

describe('the provider refusing the gateway’s own credentials', () => {
  test('401 and 403 are 502: not the caller’s to fix, and the operator is told in the log', async () => {
    for (const status of [401, 403]) {
      gateway.fake.script('chat', {
        kind: 'error',
        status,
        message: 'Incorrect API key provided',
        type: 'invalid_request_error',
        code: 'invalid_api_key',
        param: null,
      });
      await assert.rejects(
        gateway.client.chat.completions.create({ model: 'gpt-test', messages: say('key?') }),
        (error: unknown) =>
          error instanceof OpenAI.InternalServerError &&
          error.status === 502 &&
          error.code === 'upstream_access_denied' &&
          !error.message.includes('Incorrect API key'),
      );
    }
    const told = logs
      .records()
      .filter((record) => String(record.msg).includes('refused the gateway’s credentials'));
    assert.equal(told.length, 2);
    assert.equal(told[0]?.level, 50);
  });
});

describe('embeddings the provider refuses as invalid', () => {
  test('a 400 the client raises as BadRequestError; not retried; recorded as failed', async () => {
    const before = gateway.fake.count('embeddings');
    gateway.fake.script('embeddings', REFUSAL);
    await assert.rejects(
      gateway.client.embeddings.create({ model: 'embed-test', input: 'refuse these words' }),
      isProviderRefusal,
    );
    assert.equal(gateway.fake.count('embeddings') - before, 1);
    const call = await lastCall('embeddings');
    assert.equal(call.status, 'error');
    assert.match(call.error ?? '', /does not support 3/);
  });
});

describe('a batch line the provider refuses as invalid', () => {
  test('is in the errors file with the 400 and the provider’s words, run once; the others succeed', async () => {
    const { key } = await createTestApiKey(gateway.deps, gateway.user, ['ai:batch']);
    const lines = ['first', 'refused', 'third'].map((id) =>
      JSON.stringify({
        custom_id: id,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'gpt-test', messages: say(`line ${id}`), max_tokens: 20 },
      }),
    );
    gateway.fake.script('chat', { kind: 'default' }, REFUSAL, { kind: 'default' });
    const before = gateway.fake.count('chat');
    const form = new FormData();
    form.append('file', new File([lines.join('\n')], 'batch.jsonl'));
    const created = await fetch(`${gateway.base}/v1/ai/batches`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: form,
    });
    assert.equal(created.status, 202, await created.clone().text());
    const { id } = (await created.json()) as { id: string };
    const get = (path: string) =>
      fetch(`${gateway.base}/v1/ai/batches/${id}${path}`, {
        headers: { authorization: `Bearer ${key}` },
      });
    const batch = await waitFor('the batch to end', async () => {
      const body = (await (await get('')).json()) as {
        status: string;
        requestCounts: { completed: number; failed: number };
      };
      return body.status === 'completed' ? body : undefined;
    });
    assert.deepEqual(batch.requestCounts, { total: 3, completed: 2, failed: 1 });
    assert.equal(gateway.fake.count('chat') - before, 3, 'each line sent once');
    const errors = (await (await get('/errors')).text())
      .split('\n')
      .filter((line) => line.length > 0)
      .map(
        (line) =>
          JSON.parse(line) as {
            custom_id: string;
            response: {
              status_code: number;
              body: { error: { message: string; type: string; code: string } };
            };
          },
      );
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.custom_id, 'refused');
    assert.equal(errors[0]?.response.status_code, 400);
    assert.equal(errors[0]?.response.body.error.type, 'invalid_request_error');
    assert.equal(errors[0]?.response.body.error.code, 'unsupported_value');
    assert.match(errors[0]?.response.body.error.message ?? '', /does not support 3/);
  });
});
