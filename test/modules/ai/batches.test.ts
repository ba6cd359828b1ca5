/**
 * Batches against the fake upstream: 1,000 lines through scripted 429s and 5xx, results
 * matched to inputs by `custom_id`, usage and cost the sum of the lines; a malformed file
 * refused by line number before any upstream call; a batch cancelled mid-way; and a worker
 * killed with -9 mid-batch, whose successor finishes it with no line sent twice.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import type { JobWorker } from '../../../src/core/jobs/job-queue.ts';
import { aiCalls } from '../../../src/modules/ai/ai.table.ts';
import { runBatch } from '../../../src/modules/ai/batches.jobs.ts';
import { bodyOf, type Gateway, PROVIDER_KEY, startGateway, TEST_MODELS } from '../../support/ai.ts';
import { createTestApiKey } from '../../support/auth.ts';
import { waitFor } from '../../support/jobs.ts';
import { depsEnv, killAllServices, spawnService, stopService } from '../../support/processes.ts';

let gateway: Gateway;
let key: string;
let keyId: string;

const GUARDED = 'forbidden-topic';

before(async () => {
  gateway = await startGateway({
    env: {
      AI_GUARD_BLOCKED_PATTERNS: GUARDED,
      AI_CACHE_TTL_SECONDS: '0',
      AI_BATCH_CONCURRENCY: '16',
      AI_MAX_RETRIES: '2',
    },
  });
  ({ key, id: keyId } = await createTestApiKey(gateway.deps, gateway.user, ['ai:batch']));
});
after(async () => {
  await killAllServices();
  await gateway?.close();
});

interface BatchBody {
  id: string;
  status: string;
  jobId: string;
  requestCounts: { total: number; completed: number; failed: number };
  usage: { inputTokens: number; cachedInputTokens: number; outputTokens: number; cost: string };
}

interface OutputLine {
  id: string;
  custom_id: string;
  response: {
    status_code: number;
    body: {
      choices?: { message: { content: string } }[];
      usage?: { prompt_tokens: number; completion_tokens: number };
      error?: { code: string };
    };
  } | null;
  error: { code: string; message: string } | null;
}

function line(customId: string, content: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'gpt-test', messages: [{ role: 'user', content }], max_tokens: 50, ...extra },
  });
}

async function upload(text: string) {
  const form = new FormData();
  form.append('file', new File([text], 'batch.jsonl', { type: 'application/jsonl' }));
  return fetch(`${gateway.base}/v1/ai/batches`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
    body: form,
  });
}

async function getBatch(id: string): Promise<BatchBody> {
  const res = await fetch(`${gateway.base}/v1/ai/batches/${id}`, {
    headers: { authorization: `Bearer ${key}` },
  });
  assert.equal(res.status, 200);
  return (await res.json()) as BatchBody;
}

async function finished(id: string, timeoutMs = 120_000): Promise<BatchBody> {
  return waitFor(
    `batch ${id} to end`,
    async () => {
      const batch = await getBatch(id);
      return ['completed', 'cancelled', 'failed'].includes(batch.status) ? batch : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

async function download(id: string, which: 'results' | 'errors'): Promise<OutputLine[]> {
  const res = await fetch(`${gateway.base}/v1/ai/batches/${id}/${which}`, {
    headers: { authorization: `Bearer ${key}` },
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
  const text = await res.text();
  return text
    .split('\n')
    .filter((entry) => entry.length > 0)
    .map((entry) => JSON.parse(entry) as OutputLine);
}

/** The gateway's records of the batch key's calls: their sums. */
async function recordedUsage() {
  const [row] = await gateway.deps.db
    .select({
      input: sql<number>`coalesce(sum(${aiCalls.inputTokens}), 0)::int`,
      output: sql<number>`coalesce(sum(${aiCalls.outputTokens}), 0)::int`,
      cost: sql<string>`coalesce(sum(${aiCalls.cost}), 0)::numeric(24, 12)::text`,
    })
    .from(aiCalls)
    .where(eq(aiCalls.apiKeyId, keyId));
  return row;
}

