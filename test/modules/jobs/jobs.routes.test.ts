/**
 * The job routes over HTTP: status with ownership, the live event stream (history, resume
 * with Last-Event-ID, heartbeats, end of stream) and cancellation. Jobs run on BullMQ in this
 * process, with job definitions of the test's own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { createApp } from '../../../src/app.ts';
import { bullmqJobQueue } from '../../../src/core/jobs/bullmq-queue.ts';
import { defineJob } from '../../../src/core/jobs/define-job.ts';
import { memoryJobEventLog } from '../../../src/core/jobs/job-events.ts';
import type { JobQueue, JobWorker } from '../../../src/core/jobs/job-queue.ts';
import { createTestUser, type TestUser } from '../../support/auth.ts';
import { createTestDeps, TEST_REDIS_URL, type TestDeps } from '../../support/deps.ts';
import {
  assertIncreasingIds,
  eventsUntilFinal,
  nextWithin,
  readSse,
  type SseMessage,
  waitFor,
} from '../../support/jobs.ts';

const HEARTBEAT_MS = 200;

/** Released (by job id) by the test; the jobs wait on these. */
const gates = new Map<string, () => void>();
function gate(jobId: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    gates.set(jobId, resolve);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** Reports 25, waits for the test, then 50 and 75, and completes. */
const stepped = defineJob({
  name: 'test.stepped',
  input: z.object({ label: z.string() }),
  attempts: 1,
  async run({ label }, { jobId, progress, signal }) {
    await progress(25);
    await gate(jobId, signal);
    await progress(50);
    await progress(75);
    return { label };
  },
});

const quick = defineJob({
  name: 'test.quick',
  input: z.object({}),
  attempts: 1,
  async run() {
    return { ok: true };
  },
});

/** Waits for the test. */
const held = defineJob({
  name: 'test.held',
  input: z.object({}),
  attempts: 1,
  async run(_input, { jobId, signal }) {
    await gate(jobId, signal);
    return { released: true };
  },
});

const DEFINITIONS = [stepped, quick, held];

let deps: TestDeps;
let queue: JobQueue;
let worker: JobWorker;
let app: ReturnType<typeof createApp>;
let raw: Redis;
let ada: TestUser;
let bob: TestUser;
let admin: TestUser;

before(async () => {
  deps = await createTestDeps({ env: { SSE_HEARTBEAT_MS: String(HEARTBEAT_MS) } });
  const redis = deps.redis;
  assert.ok(redis);
  queue = bullmqJobQueue({
    url: TEST_REDIS_URL,
    prefix: `${deps.redisPrefix}bull`,
    definitions: DEFINITIONS,
    eventPollMs: 50,
    redis,
    logger: deps.logger,
    lockMs: 5_000,
  });
  const testDeps = { ...deps, jobs: queue };
  worker = await queue.startWorker(DEFINITIONS, testDeps);
  app = createApp(testDeps);
  raw = new Redis(TEST_REDIS_URL);
  ada = await createTestUser(deps);
  bob = await createTestUser(deps);
  admin = await createTestUser(deps, { role: 'admin' });
});
after(async () => {
  for (const release of gates.values()) release();
  await worker.close(5_000);
  await queue.close();
  raw.disconnect();
  await deps.close();
});

interface JobJson {
  id: string;
  name: string;
  state: string;
  progress: number;
  attempts: number;
  maxAttempts: number;
  result: unknown;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

function request(
  method: string,
  path: string,
  who: TestUser,
  headers: Record<string, string> = {},
) {
  return app.request(path, { method, headers: { ...who.headers, ...headers } });
}

/** Opens the job's event stream and returns its messages as they arrive. */
async function openStream(who: TestUser, jobId: string, lastEventId?: string) {
  const res = await request(
    'GET',
    `/v1/jobs/${jobId}/events`,
    who,
    lastEventId ? { 'last-event-id': lastEventId } : {},
  );
  // Never read the body for the message: a clone's text waits for the stream to end.
  if (res.status !== 200) assert.fail(`${res.status}: ${await res.text()}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  assert.ok(res.body);
  return readSse(res.body);
}

type SseEvent = Extract<SseMessage, { kind: 'event' }>;

/** The next event, skipping heartbeats; undefined when the stream has ended. */
async function nextEvent(messages: AsyncIterator<SseMessage>): Promise<SseEvent | undefined> {
  for (;;) {
    const { done, value } = await nextWithin(messages, 'the next event');
    if (done) return undefined;
    if (value.kind === 'event') return value;
  }
}

/** Every remaining event, until the stream ends. */
async function restOf(messages: AsyncIterator<SseMessage>): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for (;;) {
    const event = await nextEvent(messages);
    if (!event) return events;
    events.push(event);
  }
}

describe('GET /v1/jobs/{id}', () => {
  let jobId: string;

  before(async () => {
    ({ id: jobId } = await queue.enqueue(quick, {}, { ownerId: ada.user.id }));
    await eventsUntilFinal(queue.events, jobId);
  });

  test('the owner sees the job, without its owner id', async () => {
    const res = await request('GET', `/v1/jobs/${jobId}`, ada);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const job = (await res.json()) as JobJson & Record<string, unknown>;
    assert.equal(job.id, jobId);
    assert.equal(job.name, 'test.quick');
    assert.equal(job.state, 'completed');
    assert.equal(job.progress, 100);
    assert.equal(job.attempts, 1);
    assert.equal(job.maxAttempts, 1);
    assert.deepEqual(job.result, { ok: true });
    assert.equal(job.error, null);
    assert.ok(!Number.isNaN(Date.parse(job.createdAt)));
    assert.ok(job.finishedAt && !Number.isNaN(Date.parse(job.finishedAt)));
    assert.equal(job.ownerId, undefined, 'the owner id never leaves');
  });

  test('another user gets 404, as for a job that does not exist', async () => {
    const res = await request('GET', `/v1/jobs/${jobId}`, bob);
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const missing = await request('GET', '/v1/jobs/0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e', ada);
    assert.equal(missing.status, 404);
    assert.deepEqual(
      { ...((await res.json()) as object), requestId: undefined },
      { ...((await missing.json()) as object), requestId: undefined },
      'the same answer: nothing tells that the job exists',
    );
  });

  test('an administrator sees anyone’s job', async () => {
    const res = await request('GET', `/v1/jobs/${jobId}`, admin);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as JobJson).id, jobId);
  });

  test('without credentials: 401', async () => {
    const res = await app.request(`/v1/jobs/${jobId}`);
    assert.equal(res.status, 401);
  });
});

describe('GET /v1/jobs/{id}/events', () => {
  let jobId: string;
  let streamed: SseEvent[];

  test('streams queued, active, progress and completed live, with ids, then ends', async () => {
    ({ id: jobId } = await queue.enqueue(stepped, { label: 'live' }, { ownerId: ada.user.id }));
    const messages = await openStream(ada, jobId);
    const first: SseEvent[] = [];
    // Up to the first progress the job reports; then it waits for the test.
    while (first.at(-1)?.event !== 'progress') {
      const event = await nextEvent(messages);
      assert.ok(event, `the stream ended early after ${JSON.stringify(first)}`);
      first.push(event);
    }
    assert.deepEqual(
      first.map((event) => event.event),
      ['queued', 'active', 'progress'],
    );
    assert.equal((await queue.get(jobId))?.state, 'active', 'events arrive while the job runs');
    gates.get(jobId)?.();
    streamed = [...first, ...(await restOf(messages))];
    assert.deepEqual(
      streamed.map((event) => event.event),
      ['queued', 'active', 'progress', 'progress', 'progress', 'completed'],
    );
    for (const event of streamed) assert.match(event.id ?? '', /^\d+-\d+$/, 'a stream id');
    assertIncreasingIds(streamed);
    assert.deepEqual(
      streamed.filter((event) => event.event === 'progress').map((event) => JSON.parse(event.data)),
      [{ progress: 25 }, { progress: 50 }, { progress: 75 }],
    );
    assert.deepEqual(JSON.parse(streamed.at(-1)?.data ?? ''), { result: { label: 'live' } });
    assert.deepEqual(JSON.parse(streamed[1]?.data ?? ''), { attempt: 1 });
  });

  test('reconnecting with Last-Event-ID replays only the later events', async () => {
    assert.ok(streamed, 'the streaming test ran');
    const middle = streamed[3];
    assert.ok(middle?.id);
    const replayed = await restOf(await openStream(ada, jobId, middle.id));
    assert.deepEqual(
      replayed.map((event) => [event.id, event.event, event.data]),
      streamed.slice(4).map((event) => [event.id, event.event, event.data]),
    );
  });

  test('a finished job whose history expired still ends its stream with its outcome', async () => {
    const { id } = await queue.enqueue(quick, {}, { ownerId: ada.user.id });
    // Followed through its state: this process has read none of its events.
    await waitFor('the job to complete', async () => (await queue.get(id))?.state === 'completed');
    // BullMQ trims its queue's events stream to its length: here, all of it.
    await raw.xtrim(`${deps.redisPrefix}bull:test.quick:events`, 'MAXLEN', 0);
    const events = await restOf(await openStream(ada, id));
    assert.deepEqual(
      events.map((event) => event.event),
      ['completed'],
    );
    // The same shape as the recorded event it stands for.
    assert.deepEqual(JSON.parse(events[0]?.data ?? ''), { result: { ok: true } });
  });

  test('a job seen finished before its final event is recorded: the real event still comes', async () => {
    // BullMQ marks a job completed, then the worker records `completed`: a stream that goes
    // idle in between must wait for the event rather than make one up.
    const events = memoryJobEventLog();
    const jobId = '0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e';
    const finished = {
      id: jobId,
      name: 'test.quick',
      state: 'completed' as const,
      progress: 100,
      attempts: 1,
      maxAttempts: 1,
      result: { ok: true },
      error: null,
      ownerId: ada.user.id,
      createdAt: new Date(),
      startedAt: new Date(),
      finishedAt: new Date(),
    };
    const racing = createApp({
      ...deps,
      jobs: { ...queue, events, get: async (id) => (id === jobId ? finished : undefined) },
    });
    await events.append(jobId, 'queued');
    await events.append(jobId, 'active', { attempt: 1 });
    const res = await racing.request(`/v1/jobs/${jobId}/events`, { headers: ada.headers });
    assert.equal(res.status, 200);
    assert.ok(res.body);
    const messages = readSse(res.body);
    assert.equal((await nextEvent(messages))?.event, 'queued');
    assert.equal((await nextEvent(messages))?.event, 'active');
    const idle = await nextWithin(messages, 'a heartbeat');
    assert.deepEqual(idle.value, { kind: 'comment', text: 'heartbeat' });
    await events.append(jobId, 'completed', { result: { ok: true } });
    const rest = await restOf(messages);
    assert.deepEqual(
      rest.map((event) => [event.id, event.event, JSON.parse(event.data)]),
      [['3', 'completed', { result: { ok: true } }]],
    );
  });

  test('another user gets 404; an administrator may follow the job', async () => {
    assert.ok(streamed, 'the streaming test ran');
    const res = await request('GET', `/v1/jobs/${jobId}/events`, bob);
    assert.equal(res.status, 404);
    const events = await restOf(await openStream(admin, jobId));
    assert.equal(events.at(-1)?.event, 'completed');
  });

  test('an idle stream carries heartbeats; DELETE of the queued job ends it with cancelled', async () => {
    const { id } = await queue.enqueue(quick, {}, { ownerId: ada.user.id, delayMs: 120_000 });
    const messages = await openStream(ada, id);
    const queued = await nextEvent(messages);
    assert.equal(queued?.event, 'queued');
    let heartbeats = 0;
    while (heartbeats < 2) {
      const { done, value } = await nextWithin(messages, 'a heartbeat');
      assert.ok(!done, 'the stream stays open while the job waits');
      assert.deepEqual(value, { kind: 'comment', text: 'heartbeat' });
      heartbeats += 1;
    }
    const res = await request('DELETE', `/v1/jobs/${id}`, ada);
    assert.equal(res.status, 204);
    const rest = await restOf(messages);
    assert.deepEqual(
      rest.map((event) => event.event),
      ['cancelled'],
    );
    assertIncreasingIds([queued, ...rest]);
    const status = await request('GET', `/v1/jobs/${id}`, ada);
    assert.equal(status.status, 200);
    const job = (await status.json()) as JobJson;
    assert.equal(job.state, 'cancelled');
    assert.ok(job.finishedAt);
  });
});

describe('DELETE /v1/jobs/{id}', () => {
  test('a queued job: 204, and another user’s DELETE is 404 and cancels nothing', async () => {
    const { id } = await queue.enqueue(quick, {}, { ownerId: ada.user.id, delayMs: 120_000 });
    const other = await request('DELETE', `/v1/jobs/${id}`, bob);
    assert.equal(other.status, 404);
    assert.equal((await queue.get(id))?.state, 'queued');
    const res = await request('DELETE', `/v1/jobs/${id}`, ada);
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '');
    assert.equal((await queue.get(id))?.state, 'cancelled');
    const again = await request('DELETE', `/v1/jobs/${id}`, ada);
    assert.equal(again.status, 409, 'a cancelled job is finished');
  });

  test('a finished job: 409', async () => {
    const { id } = await queue.enqueue(quick, {}, { ownerId: ada.user.id });
    await eventsUntilFinal(queue.events, id);
    const res = await request('DELETE', `/v1/jobs/${id}`, ada);
    assert.equal(res.status, 409);
    assert.match(((await res.json()) as { detail: string }).detail, /already finished/);
    assert.equal((await queue.get(id))?.state, 'completed');
  });

  test('a running job: 409, and it runs on', async () => {
    const { id } = await queue.enqueue(held, {}, { ownerId: ada.user.id });
    await waitFor('the job to start', () => gates.has(id));
    const res = await request('DELETE', `/v1/jobs/${id}`, ada);
    assert.equal(res.status, 409);
    assert.match(((await res.json()) as { detail: string }).detail, /already started/);
    gates.get(id)?.();
    const events = await eventsUntilFinal(queue.events, id);
    assert.equal(events.at(-1)?.type, 'completed');
  });

  test('an unknown job: 404', async () => {
    const res = await request('DELETE', '/v1/jobs/0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e', ada);
    assert.equal(res.status, 404);
  });
});
