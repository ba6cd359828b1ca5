/**
 * Server-sent events written to Node's response: each event reaches the client as it is
 * produced, after the answer's early headers, ending with the last event; those produced in
 * one turn in one write, the end with them, before what the producer left for later; a client that
 * leaves ends the producer; a reader that stops reading holds the producer back; a producer
 * that fails cuts the connection and is logged; without Node, the same bytes.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Hono } from 'hono';
import type { AppEnv } from '../../src/core/app-env.ts';
import { eventStreamAnswer } from '../../src/core/event-stream.ts';
import { listen, type RunningServer } from '../../src/core/http-server.ts';
import { nodeBindingsOf, setAnswerHeader } from '../../src/core/node-response.ts';
import { type CapturedLogs, captureLogs } from '../support/deps.ts';

/** Resolves when `condition` holds, checked every few milliseconds, or fails after 5 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 5_000) assert.fail(`still waiting for ${what}`);
    await sleep(5);
  }
}

let logs: CapturedLogs;
let server: RunningServer;
let base: string;
/** What the producers did, for the tests to read. */
const seen: {
  release: (() => void) | undefined;
  endedEarly: boolean;
  produced: number;
  /** Whether the answer had been written when the producer's next turn came. */
  answeredFirst: boolean | undefined;
} = {
  release: undefined,
  endedEarly: false,
  produced: 0,
  answeredFirst: undefined,
};

/** Lets the paced producer make its second event. */
function releaseProducer(): void {
  assert.ok(seen.release, 'the producer is waiting');
  seen.release();
}

function app() {
  const routes = new Hono<AppEnv>();
  routes.use(async (c, next) => {
    c.set('logger', logs.logger);
    setAnswerHeader(c, 'x-early', 'set before the handler');
    await next();
  });
  routes.get('/paced', (c) =>
    eventStreamAnswer(
      c,
      (async function* () {
        yield 'first';
        await new Promise<void>((resolve) => {
          seen.release = resolve;
        });
        yield 'second';
      })(),
      { done: '[DONE]', headers: { 'cache-control': 'no-cache' } },
    ),
  );
  routes.get('/endless', (c) =>
    eventStreamAnswer(
      c,
      (async function* () {
        try {
          for (;;) {
            seen.produced += 1;
            yield 'x'.repeat(Number(c.req.query('size') ?? 10));
            await sleep(0);
          }
        } finally {
          seen.endedEarly = true;
        }
      })(),
    ),
  );
  routes.get('/burst', (c) =>
    eventStreamAnswer(
      c,
      (async function* () {
        yield 'a';
        yield 'b';
        yield 'c';
        await sleep(20);
        yield 'd';
      })(),
      { done: '[DONE]' },
    ),
  );
  // As the AI gateway's relay ends: its last events, then, as it finishes, bookkeeping left
  // for the next turn (the call's record and log line).
  routes.get('/bookkept', (c) =>
    eventStreamAnswer(
      c,
      (async function* () {
        try {
          yield 'a';
          yield 'b';
        } finally {
          setImmediate(() => {
            seen.answeredFirst = nodeBindingsOf(c)?.outgoing?.writableEnded;
          });
        }
      })(),
      { done: '[DONE]' },
    ),
  );
  routes.get('/failing', (c) =>
    eventStreamAnswer(
      c,
      (async function* () {
        yield 'before the failure';
        await sleep(10);
        throw new Error('the producer broke');
      })(),
    ),
  );
  return routes;
}

before(async () => {
  logs = await captureLogs();
  server = await listen({ host: '127.0.0.1', port: 0, fetch: app().fetch });
  base = `http://127.0.0.1:${server.port}`;
});
after(() => server?.drain(1_000));

