/**
 * Headers every answer carries are set on Node's response when the app is served by Node:
 * through a real server they must still reach the client, on every kind of answer, and a
 * handler's own value must win.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../../src/app.ts';
import { listen, type RunningServer } from '../../src/core/http-server.ts';
import { AnswerResponse, fixedHeaders } from '../../src/core/node-response.ts';
import { createTestDeps, type TestDeps } from '../support/deps.ts';

let deps: TestDeps;
let server: RunningServer;
let base: string;

before(async () => {
  deps = await createTestDeps();
  server = await listen({ host: '127.0.0.1', port: 0, fetch: createApp(deps).fetch });
  base = `http://127.0.0.1:${server.port}`;
});
after(async () => {
  await server?.drain(1_000);
  await deps?.close();
});

const API_POLICY =
  "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

describe('headers of every answer, through a real server', () => {
  for (const [what, path, status] of [
    ['a handler’s answer', '/livez', 200],
    ['a 404 problem', '/nowhere', 404],
    ['a 401 problem', '/v1/users/me', 401],
    ['a malformed URL’s 400', '/v1/items?q=%FF', 400],
  ] as const) {
    test(`${what} carries the request id and the security headers`, async () => {
      const res = await fetch(`${base}${path}`, { headers: { 'x-request-id': 'trace-1234' } });
      assert.equal(res.status, status);
      assert.equal(res.headers.get('x-request-id'), 'trace-1234');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(
        res.headers.get('strict-transport-security'),
        'max-age=15552000; includeSubDomains',
      );
      assert.equal(res.headers.get('content-security-policy'), API_POLICY);
      // Set once: Node's own header and the response's are not both sent.
      assert.doesNotMatch(res.headers.get('x-request-id') ?? '', /,/);
    });
  }

  test('a page’s own Content-Security-Policy replaces the API’s', async () => {
    const res = await fetch(`${base}/docs`);
    assert.equal(res.status, 200);
    const policy = res.headers.get('content-security-policy') ?? '';
    assert.match(policy, /script-src 'self'/);
    assert.notEqual(policy, API_POLICY);
    assert.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN');
  });

  test('an operation’s rate-limit headers are sent once, on its answer and on its errors', async () => {
    const ok = await fetch(`${base}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=password&username=nobody%40example.com&password=wrong-password',
    });
    assert.equal(ok.status, 400);
    assert.match(ok.headers.get('ratelimit') ?? '', /^"[\w-]+";r=\d+;t=\d+$/);
    assert.match(ok.headers.get('ratelimit-policy') ?? '', /^"[\w-]+";q=\d+;w=\d+$/);
  });

  test('each request gets its own id', async () => {
    const [first, second] = await Promise.all([fetch(`${base}/livez`), fetch(`${base}/livez`)]);
    assert.ok(first.headers.get('x-request-id'));
    assert.notEqual(first.headers.get('x-request-id'), second.headers.get('x-request-id'));
  });
});

/**
 * A plain Node server whose responses are `AnswerResponse`s, answered by `answer`; its URL.
 * Closed after the test that made it.
 */
