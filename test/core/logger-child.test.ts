/**
 * A request's logger is made when first used: until then nothing is bound, and once used it
 * must behave as `logger.child(bindings)` would, its level and its own children included.
 */
import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { childWhenUsed } from '../../src/core/logger.ts';
import { captureLogs } from '../support/deps.ts';

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('childWhenUsed', () => {
  test('binds nothing until the logger is used', async () => {
    const { logger } = await captureLogs();
    const child = mock.method(logger, 'child');
    const requestLogger = childWhenUsed(logger, { requestId: 'r-1' });
    assert.equal(child.mock.callCount(), 0);
    requestLogger.info('first');
    requestLogger.warn('second');
    assert.equal(child.mock.callCount(), 1);
  });

  test('writes the lines logger.child would write', async () => {
    const { logger, records } = await captureLogs();
    childWhenUsed(logger, { requestId: 'r-1' }).info({ items: 2 }, 'listed');
    logger.child({ requestId: 'r-1' }).info({ items: 2 }, 'listed');
    await settled();
    const lines = records();
    assert.equal(lines.length, 2);
    const [ours, pinos] = lines;
    assert.deepEqual({ ...ours, time: 0 }, { ...pinos, time: 0 });
    assert.equal(ours?.requestId, 'r-1');
  });

  test('keeps a level set on it to itself', async () => {
    const { logger, records } = await captureLogs('warn');
    const requestLogger = childWhenUsed(logger, { requestId: 'r-1' });
    requestLogger.level = 'debug';
    requestLogger.debug('detail');
    logger.debug('not written');
    await settled();
    assert.equal(logger.level, 'warn');
    assert.equal(requestLogger.level, 'debug');
    assert.equal(requestLogger.isLevelEnabled('debug'), true);
    assert.deepEqual(
      records().map((line) => line.msg),
      ['detail'],
    );
  });

  test('gives its own children its bindings and level, and they keep theirs', async () => {
    const { logger, records } = await captureLogs();
    const requestLogger = childWhenUsed(logger, { requestId: 'r-1' });
    requestLogger.level = 'debug';
    const job = requestLogger.child({ job: 'export' });
    job.debug('inherited level');
    job.level = 'error';
    requestLogger.debug('still debug');
    await settled();
    assert.equal(requestLogger.level, 'debug');
    assert.deepEqual(job.bindings(), { requestId: 'r-1', job: 'export' });
    assert.deepEqual(
      records().map((line) => [line.msg, line.requestId, line.job]),
      [
        ['inherited level', 'r-1', 'export'],
        ['still debug', 'r-1', undefined],
      ],
    );
  });
});
