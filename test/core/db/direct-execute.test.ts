import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promiseHooks } from 'node:v8';
import { asc, eq, gte, sql, TransactionRollbackError } from 'drizzle-orm';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import {
  boolean,
  integer,
  jsonb,
  numeric,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { drizzle, PostgresJsPreparedQuery } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { type Database, type DatabaseHandle, openDatabase } from '../../../src/core/db/database.ts';
import { executeDirectly } from '../../../src/core/db/direct-execute.ts';
import { isUniqueViolation } from '../../../src/core/db/errors.ts';
import { DB_CASING } from '../../../src/core/db/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';

const mood = pgEnum('direct_mood', ['calm', 'busy']);
// A column of each kind drizzle reads differently from what the driver hands it.
const things = pgTable('direct_things', {
  id: uuid().primaryKey(),
  name: text().notNull().unique(),
  note: text(),
  price: numeric({ precision: 12, scale: 2 }).notNull(),
  tags: text().array().notNull(),
  count: integer().notNull(),
  done: boolean().notNull(),
  mood: mood().notNull(),
  details: jsonb(),
  at: timestamp({ withTimezone: true, precision: 3 }).notNull(),
});

const FIRST = {
  id: '0190a000-0000-7000-8000-000000000001',
  name: 'first',
  note: null,
  price: '12.50',
  tags: ['a', 'b c', 'd"e', 'NULL', ''],
  count: 3,
  done: true,
  mood: 'calm' as const,
  details: { nested: [1, 'two'] },
  at: new Date('2026-12-03T16:55:12.123Z'),
};
const SECOND = {
  id: '0190a000-0000-7000-8000-000000000002',
  name: 'second',
  note: 'with a note',
  price: '0.01',
  tags: [],
  count: -7,
  done: false,
  mood: 'busy' as const,
  details: null,
  at: new Date('1999-01-01T00:00:00.000Z'),
};
const ROWS = [FIRST, SECOND];

/** The table of `things`, with its rows, in a database of either driver. */
async function createThings(db: Pick<Database, 'execute' | 'insert'>): Promise<void> {
  await db.execute(sql`create type direct_mood as enum ('calm', 'busy')`);
  await db.execute(sql`
    create table direct_things (
      id uuid primary key, name text not null unique, note text, price numeric(12, 2) not null,
      tags text[] not null, count integer not null, done boolean not null,
      mood direct_mood not null, details jsonb, at timestamptz(3) not null
    )`);
  await db.insert(things).values(ROWS);
}

/** The promises made from `run`'s call until what it gives back settles. */
async function promisesOf(run: () => PromiseLike<unknown>): Promise<number> {
  let made = 0;
  const stop = promiseHooks.onInit(() => {
    made += 1;
  });
  try {
    await run();
  } finally {
    Reflect.apply(stop, undefined, []);
  }
  return made;
}

/** A postgres.js statement's own `execute`, as drizzle made it. */
const drizzleExecute = PostgresJsPreparedQuery.prototype.execute;

describe('executeDirectly', () => {
  let database: TestDatabase;
  let client: postgres.Sql;
  let db: ReturnType<typeof drizzle>;

  before(async () => {
    database = await createTestDatabase();
    // Not UTC, so a timestamp's text carries an offset drizzle must read.
    client = postgres(database.url, {
      max: 2,
      onnotice: () => {},
      connection: { TimeZone: 'Asia/Kolkata' },
    });
    db = drizzle({ client, casing: DB_CASING });
    await createThings(db);
  });
  after(async () => {
    await client.end();
    await database.drop();
  });

  const selectAll = (name: string) =>
    db
      .select()
      .from(things)
      .where(gte(things.count, sql.placeholder('min')))
      .orderBy(asc(things.name))
      .prepare(name);

  test('reads the rows drizzle reads, through its own execute no longer', async () => {
    const direct = executeDirectly(selectAll('direct_all'));
    const plain = selectAll('plain_all');
    assert.notEqual(direct.execute, drizzleExecute, 'the direct path is taken on postgres.js');
    assert.equal(plain.execute, drizzleExecute);
    const rows = await direct.execute({ min: -100 });
    assert.deepEqual(rows, await plain.execute({ min: -100 }));
    assert.deepEqual(rows, ROWS);
    assert.deepEqual(Object.keys(rows[0] ?? {}), Object.keys(FIRST), 'keys in order');
    assert.deepEqual(await direct.execute({ min: 0 }), [FIRST], 'the parameter is read per call');
  });

  test('a statement costs the promises of postgres.js’s query and no more', async () => {
    const direct = executeDirectly(selectAll('direct_counted'));
    // Run once first: a connection opened (34 promises), a statement prepared, are counted apart.
    await direct.execute({ min: 0 });
    // A query of postgres.js's taken with one `then`: its own promise, its async `handle`
    // and the `await` in it, and the one `then` gives back.
    const query = await promisesOf(() =>
      client
        .unsafe('select 1 as one')
        .values()
        .then((rows) => rows),
    );
    const made = await promisesOf(() => direct.execute({ min: 0 }));
    // An async frame around an `await` of the query would make three more.
    assert.equal(made, query, `${made} promises a statement, a query taken once ${query}`);
  });

  test('lets go of the driver’s rows once read: the finished query holds none of them', async (t) => {
    const direct = executeDirectly(selectAll('direct_let_go'));
    const unsafe = t.mock.method(client, 'unsafe');
    assert.deepEqual(await direct.execute({ min: -100 }), ROWS, 'the rows read are whole');
    const query = unsafe.mock.calls[0]?.result;
    assert.ok(query, 'the statement ran through the client');
    assert.deepEqual([...(await query)], [], 'its result no longer holds them');
  });

  test('a column is read under its name whatever its text; one named __proto__ is left to drizzle', async () => {
    // Names a generated reader would break on, were they written into it as code.
    const odd = 'a "quoted"\\ name\n}), and more';
    const direct = executeDirectly(
      db
        .select({ [odd]: things.name, at: things.at })
        .from(things)
        .orderBy(asc(things.name))
        .prepare('direct_odd_names'),
    );
    assert.notEqual(direct.execute, drizzleExecute);
    assert.deepEqual(
      await direct.execute(),
      ROWS.map((row) => ({ [odd]: row.name, at: row.at })),
    );
    const proto = executeDirectly(
      db
        .select({ ['__proto__']: things.name })
        .from(things)
        .prepare('direct_proto_name'),
    );
    assert.equal(proto.execute, drizzleExecute);
  });

  test('a missing placeholder is an error, as drizzle has it', async () => {
    const since = executeDirectly(
      db
        .select({ id: things.id })
        .from(things)
        .where(gte(things.at, sql.placeholder('since')))
        .prepare('direct_since'),
    );
    assert.notEqual(since.execute, drizzleExecute);
    assert.deepEqual(await since.execute({ since: '2020-01-01T00:00:00Z' }), [{ id: FIRST.id }]);
    await assert.rejects(since.execute({}), /No value for placeholder "since" was provided/);
  });

  test('a timestamp its own reader leaves is read by drizzle: infinity, BC, a local mean time', async () => {
    const texts = ['infinity', '-infinity', '0044-03-15 12:00:00+00 BC', '1000-01-01 12:00:00+00'];
    for (const [index, text] of texts.entries()) {
      await client.unsafe(
        `insert into direct_things (id, name, price, tags, count, done, mood, at)
         values ($1, $2, 1, '{}', 1000, true, 'calm', $3::timestamptz)`,
        [`0190a000-0000-7000-8000-00000000010${index}`, `instant ${index}`, text],
      );
    }
    const select = (name: string) =>
      db
        .select({ id: things.id, at: things.at })
        .from(things)
        .where(gte(things.count, sql.placeholder('min')))
        .orderBy(asc(things.id))
        .prepare(name);
    try {
      const direct = executeDirectly(select('direct_instants'));
      assert.notEqual(direct.execute, drizzleExecute);
      const rows = await direct.execute({ min: 1000 });
      assert.deepEqual(rows, await select('plain_instants').execute({ min: 1000 }));
      assert.equal(rows.length, texts.length);
      // V8 reads none of these texts (the last one, in Kolkata, has an offset to the second).
      assert.ok(rows.every((row) => Number.isNaN(row.at.getTime())));
    } finally {
      await client.unsafe('delete from direct_things where count = 1000');
    }
  });

  test('an encoded placeholder is encoded; a failed statement throws what drizzle throws', async () => {
    const insert = executeDirectly(
      db
        .insert(things)
        .values({
          ...FIRST,
          id: sql.placeholder('id'),
          name: sql.placeholder('name'),
          at: sql.placeholder('at'),
        })
        .returning({ id: things.id, at: things.at })
        .prepare('direct_insert'),
    );
    assert.notEqual(insert.execute, drizzleExecute);
    const id = '0190a000-0000-7000-8000-000000000003';
    const at = new Date('2026-12-04T01:02:03.456Z');
    const error = await insert.execute({ id, name: 'first', at }).then(
      () => assert.fail('a duplicate name was stored'),
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof DrizzleQueryError);
    assert.match(error.message, /^Failed query: insert into "direct_things"/);
    assert.deepEqual(error.params.slice(0, 2), [id, 'first']);
    assert.ok(isUniqueViolation(error));
    // The column's encoder turned the Date into text: postgres.js, under drizzle, takes no Date.
    assert.deepEqual(await insert.execute({ id, name: 'third', at }), [{ id, at }]);
    await db.delete(things).where(eq(things.id, id));
  });

  test('inside a transaction it reads what the transaction wrote, on its connection', async () => {
    const id = '0190a000-0000-7000-8000-000000000004';
    await db
      .transaction(async (tx) => {
        await tx.insert(things).values({ ...SECOND, id, name: 'in a transaction' });
        const byId = executeDirectly(
          tx
            .select({ name: things.name })
            .from(things)
            .where(eq(things.id, sql.placeholder('id')))
            .prepare('direct_tx'),
        );
        assert.notEqual(byId.execute, drizzleExecute);
        assert.deepEqual(await byId.execute({ id }), [{ name: 'in a transaction' }]);
        tx.rollback();
      })
      .catch((error: unknown) => {
        if (!(error instanceof TransactionRollbackError)) throw error;
      });
    assert.deepEqual(await db.select().from(things).where(eq(things.id, id)), []);
  });

  test('while drizzle’s execute is wrapped (tracing’s spans), a call goes through the wrapper', async () => {
    const statement = executeDirectly(selectAll('direct_wrapped'));
    let wrapped = 0;
    PostgresJsPreparedQuery.prototype.execute = function counted(values) {
      wrapped += 1;
      return drizzleExecute.call(this, values);
    };
    try {
      assert.deepEqual(await statement.execute({ min: -100 }), ROWS);
      assert.equal(wrapped, 1);
    } finally {
      PostgresJsPreparedQuery.prototype.execute = drizzleExecute;
    }
    assert.deepEqual(await statement.execute({ min: -100 }), ROWS);
    assert.equal(wrapped, 1, 'unwrapped again, the direct path');
  });

  test('leaves alone what it would change: nested fields, no columns, SQL fields', () => {
    const nested = executeDirectly(
      db
        .select({ thing: { id: things.id } })
        .from(things)
        .prepare('direct_nested'),
    );
    const noColumns = executeDirectly(
      db
        .delete(things)
        .where(eq(things.id, sql.placeholder('id')))
        .prepare('direct_none'),
    );
    const computed = executeDirectly(
      db.select({ total: sql<number>`count(*)::int` }).from(things).prepare('direct_sql'),
    );
    for (const statement of [nested, noColumns, computed])
      assert.equal(statement.execute, drizzleExecute);
  });
});

describe('executeDirectly on the embedded database', () => {
  let dataDir: string;
  let handle: DatabaseHandle;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'direct-execute-'));
    handle = await openDatabase({ url: undefined, poolMax: 1, dataDir });
  });
  after(async () => {
    await handle.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('leaves a PGlite statement to drizzle', async () => {
    await createThings(handle.db);
    const statement = executeDirectly(
      handle.db.select().from(things).orderBy(asc(things.name)).prepare('direct_pglite'),
    );
    const own = Object.getPrototypeOf(statement);
    assert.equal(statement.execute, own.execute, 'its class’s own execute');
    assert.deepEqual(await statement.execute(), ROWS);
  });
});
