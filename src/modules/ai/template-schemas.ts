/**
 * JSON Schemas a client writes for its prompt templates (the variables a call gives, the
 * answer's shape), made safe to run on the server (decision 072): refused when saved if they
 * are too large or deep, hold a regular expression, or have `$ref`s whose checking multiplies
 * or never ends; compiled once per template version; and a value checked against one only
 * when counting says zod's work stays bounded.
 */
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { type InvalidField, InvalidInputError } from '../../core/domain-errors.ts';
import { isPlainObject } from '../../core/plain-object.ts';
import { TEMPLATE_SCHEMA_MAX_BYTES, TEMPLATE_SCHEMA_MAX_DEPTH } from './ai.schemas.ts';

/**
 * The most checks one validation may take (one schema applied to one value, or one of its
 * keys, properties or items; see `stepCounter`). Past it, zod's work is seconds and its issues
 * gigabytes: a 64 KB schema of 2,000 `anyOf` branches under `items`, given 2,000 values that
 * fit none, took 4.4 s and 1.2 GB; 3,000 branches and 20,000 values ran out of memory.
 */
export const MAX_CHECK_STEPS = 200_000;

/**
 * The most `$ref`s a template's schema may hold. Checking that no two schemas of one value
 * share a definition follows the definitions from each place with two or more, so its cost
 * grows with the square of their number: 256 keep it to milliseconds.
 */
const MAX_SCHEMA_REFS = 256;

/** Problems listed in one refusal: enough to act on, and the refusal stays small. */
export const MAX_LISTED_PROBLEMS = 100;

function refuseSchema(fields: readonly InvalidField[]): never {
  throw new InvalidInputError(
    'The template has a JSON Schema that cannot be used',
    fields.slice(0, MAX_LISTED_PROBLEMS),
  );
}

/** Keywords whose subschemas each check the whole value, beside the schema that holds them. */
const BRANCH_KEYWORDS = ['anyOf', 'oneOf', 'allOf'] as const;

/** Keywords whose value is a subschema checking a part of the value (an item, a key). */
const PART_SUBSCHEMA_KEYWORDS = [
  'items',
  'prefixItems',
  'additionalItems',
  'additionalProperties',
  'contains',
  'propertyNames',
  'unevaluatedItems',
  'unevaluatedProperties',
];

/** Keywords whose value maps property names to the subschemas checking those properties. */
const PART_MAP_KEYWORDS = ['properties', 'patternProperties'];

/** Keywords whose value is a subschema, or a list of them (`items` in draft 7). */
const SUBSCHEMA_KEYWORDS = new Set([
  ...PART_SUBSCHEMA_KEYWORDS,
  ...BRANCH_KEYWORDS,
  'not',
  'if',
  'then',
  'else',
  'contentSchema',
]);

/** Where the definitions are, which a `$ref` names only through the root. */
const DEFINITION_KEYWORDS = new Set(['$defs', 'definitions']);

/** Keywords whose value maps names to subschemas. */
const SUBSCHEMA_MAP_KEYWORDS = new Set([
  ...PART_MAP_KEYWORDS,
  ...DEFINITION_KEYWORDS,
  'dependentSchemas',
  'dependencies',
]);

/** Keywords whose subschemas check a part of the value (an item, a property), not all of it. */
const PART_KEYWORDS = new Set([...PART_SUBSCHEMA_KEYWORDS, ...PART_MAP_KEYWORDS]);

/** Keywords zod's `fromJSONSchema` compiles to a backtracking `RegExp`. */
const REGEX_KEYWORDS: Record<string, string> = {
  pattern: 'constrain the string with `enum`, `format`, `minLength` or `maxLength`',
  patternProperties: 'name the properties in `properties`, or use `additionalProperties`',
  propertyNames: 'name the properties in `properties` with `additionalProperties: false`',
};

interface Subschema {
  keyword: string;
  /** Its place in the request body, dotted: `variables.properties.text`. */
  path: string;
  schema: Record<string, unknown>;
}

/** The subschemas right under `node` (boolean ones hold nothing to check, and are left out). */
function subschemasOf(node: Record<string, unknown>, path: string): Subschema[] {
  return Object.entries(node).flatMap(([keyword, value]) => {
    const at = `${path}.${keyword}`;
    let children: [string, unknown][] = [];
    if (SUBSCHEMA_KEYWORDS.has(keyword))
      children = Array.isArray(value)
        ? value.map((child, i) => [`${at}.${i}`, child])
        : [[at, value]];
    else if (SUBSCHEMA_MAP_KEYWORDS.has(keyword) && isPlainObject(value))
      children = Object.entries(value).map(([name, child]) => [`${at}.${name}`, child]);
    return children.flatMap(([childPath, child]) =>
      isPlainObject(child) ? [{ keyword, path: childPath, schema: child }] : [],
    );
  });
}

