/**
 * End-to-end tests of the real process: `node src/server.ts` spawned with a test database and
 * Redis, driven over real sockets, stopped with real signals.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { deleteRedisKeys } from './support/deps.ts';
import { type ApiProcess, killAllServices, spawnService, startApi } from './support/processes.ts';

const SHUTDOWN_TIMEOUT_MS = 5_000;
/** What the process may take beyond its shutdown timeout to close pools and exit. */
const EXIT_MARGIN_MS = 3_000;

/** Spawns the server and resolves once `/livez` answers. */
function startServer(env: Record<string, string | undefined>): Promise<ApiProcess> {
  return startApi(
    {
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      // The service's own default: it migrates its (already migrated) database on start.
      MIGRATE_ON_START: undefined,
      ...env,
    },
    { timeoutMs: 30_000 },
  );
}

function parseLines(server: ApiProcess): Record<string, unknown>[] {
  return server.lines().map((line, index) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new assert.AssertionError({
        message: `standard output line ${index + 1} is not JSON: ${line}`,
      });
    }
  });
}

type Outcome =
  | {
      kind: 'response';
      path: string;
      requestId: string;
      reused: boolean;
      status: number;
      headers: Record<string, string | string[] | undefined>;
      body: string;
      finishedAt: number;
    }
  | {
      kind: 'error';
      path: string;
      requestId: string;
      reused: boolean;
      code: string;
      /** `connect` when the connection was never made, so no request was sent. */
      syscall: string | undefined;
      message: string;
      finishedAt: number;
    };

interface SendOptions {
  port: number;
  path: string;
  agent: Agent | false;
  method?: string;
}

/** Sockets that have carried a request: one seen again is a reused keep-alive socket. */
const usedSockets = new WeakSet<Socket>();

/** One HTTP request; never rejects, so a socket error is an outcome like a response. */
function send(options: SendOptions): Promise<Outcome> {
  const requestId = `e2e-${randomBytes(8).toString('hex')}`;
  const { path } = options;
  return new Promise((resolve) => {
    let settled = false;
    let reused = false;
    const fail = (error: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      resolve({
        kind: 'error',
        path,
        requestId,
        reused,
        code: error.code ?? error.name,
        syscall: error.syscall,
        message: error.message,
        finishedAt: performance.now(),
      });
    };
    const req = request(
      {
        host: '127.0.0.1',
        port: options.port,
        path,
        method: options.method ?? 'GET',
        agent: options.agent,
        headers: { 'x-request-id': requestId },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', fail);
        res.on('aborted', () =>
          fail(Object.assign(new Error('response aborted'), { code: 'ABORTED' })),
        );
        res.on('end', () => {
          if (settled) return;
          if (!res.complete) {
            fail(Object.assign(new Error('response incomplete'), { code: 'INCOMPLETE' }));
            return;
          }
          settled = true;
          resolve({
            kind: 'response',
            path,
            requestId,
            reused,
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            finishedAt: performance.now(),
          });
        });
      },
    );
    req.on('socket', (socket) => {
      reused = usedSockets.has(socket);
      usedSockets.add(socket);
    });
    req.on('error', fail);
    req.end();
  });
}

/**
 * The connection was never made: refused, or reset while connecting by a listener closing
 * under it. The server never saw a request, so it is the client's to retry elsewhere.
 */
function notConnected(outcome: Outcome): boolean {
  return (
    outcome.kind === 'error' && (outcome.code === 'ECONNREFUSED' || outcome.syscall === 'connect')
  );
}

/** Why a response is not a complete, valid answer; undefined when it is one. */
function invalidResponse(
  outcome: Extract<Outcome, { kind: 'response' }>,
  shutdownBegan: number,
): string | undefined {
  const length = outcome.headers['content-length'];
  if (length !== undefined && Number(length) !== Buffer.byteLength(outcome.body)) {
    return `body of ${Buffer.byteLength(outcome.body)} bytes, content-length ${length}`;
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(outcome.body) as Record<string, unknown>;
  } catch {
    return `body is not JSON: ${outcome.body.slice(0, 200)}`;
  }
  if (outcome.headers['x-request-id'] !== outcome.requestId) return 'x-request-id not echoed';
  if (outcome.status === 200) {
    if (body.status !== 'ok') return `200 with body ${outcome.body}`;
    if (outcome.path === '/readyz' && typeof body.checks !== 'object') return 'no checks';
    return undefined;
  }
  if (outcome.status === 503 && outcome.path === '/readyz') {
    if (outcome.finishedAt < shutdownBegan) return '503 before shutdown began';
    if (outcome.headers['content-type'] !== 'application/problem+json') {
      return `503 with content-type ${outcome.headers['content-type']}`;
    }
    if (body.status !== 503 || typeof body.detail !== 'string') return `503 body ${outcome.body}`;
    return undefined;
  }
  return `unexpected status ${outcome.status}: ${outcome.body.slice(0, 200)}`;
}

