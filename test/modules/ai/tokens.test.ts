/**
 * Token counting in time linear in the text: byte-pair encoding a stretch without a word
 * boundary costs the square of its length, so long stretches are cut, and only they; text
 * with spaces is counted exactly, and a large count lets the event loop turn.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { loadTokenizer } from '../../../src/modules/ai/tokenizer.ts';
import {
  countMessageTokens,
  countTextTokens,
  encodeText,
  tokenizerSegments,
} from '../../../src/modules/ai/tokens.ts';

const prose = Array.from(
  { length: 4_000 },
  (_, index) =>
    `Line ${index}:  the  price is ${index * 7}.50, isn't it?\n\tNext — «ünïcödé» 彩票 🍵 done.  `,
).join('');

test('text with spaces is counted and encoded exactly, across segments', async () => {
  const { countTokens, encode } = await loadTokenizer();
  assert.ok(prose.length > 200_000);
  assert.ok(tokenizerSegments(prose).length > 5, 'cut into segments at word boundaries');
  assert.equal(await countTextTokens(prose), countTokens(prose));
  assert.deepEqual(await encodeText(prose), encode(prose));
});

test('a stretch without a word boundary is cut into short segments, never inside a pair', () => {
  for (const text of ['a'.repeat(100_000), '漢字仮名'.repeat(20_000), '🍵'.repeat(30_000)]) {
    const segments = tokenizerSegments(text);
    assert.equal(segments.join(''), text);
    assert.ok(
      segments.every((segment) => segment.length <= 256),
      `longest segment ${Math.max(...segments.map((segment) => segment.length))}`,
    );
    assert.ok(segments.every((segment) => !/^[\uDC00-\uDFFF]/.test(segment)));
  }
  // Whitespace runs are stretches too: a space only bounds a word before something else.
  assert.ok(tokenizerSegments(' '.repeat(10_000)).every((segment) => segment.length <= 256));
  assert.deepEqual(tokenizerSegments('short text'), ['short text']);
});

test('cut stretches count close to the whole count, and decode back to the text', async () => {
  const { countTokens, decodeWhole: decode } = await loadTokenizer();
  for (const text of [
    'a'.repeat(10_000),
    '漢字仮名交じり文'.repeat(500),
    '🍵'.repeat(2_000),
    randomBytes(6_000).toString('base64'),
    `https://example.com/${'path/'.repeat(400)}`,
  ]) {
    const whole = countTokens(text);
    const counted = await countTextTokens(text);
    const cuts = tokenizerSegments(text).length - 1;
    assert.ok(Math.abs(counted - whole) <= 2 * cuts, `${counted} against ${whole}, ${cuts} cuts`);
    assert.equal(decode(await encodeText(text)), text);
  }
});

/** What `count` answers, and how many turns the event loop took while it ran. */
async function turnsDuring<T>(count: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let counting = true;
  const tick = () => {
    turns++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  const result = await count();
  counting = false;
  return { result, turns };
}

test('a large count lets the event loop turn while it runs', async () => {
  const {
    result: [tokens],
    turns,
  } = await turnsDuring(() =>
    countMessageTokens([{ role: 'user', content: randomBytes(300_000).toString('base64') }]),
  );
  assert.ok((tokens ?? 0) > 100_000);
  assert.ok(turns > 5, `${turns} turns of the event loop during the count`);
});

test('a text counted lately is not counted again: an earlier turn, a system prompt', async () => {
  const earlier = randomBytes(300_000).toString('base64');
  const first = await turnsDuring(() => countTextTokens(earlier));
  assert.ok(first.turns > 5, `${first.turns} turns while counting`);
  const again = await turnsDuring(() => countTextTokens(earlier));
  assert.equal(again.result, first.result);
  assert.ok(again.turns <= 1, `counted again: ${again.turns} turns`);
  // The whole text is the key: a text that starts the same is another text.
  const longer = await countTextTokens(`${earlier} and one more turn`);
  assert.ok(longer > first.result, `${longer} tokens for four more words`);
});
