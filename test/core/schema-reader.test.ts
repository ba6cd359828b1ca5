/**
 * The schema readers against zod itself: for every response and request schema the app
 * documents, and a zoo of schemas with what the readers handle and what they leave to zod,
 * over generated values (valid ones, broken ones, hostile text), each vouches exactly where
 * zod's parse succeeds, with the very value zod's output is (the response reader: with its
 * instants as text, `instantsAsText`): the same keys in the same order, undefined where zod
 * keeps undefined.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from '@hono/zod-openapi';
import { createApp } from '../../src/app.ts';
import { ResponseInstant } from '../../src/core/instant-schema.ts';
import { instantsAsText } from '../../src/core/instants-as-text.ts';
import {
  delegatedParts,
  inputReader,
  NOT_VOUCHED,
  responseReader,
  WHOLE_VALUE,
} from '../../src/core/schema-reader.ts';
import { parseSettings } from '../../src/core/settings.ts';
import { createDeps } from '../../src/deps.ts';
import { ItemPage, ItemPublic } from '../../src/modules/items/items.schemas.ts';
import { HOSTILE_TEXTS } from '../support/hostile-text.ts';
import { seededRandom } from '../support/seeded-random.ts';

type Schema = z.core.$ZodType;

/** Every key, at every depth, in order: `deepStrictEqual` does not look at the order. */
function keyOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(keyOrder);
  if (typeof value !== 'object' || value === null || value instanceof Date) return null;
  return Object.entries(value).map(([key, field]) => [key, keyOrder(field)]);
}

/** Holds both readers' answers for `value` against zod's; says whether zod accepted it. */
function compare(schema: Schema, value: unknown, label: string): boolean {
  const expected = z.safeParse(schema, value);
  const readings = [
    { reader: 'response', read: responseReader(schema)(value), want: instantsAsText },
    { reader: 'input', read: inputReader(schema)(value), want: (data: unknown) => data },
  ];
  // Left to zod whole: not vouched for, so the caller's one parse decides.
  const whole = delegatedParts(schema)[0] === WHOLE_VALUE;
  for (const { reader, read, want } of readings) {
    const at = `${label} (${reader} reader)`;
    if (!expected.success || whole) {
      assert.equal(read, NOT_VOUCHED, `${at}: zod refuses ${show(value)}, the reader vouched`);
      continue;
    }
    assert.notEqual(read, NOT_VOUCHED, `${at}: zod accepts ${show(value)}, the reader did not`);
    const wanted = want(expected.data);
    assert.deepStrictEqual(read, wanted, `${at}: ${show(value)}`);
    assert.deepStrictEqual(keyOrder(read), keyOrder(wanted), `${at}: key order of ${show(value)}`);
  }
  return expected.success;
}

function show(value: unknown): string {
  try {
    const text = JSON.stringify(value, (_, field: unknown) =>
      field === undefined ? '(undefined)' : typeof field === 'number' ? String(field) : field,
    );
    return text === undefined ? String(value) : text.slice(0, 300);
  } catch {
    return String(value);
  }
}

const UUID = '0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e';
const TEXTS = [
  '',
  'a',
  ' padded ',
  'UPPER',
  UUID,
  '2026-01-02T03:04:05.678Z',
  '2026-01-02',
  'not a date',
  '19.99',
  'ada@example.com',
  'https://example.com/a',
  'x'.repeat(5_000),
  // The megabyte ones would only make the run slower: length is checked by zod's own checks.
  ...HOSTILE_TEXTS.filter((text) => text.value.length < 10_000).map((text) => text.value),
];
const OTHERS: unknown[] = [
  undefined,
  null,
  true,
  false,
  [],
  {},
  new Date('2026-01-02T03:04:05.678Z'),
  new Date(Number.NaN),
  new Date('+012345-01-01T00:00:00Z'),
  Object.assign(new Date(0), { toJSON: () => 'own' }),
  Object.create({ inherited: 'x' }),
  new Map(),
];

const VALID_NUMBERS = [0, -0, 1, -1, 1.5, 3, 7, 42, 100, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, 1e21];
const BROKEN: unknown[] = [...TEXTS, ...OTHERS, Number.NaN, Infinity, -Infinity];

/**
 * A value of the kind `schema` takes, from `random`; with `breaking` above 0, that share of
 * its parts replaced by anything at all (a missing key, a wrong type, an invalid date).
 */
