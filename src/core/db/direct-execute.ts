import { Column, is, Param, Placeholder } from 'drizzle-orm';
import { NoopCache } from 'drizzle-orm/cache/core';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { NoopLogger } from 'drizzle-orm/logger';
import { type PgPreparedQuery, PgTimestamp, type PreparedQueryConfig } from 'drizzle-orm/pg-core';
import { PostgresJsPreparedQuery } from 'drizzle-orm/postgres-js';
import type { Sql } from 'postgres';
import { timestamptzFromText } from './timestamp-text.ts';

/** One selected column: its key in the row object and how its driver value is read. */
interface ColumnReader {
  key: string;
  /** Undefined where drizzle's own reading is the value itself (text, uuid, boolean...). */
  decode: ((value: unknown) => unknown) | undefined;
}

/**
 * drizzle's own `execute`, as loaded. Tracing replaces it on the prototype with a wrapper that
 * opens a span a statement (`src/core/tracing.ts`); while it is replaced, a direct statement
 * goes through the wrapper, so no statement runs untraced.
 */
const DRIZZLE_EXECUTE = PostgresJsPreparedQuery.prototype.execute;

/** How one parameter gets its value at each call. */
type ParameterSource =
  | { kind: 'fixed'; value: unknown }
  | { kind: 'given'; name: string; encode: ((value: unknown) => unknown) | undefined };

/**
 * Runs a drizzle statement prepared on postgres.js without drizzle's per-call work, where
 * that work does nothing for it. drizzle's `execute` goes through four nested async steps
 * (a tracing span that is off, a query cache that is off) and maps each row with a `reduce`
 * that asks `is()` of every column and walks its path with an iterator, every row; its
 * placeholders are found with two `is()` a parameter, every call. On a primary-key read
 * that was about 5% of the whole request's CPU (decision 095). Here the columns' readers and
 * the parameters' sources are looked up once, when the statement is made, and a call is one
 * `await` of postgres.js and a plain loop: the same SQL, the same parameters, the same
 * decoders (each column's own `mapFromDriverValue`), the same errors (wrapped as drizzle
 * wraps them), so the rows are what drizzle would have made.
 *
 * While something wraps drizzle's `execute` (tracing), a call goes through that instead.
 * It leaves the statement as it is wherever it would change anything: another driver (PGlite),
 * a logger or a cache on the database, a statement that selects no columns or nests them
 * (joins, SQL fields), or a drizzle whose prepared statement no longer has these fields.
 * A statement prepared inside a transaction is a postgres.js one too, on the transaction's
 * connection, and is handled the same way.
 */
export function executeDirectly<P extends PgPreparedQuery<PreparedQueryConfig>>(statement: P): P {
  if (!is(statement, PostgresJsPreparedQuery)) return statement;
  const client: unknown = Reflect.get(statement, 'client');
  const query: unknown = Reflect.get(statement, 'queryString');
  const params: unknown = Reflect.get(statement, 'params');
  const prepare: unknown = Reflect.get(statement, 'prepare');
  if (
    !isSql(client) ||
    typeof query !== 'string' ||
    !Array.isArray(params) ||
    typeof prepare !== 'boolean' ||
    !is(Reflect.get(statement, 'logger'), NoopLogger) ||
    !is(Reflect.get(statement, 'cache'), NoopCache) ||
    Reflect.get(statement, 'customResultMapper') !== undefined
  ) {
    return statement;
  }
  const readers = columnReaders(Reflect.get(statement, 'fields'));
  if (!readers) return statement;
  const readRow = rowReader(readers);
  const sources = params.map(parameterSource);
  const options = { prepare };

  // Not async, and postgres.js's query taken with one `then`: an `await` of it (a promise of
  // its own class, not a native one) costs two promises and a turn of the microtask queue
  // more, and the async frame one promise more, on every statement (decision 127).
  const execute = (values: Record<string, unknown> = {}): Promise<unknown> => {
    const wrapped = PostgresJsPreparedQuery.prototype.execute;
    if (wrapped !== DRIZZLE_EXECUTE) return wrapped.call(statement, values);
    let filled: unknown[];
    try {
      filled = sources.map((source) => fill(source, values));
    } catch (error) {
      return Promise.reject(error);
    }
    // postgres.js builds and sends the statement once it is waited on (`then`): its failures
    // arrive as a rejection, never thrown here.
    return client
      .unsafe(query, filled, options)
      .values()
      .then(
        (rows: unknown[][]) => {
          const read = rows.map(readRow);
          // The driver's arrays of values are done with once read; emptied, they go even
          // while something still holds the finished query whose result they are. Under
          // load something does, until the next full collection: nearly every query survived
          // its first scavenge with its rows, their strings and tag arrays (a list answer's
          // 4 MB promoted a scavenge; decision 129).
          rows.length = 0;
          return read;
        },
        (error: unknown) => {
          throw new DrizzleQueryError(query, filled, error instanceof Error ? error : undefined);
        },
      );
  };
  // Replaced on this one object: its type stays drizzle's, whose rows these are.
  Object.defineProperty(statement, 'execute', { value: execute });
  return statement;
}

