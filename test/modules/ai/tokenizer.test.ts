/**
 * The tokenizer built from gpt-tokenizer's rank file is the package's own o200k encoding:
 * the same ranks, element for element, and the same counts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTokenizer, readRanks } from '../../../src/modules/ai/tokenizer.ts';

test('the ranks read from the rank file are the ones the package ships as code', async () => {
  const [{ default: shipped }, read] = await Promise.all([
    import('gpt-tokenizer/esm/bpeRanks/o200k_base'),
    readRanks(new URL('../data/o200k_base.tiktoken', import.meta.resolve('gpt-tokenizer'))),
  ]);
  assert.equal(read.length, shipped.length);
  let differing = 0;
  for (let rank = 0; rank < shipped.length; rank++) {
    if (!isDeepStrictEqualToken(read[rank], shipped[rank])) differing++;
  }
  assert.equal(differing, 0);
  // Tokens that are not UTF-8, and those that start with a byte order mark, stay bytes.
  assert.ok(read.some((token) => Array.isArray(token) && token[0] === 0xef && token[1] === 0xbb));
});

test('counts and encodings are the package’s own', async () => {
  const shipped = await import('gpt-tokenizer/encoding/o200k_base');
  const ours = await loadTokenizer();
  for (const text of [
    'Say something short about benchmarks.',
    'Zoë 🍵 ünïcödé, 彩票平台开户, \uFEFFusing namespace\n\n',
    'x'.repeat(5_000),
  ]) {
    assert.deepEqual(ours.encode(text), shipped.encode(text));
    assert.equal(ours.countTokens(text), shipped.countTokens(text));
  }
});

function isDeepStrictEqualToken(a: unknown, b: unknown): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return (
    Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => v === b[i])
  );
}
