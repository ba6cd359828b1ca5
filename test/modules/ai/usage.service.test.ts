/**
 * Recording calls: calls that end together are stored in groups (one statement and commit
 * for many), each caller learning when its own row is stored; a row the database refuses
 * fails its own call only; the rows are exact. On PostgreSQL and on the embedded database.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { type Database, type DatabaseHandle, openDatabase } from '../../../src/core/db/database.ts';
import { aiCalls } from '../../../src/modules/ai/ai.table.ts';
import {
  type CallRecord,
  type RecordOptions,
  recordBesideAnswer,
  recordCall,
} from '../../../src/modules/ai/usage.service.ts';
import { createUser } from '../../../src/modules/users/users.service.ts';
import { createTestDatabase } from '../../support/database.ts';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function postgresDatabase(): Promise<DatabaseHandle> {
  const database = await createTestDatabase();
  const handle = await openDatabase({ url: database.url, poolMax: 4, dataDir: '.data' });
  cleanups.push(database.drop, handle.close);
  return handle;
}

async function embeddedDatabase(): Promise<DatabaseHandle> {
  const dataDir = await mkdtemp(join(tmpdir(), 'usage-'));
  const handle = await openDatabase({ url: undefined, poolMax: 1, dataDir });
  await handle.migrate();
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }), handle.close);
  return handle;
}

function newUser(db: Database) {
  return createUser(db, {
    email: `usage-${randomUUID()}@example.com`,
    password: 'a long enough password',
    name: 'Usage',
  });
}

function callOf(userId: string, n: number): CallRecord {
  return {
    userId,
    apiKeyId: null,
    operation: 'chat',
    model: 'gpt-test',
    upstreamModel: 'gpt-4o-mini',
    stream: n % 2 === 0,
    status: 'ok',
    inputTokens: 100 + n,
    cachedInputTokens: n,
    outputTokens: 7,
    usageEstimated: false,
    costPicodollars: 1_234_567n * BigInt(n + 1),
    latencyMs: n,
    timeToFirstTokenMs: n % 3 === 0 ? null : n,
    finishReason: 'stop',
    cacheHit: false,
    upstreamRequestId: `req-${n}`,
    error: null,
  };
}

for (const [kind, open] of [
  ['PostgreSQL', postgresDatabase],
  ['the embedded database', embeddedDatabase],
] as const) {
  describe(`recording calls on ${kind}`, () => {
    test('calls ending together are stored in fewer writes than calls, each row exact', async () => {
      const { db } = await open();
      const user = await newUser(db);
      const records = Array.from({ length: 20 }, (_, n) => callOf(user.id, n));
      const ids = await Promise.all(records.map((record) => recordCall(db, record)));

      const rows = await db.select().from(aiCalls).where(eq(aiCalls.userId, user.id));
      assert.deepEqual(new Set(rows.map((row) => row.id)), new Set(ids), 'each caller got its id');
      for (const row of rows) {
        const n = ids.indexOf(row.id);
        assert.deepEqual(
          {
            stream: row.stream,
            inputTokens: row.inputTokens,
            cachedInputTokens: row.cachedInputTokens,
            cost: row.cost,
            timeToFirstTokenMs: row.timeToFirstTokenMs,
            upstreamRequestId: row.upstreamRequestId,
          },
          {
            stream: n % 2 === 0,
            inputTokens: 100 + n,
            cachedInputTokens: n,
            cost: `0.${String(1_234_567 * (n + 1)).padStart(12, '0')}`,
            timeToFirstTokenMs: n % 3 === 0 ? null : n,
            upstreamRequestId: `req-${n}`,
          },
        );
      }
      // A row's time is its transaction's: rows that share one were written together.
      const writes = new Set(rows.map((row) => row.createdAt.getTime())).size;
      assert.ok(writes < rows.length, `${rows.length} rows in ${writes} writes`);
    });

    test('text PostgreSQL refuses (a lone surrogate, a NUL) is stored replaced, in a group', async () => {
      const { db } = await open();
      const user = await newUser(db);
      const texts = ['half \ud83d of an emoji', 'a \u0000 in it', 'plain \\ud83d text', 'ok'];
      await Promise.all(
        texts.map((error, n) => recordCall(db, { ...callOf(user.id, n), status: 'error', error })),
      );
      const rows = await db.select().from(aiCalls).where(eq(aiCalls.userId, user.id));
      assert.deepEqual(rows.map((row) => row.error).sort(), [
        'a \ufffd in it',
        'half \ufffd of an emoji',
        'ok',
        'plain \\ud83d text',
      ]);
    });

    test('a row the database refuses fails its own call only', async () => {
      const { db } = await open();
      const user = await newUser(db);
      const records = Array.from({ length: 10 }, (_, n) =>
        callOf(n === 6 ? randomUUID() : user.id, n),
      );
      const settled = await Promise.allSettled(records.map((record) => recordCall(db, record)));
      const refused = settled.flatMap((result, n) => (result.status === 'rejected' ? [n] : []));
      assert.deepEqual(refused, [6], 'only the call of a user who does not exist fails');
      const rows = await db.select().from(aiCalls).where(eq(aiCalls.userId, user.id));
      assert.equal(rows.length, 9);
    });
  });
}

describe('a record beside its answer', () => {
  /** A record that only notes the options it was written with. */
  const spy = () => {
    const written: RecordOptions[] = [];
    const record = async (options: RecordOptions) => {
      written.push(options);
    };
    return { written, record };
  };

  test('written in the background, it may wait for company: nobody waits for it', async () => {
    const { written, record } = spy();
    let background: Promise<void> | undefined;
    await recordBesideAnswer(
      record,
      undefined,
      (work) => {
        background = work();
      },
      () => {},
    );
    await background;
    assert.deepEqual(written, [{ linger: true }]);
  });

  test('waited for, it goes at once', async () => {
    const { written, record } = spy();
    await recordBesideAnswer(record, undefined, undefined, () => {});
    assert.deepEqual(written, [{ linger: false }]);
  });
});