/** Every schema in `node`'s tree, `node` first; the walk's depth is the schema's, capped. */
function everySchema(
  node: Record<string, unknown>,
  path: string,
  visit: (schema: Record<string, unknown>, path: string) => void,
): void {
  visit(node, path);
  for (const child of subschemasOf(node, path)) everySchema(child.schema, child.path, visit);
}

/** Whether `value` nests objects and arrays more than `levels` deep; it looks no deeper. */
function nestsDeeperThan(value: unknown, levels: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (levels === 0) return true;
  return Object.values(value).some((child) => nestsDeeperThan(child, levels - 1));
}

/** A template's schema that is too big or too deep to look into, as a problem. */
function sizeProblem(schema: Record<string, unknown>, path: string): InvalidField | undefined {
  if (nestsDeeperThan(schema, TEMPLATE_SCHEMA_MAX_DEPTH)) {
    return {
      path,
      message: `The schema nests objects and arrays more than ${TEMPLATE_SCHEMA_MAX_DEPTH} levels deep`,
      code: 'schema_too_deep',
    };
  }
  const bytes = Buffer.byteLength(JSON.stringify(schema));
  if (bytes <= TEMPLATE_SCHEMA_MAX_BYTES) return undefined;
  return {
    path,
    message: `The schema takes ${bytes} bytes as JSON, more than ${TEMPLATE_SCHEMA_MAX_BYTES}`,
    code: 'schema_too_large',
  };
}

/**
 * `pattern`, `patternProperties` and `propertyNames` anywhere in the schema: zod compiles
 * their regular expressions with `new RegExp`, a backtracking engine, and runs them on the
 * variables and on the model's answers. `^(a+)+$` held the event loop 34 s on 31 characters.
 */
function regexProblems(schema: Record<string, unknown>, path: string): InvalidField[] {
  const problems: InvalidField[] = [];
  everySchema(schema, path, (node, at) => {
    for (const [keyword, instead] of Object.entries(REGEX_KEYWORDS)) {
      if (!Object.hasOwn(node, keyword)) continue;
      problems.push({
        path: `${at}.${keyword}`,
        message: `\`${keyword}\` is not accepted: its regular expression would run on the server, where a pattern such as \`^(a+)+$\` takes minutes on a short text; ${instead}`,
        code: 'schema_regex_refused',
      });
    }
  });
  return problems;
}

/** Where a `$ref` finds definitions, as zod reads it: `definitions` for drafts 7 and 4. */
function definitionsKeyword(root: Record<string, unknown>): string {
  const draft = root.$schema;
  return draft === 'http://json-schema.org/draft-07/schema#' ||
    draft === 'http://json-schema.org/draft-04/schema#'
    ? 'definitions'
    : '$defs';
}

/**
 * A `$ref` as zod's `fromJSONSchema` resolves it, so the references checked here are the ones
 * it follows: `#` (the root) or `#/$defs/<name>`, a definition of the root's `$defs` (or
 * `definitions`), named as in `definitionsOf`. Undefined for anything else; zod refuses it.
 */
function refTarget(root: Record<string, unknown>, ref: unknown): string | undefined {
  if (typeof ref !== 'string' || !ref.startsWith('#')) return undefined;
  const [first, name] = ref.slice(1).split('/').filter(Boolean);
  if (first === undefined) return '#';
  const definitions = root.$defs || root.definitions;
  if (first !== definitionsKeyword(root) || name === undefined || !isPlainObject(definitions))
    return undefined;
  const key = name.replaceAll('~1', '/').replaceAll('~0', '~');
  return Object.hasOwn(definitions, key) ? `#/${first}/${key}` : undefined;
}

/** The schemas a `$ref` can name, by `refTarget`'s names: the root and its definitions. */
function definitionsOf(root: Record<string, unknown>): Map<string, Record<string, unknown>> {
  const found = new Map<string, Record<string, unknown>>([['#', root]]);
  const definitions = root.$defs || root.definitions;
  if (!isPlainObject(definitions)) return found;
  const keyword = definitionsKeyword(root);
  for (const [name, schema] of Object.entries(definitions))
    if (isPlainObject(schema)) found.set(`#/${keyword}/${name}`, schema);
  return found;
}

