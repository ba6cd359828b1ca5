import { readFile } from 'node:fs/promises';
import type { GptEncoding } from 'gpt-tokenizer/GptEncoding';
import { type RankedToken, type TokenTable, tokenTable } from './token-table.ts';

/** What the module asks of a tokenizer. */
export interface Tokenizer {
  /** Tokens of a text, special tokens' names (`<|endoftext|>`) counted as the text they are. */
  countTokens(text: string): number;
  /** The tokens of a text, special tokens' names encoded as the text they are. */
  encode(text: string): number[];
  /**
   * The text of tokens, whole characters only: the bytes of a character cut at either end
   * (a token holds part of a character's UTF-8) are left out, not decoded as U+FFFD. A token
   * of no rank in the file (a special token, which `encode` never gives) adds nothing.
   */
  decodeWhole(tokens: readonly number[]): string;
}

let loading: Promise<Tokenizer> | undefined;

/**
 * The o200k tokenizer (GPT-4o's and later models' encoding), loaded on first use: its tables
 * take megabytes that a process that never counts tokens should not pay for.
 *
 * Built from the package's own rank file (`data/o200k_base.tiktoken`, a token in base64 and
 * its rank per line) rather than by importing `gpt-tokenizer/encoding/o200k_base`, whose
 * ranks are a 2.4 MB JavaScript array literal: parsing that left the process about 65 MB
 * larger for good, this about 45 (decision 045). The ranks are the same, element for element
 * (`test/modules/ai/tokenizer.test.ts` compares them), then held in typed arrays (decision 098).
 */
export function loadTokenizer(): Promise<Tokenizer> {
  loading ??= build();
  return loading;
}

/**
 * Special tokens' names in a text are its text: a message that quotes `<|endoftext|>` is
 * counted as the upstream reads it (OpenAI's API encodes message content as ordinary text),
 * where gpt-tokenizer's default throws on it.
 */
const ORDINARY = { disallowedSpecial: new Set<string>() };

const wholeText = new TextDecoder();

async function build(): Promise<Tokenizer> {
  const [{ GptEncoding }, ranks] = await Promise.all([
    import('gpt-tokenizer/GptEncoding'),
    readO200kRanks(),
  ]);
  const encoding = GptEncoding.getEncodingApi('o200k_base', () => ranks);
  const table = tokenTable(ranks);
  holdTablesCompactly(encoding, ranks, table);
  // Made in a scope of its own: closures made here would keep `ranks` alive with this scope.
  return tokenizerOf(encoding, table);
}

function tokenizerOf(encoding: GptEncoding, table: TokenTable): Tokenizer {
  return {
    countTokens: (text) => encoding.countTokens(text, ORDINARY),
    encode: (text) => encoding.encode(text, ORDINARY),
    // Not the package's decode: it decodes bytes through one streaming decoder shared by every
    // call, so the cut character's first bytes left by one call began the next call's text.
    decodeWhole: (tokens) =>
      wholeText.decode(
        wholeCharacters(Buffer.concat(tokens.flatMap((rank) => table.bytesOf(rank) ?? []))),
      ),
  };
}

/** UTF-8 without a character's tail at its start nor a character's head at its end. */
function wholeCharacters(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length && ((bytes[start] ?? 0) & 0xc0) === 0x80) start++;
  let end = bytes.length;
  // The last lead byte within a character's reach of the end, and whether its character fits.
  for (let back = 1; back <= 4 && end - back >= start; back++) {
    const byte = bytes[end - back] ?? 0;
    if ((byte & 0xc0) === 0x80) continue;
    const size = byte < 0x80 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
    if (size > back) end -= back;
    break;
  }
  return bytes.subarray(start, end);
}

/**
 * Swaps the two tables gpt-tokenizer's core builds from the ranks (a string-to-rank `Map`,
 * and the ranks themselves, read only to decode) for `table`, so the ranks' 200,000 strings
 * and the map become garbage (decision 098). The core encodes and counts through the table;
 * it no longer decodes (`Tokenizer.decodeWhole` does, from the table). They are the core's
 * private fields: when a version of the package no longer has them as this one does, the
 * encoding is left as the package built it and this says false
 * (`test/modules/ai/tokenizer.test.ts` fails then).
 */
export function holdTablesCompactly(
  encoding: GptEncoding,
  ranks: readonly RankedToken[],
  table: TokenTable,
): boolean {
  const core: unknown = Reflect.get(encoding, 'bytePairEncodingCoreProcessor');
  if (typeof core !== 'object' || core === null) return false;
  if (!(Reflect.get(core, 'bytePairStringRankEncoder') instanceof Map)) return false;
  if (Reflect.get(core, 'bytePairRankDecoder') !== ranks) return false;
  Reflect.set(core, 'bytePairStringRankEncoder', table);
  Reflect.set(core, 'bytePairRankDecoder', []);
  return true;
}

/** The ranks of gpt-tokenizer's own o200k rank file. */
export function readO200kRanks(): Promise<RankedToken[]> {
  return readRanks(new URL('../data/o200k_base.tiktoken', import.meta.resolve('gpt-tokenizer')));
}

const BOM = [0xef, 0xbb, 0xbf];

/**
 * A rank file as gpt-tokenizer holds ranks: by rank, each token as its text when its bytes
 * are UTF-8, else as the bytes themselves. A token that starts with a byte order mark is kept
 * as bytes too, as the package keeps it (decoding would drop the mark).
 */
export async function readRanks(file: URL): Promise<RankedToken[]> {
  const text = await readFile(file, 'latin1');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const decode = (bytes: Buffer) => utf8.decode(bytes);
  const ranks: RankedToken[] = [];
  let start = 0;
  while (start < text.length) {
    const lineEnd = text.indexOf('\n', start);
    const end = lineEnd === -1 ? text.length : lineEnd;
    const space = text.indexOf(' ', start);
    if (space > start && space < end) {
      const bytes = Buffer.from(text.slice(start, space), 'base64');
      const rank = Number(text.slice(space + 1, end));
      ranks[rank] = asToken(bytes, decode);
    }
    start = end + 1;
  }
  return ranks;
}

function asToken(bytes: Buffer, decode: (bytes: Buffer) => string): RankedToken {
  if (BOM.every((byte, index) => bytes[index] === byte)) return Array.from(bytes);
  try {
    return decode(bytes);
  } catch {
    return Array.from(bytes);
  }
}