test('each event arrives as it is produced, after the early headers, then the last event', async () => {
  seen.release = undefined;
  const res = await fetch(`${base}/paced`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  assert.equal(res.headers.get('x-early'), 'set before the handler');
  const reader = res.body?.pipeThrough(new TextDecoderStream()).getReader();
  assert.ok(reader);
  let text = '';
  while (!text.includes('\n\n')) text += (await reader.read()).value ?? '';
  assert.equal(text, 'data: first\n\n', 'the first event came before the second was made');
  await until(() => seen.release !== undefined, 'the producer to wait');
  releaseProducer();
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    text += chunk.value;
  }
  assert.equal(text, 'data: first\n\ndata: second\n\ndata: [DONE]\n\n');
});

test('events produced in one turn leave in one chunk of the answer; a later one in its own, with the end', async () => {
  // Flowing, the client's response hands over each chunk of the chunked answer as its own.
  const chunks = await new Promise<string[]>((resolve, reject) => {
    const received: string[] = [];
    const req = request(`${base}/burst`, (response) => {
      response.on('data', (chunk) => received.push(String(chunk)));
      response.on('end', () => resolve(received));
    });
    req.on('error', reject);
    req.end();
  });
  // The end, with the last event, leaves at the turn's end (decision 074), in the same write
  // as that turn's events (decision 080).
  assert.deepEqual(chunks, ['data: a\n\ndata: b\n\ndata: c\n\n', 'data: d\n\ndata: [DONE]\n\n']);
});

test('the answer ends before what its producer left for the next turn as it ended', async () => {
  seen.answeredFirst = undefined;
  const res = await fetch(`${base}/bookkept`);
  assert.equal(await res.text(), 'data: a\n\ndata: b\n\ndata: [DONE]\n\n');
  await until(() => seen.answeredFirst !== undefined, 'the producer’s next turn');
  assert.equal(seen.answeredFirst, true, 'written and ended before the bookkeeping ran');
});

test('a client that leaves ends the producer', async () => {
  seen.endedEarly = false;
  const controller = new AbortController();
  const res = await fetch(`${base}/endless`, { signal: controller.signal });
  const reader = res.body?.getReader();
  await reader?.read();
  controller.abort();
  await until(() => seen.endedEarly, 'the producer to be ended');
});

test('a client that stops reading holds the producer back', async () => {
  seen.produced = 0;
  seen.endedEarly = false;
  const size = 64 * 1024;
  const req = request(`${base}/endless?size=${size}`);
  const response = await new Promise<import('node:http').IncomingMessage>((resolve) => {
    req.on('response', resolve);
    req.end();
  });
  response.pause();
  // Filling the socket's buffers takes some events; after that the producer must wait.
  let before = -1;
  for (let round = 0; round < 15 && seen.produced !== before; round += 1) {
    before = seen.produced;
    await sleep(200);
  }
  assert.equal(seen.produced, before, 'the producer stopped');
  assert.ok(
    seen.produced < 1_000,
    `${seen.produced} events of 64 KiB were made for a client reading none`,
  );
  req.destroy();
  await until(() => seen.endedEarly, 'the producer to be ended');
});

test('a producer that fails cuts the connection, and the failure is logged', async () => {
  const res = await fetch(`${base}/failing`);
  await assert.rejects(res.text(), 'the client sees the stream broken, not a clean end');
  await until(() => logs.text().includes('the producer broke'), 'the failure to be logged');
  const [line] = logs.records().filter((record) => record.msg === 'an event stream failed');
  assert.equal(line?.level, 50);
});

test('without Node, the same events as a web stream', async () => {
  const res = await app().request('/failing');
  const reader = res.body?.pipeThrough(new TextDecoderStream()).getReader();
  assert.equal((await reader?.read())?.value, 'data: before the failure\n\n');
  await assert.rejects(reader?.read() ?? Promise.resolve(), /the producer broke/);

  seen.release = undefined;
  const paced = await app().request('/paced');
  assert.equal(paced.headers.get('x-early'), 'set before the handler');
  const text = paced.text();
  await until(() => seen.release !== undefined, 'the producer to wait');
  releaseProducer();
  assert.equal(await text, 'data: first\n\ndata: second\n\ndata: [DONE]\n\n');
});
