/**
 * Documents cut into chunks that each move on by a whole step: a collection's overlap is at
 * most half its chunks, and chunking keeps the step even where a cut moves back to the start
 * of a word, or where a collection stored before that rule asks for more overlap (all but a
 * token of each chunk made a chunk of every token, each embedded and stored).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Chunk, chunkByTokens } from '../../../src/modules/ai/chunking.ts';
import { CollectionCreate } from '../../../src/modules/ai/documents.schemas.ts';
import { loadTokenizer } from '../../../src/modules/ai/tokenizer.ts';
import { encodeText } from '../../../src/modules/ai/tokens.ts';

const SYLLABLES = ['zor', 'quix', 'blen', 'thrap', 'vok', 'mirr'];

/** Words of several tokens each, all different: a cut at a word start often moves back. */
const words = (count: number) =>
  Array.from(
    { length: count },
    (_, index) =>
      `${SYLLABLES[index % 6]}${SYLLABLES[(index * 5 + 1) % 6]}${index}${SYLLABLES[(index * 7 + 2) % 6]}`,
  ).join(' ');

/**
 * Where each chunk starts among the text's tokens, found again by decoding: the first place
 * after the previous chunk's start whose tokens decode to the chunk's text.
 */
async function startsOf(text: string, chunks: Chunk[]): Promise<number[]> {
  const { decodeWhole: decode } = await loadTokenizer();
  const tokens = await encodeText(text);
  const starts: number[] = [];
  let from = 0;
  for (const chunk of chunks) {
    let start = from;
    while (decode(tokens.slice(start, start + chunk.tokens)).trim() !== chunk.text) {
      start += 1;
      assert.ok(start < tokens.length, `chunk ${chunk.seq} is not in the text`);
    }
    starts.push(start);
    from = start + 1;
  }
  return starts;
}

describe('a collection’s chunk overlap', () => {
  test('more than half of chunkTokens is refused, naming both fields', () => {
    const refused: [number, number][] = [
      [501, 500],
      [32, 31],
      [301, 151],
    ];
    for (const [chunkTokens, chunkOverlap] of refused) {
      const parsed = CollectionCreate.safeParse({ name: 'Handbook', chunkTokens, chunkOverlap });
      assert.equal(parsed.success, false, `${chunkTokens}/${chunkOverlap}`);
      const [issue] = parsed.error?.issues ?? [];
      assert.deepEqual(issue?.path, ['chunkOverlap']);
      assert.match(issue?.message ?? '', /chunkTokens/);
      assert.match(issue?.message ?? '', /chunkOverlap/);
    }
    // Against the default chunkTokens (300) too.
    assert.equal(
      CollectionCreate.safeParse({ name: 'Handbook', chunkOverlap: 200 }).success,
      false,
    );
  });

  test('up to half of chunkTokens is taken, and the defaults', () => {
    for (const body of [
      { name: 'Handbook', chunkTokens: 300, chunkOverlap: 150 },
      { name: 'Handbook', chunkTokens: 32, chunkOverlap: 16 },
      { name: 'Handbook', chunkTokens: 64, chunkOverlap: 0 },
      { name: 'Handbook' },
    ]) {
      assert.equal(CollectionCreate.safeParse(body).success, true, JSON.stringify(body));
    }
  });
});

describe('chunkByTokens', () => {
  test('each chunk starts a whole step after the one before, with no token left out', async () => {
    const text = words(2_000);
    const maxTokens = 40;
    const overlap = 20;
    const chunks = await chunkByTokens(text, { maxTokens, overlap });
    const starts = await startsOf(text, chunks);
    const total = (await encodeText(text)).length;
    let shortened = 0;
    for (const [index, chunk] of chunks.entries()) {
      const start = starts[index] ?? 0;
      const end = start + chunk.tokens;
      if (chunk.tokens < maxTokens) shortened += 1;
      const next = starts[index + 1];
      if (next === undefined) {
        assert.equal(end, total, 'the last chunk ends the text');
        continue;
      }
      assert.ok(
        next - start >= maxTokens - overlap,
        `chunk ${index + 1} starts ${next - start} on`,
      );
      assert.ok(next <= end, `tokens ${end} to ${next} are in no chunk`);
    }
    assert.equal(starts[0], 0);
    // The text is such that cuts move back to word starts: else this proves nothing.
    assert.ok(shortened > chunks.length / 2, `${shortened} of ${chunks.length} chunks cut short`);
  });

  test('an overlap of all but a token, as stored before the rule, still makes few chunks', async () => {
    const text = 'lorem ipsum dolor sit amet '.repeat(4_000);
    const total = (await encodeText(text)).length;
    const stored: [number, number][] = [
      [501, 500],
      [32, 31],
    ];
    for (const [maxTokens, overlap] of stored) {
      const chunks = await chunkByTokens(text, { maxTokens, overlap });
      assert.ok(
        chunks.length <= (2 * total) / maxTokens + 1,
        `${chunks.length} chunks of ${maxTokens} tokens for ${total} tokens`,
      );
      assert.ok(chunks.length >= total / maxTokens, 'the text is still all chunked');
    }
  });
});
