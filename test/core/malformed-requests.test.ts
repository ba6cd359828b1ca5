/**
 * What Node refuses before the app sees it still gets a problem document: a URL past the
 * header size limit (431), a NUL in a header or a broken request line (400).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { listen, type RunningServer } from '../../src/core/http-server.ts';

let server: RunningServer;

before(async () => {
  server = await listen({
    host: '127.0.0.1',
    port: 0,
    fetch: () => new Response('ok'),
  });
});
after(() => server.drain(1_000));

/** Sends raw bytes and reads until the server closes the connection. */
function exchange(raw: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
    socket.write(raw);
  });
}

function parse(response: string) {
  const [head = '', body = ''] = response.split('\r\n\r\n');
  const [statusLine = '', ...headers] = head.split('\r\n');
  const headerMap = new Map(
    headers.map((line) => [
      line.slice(0, line.indexOf(':')).toLowerCase(),
      line.slice(line.indexOf(':') + 1).trim(),
    ]),
  );
  return {
    status: Number(statusLine.split(' ')[1]),
    headers: headerMap,
    body: JSON.parse(body) as Record<string, unknown>,
  };
}

describe('requests Node refuses', () => {
  test('a 100 kB URL is 431 as a problem document', async () => {
    const answer = parse(
      await exchange(`GET /v1/items?q=${'x'.repeat(100_000)} HTTP/1.1\r\nhost: a\r\n\r\n`),
    );
    assert.equal(answer.status, 431);
    assert.equal(answer.headers.get('content-type'), 'application/problem+json');
    assert.equal(answer.body.status, 431);
    assert.match(String(answer.body.detail), /too large/);
  });

  test('a NUL in a header, and a request line that is not HTTP, are 400 problem documents', async () => {
    for (const raw of [
      Buffer.from('GET / HTTP/1.1\r\nhost: a\r\nx-note: a\u0000b\r\n\r\n', 'latin1'),
      'NOT HTTP AT ALL\r\n\r\n',
    ]) {
      const answer = parse(await exchange(raw));
      assert.equal(answer.status, 400);
      assert.equal(answer.headers.get('content-type'), 'application/problem+json');
      assert.equal(answer.body.title, 'Bad Request');
    }
  });

  test('a sane request on the same server is answered as usual', async () => {
    const response = await fetch(`http://127.0.0.1:${server.port}/`);
    assert.equal(await response.text(), 'ok');
  });
});
