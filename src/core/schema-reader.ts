import { z } from 'zod';
import { ResponseInstant } from './instant-schema.ts';
import { instantsAsText } from './instants-as-text.ts';

type Schema = z.core.$ZodType;
type Check = z.core.$ZodCheck;

/** What a reader answers for a value it cannot vouch for: zod's own parse decides. */
export const NOT_VOUCHED: unique symbol = Symbol('not vouched');

/** What zod's parse of a schema makes of a value, or NOT_VOUCHED. */
export type SchemaReader = (value: unknown) => unknown;

interface Compiled {
  read: SchemaReader;
  /** Whether `read` may answer undefined for a value it vouches for. */
  mayBeUndefined: boolean;
  /** Where `read` hands the value to zod itself, as paths (`data[].meta`); empty: nowhere. */
  delegated: string[];
}

/** What a reader is for: how it writes what zod's output holds, and its readers made so far. */
interface Use {
  /**
   * zod's output as this use wants it: an instant's, a part's handed to zod, a rewriting
   * check's.
   */
  written: (value: unknown) => unknown;
  made: WeakMap<Schema, Compiled>;
}

const AS_SENT: Use = { written: instantsAsText, made: new WeakMap() };
const AS_PARSED: Use = { written: asItIs, made: new WeakMap() };

/**
 * The reader of a response schema: the value zod's parse would make of what a handler
 * answers, with every instant already written as its text (`instantsAsText`), or NOT_VOUCHED.
 * Made the first time it is asked for and kept with the schema.
 *
 * zod's parse of a page of twenty items made a result object for every field it checked
 * (31 KB a page) and took 13.5 µs with the instants' writing (decision 123). The reader does
 * the same checks, reading the schema once: the same type tests as zod's own parsers, each
 * check run by zod's own check function, the declared keys copied in the schema's order and
 * nothing else (zod's strip), and instants written as text on the way instead of a second
 * walk. Whatever it does not know (a union, a default, a transform, a refinement of an
 * object, a coercion, a catchall) it hands to zod for that part; whatever fails, it does not
 * vouch for, and its caller parses the whole value with zod, so what is refused is refused
 * with zod's own error. It only ever says yes where zod says yes, with the same value:
 * `test/core/schema-reader.test.ts` holds it against zod over every schema the app documents
 * and generated values.
 */
export function responseReader(schema: Schema): SchemaReader {
  return compiledOf(schema, AS_SENT).read;
}

/**
 * The reader of a request part's schema: the value zod's parse would make of it, exactly
 * (instants as the `Date`s zod makes), or NOT_VOUCHED (decision 124).
 */
export function inputReader(schema: Schema): SchemaReader {
  return compiledOf(schema, AS_PARSED).read;
}

/** Where the readers of `schema` hand parts of the value to zod (for tests and reviews). */
export function delegatedParts(schema: Schema): string[] {
  return compiledOf(schema, AS_SENT).delegated;
}

/** How `delegatedParts` names a schema the readers leave to zod whole. */
export const WHOLE_VALUE = '(the whole value)';

function compiledOf(schema: Schema, use: Use): Compiled {
  let compiled = use.made.get(schema);
  if (!compiled) {
    compiled = compile(schema, '', use);
    // Left to zod whole: its caller's own parse alone, not a second one for a refusal.
    if (compiled.delegated[0] === WHOLE_VALUE) compiled.read = () => NOT_VOUCHED;
    use.made.set(schema, compiled);
  }
  return compiled;
}

function compile(schema: Schema, path: string, use: Use): Compiled {
  const core = z.core;
  if (schema === ResponseInstant)
    return { read: instantReader(use), mayBeUndefined: false, delegated: [] };
  if (schema instanceof core.$ZodString) {
    if (!schema._zod.def.coerce) return leaf(schema, isString, path, use);
  } else if (schema instanceof core.$ZodNumber) {
    if (!schema._zod.def.coerce) return leaf(schema, isFiniteNumber, path, use);
  } else if (schema instanceof core.$ZodBoolean) {
    if (!schema._zod.def.coerce) return leaf(schema, isBoolean, path, use);
  } else if (schema instanceof core.$ZodNull) {
    return leaf(schema, isNull, path, use);
  } else if (schema instanceof core.$ZodDate) {
    // Written as the use writes zod's output, checks or not: a response's as text.
    if (!schema._zod.def.coerce) return leaf(schema, isValidDate, path, use, use.written);
  } else if (schema instanceof core.$ZodEnum || schema instanceof core.$ZodLiteral) {
    const values: ReadonlySet<unknown> = schema._zod.values;
    return leaf(schema, (value) => values.has(value), path, use);
  } else if (schema instanceof core.$ZodAny || schema instanceof core.$ZodUnknown) {
    if (checksOf(schema).length === 0) {
      return { read: use.written, mayBeUndefined: true, delegated: [] };
    }
  } else if (schema instanceof core.$ZodNullable) {
    if (checksOf(schema).length === 0) {
      const inner = compile(schema._zod.def.innerType, path, use);
      const read = inner.read;
      return {
        read: (value) => (value === null ? null : read(value)),
        mayBeUndefined: inner.mayBeUndefined,
        delegated: inner.delegated,
      };
    }
  } else if (schema instanceof core.$ZodOptional) {
    const innerType = schema._zod.def.innerType;
    if (
      !(schema instanceof core.$ZodExactOptional) &&
      innerType._zod.optin !== 'defaulted' &&
      checksOf(schema).length === 0
    ) {
      const inner = compile(innerType, path, use);
      const read = inner.read;
      return {
        read: (value) => (value === undefined ? undefined : read(value)),
        mayBeUndefined: true,
        delegated: inner.delegated,
      };
    }
  } else if (schema instanceof core.$ZodArray) {
    return array(schema, schema._zod.def.element, path, use);
  } else if (schema instanceof core.$ZodObject) {
    const def = schema._zod.def;
    if (def.catchall === undefined && checksOf(schema).length === 0) {
      return object(schema, def.shape, path, use);
    }
  }
  return delegate(schema, path, use);
}