interface RefUse {
  target: string;
  /** Whether the way to it goes into a property or an item, so it checks a smaller value. */
  intoPart: boolean;
}

/** The `$ref`s in `node`'s tree, leaving out definitions (reached only by `$ref`). */
function refsUnder(root: Record<string, unknown>, node: Record<string, unknown>): RefUse[] {
  const uses: RefUse[] = [];
  const walk = (schema: Record<string, unknown>, intoPart: boolean) => {
    const target = refTarget(root, schema.$ref);
    if (target !== undefined) uses.push({ target, intoPart });
    for (const child of subschemasOf(schema, '')) {
      if (!DEFINITION_KEYWORDS.has(child.keyword))
        walk(child.schema, intoPart || PART_KEYWORDS.has(child.keyword));
    }
  };
  walk(node, false);
  return uses;
}

/** Each definition's `$ref`s: where checking a value against it goes next. */
type RefGraph = Map<string, RefUse[]>;

function refGraphOf(root: Record<string, unknown>): RefGraph {
  return new Map(
    [...definitionsOf(root)].map(([target, schema]) => [target, refsUnder(root, schema)]),
  );
}

/**
 * A `$ref` that comes back to itself through `$ref`s and branches alone, never going into a
 * property or an item: checking any value against it never ends (zod overflows its stack).
 * Depth-first with an explicit stack, as a chain of definitions can be thousands long.
 */
function refCycleProblem(graph: RefGraph, path: string): InvalidField | undefined {
  const inPlace = new Map(
    [...graph].map(([target, uses]) => [
      target,
      uses.filter((use) => !use.intoPart).map((use) => use.target),
    ]),
  );
  const state = new Map<string, 'open' | 'done'>();
  for (const start of inPlace.keys()) {
    if (state.has(start)) continue;
    const stack: { target: string; next: number }[] = [{ target: start, next: 0 }];
    state.set(start, 'open');
    for (let top = stack.at(-1); top; top = stack.at(-1)) {
      const next = inPlace.get(top.target)?.[top.next++];
      if (next === undefined) {
        state.set(top.target, 'done');
        stack.pop();
      } else if (state.get(next) === 'open') {
        return {
          path,
          message: `\`$ref\` ${next} comes back to itself without going into a property or an item: checking a value against it would never end`,
          code: 'schema_ref_cycle',
        };
      } else if (!state.has(next)) {
        state.set(next, 'open');
        stack.push({ target: next, next: 0 });
      }
    }
  }
  return undefined;
}

/**
 * The schemas that check the same value as `node` does, each with its name: the branches of
 * its `anyOf`, `oneOf` and `allOf`, `contains` (it checks the items again), and the rest of
 * `node` beside them (its `$ref`, `items`, `properties`...).
 */
function sameValueSchemas(node: Record<string, unknown>): [string, Record<string, unknown>][] {
  const rest = Object.fromEntries(
    Object.entries(node).filter(
      ([keyword]) => keyword !== 'contains' && !BRANCH_KEYWORDS.some((name) => name === keyword),
    ),
  );
  const schemas: [string, Record<string, unknown>][] = [['the rest of the schema', rest]];
  if (isPlainObject(node.contains)) schemas.push(['`contains`', node.contains]);
  for (const keyword of BRANCH_KEYWORDS) {
    const branches = node[keyword];
    if (!Array.isArray(branches)) continue;
    branches.forEach((branch, i) => {
      if (isPlainObject(branch)) schemas.push([`\`${keyword}\` branch ${i}`, branch]);
    });
  }
  return schemas;
}

/**
 * Two schemas that check the same value (see `sameValueSchemas`) both leading to one
 * definition, directly or through other `$ref`s. zod checks a value against every branch, so
 * such a definition is checked once per schema that reaches it, and when it does the same one
 * level down, the checks multiply: `d_i = {anyOf: [{$ref: d_i+1}, {$ref: d_i+1}]}` 20 levels
 * deep (1.4 KB) took 3.6 s. The rule is stricter than needed (two branches reaching it for
 * different properties would not multiply), so that it stays short to state and to check.
 */
