/**
 * The tokenizer built from gpt-tokenizer's rank file is the package's own o200k encoding:
 * the same ranks, element for element, and the same counts and encodings, its tables held in
 * typed arrays (decision 098); and it decodes whole characters, special tokens' names as text.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenTable } from '../../../src/modules/ai/token-table.ts';
import {
  holdTablesCompactly,
  loadTokenizer,
  readO200kRanks,
} from '../../../src/modules/ai/tokenizer.ts';

test('the ranks read from the rank file are the ones the package ships as code', async () => {
  const [{ default: shipped }, read] = await Promise.all([
    import('gpt-tokenizer/esm/bpeRanks/o200k_base'),
    readO200kRanks(),
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

const TEXTS = [
  'Say something short about benchmarks.',
  'Zoë 🍵 ünïcödé, 彩票平台开户, \uFEFFusing namespace\n\n',
  'x'.repeat(5_000),
  // Hostile input: a NUL, lone surrogates (one where U+FFFD's own token would be), controls.
  'a\u0000b \uD800 \uDFFFx \uFFFD 🍵\uD83C\u0007',
  'Привет мир こんにちは 안녕하세요 مرحبا नमस्ते 👩‍👩‍👧‍👦',
];

test('counts and encodings are the package’s own; decoding gives the text back', async () => {
  const shipped = await import('gpt-tokenizer/encoding/o200k_base');
  const ours = await loadTokenizer();
  for (const text of TEXTS) {
    const tokens = ours.encode(text);
    assert.deepEqual(tokens, shipped.encode(text));
    assert.equal(ours.countTokens(text), shipped.countTokens(text));
    // A lone surrogate has no UTF-8 of its own: it is encoded as U+FFFD.
    assert.equal(ours.decodeWhole(tokens), text.toWellFormed());
  }
});

test('a special token’s name is counted and encoded as the text it is, not refused', async () => {
  const shipped = await import('gpt-tokenizer/encoding/o200k_base');
  const ours = await loadTokenizer();
  const text = 'quoting <|endoftext|> and <|endofprompt|> from a transcript';
  assert.throws(() => shipped.encode(text), /Disallowed special token/);
  const ordinary = shipped.encode(text, { disallowedSpecial: new Set() });
  assert.deepEqual(ours.encode(text), ordinary);
  assert.equal(ours.countTokens(text), ordinary.length);
  assert.equal(ours.decodeWhole(ordinary), text);
});

test('decoding keeps whole characters, and one call leaves nothing to the next', async () => {
  const { encode, decodeWhole } = await loadTokenizer();
  const tea = encode('🍵');
  assert.ok(tea.length > 1, 'the emoji takes tokens of its bytes');
  const head = tea.slice(0, -1);
  const tail = tea.slice(-1);
  assert.equal(decodeWhole([...encode('tea '), ...head]), 'tea ');
  assert.equal(decodeWhole([...tail, ...encode(' time')]), ' time');
  // gpt-tokenizer's own decode kept a cut character's bytes in a decoder shared by every call,
  // to begin whatever the next call decoded.
  assert.equal(decodeWhole(head), '');
  assert.equal(decodeWhole(encode('🍵 tea')), '🍵 tea');
});

test('the package’s encoding keeps its answers once its tables are swapped for the table', async () => {
  const { GptEncoding } = await import('gpt-tokenizer/GptEncoding');
  const shipped = await import('gpt-tokenizer/encoding/o200k_base');
  const ranks = await readO200kRanks();
  const encoding = GptEncoding.getEncodingApi('o200k_base', () => ranks);
  assert.equal(holdTablesCompactly(encoding, ranks, tokenTable(ranks)), true);
  const core: unknown = Reflect.get(encoding, 'bytePairEncodingCoreProcessor');
  assert.ok(typeof core === 'object' && core !== null);
  assert.ok(!(Reflect.get(core, 'bytePairStringRankEncoder') instanceof Map));
  for (const text of TEXTS) {
    assert.deepEqual(encoding.encode(text), shipped.encode(text));
    assert.equal(encoding.countTokens(text), shipped.countTokens(text));
  }
});

function isDeepStrictEqualToken(a: unknown, b: unknown): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return (
    Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => v === b[i])
  );
}
