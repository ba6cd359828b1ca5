/**
 * The access line skips pino's general path: what it writes must be the line pino would have
 * written for the same fields, to the same destination, at the same levels.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { createLogger, plainLineWriter } from '../../src/core/logger.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, destination };
}

const FIELDS = {
  requestId: 'id-1',
  method: 'GET',
  route: undefined,
  path: '/odd "path"\\ é \u2028',
  status: 200,
  durationMs: 1.25,
};

describe('plainLineWriter', () => {
  for (const mixin of [undefined, () => ({ traceId: 't-1', spanId: 's-1' })]) {
    for (const [level, fields, msg] of [
      ['info', FIELDS, 'request'],
      ['error', FIELDS, 'request'],
      ['info', {}, 'no fields, "quoted" \u2028'],
    ] as const) {
      test(`writes pino's own line at ${level}${mixin ? ', with a mixin' : ''}: ${msg}`, async () => {
        const { lines, destination } = capture();
        const logger = await createLogger({
          level: 'info',
          format: 'json',
          destination,
          ...(mixin ? { mixin } : {}),
        });
        plainLineWriter(logger)(level, fields, msg);
        logger[level](fields, msg);
        await new Promise((resolve) => setImmediate(resolve));
        assert.equal(lines.length, 2);
        const [ours, pinos] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
        assert.ok(ours && pinos);
        // Same keys in the same order, same values; only the clock may differ.
        assert.deepEqual(Object.keys(ours), Object.keys(pinos));
        assert.deepEqual({ ...ours, time: 0 }, { ...pinos, time: 0 });
      });
    }
  }

  test('writes nothing below the logger’s level, even when the level changes later', async () => {
    const { lines, destination } = capture();
    const logger = await createLogger({ level: 'warn', format: 'json', destination });
    const write = plainLineWriter(logger);
    write('info', FIELDS, 'request');
    logger.level = 'info';
    write('info', FIELDS, 'request');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(lines.length, 1);
  });
});