function describeOutcome(outcome: Outcome): string {
  const socket = outcome.reused ? 'reused keep-alive socket' : 'new socket';
  const what =
    outcome.kind === 'error' ? `${outcome.code} (${outcome.message})` : `status ${outcome.status}`;
  return `${outcome.path} ${outcome.requestId} on a ${socket}: ${what}`;
}

/**
 * A fake Redis that answers what ioredis sends (INFO for its ready check, PING, QUIT) and
 * can hold PING replies back, to keep a `/readyz` request in flight for as long as a test
 * wants.
 */
async function fakeRedis() {
  let pingDelayMs = 0;
  const pingsReceived: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    let replies = Promise.resolve();
    const reply = (text: string, delayMs = 0) => {
      replies = replies.then(async () => {
        if (delayMs > 0) await sleep(delayMs);
        if (!socket.destroyed) socket.write(text);
      });
    };
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const parsed = parseCommand(buffered);
        if (!parsed) break;
        buffered = buffered.subarray(parsed.consumed);
        const name = parsed.args[0]?.toUpperCase();
        if (name === 'PING') {
          for (const notify of pingsReceived.splice(0)) notify();
          reply('+PONG\r\n', pingDelayMs);
        } else if (name === 'INFO') {
          const info = '# Server\r\nredis_version:7.2.0\r\n# Persistence\r\nloading:0\r\n';
          reply(`$${Buffer.byteLength(info)}\r\n${info}\r\n`);
        } else if (name === 'QUIT') {
          reply('+OK\r\n');
          replies = replies.then(() => {
            socket.end();
          });
        } else {
          reply('+OK\r\n');
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    url: `redis://127.0.0.1:${address.port}`,
    setPingDelay(ms: number) {
      pingDelayMs = ms;
    },
    nextPing: () => new Promise<void>((resolve) => pingsReceived.push(resolve)),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** One RESP array of bulk strings from the front of `buffer`, or undefined if incomplete. */
function parseCommand(buffer: Buffer): { args: string[]; consumed: number } | undefined {
  const readLine = (from: number) => {
    const end = buffer.indexOf('\r\n', from);
    return end < 0 ? undefined : { text: buffer.toString('utf8', from, end), next: end + 2 };
  };
  const header = readLine(0);
  if (!header) return undefined;
  if (!header.text.startsWith('*')) {
    // An inline command: the words of one line.
    return { args: header.text.trim().split(/\s+/), consumed: header.next };
  }
  const count = Number(header.text.slice(1));
  const args: string[] = [];
  let offset = header.next;
  for (let index = 0; index < count; index++) {
    const size = readLine(offset);
    if (!size) return undefined;
    const length = Number(size.text.slice(1));
    if (buffer.length < size.next + length + 2) return undefined;
    args.push(buffer.toString('utf8', size.next, size.next + length));
    offset = size.next + length + 2;
  }
  return { args, consumed: offset };
}

describe('the server process', () => {
  let database: TestDatabase;
  const redisPrefixes: string[] = [];
  /** Environment of one server: this file's database, a Redis key prefix of its own. */
  const serverEnv = (extra: Record<string, string> = {}) => {
    const prefix = `test:e2e:${randomBytes(6).toString('hex')}:`;
    redisPrefixes.push(prefix);
    return { DATABASE_URL: database.url, REDIS_KEY_PREFIX: prefix, ...extra };
  };

  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await killAllServices();
    await Promise.all([database.drop(), ...redisPrefixes.map(deleteRedisKeys)]);
  });

  test('logs JSON lines: "API listening", then one access line per request', async () => {
    const server = await startServer(serverEnv());
    const outcome = await send({ port: server.port, path: '/livez', agent: false });
    assert.equal(outcome.kind, 'response');
    server.child.kill('SIGTERM');
    const exit = await server.exited;
    assert.equal(exit.code, 0, server.stderr());

    const records = parseLines(server);
    const listening = records.find((record) => record.msg === 'API listening');
    assert.ok(listening, 'an "API listening" line');
    assert.equal(listening.url, `http://127.0.0.1:${server.port}`);
    assert.equal(listening.level, 30);
    assert.equal(typeof listening.time, 'number');
    assert.equal(listening.pid, server.child.pid);

    const access = records.filter((record) => record.requestId === outcome.requestId);
    assert.equal(access.length, 1, `one line for the request, got ${JSON.stringify(access)}`);
    const [line] = access;
    assert.equal(line?.msg, 'request');
    assert.equal(line?.method, 'GET');
    assert.equal(line?.route, '/livez');
    assert.equal(line?.path, '/livez');
    assert.equal(line?.status, 200);
    assert.equal(typeof line?.durationMs, 'number');
    assert.ok((line?.durationMs as number) >= 0);
    assert.ok(
      records.some((record) => record.msg?.toString().startsWith('shutting down')),
      'a shutdown line',
    );
    assert.equal(server.stderr(), '', 'nothing on standard error');
  });

  test('SIGINT stops the process with exit code 0', async () => {
    const server = await startServer(serverEnv());
    const signalled = performance.now();
    server.child.kill('SIGINT');
    const exit = await server.exited;
    assert.deepEqual([exit.code, exit.signal], [0, null], server.stderr());
    assert.ok(
      exit.monotonicAt - signalled < SHUTDOWN_TIMEOUT_MS,
      'stops without waiting for the timeout',
    );
    const shutdown = parseLines(server).find((record) =>
      record.msg?.toString().startsWith('shutting down'),
    );
    assert.equal(shutdown?.signal, 'SIGINT');
  });

  test('SIGTERM under steady keep-alive load: every accepted request gets a full answer', async (t) => {
    const server = await startServer(serverEnv());
    const CONCURRENCY = 20;
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const outcomes: Outcome[] = [];
    let shutdownBegan = Number.POSITIVE_INFINITY;
    let stop = false;
    const worker = async (index: number) => {
      for (let round = 0; !stop; round++) {
        const path = (index + round) % 2 === 0 ? '/livez' : '/readyz';
        const outcome = await send({ port: server.port, path, agent });
        outcomes.push(outcome);
        // Refused: the listener is closed, this worker has nothing left to send to.
        if (notConnected(outcome)) return;
      }
    };
    const workers = Array.from({ length: CONCURRENCY }, (_, index) => worker(index));
    // Ends the load even if the listener never closes.
    const safety = setTimeout(
      () => {
        stop = true;
      },
      SHUTDOWN_TIMEOUT_MS + EXIT_MARGIN_MS + 2_000,
    );
    try {
      await sleep(1_000);
      const beforeShutdown = outcomes.length;
      shutdownBegan = performance.now();
      server.child.kill('SIGTERM');
      const exit = await server.exited;
      await Promise.all(workers);

      assert.deepEqual([exit.code, exit.signal], [0, null], server.stderr());
      const shutdownMs = exit.monotonicAt - shutdownBegan;
      assert.ok(
        shutdownMs < SHUTDOWN_TIMEOUT_MS + EXIT_MARGIN_MS,
        `exited ${Math.round(shutdownMs)} ms after SIGTERM`,
      );

      const answered = outcomes.filter((outcome) => outcome.kind === 'response');
      const refused = outcomes.filter(
        (outcome) => notConnected(outcome) && outcome.finishedAt >= shutdownBegan,
      );
      const invalid = answered.flatMap((outcome) => {
        const reason = invalidResponse(outcome, shutdownBegan);
        return reason ? [`${describeOutcome(outcome)}: ${reason}`] : [];
      });
      // Whether the server saw a failed request tells a reset mid-request from a socket closed
      // under a request still on its way.
      const logged = new Set(parseLines(server).map((record) => record.requestId));
      const failed = outcomes
        .filter((outcome) => outcome.kind === 'error' && !refused.includes(outcome))
        .map(
          (outcome) =>
            `${describeOutcome(outcome)}, ${logged.has(outcome.requestId) ? 'handled' : 'never seen'} by the server`,
        );
      const drainingAnswers = answered.filter((outcome) => outcome.finishedAt >= shutdownBegan);
      const summary = {
        total: outcomes.length,
        beforeSigterm: beforeShutdown,
        answered: answered.length,
        answeredAfterSigterm: drainingAnswers.length,
        readyz503: answered.filter((outcome) => outcome.status === 503).length,
        refused: refused.length,
        connectReset: refused.filter(
          (outcome) => outcome.kind === 'error' && outcome.code !== 'ECONNREFUSED',
        ).length,
        failed: failed.length,
        shutdownMs: Math.round(shutdownMs),
      };
      t.diagnostic(JSON.stringify(summary));

      const reusedBefore = outcomes
        .slice(0, beforeShutdown)
        .filter((outcome) => outcome.kind === 'response' && outcome.reused).length;
      assert.ok(
        reusedBefore >= 2 * CONCURRENCY,
        `keep-alive sockets were reused before SIGTERM: ${reusedBefore}`,
      );
      assert.deepEqual(failed, [], `requests failed on the socket: ${JSON.stringify(summary)}`);
      assert.deepEqual(invalid, [], 'every answer is complete and valid');
      assert.equal(refused.length, CONCURRENCY, 'each worker ends on a refused connection');
      // Answers while draining tell keep-alive clients to go: none may come back on the socket.
      for (const outcome of drainingAnswers) {
        if (outcome.status === 503) {
          assert.equal(outcome.headers.connection, 'close', describeOutcome(outcome));
        }
      }
    } finally {
      stop = true;
      clearTimeout(safety);
      agent.destroy();
    }
  });

  test('a request in flight at SIGTERM completes before the process exits', async () => {
    const redis = await fakeRedis();
    try {
      const server = await startServer(serverEnv({ REDIS_URL: redis.url }));
      const SLOW_MS = 1_500;
      redis.setPingDelay(SLOW_MS);
      const pinged = redis.nextPing();
      const slow = send({ port: server.port, path: '/readyz', agent: false });
      // The server is now waiting on Redis inside the request.
      await pinged;
      const signalled = performance.now();
      server.child.kill('SIGTERM');
      // New connections are refused soon after the signal, while the request is still running.
      let refusedAt: number | undefined;
      while (refusedAt === undefined && performance.now() - signalled < SLOW_MS) {
        const probe = await send({ port: server.port, path: '/livez', agent: false });
        if (probe.kind === 'error') {
          // A fresh socket still in the accept backlog when the listener closes is reset by
          // the kernel: the server never saw that request, as with a refused connection.
          assert.ok(notConnected(probe) || probe.code === 'ECONNRESET', describeOutcome(probe));
          refusedAt = probe.finishedAt;
        } else {
          await sleep(50);
        }
      }

      const outcome = await slow;
      assert.ok(refusedAt !== undefined, 'the listener closed within the slow request');
      assert.ok(refusedAt < outcome.finishedAt, 'the listener closed before the request ended');
      const exit = await server.exited;
      assert.equal(outcome.kind, 'response', describeOutcome(outcome));
      assert.equal(outcome.kind === 'response' && outcome.status, 200, describeOutcome(outcome));
      const body = outcome.kind === 'response' ? JSON.parse(outcome.body) : undefined;
      assert.equal(body.checks.redis.status, 'ok');
      assert.deepEqual([exit.code, exit.signal], [0, null], server.stderr());
      assert.ok(exit.monotonicAt >= outcome.finishedAt, 'the process outlived its last request');
      assert.ok(
        outcome.finishedAt - signalled >= SLOW_MS - 500,
        'the answer came well after SIGTERM',
      );
    } finally {
      await redis.close();
    }
  });
});

