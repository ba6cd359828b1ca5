import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import { integer, pgTable, text, varchar } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import { type DatabaseHandle, openDatabase } from '../../../src/core/db/database.ts';
import {
  parseTextArray,
  TEXT_ARRAY_TYPE,
  type TextArray,
  textArrayLiteral,
} from '../../../src/core/db/text-array.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';

/** Text PostgreSQL quotes or escapes in an array, and text it leaves bare. */
const AWKWARD: string[] = [
  'a\\b',
  'c\\\\d',
  '\\',
  'ends with \\',
  'q"t',
  '"',
  '""',
  'x,y',
  '{br}',
  '}',
  'a b',
  ' lead and trail ',
  'tab\there',
  'line\nbreak',
  'NULL',
  'null',
  '',
  "it's",
  'é漢字 \u{1f600}',
  'plain',
];

describe('parseTextArray: arrays of text as PostgreSQL writes them', () => {
  test('bare, quoted and escaped elements, the null element, and the empty array', () => {
    assert.deepEqual(parseTextArray('{}'), []);
    assert.deepEqual(parseTextArray('{a,b}'), ['a', 'b']);
    assert.deepEqual(parseTextArray('{"a b","q\\"t","a\\\\b",NULL,"NULL",""}'), [
      'a b',
      'q"t',
      'a\\b',
      null,
      'NULL',
      '',
    ]);
  });

  test('nested for more dimensions, and read past a lower bound other than 1', () => {
    assert.deepEqual(parseTextArray('{{a,b},{"c,d",NULL}}'), [
      ['a', 'b'],
      ['c,d', null],
    ]);
    assert.deepEqual(parseTextArray('[0:1]={x,y}'), ['x', 'y']);
    assert.deepEqual(parseTextArray('[0:1][1:1]={{x},{y}}'), [['x'], ['y']]);
  });

  test('what is not an array, or is cut short, is an error rather than a guess', () => {
    assert.throws(() => parseTextArray('plain text'), TypeError);
    assert.throws(() => parseTextArray('{"open'), TypeError);
    assert.throws(() => parseTextArray('{a,b'), TypeError);
  });
});

describe('arrays of text through PostgreSQL and back', () => {
  let database: TestDatabase;
  let client: postgres.Sql<{ textArray: TextArray }>;

  before(async () => {
    database = await createTestDatabase();
    client = postgres(database.url, {
      max: 1,
      fetch_types: false,
      types: { textArray: TEXT_ARRAY_TYPE },
      onnotice: () => {},
    });
  });
  after(async () => {
    await client.end();
    await database.drop();
  });

  test('each awkward text, built into an array by the server, is read back as it was', async () => {
    for (const value of AWKWARD) {
      const [row] = await client`select array[${value}::text, null, 'x']::text[] as v`;
      assert.deepEqual(row?.v, [value, null, 'x'], JSON.stringify(value));
    }
  });

  test('an array passed as a parameter reaches PostgreSQL as that array, through its literal', async () => {
    const value = [...AWKWARD, null];
    const [passed] = await client.unsafe<{ v: TextArray; n: number }[]>(
      'select $1::text[] as v, cardinality($1::text[]) as n',
      [textArrayLiteral(value)],
    );
    assert.equal(passed?.n, value.length);
    assert.deepEqual(passed?.v, value);
    // Given the array itself, postgres.js writes it with the same literal.
    const [tagged] = await client`select ${value}::text[] as v`;
    assert.deepEqual(tagged?.v, value);
    assert.equal(textArrayLiteral('{already,a,literal}'), '{already,a,literal}');
    assert.throws(() => textArrayLiteral(42), TypeError);
  });
});

const things = pgTable('text_array_things', {
  id: integer().primaryKey(),
  texts: text().array().notNull(),
  names: varchar({ length: 200 }).array(),
});

/** Through drizzle's columns, as the app writes and reads them, on both databases. */
function roundTripsThroughDrizzle(
  open: () => Promise<{ handle: DatabaseHandle; done(): Promise<void> }>,
) {
  let handle: DatabaseHandle;
  let done: () => Promise<void>;

  before(async () => {
    ({ handle, done } = await open());
    await handle.db.execute(
      sql`create table text_array_things (id integer primary key, texts text[] not null, names varchar(200)[])`,
    );
  });
  after(async () => {
    await done();
  });

  test('text[] and varchar[] columns hold every awkward text as sent', async () => {
    const { db } = handle;
    await db.insert(things).values([
      { id: 1, texts: AWKWARD, names: AWKWARD },
      { id: 2, texts: [], names: null },
    ]);
    const [first] = await db.select().from(things).where(eq(things.id, 1));
    assert.deepEqual(first?.texts, AWKWARD);
    assert.deepEqual(first?.names, AWKWARD);
    const prepared = db
      .select()
      .from(things)
      .where(eq(things.id, sql.placeholder('id')))
      .prepare('text_array_by_id');
    const [second] = await prepared.execute({ id: 2 });
    assert.deepEqual(second?.texts, []);
    assert.equal(second?.names, null);
  });
}

describe('drizzle array columns on PostgreSQL', () => {
  roundTripsThroughDrizzle(async () => {
    const database = await createTestDatabase();
    const handle = await openDatabase({ url: database.url, poolMax: 2, dataDir: '.data' });
    return {
      handle,
      async done() {
        await handle.close();
        await database.drop();
      },
    };
  });
});

describe('drizzle array columns on the embedded database', () => {
  roundTripsThroughDrizzle(async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'text-array-'));
    const handle = await openDatabase({ url: undefined, poolMax: 1, dataDir });
    return {
      handle,
      async done() {
        await handle.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  });
});
