/**
 * Behind PgBouncer in transaction mode (the Debian package, 1.18, which cannot keep named
 * prepared statements): with DATABASE_POOLER=transaction the auth, items, idempotency and job
 * flows run through it, ten client connections sharing three server connections. Without the
 * setting the same hot reads go wrong (the control), and migrations refuse the pooler and
 * use DATABASE_DIRECT_URL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../../../src/app.ts';
import { MigrationNeedsDirectUrlError, openDatabase } from '../../../src/core/db/database.ts';
import type { JobWorker } from '../../../src/core/jobs/job-queue.ts';
import { JOBS } from '../../../src/modules.ts';
import { createTestUser } from '../../support/auth.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';
import {
  authFlow,
  type Call,
  exportJobFlow,
  idempotencyRaceFlow,
  itemsFlow,
} from '../../support/flows.ts';
import { startPgBouncer, type TestPgBouncer } from '../../support/pgbouncer.ts';
import { missingToolReason } from '../../support/system-tools.ts';

let bouncer: TestPgBouncer | undefined;

before(async () => {
  bouncer = await startPgBouncer({ poolSize: 3 });
});

after(() => bouncer?.close());

/** The app on a test database reached through PgBouncer, with `pooler` as DATABASE_POOLER. */
async function pooledApp(pooler: 'none' | 'transaction') {
  assert.ok(bouncer);
  const through = bouncer;
  let direct = '';
  const deps = await createTestDeps({
    databaseUrl: (url) => {
      direct = url;
      return through.urlFor(url);
    },
    env: {
      DATABASE_POOLER: pooler,
      DATABASE_POOL_MAX: '10',
      RATE_LIMIT_DEFAULT_REQUESTS: '100000',
      REQUEST_TIMEOUT_MS: '3000',
    },
  });
  const app = createApp(deps);
  const call: Call = async (path, init) => app.request(path, init);
  return { deps, call, direct };
}

/** `count` reads of one item, 16 at a time; the statuses answered, counted. */
async function hotReads(deps: TestDeps, call: Call, count: number) {
  const who = await createTestUser(deps);
  const created = await call('/v1/items', {
    method: 'POST',
    headers: { ...who.headers, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Hot', price: '1.00' }),
  });
  const { id } = (await created.json()) as { id: string };
  const statuses: Record<number, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next++ < count) {
        const res = await call(`/v1/items/${id}`, { headers: who.headers });
        await res.arrayBuffer();
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      }
    }),
  );
  return statuses;
}

describe('through PgBouncer in transaction mode', () => {
  test('DATABASE_POOLER=transaction: auth, items, idempotency, jobs and hot reads all work', async (t) => {
    if (!bouncer) return t.skip(missingToolReason('pgbouncer'));
    const { deps, call } = await pooledApp('transaction');
    let worker: JobWorker | undefined;
    try {
      worker = await deps.jobs.startWorker(JOBS, deps);
      const who = await authFlow(call);
      await itemsFlow(call, who);
      await idempotencyRaceFlow(call, who, 12);
      await exportJobFlow(call, who);
      assert.deepEqual(await hotReads(deps, call, 400), { 200: 400 });
    } finally {
      await worker?.close(1_000);
      await deps.close();
    }
  });

  test('the control: with named prepared statements the same reads go wrong', async (t) => {
    if (!bouncer) return t.skip(missingToolReason('pgbouncer'));
    const { deps, call } = await pooledApp('none');
    try {
      const statuses = await hotReads(deps, call, 200);
      // Errors, and worse: a statement prepared by another client answering 404.
      assert.ok((statuses[200] ?? 0) < 200, `some reads failed: ${JSON.stringify(statuses)}`);
    } finally {
      await deps.close();
    }
  });

  test('migrations refuse the pooler, and run through DATABASE_DIRECT_URL', async (t) => {
    if (!bouncer) return t.skip(missingToolReason('pgbouncer'));
    const { deps, direct } = await pooledApp('transaction');
    const url = deps.settings.DATABASE_URL;
    try {
      const pooledOnly = await openDatabase({
        url,
        poolMax: 1,
        dataDir: '.data',
        pooler: 'transaction',
      });
      await assert.rejects(pooledOnly.migrate(), MigrationNeedsDirectUrlError);
      await pooledOnly.close();
      const withDirect = await openDatabase({
        url,
        poolMax: 1,
        dataDir: '.data',
        pooler: 'transaction',
        directUrl: direct,
      });
      await withDirect.migrate();
      await withDirect.ping();
      await withDirect.close();
    } finally {
      await deps.close();
    }
  });
});
