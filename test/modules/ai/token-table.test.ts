/**
 * `tokenTable` answers as the two tables it stands for in gpt-tokenizer's core (decision 098):
 * the text-to-rank map, and the ranks themselves (as their bytes).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenTable } from '../../../src/modules/ai/token-table.ts';
import { readO200kRanks } from '../../../src/modules/ai/tokenizer.ts';

test('the table answers as the maps it stands for, for every rank and for texts no token has', async () => {
  const ranks = await readO200kRanks();
  const table = tokenTable(ranks);
  const byText = new Map<string, number>();
  for (let rank = 0; rank < ranks.length; rank++) {
    const token = ranks[rank];
    if (typeof token === 'string') {
      byText.set(token, rank);
      assert.equal(table.get(token), rank, `rank ${rank}`);
      assert.deepEqual(table.bytesOf(rank), Buffer.from(token, 'utf8'), `rank ${rank}`);
    } else if (token) {
      const bytes = table.bytesOf(rank);
      assert.ok(bytes instanceof Uint8Array, `rank ${rank}`);
      assert.deepEqual(Array.from(bytes), token, `rank ${rank}`);
    } else {
      assert.equal(table.bytesOf(rank), undefined, `rank ${rank}`);
    }
  }
  assert.ok(byText.size > 190_000, `${byText.size} text tokens`);
  for (const text of [
    '',
    '\uD800',
    '\uDFFF',
    'x'.repeat(300),
    ' the quick brown fox',
    '🍵🍵🍵🍵',
    '\u0000\u0000',
  ]) {
    assert.equal(table.get(text), byText.get(text), JSON.stringify(text));
  }
  assert.equal(table.bytesOf(ranks.length), undefined);
});