function generate(schema: Schema, random: () => number, breaking: number, depth = 0): unknown {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const broken = () => random() < breaking;
  if (broken()) return pick(BROKEN);
  const inner = (part: Schema) => generate(part, random, breaking, depth + 1);
  const core = z.core;
  if (schema === ResponseInstant) {
    return pick([new Date(1_767_322_800_000), '2026-01-02T03:04:05Z', '2026-01-02']);
  }
  if (schema instanceof core.$ZodString) {
    const def = schema._zod.def;
    const format = 'format' in def ? def.format : undefined;
    if (format === 'uuid' || format === 'guid') return UUID;
    if (format === 'datetime') return '2026-01-02T03:04:05Z';
    if (format === 'email') return 'ada@example.com';
    if (format === 'url') return 'https://example.com/a';
    return pick(TEXTS);
  }
  if (schema instanceof core.$ZodNumber) return pick(VALID_NUMBERS);
  if (schema instanceof core.$ZodBoolean) return random() < 0.5;
  if (schema instanceof core.$ZodDate) return new Date(1_767_322_800_000 + random() * 1e10);
  if (schema instanceof core.$ZodEnum || schema instanceof core.$ZodLiteral) {
    return pick([...schema._zod.values]);
  }
  if (schema instanceof core.$ZodUndefined) return undefined;
  if (
    schema instanceof core.$ZodNullable ||
    schema instanceof core.$ZodOptional ||
    schema instanceof core.$ZodDefault ||
    schema instanceof core.$ZodReadonly
  ) {
    const empty = schema instanceof core.$ZodNullable ? null : undefined;
    return random() < 0.2 ? empty : generate(schema._zod.def.innerType, random, breaking, depth);
  }
  if (schema instanceof core.$ZodPipe) return generate(schema._zod.def.in, random, breaking, depth);
  if (schema instanceof core.$ZodUnion) {
    return generate(pick(schema._zod.def.options), random, breaking, depth);
  }
  if (depth > 4) return pick(BROKEN);
  if (schema instanceof core.$ZodArray) {
    return Array.from({ length: Math.floor(random() * 4) }, () => inner(schema._zod.def.element));
  }
  if (schema instanceof core.$ZodRecord) return { a: inner(schema._zod.def.valueType) };
  if (schema instanceof core.$ZodObject) {
    const object: Record<string, unknown> = broken() ? Object.create({ inherited: 1 }) : {};
    for (const [key, field] of Object.entries(schema._zod.def.shape)) {
      if (broken()) continue;
      const value = broken() ? undefined : inner(field);
      if (key === '__proto__') Object.defineProperty(object, key, { value, enumerable: true });
      else object[key] = value;
    }
    if (random() < 0.3) object.undeclared = 'SECRET';
    return object;
  }
  return pick(BROKEN);
}

/** Holds the reader against zod over `count` generated values; how many zod accepted. */
function holdAgainstZod(schema: Schema, label: string, seed: number, count: number): number {
  const random = seededRandom(seed);
  let accepted = 0;
  for (let index = 0; index < count; index++) {
    // Half whole, half broken here and there.
    const value = generate(schema, random, index % 2 === 0 ? 0 : 0.05);
    if (compare(schema, value, `${label} #${index}`)) accepted++;
  }
  return accepted;
}

/** The request and response schemas of every documented operation, by operation. */
async function appSchemas(): Promise<Map<string, Schema>> {
  const deps = await createDeps(
    parseSettings({
      NODE_ENV: 'test',
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      LOG_LEVEL: 'silent',
      MIGRATE_ON_START: 'false',
    }),
  );
  try {
    const found = new Map<string, Schema>();
    for (const definition of createApp(deps).openAPIRegistry.definitions) {
      if (definition.type !== 'route') continue;
      const { method, path, request, responses } = definition.route;
      const operation = `${method.toUpperCase()} ${path}`;
      for (const [part, schema] of Object.entries(request ?? {})) {
        if (schema instanceof z.core.$ZodType) found.set(`${operation} ${part}`, schema);
      }
      for (const [mediaType, media] of Object.entries(request?.body?.content ?? {})) {
        const schema = media && 'schema' in media ? media.schema : undefined;
        if (schema instanceof z.core.$ZodType) found.set(`${operation} body ${mediaType}`, schema);
      }
      for (const [status, response] of Object.entries(responses)) {
        const content = 'content' in response ? (response.content ?? {}) : {};
        for (const [mediaType, media] of Object.entries(content)) {
          const schema = media && 'schema' in media ? media.schema : undefined;
          if (schema instanceof z.core.$ZodType) {
            found.set(`${operation} ${status} ${mediaType}`, schema);
          }
        }
      }
    }
    return found;
  } finally {
    await deps.close();
  }
}

