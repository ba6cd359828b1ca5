/**
 * `npm test` first checks that PostgreSQL and Redis answer at TEST_DATABASE_URL and
 * TEST_REDIS_URL, and otherwise stops with one line saying what it needs and how to get it.
 * Driven through `npm run pretest`, which npm runs before `npm test`, against closed ports,
 * a port that never answers, and the real services.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { TEST_DATABASE_URL } from '../support/database.ts';
import { TEST_REDIS_URL } from '../support/deps.ts';
import { closedPort } from '../support/processes.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

/** `npm run pretest` with these test URLs; how it ended and what it said on stderr. */
function pretest(urls: { TEST_DATABASE_URL: string; TEST_REDIS_URL: string }) {
  const started = performance.now();
  const result = spawnSync('npm', ['run', 'pretest'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...urls },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stderr: result.stderr, tookMs: performance.now() - started };
}

let closedPostgres: string;
let closedRedis: string;
/** Accepts connections and never says a word. */
let silent: Server;
const silentSockets = new Set<Socket>();
let silentPort: number;

before(async () => {
  closedPostgres = `postgres://postgres@127.0.0.1:${await closedPort()}/test`;
  closedRedis = `redis://127.0.0.1:${await closedPort()}`;
  silent = createServer((socket) => {
    silentSockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const address = silent.address();
  assert.ok(address && typeof address === 'object');
  silentPort = address.port;
});
after(() => {
  for (const socket of silentSockets) socket.destroy();
  silent.close();
});

describe('npm test without its services', () => {
  test('neither answers: one line naming both, what to run, and the URLs to use', () => {
    const { status, stderr } = pretest({
      TEST_DATABASE_URL: closedPostgres,
      TEST_REDIS_URL: closedRedis,
    });
    assert.equal(status, 1);
    const lines = stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, stderr);
    const [line = ''] = lines;
    assert.ok(line.includes(`PostgreSQL at ${closedPostgres} (nothing listens there)`), line);
    assert.ok(line.includes(`Redis at ${closedRedis} (nothing listens there)`), line);
    assert.match(line, /docker compose up -d postgres redis/);
    assert.match(line, /TEST_DATABASE_URL=postgres:\/\/app:app@127\.0\.0\.1:15432\/app/);
    assert.match(line, /TEST_REDIS_URL=redis:\/\/127\.0\.0\.1:16379/);
  });

  test('only Redis missing: the line names Redis alone', () => {
    const { status, stderr } = pretest({
      TEST_DATABASE_URL: TEST_DATABASE_URL,
      TEST_REDIS_URL: closedRedis,
    });
    assert.equal(status, 1);
    assert.match(stderr, /^npm test needs Redis at /);
    assert.doesNotMatch(stderr, /PostgreSQL at/);
  });

  test('a port that accepts but never answers: stops within a few seconds', () => {
    const { status, stderr, tookMs } = pretest({
      TEST_DATABASE_URL: `postgres://postgres@127.0.0.1:${silentPort}/test`,
      TEST_REDIS_URL: `redis://127.0.0.1:${silentPort}`,
    });
    assert.equal(status, 1);
    assert.match(stderr, /no answer within 2 s/);
    assert.ok(tookMs < 10_000, `took ${Math.round(tookMs)} ms`);
  });

  test('a password in a URL is not printed', () => {
    const { stderr } = pretest({
      TEST_DATABASE_URL: closedPostgres.replace('postgres@', 'postgres:s3cret-pw@'),
      TEST_REDIS_URL: closedRedis.replace('//', '//:s3cret-pw@'),
    });
    assert.doesNotMatch(stderr, /s3cret-pw/);
    assert.match(stderr, /postgres:\/\/postgres:\*\*\*@/);
  });

  test('both answer: nothing said, exit code 0', () => {
    const { status, stderr } = pretest({ TEST_DATABASE_URL, TEST_REDIS_URL });
    assert.equal(stderr, '');
    assert.equal(status, 0);
  });

  test('the defaults are the test harness’s own', () => {
    const check = readFileSync(`${ROOT}scripts/check-test-services.ts`, 'utf8');
    const database = readFileSync(`${ROOT}test/support/database.ts`, 'utf8');
    const deps = readFileSync(`${ROOT}test/support/deps.ts`, 'utf8');
    for (const [url, harness] of [
      ['postgres://postgres@127.0.0.1:5432/test', database],
      ['redis://127.0.0.1:6379', deps],
    ] as const) {
      assert.ok(harness.includes(`'${url}'`), `the harness defaults to ${url}`);
      assert.ok(check.includes(`'${url}'`), `the check defaults to ${url}`);
    }
  });
});

describe('compose.yaml gives npm test its services', () => {
  test('postgres and redis publish the ports the check suggests, on 127.0.0.1 only', () => {
    const compose = readFileSync(`${ROOT}compose.yaml`, 'utf8');
    assert.match(compose, /- "127\.0\.0\.1:15432:5432"/);
    assert.match(compose, /- "127\.0\.0\.1:16379:6379"/);
    assert.match(compose, /POSTGRES_USER: app\n\s+POSTGRES_PASSWORD: app\n\s+POSTGRES_DB: app/);
  });
});
