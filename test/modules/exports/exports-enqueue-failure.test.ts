/**
 * Creating an export is one outcome: the row and its job both exist, or the client gets the
 * error and no export is left pending without a job. The queue here really fails: BullMQ
 * pointed at a port where nothing listens.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { createApp } from '../../../src/app.ts';
import type { Deps } from '../../../src/core/deps.ts';
import { bullmqJobQueue } from '../../../src/core/jobs/bullmq-queue.ts';
import type { JobQueue } from '../../../src/core/jobs/job-queue.ts';
import { memoryJobQueue } from '../../../src/core/jobs/memory-queue.ts';
import { purgeExpiredExports } from '../../../src/modules/exports/exports.service.ts';
import { exportsTable } from '../../../src/modules/exports/exports.table.ts';
import { JOBS } from '../../../src/modules.ts';
import { createTestUser } from '../../support/auth.ts';
import { captureLogs, createTestDeps, type TestDeps } from '../../support/deps.ts';
import { closedPort } from '../../support/processes.ts';

let deps: TestDeps;
let unreachable: JobQueue;

before(async () => {
  deps = await createTestDeps();
  const redis = deps.redis;
  assert.ok(redis, 'the tests run with Redis');
  unreachable = bullmqJobQueue({
    url: `redis://127.0.0.1:${await closedPort()}`,
    prefix: `${deps.redisPrefix}down`,
    definitions: JOBS,
    eventPollMs: 50,
    redis,
    logger: deps.logger,
    lockMs: 5_000,
  });
});
after(async () => {
  await unreachable.close();
  await deps.close();
});

function requestExport(app: ReturnType<typeof createApp>, headers: Record<string, string>) {
  return app.request('/v1/exports', {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ format: 'csv' }),
  });
}

function exportsOf(ownerId: string) {
  return deps.db.select().from(exportsTable).where(eq(exportsTable.ownerId, ownerId));
}

/** The database, except that every `delete` fails as if PostgreSQL had just gone away. */
function withFailingDeletes(db: Deps['db']): Deps['db'] {
  return new Proxy(db, {
    get(target, property, receiver) {
      if (property === 'delete') {
        return () => {
          throw Object.assign(new Error('connection lost'), { code: 'CONNECTION_CLOSED' });
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

describe('creating an export when the queue is down', () => {
  test('503, and no export row is left behind', async () => {
    const ada = await createTestUser(deps);
    const res = await requestExport(createApp({ ...deps, jobs: unreachable }), ada.headers);
    assert.equal(res.status, 503, await res.clone().text());
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    assert.match(((await res.json()) as { detail: string }).detail, /queue is unavailable/);
    assert.deepEqual(await exportsOf(ada.user.id), [], 'no export pending for ever');
  });

  test('when the clean-up fails too, the client still gets the 503, and the purge removes the row', async () => {
    const ada = await createTestUser(deps);
    const logs = await captureLogs();
    const app = createApp({
      ...deps,
      jobs: unreachable,
      db: withFailingDeletes(deps.db),
      logger: logs.logger,
    });
    const res = await requestExport(app, ada.headers);
    assert.equal(res.status, 503, await res.clone().text());
    const [orphan, ...others] = await exportsOf(ada.user.id);
    assert.ok(orphan, 'the row the failed clean-up left');
    assert.deepEqual(others, []);
    assert.equal(orphan.jobId, null, 'it never had a job');
    assert.ok(
      logs.records().some((line) => line.msg === 'could not delete an export left without a job'),
      logs.text(),
    );

    // A healthy export of the same user, written meanwhile, is not touched by the purge.
    const healthy = await requestExport(
      createApp({ ...deps, jobs: memoryJobQueue() }),
      ada.headers,
    );
    assert.equal(healthy.status, 202);
    const { id: healthyId } = (await healthy.json()) as { id: string };

    // Soon after, the row may still be in the middle of being created: it is kept.
    const soon = new Date(orphan.createdAt.getTime() + 60_000);
    assert.equal(await purgeExpiredExports(deps.db, deps.storage, soon), 0);
    // An hour on, a row without a job can only be left over from a failed creation.
    const later = new Date(orphan.createdAt.getTime() + 2 * 3600_000);
    assert.equal(await purgeExpiredExports(deps.db, deps.storage, later), 1);
    assert.deepEqual(
      (await exportsOf(ada.user.id)).map((row) => row.id),
      [healthyId],
    );
  });
});
