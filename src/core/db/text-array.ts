import { makePgArray } from 'drizzle-orm/pg-core';
import type { PostgresType } from 'postgres';

/** A PostgreSQL array of text, nested for each dimension past the first. */
export type TextArray = (string | null | TextArray)[];

const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }
const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * An array of text as PostgreSQL writes it (`array_out`): `{a,"b c",NULL,"q\"t","a\\b"}`,
 * nested braces for more dimensions, and a `[0:1]=` prefix when its lower bound is not 1
 * (read past: a JavaScript array starts at 0 whatever it was). An element is quoted when it
 * holds a quote, a backslash, a comma, a brace or white space, is empty, or is the text
 * `NULL`; inside quotes a backslash takes the next character as it is. An unquoted `NULL`
 * is the null element.
 *
 * drizzle's own reader of array columns drops every backslash (`"a\\b"` came back `ab`): a
 * tag written with one was stored as sent and read back changed. Read here, before drizzle
 * sees the column, it gets an array and keeps it as it is.
 */
export function parseTextArray(literal: string): TextArray {
  const start = literal.indexOf('{');
  if (start === -1) throw new TypeError(`Not a PostgreSQL array: ${literal.slice(0, 40)}`);
  const root: TextArray = [];
  // The arrays that enclose the one being read, innermost last.
  const enclosing: TextArray[] = [];
  let current = root;
  let index = start + 1;
  while (index < literal.length) {
    const char = literal.charCodeAt(index);
    if (char === OPEN) {
      const inner: TextArray = [];
      current.push(inner);
      enclosing.push(current);
      current = inner;
      index += 1;
    } else if (char === CLOSE) {
      const outer = enclosing.pop();
      if (outer === undefined) return root;
      current = outer;
      index += 1;
    } else if (char === COMMA) {
      index += 1;
    } else {
      index =
        char === QUOTE
          ? readQuoted(literal, index + 1, current)
          : readBare(literal, index, current);
    }
  }
  throw new TypeError('Unterminated PostgreSQL array');
}

/**
 * A quoted element from `from` (past its opening quote) to its closing quote, added to
 * `into`; where reading goes on. A backslash takes the next character as it is.
 */
function readQuoted(literal: string, from: number, into: TextArray): number {
  let text = '';
  let piece = from;
  for (let index = from; index < literal.length; index += 1) {
    const char = literal.charCodeAt(index);
    if (char === QUOTE) {
      into.push(text + literal.slice(piece, index));
      return index + 1;
    }
    if (char === BACKSLASH) {
      text += literal.slice(piece, index);
      // The escaped character starts the next piece, whatever it is; it is stepped over.
      piece = index + 1;
      index += 1;
    }
  }
  throw new TypeError('Unterminated quoted array element');
}

/** An unquoted element from `from` to the next comma or brace, added to `into`. */
function readBare(literal: string, from: number, into: TextArray): number {
  let end = from;
  while (end < literal.length) {
    const char = literal.charCodeAt(end);
    if (char === COMMA || char === CLOSE) break;
    end += 1;
  }
  const word = literal.slice(from, end);
  into.push(word === 'NULL' ? null : word);
  return end;
}

/**
 * The literal PostgreSQL reads back as `value`: a literal given as text (what drizzle
 * writes for an array column) is sent as it is; an array is written by drizzle's own
 * writer, which quotes and escapes every text element.
 */
export function textArrayLiteral(value: unknown): string {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value))
    throw new TypeError('A text[] parameter must be an array or its literal');
  return makePgArray(value);
}

/** PostgreSQL's own type numbers of `text[]` and `varchar[]`. */
const TEXT_ARRAY_OIDS = [1009, 1015];

/**
 * For postgres.js's `types` option: `text[]` and `varchar[]` columns read into arrays by
 * `parseTextArray`, and parameters of those types written by `textArrayLiteral`. With the
 * array types not looked up on connecting (decision 068), postgres.js knows no array type
 * of its own; these two are PostgreSQL's fixed ones.
 */
export const TEXT_ARRAY_TYPE: PostgresType<TextArray> = {
  to: 1009,
  from: TEXT_ARRAY_OIDS,
  serialize: textArrayLiteral,
  parse: parseTextArray,
};