/** zod's own parse of this part, written as the use wants it; NOT_VOUCHED where it fails or throws. */
function delegate(schema: Schema, path: string, use: Use): Compiled {
  return {
    read: (value) => {
      let result: z.ZodSafeParseResult<unknown>;
      try {
        result = z.safeParse(schema, value);
      } catch {
        // An asynchronous refinement, say: the caller's own parse meets it as it did before.
        return NOT_VOUCHED;
      }
      return result.success ? use.written(result.data) : NOT_VOUCHED;
    },
    mayBeUndefined: true,
    delegated: [path || WHOLE_VALUE],
  };
}

/** zod's checks of a schema, in the order its `run` takes them (a format is itself one). */
function checksOf(schema: Schema): Check[] {
  const own = schema._zod.def.checks ?? [];
  return isCheck(schema) ? [schema, ...own] : own;
}

function isCheck(schema: Schema): schema is Schema & Check {
  return schema._zod.traits.has('$ZodCheck');
}

/**
 * A value with no parts: its type test (zod's parser's), then each check as zod's `run` takes
 * them: skipped where its `when` says so, failing at its first issue, its value the check's
 * (a `.trim()` is a check that rewrites it). `write` says how the value comes out: a date's
 * as the use writes zod's output; any other leaf's is its own value, whatever the use.
 */
function leaf(
  schema: Schema,
  test: (value: unknown) => boolean,
  path: string,
  use: Use,
  write: (value: unknown) => unknown = asItIs,
): Compiled {
  const checks = checksOf(schema);
  if (checks.length === 0) {
    return {
      read: (value) => (test(value) ? write(value) : NOT_VOUCHED),
      mayBeUndefined: test(undefined),
      delegated: [],
    };
  }
  if (checks.some((check) => typeof check._zod.check !== 'function'))
    return delegate(schema, path, use);
  const passes = checkRun(checks);
  return {
    read: (value) => {
      if (!test(value)) return NOT_VOUCHED;
      const checked = passes(value);
      return checked === NOT_VOUCHED ? NOT_VOUCHED : write(checked);
    },
    mayBeUndefined: true,
    delegated: [],
  };
}

function asItIs(value: unknown): unknown {
  return value;
}

/**
 * A run of zod's checks: the value they leave (a rewriting check's), or NOT_VOUCHED at the
 * first issue. The payload they read is kept for the next value once a run has passed
 * (a version number's two range checks made one for every item of a page, 2.9 KB a list
 * request); one that failed or threw is dropped, with whatever the check kept of it.
 */
function checkRun(checks: Check[]): (value: unknown) => unknown {
  let spare: z.core.ParsePayload<never> | undefined;
  return (value) => {
    // zod types a check's payload by the schema's own type, which this reads as `unknown`.
    const payload: z.core.ParsePayload<never> = spare ?? { value: value as never, issues: [] };
    spare = undefined;
    payload.value = value as never;
    for (const check of checks) {
      const when = check._zod.def.when;
      if (when && !when(payload)) continue;
      const outcome: unknown = check._zod.check(payload);
      if (outcome instanceof Promise || payload.issues.length > 0) return NOT_VOUCHED;
    }
    const checked = payload.value;
    payload.value = undefined as never;
    spare = payload;
    return checked;
  };
}

/** The checks an array may have that read nothing but its length, the same before and after. */
const LENGTH_CHECKS = new Set(['min_length', 'max_length', 'length_equals']);

