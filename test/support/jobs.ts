/**
 * Helpers for job tests: waiting for a condition, reading a job's event log to its end,
 * polling a job over HTTP until it has finished, and reading a `text/event-stream` body
 * message by message.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { FINAL_EVENTS, type JobEvent, type JobEventLog } from '../../src/core/jobs/job-events.ts';

/**
 * Polls `check` until it returns something other than `undefined` or `false`, and returns
 * that; fails with `what` after `timeoutMs`. Only a bound on a wait, never a timing claim.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(options.intervalMs ?? 50);
  }
}

/** Every event of a job, from the first, until (and including) its final one. */
export async function eventsUntilFinal(
  log: JobEventLog,
  jobId: string,
  timeoutMs = 60_000,
): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  const signal = AbortSignal.timeout(timeoutMs);
  for (;;) {
    const batch = await log.wait(jobId, events.at(-1)?.id, 1_000, signal);
    for (const event of batch) {
      events.push(event);
      if (FINAL_EVENTS.has(event.type)) return events;
    }
    if (Date.now() > deadline) {
      assert.fail(`job ${jobId} had no final event; so far: ${JSON.stringify(events)}`);
    }
  }
}

/**
 * Polls `GET /v1/jobs/{jobId}` through `get` (a path in, a `Response` out: `app.request`, or
 * `fetch` to a running API) until the job has finished, and returns its JSON. Every answer
 * must be 200; fails after `timeoutMs`.
 */
export async function followJobOverHttp<T extends { state: string }>(
  get: (path: string) => Promise<Response> | Response,
  jobId: string,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    const res = await get(`/v1/jobs/${jobId}`);
    assert.equal(res.status, 200);
    const job = (await res.json()) as T;
    if (['completed', 'failed', 'cancelled'].includes(job.state)) return job;
    if (Date.now() > deadline) assert.fail(`job ${jobId} still ${job.state}`);
    await sleep(options.intervalMs ?? 100);
  }
}

/** Orders event ids of either log: `12` (in-process) or `1764000000000-3` (Redis streams). */
export function compareEventIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs - bMs || aSeq - bSeq;
}

export function assertIncreasingIds(events: readonly { id?: string | undefined }[]): void {
  for (let index = 1; index < events.length; index++) {
    const previous = events[index - 1]?.id ?? '';
    const current = events[index]?.id ?? '';
    assert.ok(
      compareEventIds(previous, current) < 0,
      `event ids increase: ${previous} then ${current}`,
    );
  }
}

/** One message of an event stream: an event, or a comment line (heartbeat). */
export type SseMessage =
  | { kind: 'event'; id: string | undefined; event: string; data: string }
  | { kind: 'comment'; text: string };

/** Parses an event stream as it arrives, one message at a time. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffered = '';
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      for (;;) {
        const end = buffered.indexOf('\n\n');
        if (end < 0) break;
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        yield parseBlock(block);
      }
    }
    assert.equal(buffered.trim(), '', 'the stream ends on a whole message');
  } finally {
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

function parseBlock(block: string): SseMessage {
  const lines = block.split('\n');
  if (lines.every((line) => line.startsWith(':'))) {
    return { kind: 'comment', text: lines.map((line) => line.slice(1).trim()).join('\n') };
  }
  let id: string | undefined;
  let event = 'message';
  const data: string[] = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return { kind: 'event', id, event, data: data.join('\n') };
}

/** The iterator's next value, failing after `timeoutMs` rather than hanging the test. */
export async function nextWithin<T>(
  iterator: AsyncIterator<T>,
  what: string,
  timeoutMs = 30_000,
): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([iterator.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
