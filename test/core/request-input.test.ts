/**
 * `checkRequestInput` on a real Node server: bodies over their limit are 413 whether their
 * length is declared or they come chunked, and a body within its limit reaches the route
 * whole, read the way @hono/node-server reads an untouched request.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Hono } from 'hono';
import pino from 'pino';
import type { AppEnv } from '../../src/core/app-env.ts';
import { createErrorHandler } from '../../src/core/error-handler.ts';
import { listen, type RunningServer } from '../../src/core/http-server.ts';
import { checkRequestInput } from '../../src/core/request-input.ts';

const LIMIT = 1_000;
const UPLOAD_LIMIT = 3_000;
let server: RunningServer;

before(async () => {
  const app = new Hono<AppEnv>();
  app.onError(createErrorHandler(pino({ level: 'silent' })));
  app.use(checkRequestInput({ bytes: LIMIT, uploadBytes: UPLOAD_LIMIT }));
  app.post('/json', async (c) => c.json({ received: await c.req.json() }));
  app.post('/text', async (c) => c.json({ length: (await c.req.text()).length }));
  server = await listen({ host: '127.0.0.1', port: 0, fetch: app.fetch });
});
after(() => server.drain(1_000));

const url = (path: string) => `http://127.0.0.1:${server.port}${path}`;

/** Sends the head and as much of the body as given, then reads the answer's status line. */
function statusOf(head: string, partialBody: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1');
    let seen = '';
    socket.on('data', (chunk) => {
      seen += chunk.toString('latin1');
      const line = /^HTTP\/1\.1 (\d{3})/.exec(seen);
      if (line) {
        resolve(Number(line[1]));
        socket.destroy();
      }
    });
    socket.on('error', reject);
    socket.write(`${head}\r\n\r\n${partialBody}`);
  });
}

describe('checkRequestInput over a real socket', () => {
  test('a declared length over the limit is 413 before a byte of the body is read', async () => {
    // The body never comes: the answer can only be made from the declared length.
    const status = await statusOf(
      `POST /json HTTP/1.1\r\nhost: a\r\ncontent-type: application/json\r\ncontent-length: ${LIMIT + 1}`,
      '',
    );
    assert.equal(status, 413);
  });

  test('a chunked body over the limit is 413', async () => {
    const chunk = 'x'.repeat(600);
    const res = await fetch(url('/text'), {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(chunk));
          controller.enqueue(new TextEncoder().encode(chunk));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 413);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
  });

  test('multipart gets the upload limit, by its declared length', async () => {
    const head = (length: number) =>
      `POST /text HTTP/1.1\r\nhost: a\r\ncontent-type: multipart/form-data; boundary=b\r\ncontent-length: ${length}`;
    assert.equal(await statusOf(head(UPLOAD_LIMIT + 1), ''), 413);
    const within = await fetch(url('/text'), {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=b' },
      body: 'y'.repeat(LIMIT + 500),
    });
    assert.equal(within.status, 200);
    assert.deepEqual(await within.json(), { length: LIMIT + 500 });
  });

  test('a body within the limit reaches the route whole, multi-byte text intact', async () => {
    const sent = { name: 'Zoë 🍵 ´', tags: ['a'.repeat(500)] };
    const res = await fetch(url('/json'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(sent),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { received: sent });
  });

  test('exactly at the limit is accepted; one byte more is not', async () => {
    const body = (size: number) => JSON.stringify({ pad: 'p'.repeat(size - 10) });
    assert.equal(body(LIMIT).length, LIMIT);
    const at = await fetch(url('/json'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body(LIMIT),
    });
    assert.equal(at.status, 200);
    const over = await fetch(url('/json'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body(LIMIT + 1),
    });
    assert.equal(over.status, 413);
  });
});