describe('the schema readers hold to zod', () => {
  test('on every request and response schema the app documents, over generated values', async () => {
    const schemas = await appSchemas();
    assert.ok(schemas.size > 100, `only ${schemas.size} schemas found`);
    let seed = 1;
    let accepted = 0;
    for (const [label, schema] of schemas) accepted += holdAgainstZod(schema, label, seed++, 150);
    // Generated values that zod accepts: the equal-value half of the comparison was exercised.
    assert.ok(accepted > schemas.size * 20, `zod accepted only ${accepted} generated values`);
  });

  test('reads an item and a page of items without handing any part to zod', () => {
    assert.deepEqual(delegatedParts(ItemPublic), []);
    assert.deepEqual(delegatedParts(ItemPage), []);
    assert.ok(holdAgainstZod(ItemPage, 'ItemPage', 99, 500) > 100);
  });

  const zoo: Record<string, Schema> = {
    'string checks': z.string().min(2).max(10),
    'string formats': z.object({ id: z.uuid(), mail: z.email(), at: z.iso.datetime() }),
    'a url, checked by its own function': z.url(),
    'a regex': z.string().regex(/^[a-z]+$/),
    'a rewriting check (trim, lower case)': z.string().trim().toLowerCase(),
    'a refinement of a string': z.string().refine((text) => text.length !== 1, 'not one'),
    'a refinement that runs when it says': z
      .string()
      .refine((text) => text.length > 1, { when: (payload) => payload.value !== 'a' }),
    'numbers and their checks': z.object({
      int: z.int(),
      positive: z.number().positive(),
      bounded: z.number().gte(-5).lte(5),
      step: z.number().multipleOf(0.5),
      int32: z.int32(),
    }),
    'enums and literals': z.object({
      status: z.enum(['draft', 'active']),
      kind: z.literal('list'),
      several: z.literal([1, 'one', null]),
    }),
    'nullable and optional, each way round': z.object({
      a: z.string().nullable(),
      b: z.string().optional(),
      c: z.string().nullable().optional(),
      d: z.string().optional().nullable(),
      e: z.undefined().optional(),
    }),
    'an exact optional': z.object({ a: z.string().exactOptional() }),
    'dates and instants': z.object({
      at: ResponseInstant,
      maybe: ResponseInstant.nullable(),
      later: ResponseInstant.optional(),
      date: z.date(),
      after: z.date().min(new Date('2020-01-01')),
    }),
    'arrays with lengths': z.object({
      tags: z.array(z.string()).min(1).max(3),
      nested: z.array(z.array(z.number())),
    }),
    'an array refined (left to zod)': z.array(z.string()).refine((list) => list.length !== 2),
    'an object refined (left to zod)': z
      .object({ a: z.number(), b: z.number() })
      .refine((value) => value.a < value.b),
    'strict and loose objects (left to zod)': z.object({
      strict: z.object({ a: z.string() }).strict(),
      loose: z.object({ a: z.string() }).loose(),
      catchall: z.object({ a: z.string() }).catchall(z.number()),
    }),
    'defaults (left to zod)': z.object({ a: z.string().default('x'), b: z.number() }),
    'unions, records, transforms (left to zod)': z.object({
      either: z.union([z.string(), z.number()]),
      shaped: z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('a'), a: z.string() }),
        z.object({ kind: z.literal('b'), b: ResponseInstant }),
      ]),
      record: z.record(z.string(), z.date()),
      length: z.string().transform((text) => text.length),
      coerced: z.coerce.number(),
      // Optional in, not out: an absent key stays absent, a present undefined is kept.
      passed: z.transform((value: unknown) => value),
    }),
    'any and unknown': z.object({ a: z.unknown(), b: z.any(), c: z.unknown().optional() }),
    'awkward keys': z.object({
      '2': z.string(),
      b: z.string(),
      '1': z.string(),
      'quote"and\\backslash\nand})': z.string(),
      // Computed, so that it is a key of the shape and not the shape's prototype.
      ['__proto__']: z.object({ a: z.string() }),
      constructor: z.string().optional(),
    }),
  };
  for (const [name, schema] of Object.entries(zoo)) {
    test(name, () => {
      assert.ok(holdAgainstZod(schema, name, name.length, 600) > 0, 'zod accepted no value');
    });
  }

  test('what it hands to zod, it names', () => {
    assert.deepEqual(delegatedParts(zoo['an object refined (left to zod)'] as Schema), [
      WHOLE_VALUE,
    ]);
    assert.deepEqual(delegatedParts(zoo['unions, records, transforms (left to zod)'] as Schema), [
      'either',
      'shaped',
      'record',
      'length',
      'coerced',
      'passed',
    ]);
  });

  test('an asynchronous refinement is not vouched for, so zod throws as it would', () => {
    const schema = z.object({ a: z.string().refine(async () => true) });
    assert.equal(responseReader(schema)({ a: 'x' }), NOT_VOUCHED);
    assert.throws(() => schema.parse({ a: 'x' }));
  });
});
