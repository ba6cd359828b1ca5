import { readFile } from 'node:fs/promises';
import type { GptEncoding } from 'gpt-tokenizer/GptEncoding';

let loading: Promise<GptEncoding> | undefined;

/**
 * The o200k tokenizer (GPT-4o's and later models' encoding), loaded on first use: its tables
 * take tens of megabytes that a process that never counts tokens should not pay for.
 *
 * Built from the package's own rank file (`data/o200k_base.tiktoken`, a token in base64 and
 * its rank per line) rather than by importing `gpt-tokenizer/encoding/o200k_base`, whose
 * ranks are a 2.4 MB JavaScript array literal: parsing that left the process about 65 MB
 * larger for good, this about 45 (decision 045). The ranks are the same, element for element
 * (`test/modules/ai/tokenizer.test.ts` compares them).
 */
export function loadTokenizer(): Promise<GptEncoding> {
  loading ??= build();
  return loading;
}

async function build(): Promise<GptEncoding> {
  const [{ GptEncoding }, ranks] = await Promise.all([
    import('gpt-tokenizer/GptEncoding'),
    readRanks(new URL('../data/o200k_base.tiktoken', import.meta.resolve('gpt-tokenizer'))),
  ]);
  return GptEncoding.getEncodingApi('o200k_base', () => ranks);
}

const BOM = [0xef, 0xbb, 0xbf];

/**
 * A rank file as gpt-tokenizer holds ranks: by rank, each token as its text when its bytes
 * are UTF-8, else as the bytes themselves. A token that starts with a byte order mark is kept
 * as bytes too, as the package keeps it (decoding would drop the mark).
 */
export async function readRanks(file: URL): Promise<(string | number[])[]> {
  const text = await readFile(file, 'latin1');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const decode = (bytes: Buffer) => utf8.decode(bytes);
  const ranks: (string | number[])[] = [];
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

function asToken(bytes: Buffer, decode: (bytes: Buffer) => string): string | number[] {
  if (BOM.every((byte, index) => bytes[index] === byte)) return Array.from(bytes);
  try {
    return decode(bytes);
  } catch {
    return Array.from(bytes);
  }
}
