import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { createApp } from '../../../src/app.ts';
import { openDatabase } from '../../../src/core/db/database.ts';
import { ExitError } from '../../../src/core/exit-error.ts';
import { parseSettings } from '../../../src/core/settings.ts';
import { createDeps, type OwnedDeps } from '../../../src/deps.ts';
import { JOBS } from '../../../src/modules.ts';
import { createTestUser } from '../../support/auth.ts';
import { TEST_DATABASE_URL } from '../../support/database.ts';
import { waitFor } from '../../support/jobs.ts';

describe('embedded database (no DATABASE_URL)', () => {
  let dataDir: string;
  let deps: OwnedDeps;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pglite-test-'));
    deps = await createDeps(
      parseSettings({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent' }),
    );
  });
  after(async () => {
    await deps.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('a second process cannot open the same embedded database; a dead holder’s lock is taken over', async () => {
    // Another process: PGlite has no lock of its own, and two writers corrupt its files.
    await assert.rejects(
      openDatabase({ url: undefined, poolMax: 1, dataDir }),
      (error: Error) =>
        error instanceof ExitError &&
        new RegExp(`DATA_DIR: the embedded database is in use by process ${process.pid}`).test(
          error.message,
        ),
    );
    const other = await mkdtemp(join(tmpdir(), 'pglite-lock-'));
    try {
      // A lock left by a process killed with -9: its pid no longer runs.
      await writeFile(join(other, 'pglite.lock'), '2147483646');
      const reopened = await openDatabase({ url: undefined, poolMax: 1, dataDir: other });
      assert.equal(await readFile(join(other, 'pglite.lock'), 'utf8'), String(process.pid));
      await reopened.close();
      await assert.rejects(readFile(join(other, 'pglite.lock')), /ENOENT/, 'released on close');
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  test('opens PGlite under DATA_DIR and applies the migrations at start', async () => {
    assert.equal(deps.database.kind, 'embedded');
    assert.ok((await readdir(join(dataDir, 'pglite'))).length > 0);
    const result = await deps.db.execute(
      sql`select count(*)::int as applied from drizzle.__drizzle_migrations`,
    );
    assert.ok(result);
  });

  test('a background export runs to completion on the embedded database (one connection)', async () => {
    const worker = await deps.jobs.startWorker(JOBS, deps);
    try {
      const ada = await createTestUser(deps);
      const app = createApp(deps);
      const json = { ...ada.headers, 'content-type': 'application/json' };
      const created = await app.request('/v1/items', {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ name: 'Can', price: '2.50' }),
      });
      assert.equal(created.status, 201);
      const accepted = await app.request('/v1/exports', {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ format: 'csv' }),
      });
      assert.equal(accepted.status, 202);
      const { id, jobId } = (await accepted.json()) as { id: string; jobId: string };
      await waitFor(
        'the export job',
        async () => (await deps.jobs.get(jobId))?.state === 'completed',
        { timeoutMs: 20_000 },
      );
      const download = await app.request(`/v1/exports/${id}/download`, { headers: ada.headers });
      assert.equal(download.status, 200);
      assert.match(await download.text(), /Can,,2\.50/);
    } finally {
      await worker.close(1_000);
    }
  });

  test('serves the same query code and probes as PostgreSQL', async () => {
    const res = await createApp(deps).request('/readyz');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { checks: Record<string, unknown> };
    assert.deepEqual(Object.keys(body.checks), ['database']);
  });
});

/**
 * A proxy to PostgreSQL that resets its first connection once the server has said it is
 * ready (its first ReadyForQuery), right as the client sends what comes next; later
 * connections pass untouched.
 */
async function resetAfterFirstReady(target: URL) {
  let connections = 0;
  const server = createServer((client) => {
    const first = ++connections === 1;
    client.on('error', () => {});
    const upstream = connect(Number(target.port || 5432), target.hostname);
    upstream.on('error', () => client.destroy());
    let ready = false;
    let pending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      client.write(chunk);
      pending = Buffer.concat([pending, chunk]);
      // Each message: a type byte, then a length that counts itself but not the type.
      while (!ready && pending.length >= 5) {
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) break;
        if (pending[0] === 0x5a) ready = true;
        pending = pending.subarray(1 + length);
      }
    });
    client.on('data', (chunk: Buffer) => {
      if (!first || !ready) {
        upstream.write(chunk);
        return;
      }
      client.resetAndDestroy();
      upstream.destroy();
    });
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(address.port);
  return { url: url.toString(), close: () => new Promise((resolve) => server.close(resolve)) };
}

describe('PostgreSQL connections', () => {
  test('a connection reset as it becomes ready fails the query waiting on it and nothing else; the next one reconnects', async () => {
    const proxy = await resetAfterFirstReady(new URL(TEST_DATABASE_URL));
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', record);
    const database = await openDatabase({ url: proxy.url, poolMax: 1, dataDir: tmpdir() });
    try {
      // What a new connection sends first is this query (no lookup of array types of
      // postgres.js's own, whose promise it drops: a reset then ended the process).
      await assert.rejects(database.db.execute(sql`select 1`), (error: Error) =>
        /ECONNRESET|CONNECTION_CLOSED/.test(String(error.cause)),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(unhandled, []);
      await database.ping();
    } finally {
      process.off('unhandledRejection', record);
      await database.close();
      await proxy.close();
    }
  });
});
