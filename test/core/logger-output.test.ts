/**
 * The loggers' standard output, which hands the lines of a few milliseconds over in one
 * write: lines of many turns share a write, no line is lost at exit, none waits for more than
 * the few milliseconds, and two loggers keep their order. Each case is a real process writing
 * to a real pipe.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;
const LOGGER = new URL('../../src/core/logger.ts', import.meta.url).href;

function script(body: string): string[] {
  return [
    '--import',
    './src/preload.ts',
    '--input-type=module',
    '-e',
    `import { createLogger } from ${JSON.stringify(LOGGER)};
const json = { level: 'info', format: 'json' };
${body}`,
  ];
}

function env() {
  const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
  return inherited;
}

const messages = (stdout: string) =>
  stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as { msg: string }).msg);

test('every line logged in the turn that calls process.exit is written', () => {
  const result = spawnSync(
    process.execPath,
    script(`const logger = await createLogger(json);
for (let index = 0; index < 1000; index++) logger.info('line ' + index);
process.exit(0);`),
    { cwd: ROOT, encoding: 'utf8', env: env(), timeout: 30_000 },
  );
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(
    messages(result.stdout),
    Array.from({ length: 1000 }, (_, index) => `line ${index}`),
  );
});

test('lines logged in twenty turns of the event loop share the writes of 5 ms windows', () => {
  // Counts the writes standard output's stream hands the system (sonic-boom calls fs.write),
  // and how long the twenty turns took: a write per 5 ms window, not one per turn.
  const result = spawnSync(
    process.execPath,
    script(`import fs from 'node:fs';
let writes = 0;
const write = fs.write;
fs.write = function (fd, ...rest) {
  if (fd === 1) writes += 1;
  return write.call(this, fd, ...rest);
};
const logger = await createLogger(json);
const began = performance.now();
for (let turn = 0; turn < 20; turn++) {
  logger.info('turn ' + turn);
  await new Promise((resolve) => setImmediate(resolve));
}
const elapsed = performance.now() - began;
setTimeout(() => process.stderr.write(JSON.stringify({ writes, elapsed })), 50);`),
    { cwd: ROOT, encoding: 'utf8', env: env(), timeout: 30_000 },
  );
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(
    messages(result.stdout),
    Array.from({ length: 20 }, (_, turn) => `turn ${turn}`),
  );
  const { writes, elapsed } = JSON.parse(result.stderr) as { writes: number; elapsed: number };
  // However slow the machine: at most one write per window the turns spanned, and one more
  // for a window they straddle (twenty turns take a millisecond or two when it is not busy).
  const windows = Math.ceil(elapsed / 5) + 1;
  assert.ok(writes <= windows, `${writes} writes for 20 lines over ${elapsed.toFixed(1)} ms`);
});

test('a line logged by an otherwise idle process is written without waiting for more', async () => {
  const child = spawn(
    process.execPath,
    script(`const logger = await createLogger(json);
logger.info('alone');
setTimeout(() => {}, 60_000);`),
    { cwd: ROOT, env: env(), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const first = await new Promise<string>((resolve, reject) => {
      let seen = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        seen += chunk;
        if (seen.includes('\n')) resolve(seen);
      });
      child.once('exit', (code) => reject(new Error(`exited with ${code} before any line`)));
    });
    assert.deepEqual(messages(first), ['alone']);
  } finally {
    child.kill('SIGKILL');
  }
});

test('two loggers of one process write in the order they logged', () => {
  const result = spawnSync(
    process.execPath,
    script(`const one = await createLogger(json);
const two = await createLogger(json);
for (let index = 0; index < 50; index++) (index % 2 ? two : one).info('line ' + index);
setTimeout(() => one.info('later'), 10);`),
    { cwd: ROOT, encoding: 'utf8', env: env(), timeout: 30_000 },
  );
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(messages(result.stdout), [
    ...Array.from({ length: 50 }, (_, index) => `line ${index}`),
    'later',
  ]);
});