function isSql(value: unknown): value is Sql<Record<string, unknown>> {
  return typeof value === 'function' && 'unsafe' in value && typeof value.unsafe === 'function';
}

/**
 * Each field's reader, in the order of the statement's columns; undefined for any other
 * shape. Only columns at the top level: drizzle's nulling of a joined table's object (its
 * `joinsNotNullableMap`) applies to nested ones alone.
 */
function columnReaders(fields: unknown): ColumnReader[] | undefined {
  if (!Array.isArray(fields) || fields.length === 0) return undefined;
  const entries: unknown[] = fields;
  const readers: ColumnReader[] = [];
  for (const entry of entries) {
    if (typeof entry !== 'object' || entry === null || !('path' in entry) || !('field' in entry)) {
      return undefined;
    }
    const { path, field } = entry;
    if (!Array.isArray(path) || path.length !== 1 || typeof path[0] !== 'string') return undefined;
    // As a key of an object literal it would set the row's prototype (see `rowReader`).
    if (path[0] === '__proto__') return undefined;
    if (!is(field, Column)) return undefined;
    readers.push({ key: path[0], decode: decoderOf(field) });
  }
  return readers;
}

/**
 * How a column's driver value is read: drizzle's own `mapFromDriverValue`, but for drizzle's
 * own `timestamp with time zone` read as a `Date`, whose usual text is read without V8's date
 * parser first (the same `Date`, `timestamptzFromText`); any other text still goes to drizzle.
 */
function decoderOf(field: Column): ColumnReader['decode'] {
  if (field.mapFromDriverValue === Column.prototype.mapFromDriverValue) return undefined;
  if (
    is(field, PgTimestamp) &&
    field.withTimezone &&
    field.mapFromDriverValue === PgTimestamp.prototype.mapFromDriverValue
  ) {
    // drizzle's own hands back anything but text as it is.
    return (value) =>
      typeof value === 'string'
        ? (timestamptzFromText(value) ?? field.mapFromDriverValue(value))
        : value;
  }
  return (value) => field.mapFromDriverValue(value);
}

/** Makes a statement's row objects from the driver's arrays of values. */
type RowReader = (row: unknown[]) => Record<string, unknown>;

/**
 * The statement's row reader: one function made for it, whose object literal names every
 * column, so each row is built in one shape at once. Filled key by key in a loop, a row took
 * 150-220 ns for ten columns, every store a lookup among the shapes of every statement's
 * rows; the literal takes 15-25 ns (decision 120). The names go in as JSON strings and the
 * decoders as arguments: no text of a column becomes code. A column named `__proto__` would
 * set the literal's prototype, so such a statement keeps drizzle's own reading.
 */
function rowReader(readers: ColumnReader[]): RowReader {
  const decoders = readers.map((reader) => reader.decode);
  const fields = readers.map(({ key, decode }, index) => {
    const value = `row[${index}]`;
    const read = decode ? `${value} === null ? null : decoders[${index}](${value})` : value;
    return `${JSON.stringify(key)}: ${read}`;
  });
  // `Function` is untyped: this one takes the decoders and gives back the reader above.
  const make = new Function('decoders', `return (row) => ({ ${fields.join(', ')} });`) as (
    decoders: ColumnReader['decode'][],
  ) => RowReader;
  return make(decoders);
}

function parameterSource(param: unknown): ParameterSource {
  if (is(param, Placeholder)) return { kind: 'given', name: param.name, encode: undefined };
  if (is(param, Param) && is(param.value, Placeholder)) {
    const { encoder } = param;
    return {
      kind: 'given',
      name: param.value.name,
      encode: (value) => encoder.mapToDriverValue(value),
    };
  }
  return { kind: 'fixed', value: param };
}

/** As drizzle fills a placeholder: a name with no value is an error, not a null. */
function fill(source: ParameterSource, values: Record<string, unknown>): unknown {
  if (source.kind === 'fixed') return source.value;
  if (!(source.name in values)) {
    throw new Error(`No value for placeholder "${source.name}" was provided`);
  }
  const value = values[source.name];
  return source.encode ? source.encode(value) : value;
}
