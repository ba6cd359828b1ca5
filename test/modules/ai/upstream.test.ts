/**
 * The upstream client on the wire, against a bare HTTP server scripted per test: calls share
 * one keep-alive connection, streamed ones too; a stream cut anywhere (inside an event,
 * inside a character) is put back together; a stream without `[DONE]` and an error body are
 * told apart; a body broken off after its head is worth a retry and one that is not JSON is
 * not; and `Retry-After` is read in each of its forms.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { openAiCompatible, retryAfterOf, UpstreamError } from '../../../src/modules/ai/upstream.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_764_460_800,
  model: 'm',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'Bonjour, ça va ?' },
      finish_reason: 'stop',
      logprobs: null,
    },
  ],
  usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
};

const chunk = (content: string) =>
  JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1_764_460_800,
    model: 'm',
    choices: [{ index: 0, delta: { content }, finish_reason: null }],
  });

describe('the upstream client', () => {
  let handler: Handler = (_req, res) => res.end();
  const connections: unknown[] = [];
  const server = createServer((req, res) => handler(req, res));
  server.on('connection', (socket) => connections.push(socket));
  let upstream: ReturnType<typeof openAiCompatible>;
  const never = new AbortController().signal;

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    upstream = openAiCompatible({
      baseUrl: `http://127.0.0.1:${port}/v1/`,
      apiKey: 'sk-test',
      timeouts: { connectMs: 5_000, firstTokenMs: 5_000, totalMs: 10_000 },
    });
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** A streamed call's events, each event's data as the upstream wrote it, into `seen`. */
  async function streamed(seen: string[] = []): Promise<string[]> {
    const reply = await upstream.chat({ model: 'm', stream: true }, never);
    assert.equal(reply.kind, 'stream');
    if (reply.kind === 'stream') {
      for await (const group of reply.events) {
        assert.ok(group.length > 0, 'a group holds events');
        for (const event of group) seen.push(event.data);
      }
    }
    return seen;
  }

  test('calls go out as JSON with the key, and share keep-alive connections', async () => {
    const seen: { url?: string; auth?: string; type?: string; body: string }[] = [];
    handler = (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (part: string) => {
        body += part;
      });
      req.on('end', () => {
        seen.push({
          url: req.url,
          auth: req.headers.authorization,
          type: req.headers['content-type'],
          body,
        });
        res.setHeader('content-type', 'application/json');
        res.setHeader('x-request-id', 'req-42');
        res.end(JSON.stringify(completion));
      });
    };
    const before = connections.length;
    for (let call = 0; call < 10; call++) {
      const reply = await upstream.chat({ model: 'm', messages: [] }, never);
      assert.equal(reply.kind, 'json');
      if (reply.kind === 'json') {
        assert.equal(reply.completion.choices[0]?.message.content, 'Bonjour, ça va ?');
        assert.equal(reply.requestId, 'req-42');
      }
    }
    // undici may open a second connection while it finishes with the first answer's: one
    // per call would be ten.
    assert.ok(
      connections.length - before <= 2,
      `ten calls, ${connections.length - before} connections`,
    );
    assert.deepEqual(seen[0], {
      url: '/v1/chat/completions',
      auth: 'Bearer sk-test',
      type: 'application/json',
      body: '{"model":"m","messages":[]}',
    });
  });

  test('a stream cut inside an event and inside a character is put back together', async () => {
    const events = `data: ${chunk('ça')}\n\ndata: ${chunk('été')}\n\ndata: [DONE]\n\n`;
    const bytes = Buffer.from(events, 'utf8');
    // Cut one byte into the "é" of "été" (two bytes in UTF-8), and inside the first event.
    const cut = bytes.indexOf(Buffer.from('été', 'utf8')) + 1;
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(bytes.subarray(0, 20));
      setTimeout(() => res.write(bytes.subarray(20, cut)), 5);
      setTimeout(() => res.end(bytes.subarray(cut)), 10);
    };
    // Each event's data as the upstream wrote it, byte for byte.
    assert.deepEqual(await streamed(), [chunk('ça'), chunk('été')]);
  });

  test('events that arrive together come as one group; those before a bad one, before its error', async () => {
    // The rest is sent once the first group is in: sent on a timer, a slow machine could read
    // both writes as one chunk.
    let sendRest: () => void = () => {};
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${chunk('a')}\n\ndata: ${chunk('b')}\n\n`);
      sendRest = () => res.end(`data: ${chunk('c')}\n\ndata: not json\n\ndata: [DONE]\n\n`);
    };
    const reply = await upstream.chat({ model: 'm', stream: true }, never);
    assert.equal(reply.kind, 'stream');
    if (reply.kind !== 'stream') return;
    const groups: string[][] = [];
    await assert.rejects(
      async () => {
        for await (const group of reply.events) {
          groups.push(group.map((event) => event.data));
          if (groups.length === 1) sendRest();
        }
      },
      (error: unknown) => error instanceof UpstreamError && /not JSON/.test(error.message),
    );
    assert.deepEqual(groups, [[chunk('a'), chunk('b')], [chunk('c')]]);
  });

  test('streamed calls read to [DONE] leave their connection for the next call', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${chunk('one')}\n\n`);
      // [DONE], then the end of the body a moment later, as a real upstream may send them.
      setTimeout(() => res.write('data: [DONE]\n\n'), 2);
      setTimeout(() => res.end(), 10);
    };
    const before = connections.length;
    for (let call = 0; call < 10; call++) {
      assert.deepEqual(await streamed(), [chunk('one')]);
      // The next call may start before the end of this body is in: it then opens one more.
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    assert.ok(
      connections.length - before <= 2,
      `ten streamed calls, ${connections.length - before} connections`,
    );
  });

  test('a stream that ends without [DONE] is an error not worth retrying', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`data: ${chunk('half')}\n\n`);
    };
    await assert.rejects(
      () => streamed(),
      (error: unknown) =>
        error instanceof UpstreamError &&
        !error.retryable &&
        /without \[DONE\]/.test(error.message),
    );
  });

  test('lines that are no field are skipped; an event past 16 MiB is an error', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`x\nretry:x\n: ping\n\ndata: ${chunk('kept')}\n\nnonsense\ndata: [DONE]\n\n`);
    };
    assert.deepEqual(await streamed(), [chunk('kept')]);

    const piece = 'x'.repeat(1024 * 1024);
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${chunk('first')}\n\ndata: `);
      // Seventeen megabytes of one event's data, in pieces, and no end to it.
      for (let index = 0; index < 17; index++) res.write(piece);
      res.end();
    };
    const seen: string[] = [];
    await assert.rejects(
      () => streamed(seen),
      (error: unknown) =>
        error instanceof UpstreamError && !error.retryable && /too large/.test(error.message),
    );
    assert.deepEqual(seen, [chunk('first')]);
  });

  test("an error answer says the upstream's status, code, param and wait", async () => {
    handler = (_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after-ms': '250' });
      res.end(
        JSON.stringify({
          error: { message: 'Slow down', code: 'rate_limit_exceeded', param: 'model' },
        }),
      );
    };
    await assert.rejects(
      upstream.chat({ model: 'm' }, never),
      (error: unknown) =>
        error instanceof UpstreamError &&
        error.status === 429 &&
        error.retryable &&
        error.retryAfterMs === 250 &&
        error.code === 'rate_limit_exceeded' &&
        error.param === 'model' &&
        error.reason === 'Slow down',
    );
    // The error's body was read to its end: the connection is reused by the next call.
    const before = connections.length;
    handler = (_req, res) => res.end(JSON.stringify(completion));
    await upstream.chat({ model: 'm' }, never);
    assert.equal(connections.length, before);
  });

  /** The calls answered by one JSON body: chat without a stream, moderation, embeddings. */
  const jsonCalls = (): (() => Promise<unknown>)[] => [
    () => upstream.chat({ model: 'm' }, never),
    () => upstream.moderate('hello', never),
    () => upstream.embed({ model: 'm', input: ['hello'] }, never),
  ];

  test('an answer whose body breaks off after its head is an error worth retrying', async () => {
    handler = (_req, res) => {
      const body = JSON.stringify(completion);
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      res.write(body.slice(0, 20), () => res.socket?.destroy());
    };
    for (const call of jsonCalls()) {
      await assert.rejects(
        call(),
        (error: unknown) =>
          error instanceof UpstreamError && error.retryable && /broke off/.test(error.message),
      );
    }
  });

  test('a success whose body is not JSON is an error not worth retrying', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>a proxy says hello</html>');
    };
    for (const call of jsonCalls()) {
      await assert.rejects(
        call(),
        (error: unknown) =>
          error instanceof UpstreamError && !error.retryable && /not JSON/.test(error.message),
      );
    }
  });

  test('a refused connection is an error worth retrying', async () => {
    const closed = openAiCompatible({
      baseUrl: 'http://127.0.0.1:1/v1',
      apiKey: undefined,
      timeouts: { connectMs: 5_000, firstTokenMs: 5_000, totalMs: 10_000 },
    });
    await assert.rejects(
      closed.chat({ model: 'm' }, never),
      (error: unknown) =>
        error instanceof UpstreamError &&
        error.retryable &&
        /could not be reached/.test(error.message),
    );
  });
});

describe('Retry-After', () => {
  const lookup = (headers: Record<string, string>) => (name: string) => headers[name];
  const now = Date.parse('2026-12-01T12:00:00Z');

  test('in milliseconds (OpenAI), in seconds, or as an HTTP date; nonsense is no wait', () => {
    assert.equal(retryAfterOf(lookup({ 'retry-after-ms': '1500', 'retry-after': '9' }), now), 1500);
    assert.equal(retryAfterOf(lookup({ 'retry-after': '2' }), now), 2_000);
    assert.equal(
      retryAfterOf(lookup({ 'retry-after': 'Tue, 01 Dec 2026 12:00:30 GMT' }), now),
      30_000,
    );
    assert.equal(retryAfterOf(lookup({ 'retry-after': 'Tue, 01 Dec 2026 11:00:00 GMT' }), now), 0);
    assert.equal(retryAfterOf(lookup({ 'retry-after-ms': '-5', 'retry-after': '1' }), now), 1_000);
    assert.equal(retryAfterOf(lookup({ 'retry-after': 'soon' }), now), undefined);
    assert.equal(retryAfterOf(lookup({ 'retry-after': ' ' }), now), undefined);
    assert.equal(retryAfterOf(lookup({}), now), undefined);
  });
});
