/**
 * The server hands the app Node's bindings: the client's address and the moment the answer
 * is sent are read from them. Dropped, every client shared one rate-limit bucket ('unknown')
 * and deferred tasks ran before the answer was written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Hono } from 'hono';
import { clientAddress } from '../../src/core/client-address.ts';
import { listen, type RunningServer } from '../../src/core/http-server.ts';

interface Bindings {
  outgoing?: { writableFinished: boolean };
}

let server: RunningServer;

before(async () => {
  const app = new Hono<{ Bindings: Bindings }>()
    .get('/address', (c) => c.text(clientAddress(c, 0)))
    .get('/bindings', (c) => c.json({ outgoing: c.env.outgoing !== undefined }));
  server = await listen({ host: '127.0.0.1', port: 0, fetch: app.fetch });
});
after(() => server.drain(1_000));

describe('the HTTP server', () => {
  test("the app sees the client's address from the socket", async () => {
    const answer = await fetch(`http://127.0.0.1:${server.port}/address`);
    assert.equal(await answer.text(), '127.0.0.1');
  });

  test('the app sees the response it writes to (for work deferred until it is sent)', async () => {
    const answer = await fetch(`http://127.0.0.1:${server.port}/bindings`);
    assert.deepEqual(await answer.json(), { outgoing: true });
  });

  test('a fetch given later by serve() gets the bindings too', async () => {
    const late = await listen({ host: '127.0.0.1', port: 0 });
    try {
      late.serve(new Hono().get('/', (c) => c.text(clientAddress(c, 0))).fetch);
      const answer = await fetch(`http://127.0.0.1:${late.port}/`);
      assert.equal(await answer.text(), '127.0.0.1');
    } finally {
      await late.drain(1_000);
    }
  });
});