function array(schema: Schema, element: Schema, path: string, use: Use): Compiled {
  const checks = checksOf(schema);
  if (checks.some((check) => !LENGTH_CHECKS.has(check._zod.def.check))) {
    return delegate(schema, path, use);
  }
  const inner = compile(element, `${path}[]`, use);
  const read = inner.read;
  const passes = checkRun(checks);
  return {
    read: (value) => {
      if (!Array.isArray(value)) return NOT_VOUCHED;
      const length = value.length;
      const copy: unknown[] = [];
      for (let index = 0; index < length; index++) {
        const item = read(value[index]);
        if (item === NOT_VOUCHED) return NOT_VOUCHED;
        copy.push(item);
      }
      if (checks.length > 0 && passes(copy) === NOT_VOUCHED) return NOT_VOUCHED;
      return copy;
    },
    mayBeUndefined: false,
    delegated: inner.delegated,
  };
}

interface Field {
  key: string;
  read: SchemaReader;
  optin: 'optional' | 'defaulted' | undefined;
  optout: 'optional' | undefined;
  mayBeUndefined: boolean;
}

/**
 * zod's `isObject` test, then its declared keys in the shape's order (a key `__proto__`, which
 * zod leaves out, left out), each kept as zod's `handlePropertyResult` keeps it.
 */
function object(
  schema: Schema,
  shape: Readonly<Record<string, Schema>>,
  path: string,
  use: Use,
): Compiled {
  if (Object.getOwnPropertySymbols(shape).length > 0) return delegate(schema, path, use);
  const fields: Field[] = [];
  const delegated: string[] = [];
  for (const [key, field] of Object.entries(shape)) {
    if (key === '__proto__') continue;
    // A default stands in for an absent key: zod's to do.
    if (field._zod.optin === 'defaulted') return delegate(schema, path, use);
    const compiled = compile(field, path ? `${path}.${key}` : key, use);
    delegated.push(...compiled.delegated);
    fields.push({
      key,
      read: compiled.read,
      optin: field._zod.optin,
      optout: field._zod.optout,
      mayBeUndefined: compiled.mayBeUndefined,
    });
  }
  const read = fields.every(keptByLiteral) ? literalReader(fields) : loopReader(fields);
  return { read, mayBeUndefined: false, delegated };
}

function isObjectValue(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A field whose key the output has exactly when the value vouched for has it, so that one
 * object literal can make the output: a required one (an absent key fails), or one whose
 * reader refuses undefined and whose absence is no option (a preprocess such as
 * `ResponseInstant` takes an absent key in, and its date refuses it).
 */
function keptByLiteral(field: Field): boolean {
  return field.optin === undefined || (field.optout !== 'optional' && !field.mayBeUndefined);
}

/**
 * The output made by one object literal, from a function made for the shape: a loop of
 * `copy[key] = value` was a keyed store through one site for every schema's keys, V8's slow
 * megamorphic path (decision 120 measured the same for rows). Keys are written as JSON
 * strings, so no key can break out of its place in the source; `__proto__` never gets here.
 */
function literalReader(fields: Field[]): SchemaReader {
  const reads = fields.map((_, index) => `read${index}`);
  const body = [
    'return (value) => {',
    '  if (typeof value !== "object" || value === null || Array.isArray(value)) return NOT_VOUCHED;',
    ...fields.flatMap((field, index) => {
      const key = JSON.stringify(field.key);
      return [
        ...(field.optin === undefined ? [`  if (!(${key} in value)) return NOT_VOUCHED;`] : []),
        `  const field${index} = read${index}(value[${key}]);`,
        `  if (field${index} === NOT_VOUCHED) return NOT_VOUCHED;`,
      ];
    }),
    `  return { ${fields.map((field, index) => `${JSON.stringify(field.key)}: field${index}`).join(', ')} };`,
    '};',
  ].join('\n');
  const make = new Function('NOT_VOUCHED', ...reads, body);
  return make(NOT_VOUCHED, ...fields.map((field) => field.read));
}

/** The same, key by key, for a shape with fields a literal cannot keep (an optional one). */
function loopReader(fields: Field[]): SchemaReader {
  return (value) => {
    if (!isObjectValue(value)) return NOT_VOUCHED;
    const copy: Record<string, unknown> = {};
    for (const field of fields) {
      const present = field.key in value;
      if (!present && field.optin === 'optional' && field.optout === 'optional') continue;
      const read = field.read(value[field.key]);
      if (read === NOT_VOUCHED || (!present && field.optin === undefined)) return NOT_VOUCHED;
      if (read !== undefined) copy[field.key] = read;
      else if (present) copy[field.key] = undefined;
    }
    return copy;
  };
}

/** `ResponseInstant`: its preprocess (text to a `Date`), then zod's date test. */
function instantReader(use: Use): SchemaReader {
  return (value) => {
    const date = typeof value === 'string' ? new Date(value) : value;
    return isValidDate(date) ? use.written(date) : NOT_VOUCHED;
  };
}

function isString(value: unknown): boolean {
  return typeof value === 'string';
}

function isFiniteNumber(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value);
}

function isBoolean(value: unknown): boolean {
  return typeof value === 'boolean';
}

function isNull(value: unknown): boolean {
  return value === null;
}

function isValidDate(value: unknown): value is Date {
  return value instanceof Date && !Number.isNaN(value.getTime());
}