describe('the server process on a port in use', () => {
  let taken: Server;
  let port: number;
  before(async () => {
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = taken.address();
    assert.ok(address && typeof address === 'object');
    port = address.port;
  });
  after(async () => {
    await killAllServices();
    taken.close();
  });

  // Nothing else is reachable: the port is checked before the database is opened.
  const unreachable = { DATABASE_URL: 'postgres://127.0.0.1:1/none', REDIS_URL: undefined };

  test('exits 1 with one line naming PORT, before opening anything', async () => {
    const server = spawnService('src/server.ts', { ...unreachable, PORT: String(port) });
    const exit = await server.exited;
    assert.deepEqual([exit.code, exit.signal], [1, null]);
    assert.equal(
      server.stderr(),
      `PORT: 127.0.0.1:${port} is already in use; set PORT to a free port\n`,
    );
  });

  test('WEB_CONCURRENCY=2: the primary exits non-zero instead of restarting its processes', async () => {
    const server = spawnService('src/server.ts', {
      ...unreachable,
      PORT: String(port),
      WEB_CONCURRENCY: '2',
    });
    const exit = await Promise.race([server.exited, sleep(20_000, undefined, { ref: false })]);
    assert.ok(exit, `still running:\n${server.stderr()}\n${server.stdout()}`);
    assert.notEqual(exit.code, 0);
    const lines = server.stderr().split('\n').filter(Boolean);
    assert.ok(lines.length >= 1, 'it says why');
    for (const line of lines) {
      assert.equal(line, `PORT: 127.0.0.1:${port} is already in use; set PORT to a free port`);
    }
    assert.doesNotMatch(server.stdout(), /starting another/);
  });
});