function sharedRefProblem(
  root: Record<string, unknown>,
  graph: RefGraph,
  node: Record<string, unknown>,
  path: string,
): InvalidField | undefined {
  const queue = sameValueSchemas(node).flatMap(([name, schema]) =>
    refsUnder(root, schema).map((use): [string, string] => [use.target, name]),
  );
  if (new Set(queue.map(([, name]) => name)).size < 2) return undefined;
  // Breadth first from every schema at once (the loop reaches what is pushed during it): each
  // definition is followed once, by the first schema to reach it.
  const reachedBy = new Map<string, string>();
  for (const [target, name] of queue) {
    const other = reachedBy.get(target);
    if (other === undefined) {
      reachedBy.set(target, name);
      for (const use of graph.get(target) ?? []) queue.push([use.target, name]);
    } else if (other !== name) {
      return {
        path,
        message: `${other} and ${name} both lead to ${target} (directly or through other \`$ref\`s). Schemas that check the same value (the branches of \`anyOf\`, \`oneOf\` and \`allOf\`, the rest of the schema beside them, \`contains\` beside \`items\`) must not lead to the same definition: it would be checked once for each, and nested, the checks multiply level by level`,
        code: 'schema_refs_multiply',
      };
    }
  }
  return undefined;
}

/** What is wrong with the `$ref`s of `schema`: too many, cycles that check nothing, sharing. */
function refProblems(schema: Record<string, unknown>, path: string): InvalidField[] {
  const graph = refGraphOf(schema);
  const refs = [...graph.values()].reduce((count, uses) => count + uses.length, 0);
  if (refs > MAX_SCHEMA_REFS) {
    return [
      {
        path,
        message: `The schema has ${refs} \`$ref\`s, more than ${MAX_SCHEMA_REFS}`,
        code: 'schema_too_many_refs',
      },
    ];
  }
  const cycle = refCycleProblem(graph, path);
  if (cycle) return [cycle];
  const problems: InvalidField[] = [];
  everySchema(schema, path, (node, at) => {
    const shared = sharedRefProblem(schema, graph, node, at);
    if (shared) problems.push(shared);
  });
  return problems;
}

/**
 * A JSON Schema as a zod schema, or the reason it is not one we can check against: too big or
 * deep, with a regular expression, with `$ref`s that make checking take exponential time or
 * never end, or one zod cannot compile. Each registry is the schema's own: zod's global one
 * keeps every schema with an `id` for good (2,000 compiles kept 565 MB).
 */
export function usableSchema(jsonSchema: Record<string, unknown>, path: string): z.ZodType {
  const tooBig = sizeProblem(jsonSchema, path);
  if (tooBig) refuseSchema([tooBig]);
  const problems = [...regexProblems(jsonSchema, path), ...refProblems(jsonSchema, path)];
  if (problems.length > 0) refuseSchema(problems);
  try {
    return z.fromJSONSchema(jsonSchema, { registry: z.registry() });
  } catch (error) {
    return refuseSchema([
      {
        path,
        message: error instanceof Error ? error.message : String(error),
        code: 'invalid_schema',
      },
    ]);
  }
}

/**
 * Compiled schemas of called templates, by version: a version's row never changes, and
 * compiling costs tens of milliseconds for a large schema. Bounded by the schemas' JSON size,
 * as a compiled schema takes about 85 times its text (8.8 MB for 105 KB).
 */
const compiledSchemas = new LRUCache<string, CompiledSchema>({ max: 500, maxSize: 1_048_576 });

/** A template's schema, compiled: what checks a value against it. */
export interface CompiledSchema {
  check(value: unknown): Checked;
}

/**
 * A template version's `variables` or `outputSchema` compiled (`version`: the template's id and
 * version), from the cache when it is there.
 */
export function compiledSchema(
  version: string,
  which: 'variables' | 'outputSchema',
  jsonSchema: Record<string, unknown>,
): CompiledSchema {
  const id = `${version}/${which}`;
  const cached = compiledSchemas.get(id);
  if (cached) return cached;
  const schema = usableSchema(jsonSchema, which);
  const steps = stepCounter(jsonSchema);
  const compiled = { check: (value: unknown) => checkAgainst(schema, steps, value) };
  compiledSchemas.set(id, compiled, { size: Buffer.byteLength(JSON.stringify(jsonSchema)) });
  return compiled;
}

/** The schema a `$ref` names, through `refTarget`; undefined when zod would not find one. */
type RefResolver = (ref: unknown) => Record<string, unknown> | undefined;

