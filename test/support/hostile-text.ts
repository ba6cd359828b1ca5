/**
 * Text a hostile client sends in place of a string field, and where an OpenAPI schema has
 * string fields to put it in. Used by the contract test that walks every operation.
 */
import { isFileSchema, type OpenApiDocument, resolve, type SchemaObject } from './openapi.ts';

export interface HostileText {
  name: string;
  value: string;
  /** No field may hold it: a 2xx answer is wrong, only a 4xx is right. */
  refused: boolean;
}

export const HOSTILE_TEXTS: readonly HostileText[] = [
  { name: 'a NUL character', value: 'a\u0000b', refused: true },
  { name: 'a lone surrogate', value: 'a\ud800b', refused: true },
  { name: 'a 1 MB string', value: 'x'.repeat(1_048_576), refused: false },
  // Under the body limit, so it reaches the handlers: one run of letters without a space,
  // what pattern matching and byte-pair encoding take longest over, ending in an `@`.
  { name: 'a 900 KB run of letters', value: `${'漢字仮名'.repeat(75_000)}@`, refused: false },
  { name: 'a right-to-left override', value: 'abc\u202egpj.exe', refused: false },
];

/**
 * A value as a URL carries it. `encodeURIComponent` refuses a lone surrogate, but a client
 * can send its would-be UTF-8 bytes anyway, and does.
 */
export function encodeForUrl(value: string): string {
  return value.isWellFormed()
    ? encodeURIComponent(value)
    : [...value]
        .map((char) => {
          const code = char.charCodeAt(0);
          if (char.length > 1 || code < 0xd800 || code > 0xdfff) return encodeURIComponent(char);
          return `%${(0xe0 | (code >> 12)).toString(16)}%${(0x80 | ((code >> 6) & 0x3f)).toString(16)}%${(0x80 | (code & 0x3f)).toString(16)}`.toUpperCase();
        })
        .join('');
}

/**
 * A value as an HTTP header carries it: the server reads header bytes as Latin-1, so text
 * arrives as its UTF-8 bytes, one character each. NUL and control characters cannot be sent
 * at all (fetch and Node's parser refuse them), so they arrive as nothing.
 */
export function encodeForHeader(value: string): string {
  const printable = [...value].filter((char) => char >= ' ' && char !== '\u007f').join('');
  const bytes = Buffer.from(printable, 'utf8');
  return bytes.toString('latin1');
}

/** A dotted path to a string field inside a body; numbers index arrays. */
export type FieldPath = (string | number)[];

/**
 * Every string field of `schema` that is not a file: properties, array items (index 0) and
 * the first variant of a union, through `$ref`s.
 */
export function stringFields(
  document: OpenApiDocument,
  schema: SchemaObject | undefined,
  path: FieldPath = [],
  depth = 0,
): FieldPath[] {
  if (!schema || depth > 8) return [];
  const resolved = resolve(document, schema);
  const variants = resolved.anyOf ?? resolved.oneOf ?? resolved.allOf;
  if (variants)
    return variants.flatMap((variant) => stringFields(document, variant, path, depth + 1));
  const types = [resolved.type].flat();
  if (resolved.properties) {
    return Object.entries(resolved.properties).flatMap(([key, property]) =>
      stringFields(document, property, [...path, key], depth + 1),
    );
  }
  if (types.includes('array') && resolved.items) {
    return stringFields(document, resolved.items, [...path, 0], depth + 1);
  }
  if (types.includes('string') && !isFileSchema(resolved) && resolved.enum === undefined)
    return [path];
  return [];
}

/** A copy of `base` (an object) with `value` at `path`, creating what is missing. */
export function withValueAt(base: unknown, path: FieldPath, value: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return value;
  if (typeof head === 'number') {
    const list = Array.isArray(base) ? [...base] : [];
    list[head] = withValueAt(list[head], rest, value);
    return list;
  }
  const object = isRecord(base) ? base : {};
  return { ...object, [head]: withValueAt(object[head], rest, value) };
}

/** What `value` holds at `path`, or undefined where it has nothing there. */
export function valueAt(value: unknown, path: FieldPath): unknown {
  let at = value;
  for (const key of path) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = Reflect.get(at, key);
  }
  return at;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
