/**
 * One try of a job, as both drivers run it: what the job gets in its context and how the
 * try stops (its timeout, the worker stopping, its lock lost), whether or not the job ever
 * looks at its signal.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { defineJob, type JobContext, type JobRuntime } from '../../../src/core/jobs/define-job.ts';
import { type RunRequest, runJobOnce } from '../../../src/core/jobs/run-job.ts';
import { createMetrics } from '../../../src/core/metrics.ts';
import { captureLogs } from '../../support/deps.ts';

type Runtime = JobRuntime;

async function request(
  run: (input: { n: number }, context: JobContext<Runtime>) => Promise<unknown>,
  overrides: Partial<RunRequest<Runtime>> = {},
  timeoutMs = 60_000,
) {
  const logs = await captureLogs();
  const definition = defineJob({
    name: 'test.run-job',
    input: z.object({ n: z.number() }),
    timeoutMs,
    run,
  });
  const progress: number[] = [];
  const runRequest: RunRequest<Runtime> = {
    // The definition's runtime is the widest one, as the drivers hold definitions.
    definition: definition as RunRequest<Runtime>['definition'],
    jobId: 'job-1',
    attempt: 1,
    maxAttempts: 1,
    input: { n: 7 },
    meta: { requestId: 'request-1', ownerId: 'owner-1' },
    deps: { logger: logs.logger, metrics: createMetrics() },
    shutdown: new AbortController().signal,
    async progress(percent) {
      progress.push(percent);
    },
    ...overrides,
  };
  return { runRequest, logs, progress };
}

const never = () => new Promise<never>(() => {});

describe('runJobOnce', () => {
  test('the context: ids, the owner, a logger naming the job, progress taken out of it', async () => {
    const { runRequest, logs, progress } = await request(async (input, context) => {
      const { logger, progress: report, jobId, attempt, ownerId, signal } = context;
      logger.info('working');
      await report(150.4);
      await report(41.6);
      return { input, jobId, attempt, ownerId, aborted: signal.aborted };
    });
    assert.deepEqual(await runJobOnce(runRequest), {
      input: { n: 7 },
      jobId: 'job-1',
      attempt: 1,
      ownerId: 'owner-1',
      aborted: false,
    });
    assert.deepEqual(progress, [100, 42]);
    const line = logs.records().find((record) => record.msg === 'working');
    assert.equal(line?.job, 'test.run-job');
    assert.equal(line?.jobId, 'job-1');
    assert.equal(line?.requestId, 'request-1');
  });

  test('a job that never looks at its signal is stopped at its timeout', async () => {
    const { runRequest } = await request(never, {}, 50);
    await assert.rejects(runJobOnce(runRequest), /longer than its 50 ms timeout/);
  });

  test('a signal first read after the try stopped is already aborted, with its reason', async () => {
    let readLater: (() => AbortSignal) | undefined;
    const { runRequest } = await request(
      (_input, context) => {
        readLater = () => context.signal;
        return never();
      },
      {},
      50,
    );
    await assert.rejects(runJobOnce(runRequest), /timeout/);
    const signal = readLater?.();
    assert.equal(signal?.aborted, true);
    assert.match(String(signal?.reason), /longer than its 50 ms timeout/);
  });

  test('a signal read while running aborts when the worker stops', async () => {
    const shutdown = new AbortController();
    let seen: AbortSignal | undefined;
    const { runRequest } = await request(
      (_input, { signal }) => {
        seen = signal;
        setTimeout(() => shutdown.abort(), 10);
        return never();
      },
      { shutdown: shutdown.signal },
    );
    await assert.rejects(runJobOnce(runRequest), /worker stopped before the job finished/);
    assert.equal(seen?.aborted, true);
    assert.match(String(seen?.reason), /worker stopped/);
  });

  test('a try whose lock was lost stops, though the worker goes on', async () => {
    const cancelled = new AbortController();
    const { runRequest } = await request(
      () => {
        setTimeout(() => cancelled.abort('its lock was lost'), 10);
        return never();
      },
      { cancelled: cancelled.signal },
    );
    await assert.rejects(runJobOnce(runRequest), /cancelled: its lock was lost/);
  });

  test('a signal already aborted stops the try before the job has run long', async () => {
    const shutdown = new AbortController();
    shutdown.abort();
    const { runRequest } = await request(never, { shutdown: shutdown.signal });
    await assert.rejects(runJobOnce(runRequest), /worker stopped/);
  });
});
