import { loadTokenizer as tokenizer } from './tokenizer.ts';
import { encodeText } from './tokens.ts';

export interface Chunk {
  /** Its place in the document, from 0. */
  seq: number;
  text: string;
  tokens: number;
}

/**
 * Cuts a text into chunks of at most `maxTokens` tokens, each starting `overlap` tokens before
 * the previous one ended, so a sentence cut at a boundary is whole in one of the two. A cut
 * moves back to the start of a word when one is near, so no word is split in two.
 */
export async function chunkByTokens(
  text: string,
  options: { maxTokens: number; overlap: number },
): Promise<Chunk[]> {
  const { decode } = await tokenizer();
  const tokens = await encodeText(text);
  const chunks: Chunk[] = [];
  const startsWord = (index: number) => /^\s/.test(decode([tokens[index] ?? 0]));
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
    const piece = decode(tokens.slice(start, end)).trim();
    if (piece.length > 0) chunks.push({ seq: chunks.length, text: piece, tokens: end - start });
    if (end >= tokens.length) break;
    let next = Math.max(start + 1, end - options.overlap);
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