async function serving(answer: (res: AnswerResponse) => void): Promise<string> {
  const http = createServer({ ServerResponse: AnswerResponse }, (_req, res) => {
    assert.ok(res instanceof AnswerResponse);
    answer(res);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  after(async () => {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
}

/** One request to a server `serving` makes, its body read. */
async function answerThrough(answer: (res: AnswerResponse) => void): Promise<Response> {
  const res = await fetch(await serving(answer));
  await res.arrayBuffer();
  return res;
}

/** The `code` of what a call threw or called back with (`ERR_…`), else what it was. */
function codeOf(error: unknown): unknown {
  return error instanceof Error && 'code' in error ? error.code : error;
}

const FIXED = fixedHeaders([
  ['X-Frame-Options', 'DENY'],
  ['x-request-id', 'fixed'],
  ['content-security-policy', 'fixed'],
]);

describe('AnswerResponse: early headers merged when the head is written', () => {
  const cases: [string, (res: AnswerResponse) => void][] = [
    [
      'an object of headers',
      (res) => res.writeHead(200, { 'Content-Security-Policy': 'mine' }).end(),
    ],
    [
      'a reason and an object',
      (res) => res.writeHead(200, 'Fine', { 'content-security-policy': 'mine' }).end(),
    ],
    ['a flat array', (res) => res.writeHead(200, ['Content-Security-Policy', 'mine']).end()],
    [
      'no headers, set before',
      (res) => res.setHeader('Content-Security-Policy', 'mine').writeHead(200).end(),
    ],
    ['an implicit head', (res) => res.setHeader('content-security-policy', 'mine').end()],
  ];
  for (const [what, answer] of cases) {
    test(`${what}: the early headers are sent, once, and the handler's own value wins`, async () => {
      const res = await answerThrough((res) => {
        // A set shared by every answer, added first: what is added after it wins over it.
        res.addFixedHeaders(FIXED);
        res.addEarlyHeader('x-request-id', 'early-0');
        // Named in another case than the handler's: still one header, the handler's.
        res.addEarlyHeader('Content-Security-Policy', 'early');
        // A later early header of the same name replaces the earlier one.
        res.addEarlyHeader('x-request-id', 'early-1');
        answer(res);
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-request-id'), 'early-1');
      assert.equal(res.headers.get('content-security-policy'), 'mine');
      assert.equal(res.headers.get('x-frame-options'), 'DENY');
    });
  }
});

test('fixed headers alone are sent, and a handler’s own still wins', async () => {
  const res = await answerThrough((res) => {
    res.addFixedHeaders(FIXED);
    res.writeHead(200, { 'X-Request-Id': 'mine' }).end();
  });
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.equal(res.headers.get('content-security-policy'), 'fixed');
  assert.equal(res.headers.get('x-request-id'), 'mine');
});

test('an early header replaces a fixed one of its name, the handler naming neither', async () => {
  const res = await answerThrough((res) => {
    res.addFixedHeaders(FIXED);
    res.addEarlyHeader('X-Request-Id', 'early');
    res.writeHead(200, { 'content-type': 'text/plain' }).end();
  });
  assert.equal(res.headers.get('x-request-id'), 'early');
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.equal(res.headers.get('content-security-policy'), 'fixed');
});

test('a second set of fixed headers wins over the first, name by name, and adds its own', async () => {
  const res = await answerThrough((res) => {
    res.addFixedHeaders(FIXED);
    res.addFixedHeaders(
      fixedHeaders([
        ['x-frame-options', 'SAMEORIGIN'],
        ['X-Second', 'yes'],
      ]),
    );
    res.writeHead(200, { 'content-type': 'text/plain' }).end();
  });
  assert.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN');
  assert.equal(res.headers.get('x-request-id'), 'fixed');
  assert.equal(res.headers.get('x-second'), 'yes');
});

test('the fixed set goes out once; a head refused for its status leaves none of it behind', async () => {
  const res = await answerThrough((res) => {
    res.addFixedHeaders(FIXED);
    assert.throws(() => res.writeHead(1_000, { 'content-type': 'text/plain' }), {
      code: 'ERR_HTTP_INVALID_STATUS_CODE',
    });
    // The implicit head sets the fixed ones itself: any left from the refused head would
    // go out a second time.
    res.end('after');
  });
  assert.equal(res.status, 200);
  // A header sent twice arrives joined by a comma.
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.equal(res.headers.get('x-request-id'), 'fixed');
  assert.equal(res.headers.get('content-security-policy'), 'fixed');
});

test('a fixed set refuses what Node would refuse in a head, and what frames one answer', () => {
  for (const [name, value, code] of [
    ['a name', 'x', 'ERR_INVALID_HTTP_TOKEN'],
    ['x-split', 'one\r\nx-injected: two', 'ERR_INVALID_CHAR'],
    ['x-nul', 'a\u0000b', 'ERR_INVALID_CHAR'],
  ] as const) {
    assert.throws(() => fixedHeaders([[name, value]]), { code }, name);
  }
  for (const name of ['Content-Length', 'connection', 'Transfer-Encoding', 'date', 'keep-alive']) {
    assert.throws(() => fixedHeaders([[name, '1']]), /never fixed/, name);
  }
});

test('an early header Node would refuse in a head is refused when the head is written', async () => {
  for (const [name, value, code] of [
    ['a name', 'x', 'ERR_INVALID_HTTP_TOKEN'],
    ['x-split', 'one\r\nx-injected: two', 'ERR_INVALID_CHAR'],
    ['x-nul', 'a\u0000b', 'ERR_INVALID_CHAR'],
  ] as const) {
    let thrown: unknown;
    const url = await serving((res) => {
      res.addFixedHeaders(FIXED);
      res.addEarlyHeader(name, value);
      try {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('written');
      } catch (error) {
        thrown = error;
        res.destroy();
      }
    });
    // No head went out: the client sees the connection close, not an answer.
    await assert.rejects(fetch(url));
    assert.equal(codeOf(thrown), code, name);
  }
});

test('an early header that frames the answer is left for Node to read', async () => {
  const res = await answerThrough((res) => {
    res.addEarlyHeader('Content-Length', '5');
    res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
  });
  assert.equal(res.headers.get('content-length'), '5');
  assert.equal(res.headers.get('transfer-encoding'), null);
});

describe('AnswerResponse: a whole answer leaves at the end of its turn', () => {
  test('ended, it counts as ended at once, and its bytes go out at the turn’s end', async () => {
    const seen: Record<string, unknown> = {};
    let finished: Promise<unknown> = Promise.resolve();
    const url = await serving((res) => {
      const socket = res.socket;
      assert.ok(socket);
      const written = socket.bytesWritten;
      let called = false;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('whole', () => {
        called = true;
      });
      seen.ended = res.writableEnded;
      seen.finished = res.writableFinished;
      seen.writtenAtEnd = socket.bytesWritten - written;
      seen.calledAtEnd = called;
      finished = new Promise<void>((resolve) =>
        setImmediate(() => {
          seen.writtenAfter = socket.bytesWritten - written;
          resolve();
        }),
      );
      res.on('finish', () => {
        seen.calledAtFinish = called;
      });
    });
    const res = await fetch(url);
    assert.equal(await res.text(), 'whole');
    await finished;
    assert.equal(seen.ended, true);
    assert.equal(seen.finished, false);
    assert.equal(seen.writtenAtEnd, 0);
    assert.ok(Number(seen.writtenAfter) > 'whole'.length);
    assert.equal(seen.calledAtEnd, false);
    assert.equal(seen.calledAtFinish, true);
  });

  test('answers ended in one turn all arrive, each with its own body', async () => {
    const waiting: AnswerResponse[] = [];
    const url = await serving((res) => {
      // All forty ended together, in one turn.
      if (waiting.push(res) < 40) return;
      for (const [index, each] of waiting.entries()) {
        const body = `answer ${index}`;
        each.writeHead(200, { 'content-length': Buffer.byteLength(body) }).end(body);
      }
    });
    const bodies = await Promise.all(
      Array.from({ length: 40 }, () => fetch(url).then((res) => res.text())),
    );
    assert.deepEqual(
      [...bodies].sort(),
      Array.from({ length: 40 }, (_, index) => `answer ${index}`).sort(),
    );
  });

  test('an answer whose head is not written yet goes at once', async () => {
    const seen: Record<string, unknown> = {};
    const url = await serving((res) => {
      const written = res.socket?.bytesWritten ?? 0;
      res.setHeader('content-type', 'text/plain');
      res.end('implicit');
      seen.written = (res.socket?.bytesWritten ?? 0) - written;
    });
    assert.equal(await (await fetch(url)).text(), 'implicit');
    assert.ok(Number(seen.written) > 'implicit'.length);
  });

  test('a stream’s parts and its end go out at once', async () => {
    const written: number[] = [];
    const url = await serving((res) => {
      const socket = res.socket;
      assert.ok(socket);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part ');
      written.push(socket.bytesWritten);
      res.end('end');
      written.push(socket.bytesWritten);
    });
    assert.equal(await (await fetch(url)).text(), 'part end');
    assert.ok(written[0] !== undefined && written[0] > 0);
    assert.ok(written[1] !== undefined && written[1] > written[0]);
  });

  test('what Node refuses at the call, it still refuses there', async () => {
    const errors: Record<string, unknown> = {};
    const url = await serving((res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      try {
        // A body Node does not take.
        res.end(42);
      } catch (error) {
        errors.badBody = codeOf(error);
      }
      res.end('first');
      try {
        res.setHeader('x-late', 'no');
      } catch (error) {
        errors.lateHeader = codeOf(error);
      }
      res.on('error', () => {});
      res.write('after', (error: Error | null | undefined) => {
        errors.writeAfterEnd = codeOf(error);
      });
    });
    const res = await fetch(url);
    assert.equal(await res.text(), 'first');
    assert.equal(res.headers.get('x-late'), null);
    assert.equal(errors.badBody, 'ERR_INVALID_ARG_TYPE');
    assert.equal(errors.lateHeader, 'ERR_HTTP_HEADERS_SENT');
    assert.equal(errors.writeAfterEnd, 'ERR_STREAM_WRITE_AFTER_END');
  });

  test('a client gone before the turn’s end costs the server nothing', async () => {
    let answered = 0;
    const url = await serving((res) => {
      answered++;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('gone');
      if (answered === 1) res.socket?.destroy();
    });
    await assert.rejects(fetch(url));
    assert.equal(await (await fetch(url)).text(), 'gone');
  });
});
