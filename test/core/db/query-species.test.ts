import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { declareQuerySpecies } from '../../../src/core/db/query-species.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { runWithV8Natives } from '../../support/module-script.ts';

let database: TestDatabase;
let client: postgres.Sql;

before(async () => {
  database = await createTestDatabase();
  client = postgres(database.url, { max: 1, onnotice: () => {} });
});
after(async () => {
  await client.end();
  await database.drop();
});

/** postgres.js's query class, as a query made (never run) has it. */
function queryClass(): object {
  const made: unknown = Reflect.get(client.unsafe('select 1'), 'constructor');
  if (typeof made !== 'function') throw new Error('a query has no class');
  return made;
}

test('the query class names Promise as its species with a data property, not a getter', () => {
  const before = Reflect.getOwnPropertyDescriptor(queryClass(), Symbol.species);
  assert.equal(before?.get?.call(queryClass()), Promise, 'postgres.js declares a getter');
  declareQuerySpecies(client);
  const declared = Reflect.getOwnPropertyDescriptor(queryClass(), Symbol.species);
  assert.equal(declared?.get, undefined);
  assert.equal(declared?.value, Promise);
  declareQuerySpecies(client);
  assert.deepEqual(Reflect.getOwnPropertyDescriptor(queryClass(), Symbol.species), declared);
});

test('a query still runs, and its then gives a plain promise of its rows', async () => {
  declareQuerySpecies(client);
  const taken = client.unsafe('select 1 as one').then((rows) => rows);
  assert.equal(Reflect.getPrototypeOf(taken), Promise.prototype);
  assert.deepEqual([...(await taken)], [{ one: 1 }]);
  assert.deepEqual([...(await client`select ${2}::int as two`.values())], [[2]]);
});

test('the query class keeps fast properties, which V8 needs to keep its constructor optimised', () => {
  // V8's own view of the class, in a process that may ask it (no connection is made).
  const script = `
    import postgres from 'postgres';
    import { declareQuerySpecies } from './src/core/db/query-species.ts';
    const client = postgres('postgres://127.0.0.1:1/none');
    const queryClass = client.unsafe('select 1').constructor;
    const before = %HasFastProperties(queryClass);
    declareQuerySpecies(client);
    console.log(JSON.stringify({ before, after: %HasFastProperties(queryClass) }));`;
  assert.deepEqual(runWithV8Natives(script), { before: false, after: true });
});
