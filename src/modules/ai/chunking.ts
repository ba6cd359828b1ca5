import { loadTokenizer as tokenizer } from './tokenizer.ts';
import { encodeText } from './tokens.ts';

export interface Chunk {
  /** Its place in the document, from 0. */
  seq: number;
  text: string;
  tokens: number;
}

/**
 * Tokens a chunk starts after the one before: what `overlap` leaves of `maxTokens`, the overlap
 * taken as at most half a chunk (as a collection's schema requires; one stored before it did
 * may ask for more). An overlap of all but a token made a chunk of every token, each embedded
 * and stored: 184,686 chunks for a megabyte of text.
 */
function chunkStep(maxTokens: number, overlap: number): number {
  return Math.max(1, maxTokens - Math.min(overlap, Math.floor(maxTokens / 2)));
}

/**
 * Cuts a text into chunks of at most `maxTokens` tokens, each starting `overlap` tokens before
 * the previous one ended, so a sentence cut at a boundary is whole in one of the two. A cut
 * moves back to the start of a word when one is near, so no word is split in two. The next
 * chunk starts a whole step (`chunkStep`) after this one started, so a cut shortens the overlap,
 * not the step; only a cut back past the overlap shortens the step, to where the chunk ended,
 * by at most a fifth of a chunk. A text of n tokens gives at most 2n / maxTokens + 1 chunks.
 */
export async function chunkByTokens(
  text: string,
  options: { maxTokens: number; overlap: number },
): Promise<Chunk[]> {
  const { decodeWhole } = await tokenizer();
  const tokens = await encodeText(text);
  const chunks: Chunk[] = [];
  const step = chunkStep(options.maxTokens, options.overlap);
  const startsWord = (index: number) => /^\s/.test(decodeWhole([tokens[index] ?? 0]));
  let start = 0;
  while (start < tokens.length) {
    let end = Math.min(tokens.length, start + options.maxTokens);
    if (end < tokens.length) {
      const floor = end - Math.floor(options.maxTokens / 5);
      for (let cut = end; cut > floor && cut > start + 1; cut--) {
        if (startsWord(cut)) {
          end = cut;
          break;
        }
      }
    }
    const piece = decodeWhole(tokens.slice(start, end)).trim();
    if (piece.length > 0) chunks.push({ seq: chunks.length, text: piece, tokens: end - start });
    if (end >= tokens.length) break;
    // A whole step on, but not past this chunk's end: the tokens between would be in none.
    let next = Math.max(start + 1, Math.min(end, start + step));
    for (let move = next; move < end && move < next + 10; move++) {
      if (startsWord(move)) {
        next = move;
        break;
      }
    }
    start = next;
  }
  return chunks;
}
