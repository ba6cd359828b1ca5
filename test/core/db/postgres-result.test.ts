/**
 * Our stand-in for postgres.js's result (decision 128) behaves as the original wherever
 * postgres.js and its callers look: the rows as elements, the statement's facts as
 * properties that are never keys, members or elements, a plain array from `map` and its
 * kind. The original is loaded beside ours, past the preload's replacement, and both are
 * asked the same; then a real query resolves with ours.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import postgres from 'postgres';
import Ours from '../../../src/core/db/postgres-result.ts';
import { MODULE_REPLACEMENTS } from '../../../src/module-replacements.ts';
import { TEST_DATABASE_URL } from '../../support/database.ts';

const replaced = MODULE_REPLACEMENTS.find((entry) => entry.original.endsWith('/result.js'));
assert.ok(replaced, 'postgres.js result.js is replaced');
// Another URL for the same file: the preload's hook replaces the original's URL only.
const { default: Original } = await import(`${replaced.original}?original`);

/** A result as postgres.js fills one: rows pushed, then the command tag's facts set. */
function filled(Result: new () => unknown[] & Record<string, unknown>) {
  const result = new Result();
  result.push({ id: 1 }, { id: 2 });
  result.count = 2;
  result.command = 'SELECT';
  result.state = { pid: 7, secret: 8 };
  result.columns = [{ name: 'id' }];
  result.statement = { name: 's1' };
  return result;
}

test('ours and the original are read alike', () => {
  assert.notEqual(Ours, Original);
  for (const Result of [Ours, Original]) {
    const fresh = new Result();
    const facts = ['count', 'command', 'state', 'columns', 'statement'];
    assert.deepEqual(
      facts.map((name) => Reflect.get(fresh, name)),
      [null, null, null, null, null],
    );
    const result = filled(Result);
    assert.ok(Array.isArray(result));
    assert.equal(result.length, 2);
    assert.equal(result.count, 2);
    assert.equal(result.command, 'SELECT');
    assert.deepEqual(result.state, { pid: 7, secret: 8 });
    assert.deepEqual(result.columns, [{ name: 'id' }]);
    assert.deepEqual(result.statement, { name: 's1' });
    assert.deepEqual(Object.keys(result), ['0', '1']);
    assert.equal(JSON.stringify(result), '[{"id":1},{"id":2}]');
    assert.deepEqual({ ...result }, { 0: { id: 1 }, 1: { id: 2 } });
    const mapped = result.map((row) => row);
    assert.equal(Object.getPrototypeOf(mapped), Array.prototype);
    assert.equal(Object.getPrototypeOf(result.slice(1)), Array.prototype);
    const [first, ...rest] = result;
    assert.deepEqual([first, rest], [{ id: 1 }, [{ id: 2 }]]);
  }
});

const sql = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
after(() => sql.end({ timeout: 5 }));

test('a query resolves with ours, its facts set', async () => {
  const rows = await sql.unsafe('select 1 as one union all select 2');
  assert.ok(rows instanceof Ours);
  assert.deepEqual([...rows], [{ one: 1 }, { one: 2 }]);
  assert.equal(rows.count, 2);
  assert.equal(rows.command, 'SELECT');
  const values = await sql.unsafe('select 3 as three', [], { prepare: true }).values();
  assert.ok(values instanceof Ours);
  assert.deepEqual([...values], [[3]]);
  assert.equal(values.count, 1);
});