describe('a batch file is checked before anything runs', () => {
  test('a malformed line is a 422 naming its line number; nothing goes upstream', async () => {
    const before = gateway.fake.count('chat');
    const text = [
      line('a', 'fine'),
      '',
      '{"custom_id": "b", "method": "POST"',
      line('a', 'the same id again'),
      line('c', 'streamed', { stream: true }),
      line('d', 'unknown model', { model: 'no-such-model' }),
    ].join('\n');
    const res = await upload(text);
    assert.equal(res.status, 422, await res.clone().text());
    const body = (await res.json()) as { errors: { path: string; message: string }[] };
    const messages = body.errors.map((error) => error.message);
    assert.match(messages[0] ?? '', /^line 3: not JSON/);
    assert.match(messages[1] ?? '', /^line 4: custom_id "a" is used on line 1/);
    assert.match(messages[2] ?? '', /^line 5: body.stream/);
    assert.match(messages[3] ?? '', /^line 6: body.model: no model is named no-such-model/);
    assert.equal(gateway.fake.count('chat'), before);
    const empty = await upload('\n\n');
    assert.equal(empty.status, 422);
  });

  test('a key without ai:batch may not send one', async () => {
    const form = new FormData();
    form.append('file', new File([line('a', 'x')], 'batch.jsonl'));
    const res = await fetch(`${gateway.base}/v1/ai/batches`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gateway.key}` },
      body: form,
    });
    assert.equal(res.status, 403);
  });
});

describe('running batches', () => {
  let worker: JobWorker;
  before(async () => {
    worker = await gateway.deps.jobs.startWorker([runBatch], gateway.deps);
  });
  after(() => worker?.close(5_000));

  test('1,000 lines through 429s and 5xx: every result matched by custom_id, usage the sum of the lines', async () => {
    const total = 1_000;
    const blocked = new Set(['line-17', 'line-500', 'line-999']);
    const tooLong = 'line-321';
    const lines = Array.from({ length: total }, (_, index) => {
      const id = `line-${index}`;
      if (blocked.has(id)) return line(id, `tell me about the ${GUARDED} of ${id}`);
      if (id === tooLong) return line(id, 'word '.repeat(2_500));
      return line(id, `Say the marker ${id} back`);
    });
    gateway.fake.script(
      'chat',
      ...Array.from({ length: 25 }, () => ({
        kind: 'error' as const,
        status: 429,
        retryAfterMs: 20,
      })),
      ...Array.from({ length: 15 }, () => ({ kind: 'error' as const, status: 503 })),
      ...Array.from({ length: 10 }, () => ({
        kind: 'error' as const,
        status: 429,
        retryAfterMs: 20,
      })),
    );
    const callsBefore = gateway.fake.count('chat');
    const res = await upload(`${lines.join('\n')}\n`);
    assert.equal(res.status, 202, await res.clone().text());
    const created = (await res.json()) as BatchBody;
    assert.equal(res.headers.get('location'), `/v1/ai/batches/${created.id}`);
    assert.equal(created.requestCounts.total, total);

    const batch = await finished(created.id);
    assert.equal(batch.status, 'completed');
    // Its progress, as the job reported it, on the job's event stream, rising to 100.
    const stream = await fetch(`${gateway.base}/v1/jobs/${created.jobId}/events`, {
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(stream.status, 200);
    const events = [...(await stream.text()).matchAll(/^event: (\w+)\ndata: (.*)$/gm)];
    assert.equal(events.at(-1)?.[1], 'completed');
    const progress = events
      .filter(([, type]) => type === 'progress')
      .map(([, , data]) => (JSON.parse(data ?? '{}') as { progress: number }).progress);
    assert.ok(progress.length >= 2, `progress events: ${progress.join(', ')}`);
    assert.deepEqual(
      progress,
      [...progress].sort((a, b) => a - b),
    );
    assert.equal(progress.at(-1), 100);
    if (batch.requestCounts.failed !== blocked.size + 1) {
      const errors = await download(created.id, 'errors');
      assert.fail(JSON.stringify(errors.slice(0, 5)));
    }
    assert.equal(batch.requestCounts.completed, total - blocked.size - 1);
    assert.equal(batch.requestCounts.failed, blocked.size + 1);

    const results = await download(created.id, 'results');
    const errors = await download(created.id, 'errors');
    assert.equal(results.length + errors.length, total, 'one line per input line, between them');
    for (const result of results) {
      assert.equal(result.response?.status_code, 200);
      assert.equal(result.error, null);
      const content = result.response?.body.choices?.[0]?.message.content ?? '';
      assert.ok(
        content.includes(`marker ${result.custom_id} back`),
        `${result.custom_id} answered with its own prompt's echo: ${content}`,
      );
    }
    const seen = new Set([...results, ...errors].map((entry) => entry.custom_id));
    assert.equal(seen.size, total, 'every custom_id once');
    const failedIds = errors.map((entry) => entry.custom_id).sort();
    assert.deepEqual(failedIds, [...blocked, tooLong].sort());
    for (const entry of errors) {
      assert.equal(entry.response?.status_code, 400);
      const code = entry.response?.body.error?.code;
      assert.equal(
        code,
        entry.custom_id === tooLong ? 'context_length_exceeded' : 'content_filter',
      );
    }
    // In input order, as the files promise.
    const order = results.map((entry) => Number(entry.custom_id.slice(5)));
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
    );

    // The scripted failures were retried: more calls than lines, every line answered.
    assert.ok(gateway.fake.count('chat') - callsBefore >= total - blocked.size - 1 + 50);

    const fromResults = results.reduce(
      (sum, entry) => ({
        input: sum.input + (entry.response?.body.usage?.prompt_tokens ?? 0),
        output: sum.output + (entry.response?.body.usage?.completion_tokens ?? 0),
      }),
      { input: 0, output: 0 },
    );
    assert.equal(batch.usage.inputTokens, fromResults.input, 'input tokens: the sum of the lines');
    assert.equal(
      batch.usage.outputTokens,
      fromResults.output,
      'output tokens: the sum of the lines',
    );
    const recorded = await recordedUsage();
    assert.equal(recorded?.cost, batch.usage.cost, 'the cost recorded call by call is the batch’s');
    assert.equal(recorded?.input, batch.usage.inputTokens);
    assert.ok(Number(batch.usage.cost) > 0);
  });

  test('cancelled mid-way: lines done are kept and billed, the rest reported as cancelled', async () => {
    const total = 300;
    gateway.fake.script(
      'chat',
      ...Array.from({ length: total }, () => ({ kind: 'default' as const, delayMs: 40 })),
    );
    const usageBefore = await recordedUsage();
    const res = await upload(
      Array.from({ length: total }, (_, index) => line(`c-${index}`, `cancel me ${index}`)).join(
        '\n',
      ),
    );
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as BatchBody;
    await waitFor('some lines to be done', async () => {
      const batch = await getBatch(id);
      return batch.requestCounts.completed >= 40 ? batch : undefined;
    });
    const cancel = await fetch(`${gateway.base}/v1/ai/batches/${id}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(cancel.status, 200);
    assert.ok(['cancelling', 'cancelled'].includes(((await cancel.json()) as BatchBody).status));
    const batch = await finished(id);
    assert.equal(batch.status, 'cancelled');
    assert.ok(batch.requestCounts.completed >= 40 && batch.requestCounts.completed < total);
    const results = await download(id, 'results');
    const errors = await download(id, 'errors');
    assert.equal(results.length, batch.requestCounts.completed);
    assert.equal(results.length + errors.length, total);
    assert.ok(errors.every((entry) => entry.error?.code === 'batch_cancelled'));
    const usageAfter = await recordedUsage();
    const billed = (Number(usageAfter?.cost) - Number(usageBefore?.cost)).toFixed(12);
    assert.equal(billed, Number(batch.usage.cost).toFixed(12), 'the lines done are billed');
    // Cancelling again changes nothing.
    const again = await fetch(`${gateway.base}/v1/ai/batches/${id}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(((await again.json()) as BatchBody).status, 'cancelled');
  });

  test('files are 409 until the batch has ended, and another user’s batch is 404', async () => {
    gateway.fake.script('chat', { kind: 'default', delayMs: 500 });
    const res = await upload(line('slow', 'slow'));
    const { id } = (await res.json()) as BatchBody;
    const early = await fetch(`${gateway.base}/v1/ai/batches/${id}/results`, {
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(early.status, 409);
    await finished(id);
    const stranger = await fetch(`${gateway.base}/v1/ai/batches/${id}`, {
      headers: { authorization: `Bearer ${gateway.key}` },
    });
    assert.equal(stranger.status, 403, 'the ai:chat key lacks ai:batch');
  });
});

describe('a worker killed with -9 mid-batch', () => {
  test('its successor finishes the batch, and no line is sent upstream twice', async () => {
    const total = 400;
    const env = {
      ...depsEnv(gateway.deps),
      AI_UPSTREAM_URL: gateway.fake.baseUrl,
      AI_UPSTREAM_API_KEY: PROVIDER_KEY,
      AI_MODELS: JSON.stringify(TEST_MODELS),
      AI_CACHE_TTL_SECONDS: '0',
      AI_BATCH_CONCURRENCY: '8',
      // Short, so the successor takes over soon; not so short that a loaded machine lets a
      // live worker's lock lapse (its try would then be taken over too, and its lines in flight
      // reported interrupted: 16 of them, seen at 5 s with the machine's two cores busy).
      JOB_LOCK_MS: '10000',
      WORKER_JOBS: 'ai.run-batch',
      LOG_LEVEL: 'warn',
    };
    gateway.fake.script(
      'chat',
      ...Array.from({ length: total }, () => ({ kind: 'default' as const, delayMs: 30 })),
    );
    const before = gateway.fake.requests.length;
    const res = await upload(
      Array.from({ length: total }, (_, index) =>
        line(`k-${index}`, `kill marker k-${index}`),
      ).join('\n'),
    );
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as BatchBody;

    const first = spawnService('src/worker.ts', env);
    await waitFor('the first worker to be mid-batch', () =>
      gateway.fake.requests.length - before >= 100 ? true : undefined,
    );
    first.child.kill('SIGKILL');
    await first.exited;
    const second = spawnService('src/worker.ts', env);
    const batch = await finished(id, 120_000);
    await stopService(second);

    assert.equal(batch.status, 'completed');
    const calls = new Map<string, number>();
    for (const request of gateway.fake.requests.slice(before)) {
      const messages = bodyOf(request).messages as { content: string }[];
      const marker = /k-\d+/.exec(messages.at(-1)?.content ?? '')?.[0];
      if (marker) calls.set(marker, (calls.get(marker) ?? 0) + 1);
    }
    const twice = [...calls].filter(([, count]) => count > 1).map(([marker]) => marker);
    assert.deepEqual(twice, [], 'no line ran twice');
    const results = await download(id, 'results');
    const errors = await download(id, 'errors');
    assert.equal(results.length + errors.length, total);
    // Lines caught mid-request when the worker died are reported, not sent again.
    assert.ok(errors.every((entry) => entry.error?.code === 'line_interrupted'));
    assert.ok(errors.length <= 8, `at most the lines in flight: ${errors.length}`);
    assert.ok(results.length >= total - 8);
    for (const result of results) assert.equal(calls.get(result.custom_id), 1);
  });
});
