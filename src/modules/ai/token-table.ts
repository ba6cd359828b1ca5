/**
 * A rank file's tokens in a few typed arrays, answering what encoding and decoding ask: the
 * rank of a token given as text, and the bytes of a rank's token. gpt-tokenizer answers them
 * with a `Map` from each token's text to its rank and an array of 200,000 strings, some 17 MB
 * of V8's heap for o200k; these arrays hold the same in about 4.5 MB (decision 098).
 */

/** A token as gpt-tokenizer's ranks hold it: its text, or its bytes when they are not UTF-8. */
export type RankedToken = string | readonly number[];

export interface TokenTable {
  /** The rank of the token whose text this is, as gpt-tokenizer's string-to-rank map answers. */
  get(text: string): number | undefined;
  /** The UTF-8 bytes of a rank's token, text or not; none for a hole or a rank past the end. */
  bytesOf(rank: number): Uint8Array | undefined;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

const encoder = new TextEncoder();

/**
 * Every token's UTF-8 bytes end to end (`bytes`, token `r` at `starts[r]` to `starts[r + 1]`;
 * no token is empty, so an empty span is a hole), and an open-addressing hash table of the text
 * tokens' ranks plus one (`slots`, 0 for empty) at most half full, keyed by FNV-1a of the same
 * bytes.
 */
export function tokenTable(ranks: readonly (RankedToken | undefined)[]): TokenTable {
  const count = ranks.length;
  const starts = new Uint32Array(count + 1);
  let total = 0;
  let texts = 0;
  let longest = 0;
  for (let rank = 0; rank < count; rank++) {
    starts[rank] = total;
    const token = ranks[rank];
    if (token === undefined) continue;
    const length = typeof token === 'string' ? Buffer.byteLength(token, 'utf8') : token.length;
    if (typeof token === 'string') texts++;
    total += length;
    longest = Math.max(longest, length);
  }
  starts[count] = total;
  // Written in place, token by token: an array of each token's bytes first took some 90 MB
  // that the process kept after they were garbage.
  const bytes = Buffer.allocUnsafeSlow(total);
  for (let rank = 0; rank < count; rank++) {
    const token = ranks[rank];
    const start = starts[rank] ?? 0;
    if (typeof token === 'string') bytes.write(token, start, 'utf8');
    else if (token) bytes.set(token, start);
  }

  let size = 1;
  while (size < texts * 2) size *= 2;
  const mask = size - 1;
  const slots = new Uint32Array(size);
  for (let rank = 0; rank < count; rank++) {
    if (typeof ranks[rank] !== 'string') continue;
    let slot = hashBytes(bytes, starts[rank] ?? 0, starts[rank + 1] ?? 0) & mask;
    while (slots[slot] !== 0) slot = (slot + 1) & mask;
    slots[slot] = rank + 1;
  }

  // The UTF-8 of a text that is not ASCII and might be a token, encoded into one buffer: a
  // UTF-16 code unit takes at most 3 bytes.
  const scratch = new Uint8Array(longest * 3);

  return {
    bytesOf(rank) {
      const start = starts[rank] ?? 0;
      const end = starts[rank + 1] ?? 0;
      return end > start ? bytes.subarray(start, end) : undefined;
    },
    get(text) {
      // A text's UTF-8 is at least as long as its UTF-16: past the longest token, none.
      if (text.length > longest) return undefined;
      // ASCII text is its own UTF-8: hashed and compared char by char, without encoding it.
      let hash = FNV_OFFSET;
      let ascii = true;
      for (let index = 0; index < text.length; index++) {
        const code = text.charCodeAt(index);
        if (code >= 0x80) {
          ascii = false;
          break;
        }
        hash = Math.imul(hash ^ code, FNV_PRIME);
      }
      // A lone surrogate is no token's text; UTF-8 would make it U+FFFD's, which may be one.
      if (!ascii && !text.isWellFormed()) return undefined;
      const length = ascii ? text.length : encoder.encodeInto(text, scratch).written;
      if (!ascii) hash = hashBytes(scratch, 0, length);
      for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
        const entry = slots[slot] ?? 0;
        if (entry === 0) return undefined;
        const rank = entry - 1;
        const start = starts[rank] ?? 0;
        if ((starts[rank + 1] ?? 0) - start !== length) continue;
        let index = 0;
        if (ascii) {
          while (index < length && bytes[start + index] === text.charCodeAt(index)) index++;
        } else {
          while (index < length && bytes[start + index] === scratch[index]) index++;
        }
        if (index === length) return rank;
      }
    },
  };
}

function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let hash = FNV_OFFSET;
  for (let index = start; index < end; index++) {
    hash = Math.imul(hash ^ (bytes[index] ?? 0), FNV_PRIME);
  }
  return hash >>> 0;
}