function refResolver(root: Record<string, unknown>): RefResolver {
  const definitions = definitionsOf(root);
  return (ref) => {
    const target = refTarget(root, ref);
    return target === undefined ? undefined : definitions.get(target);
  };
}

/**
 * The checks that follow `schema`'s own on `part`: the definition its `$ref` names and each of
 * its branches on `part` itself, its item schemas on each item, its property schemas on each
 * property. An upper estimate of zod's: it stops at the first branch that fits.
 */
function nextChecks(
  schema: Record<string, unknown>,
  part: unknown,
  resolve: RefResolver,
): [Record<string, unknown>, unknown][] {
  const checks: [unknown, unknown][] = [[resolve(schema.$ref), part]];
  for (const keyword of BRANCH_KEYWORDS) {
    const branches = schema[keyword];
    if (Array.isArray(branches)) for (const branch of branches) checks.push([branch, part]);
  }
  if (Array.isArray(part)) {
    part.forEach((item, i) => {
      for (const keyword of ['prefixItems', 'items']) {
        const list = schema[keyword];
        if (Array.isArray(list)) checks.push([list[i], item]);
      }
      for (const keyword of ['items', 'additionalItems', 'contains'])
        checks.push([schema[keyword], item]);
    });
  } else if (isPlainObject(part)) {
    const properties = isPlainObject(schema.properties) ? schema.properties : {};
    for (const [key, item] of Object.entries(part)) {
      const property = Object.hasOwn(properties, key)
        ? properties[key]
        : schema.additionalProperties;
      checks.push([property, item]);
    }
  }
  return checks.flatMap(([next, value]) => (isPlainObject(next) ? [[next, value]] : []));
}

/** What checking `part` against `schema` alone costs zod: its keys, properties, enum, types. */
function ownSteps(schema: Record<string, unknown>, part: unknown): number {
  const lengthOf = (value: unknown) => (Array.isArray(value) ? value.length : 0);
  let steps = 1 + lengthOf(schema.enum) + lengthOf(schema.type) + lengthOf(part);
  if (isPlainObject(part)) {
    steps += Object.keys(part).length;
    if (isPlainObject(schema.properties)) steps += Object.keys(schema.properties).length;
  }
  return steps;
}

/** How many steps zod takes to check a value, counted past `limit` at most (`stepCounter`). */
type StepCounter = (value: unknown, limit: number) => number;

/**
 * About how many steps zod takes to check a value against the JSON Schema `root` (see
 * `ownSteps` and `nextChecks`), counted before it does them, without recursion (the value may
 * nest deeply). Counting stops once past `limit`, so it costs about that much at most. The
 * definitions `$ref`s name are found once, for every value checked.
 */
function stepCounter(root: Record<string, unknown>): StepCounter {
  const resolve = refResolver(root);
  return (value, limit) => {
    const pending: [Record<string, unknown>, unknown][] = [[root, value]];
    let steps = 0;
    for (let next = pending.pop(); next && steps <= limit; next = pending.pop()) {
      const [schema, part] = next;
      steps += ownSteps(schema, part);
      if (steps > limit) break;
      for (const check of nextChecks(schema, part, resolve)) pending.push(check);
    }
    return steps;
  };
}

export type Checked =
  | { kind: 'fits'; data: unknown }
  | { kind: 'does not fit'; issues: z.ZodError['issues'] }
  | { kind: 'cannot check'; reason: string; code: string };

/**
 * `value` checked against a template's schema, unless that would take too long (more than
 * `MAX_CHECK_STEPS`) or more stack than there is.
 */
function checkAgainst(schema: z.ZodType, steps: StepCounter, value: unknown): Checked {
  if (steps(value, MAX_CHECK_STEPS) > MAX_CHECK_STEPS) {
    return {
      kind: 'cannot check',
      reason: `it would take more than ${MAX_CHECK_STEPS} steps (a step is one schema applied to one value, or to one of its keys, items or properties)`,
      code: 'too_costly_to_check',
    };
  }
  try {
    const parsed = schema.safeParse(value);
    return parsed.success
      ? { kind: 'fits', data: parsed.data }
      : { kind: 'does not fit', issues: parsed.error.issues };
  } catch (error) {
    // zod checks nested values by recursion: a value nested thousands deep under a recursive
    // schema overflows the stack. That is the value's doing, not a fault of the server.
    if (!(error instanceof RangeError)) throw error;
    return {
      kind: 'cannot check',
      reason: 'it is nested too deeply to check',
      code: 'too_deeply_nested',
    };
  }
}
