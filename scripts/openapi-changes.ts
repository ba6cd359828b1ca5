/**
 * What changed between two OpenAPI 3.1 documents, each change classified as breaking or
 * not for a client written against the older one. The rule behind every classification:
 * a request the old document allowed must still be accepted, and an answer must not carry
 * anything the old document did not promise. So requests may widen (new optional fields,
 * looser bounds, more enum values) and answers may narrow; the reverse breaks clients, as do
 * removed operations, parameters, fields, statuses and media types, and stricter auth.
 *
 * @example
 * const changes = compareDocuments(base, current);
 * const breaking = changes.filter((change) => change.breaking);
 */

export interface Change {
  breaking: boolean;
  /** The operation (`GET /v1/items/{id}`), or `document` for what is not an operation's. */
  operation: string;
  /** The operation's id, for matching it by name (in the changelog). */
  operationId?: string;
  /** Where in it: `request body: name`, `response 200: data[].id`. */
  where: string;
  what: string;
}

type Json = Record<string, unknown>;

/** Which way a schema is used: requests may widen, answers may narrow. */
type Direction = 'request' | 'response';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const objectAt = (value: unknown, key: string): Json => {
  const found = isObject(value) ? value[key] : undefined;
  return isObject(found) ? found : {};
};

const arrayAt = (value: unknown, key: string): unknown[] => {
  const found = isObject(value) ? value[key] : undefined;
  return Array.isArray(found) ? found : [];
};

const stringsAt = (value: unknown, key: string): string[] =>
  arrayAt(value, key).filter((item): item is string => typeof item === 'string');

/** Follows local `$ref`s; an unresolvable one is an empty schema (anything). */
function resolve(document: Json, value: unknown, seen = new Set<string>()): Json {
  if (!isObject(value)) return {};
  const ref = value.$ref;
  if (typeof ref !== 'string' || !ref.startsWith('#/') || seen.has(ref)) return value;
  seen.add(ref);
  const target = ref
    .slice(2)
    .split('/')
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce<unknown>((node, key) => (isObject(node) ? node[key] : undefined), document);
  return resolve(document, target, seen);
}

/** `/v1/items/{id}` and `/v1/items/{itemId}` are the same path to a client. */
const pathShape = (path: string) => path.replace(/\{[^}]+\}/g, '{}');

/** Every operation of a document by method and path shape. */
function operationsOf(document: Json): Map<string, { label: string; operation: Json }> {
  const found = new Map<string, { label: string; operation: Json }>();
  for (const [path, item] of Object.entries(objectAt(document, 'paths'))) {
    for (const method of METHODS) {
      const operation = objectAt(item, method);
      if (Object.keys(operation).length === 0) continue;
      found.set(`${method} ${pathShape(path)}`, {
        label: `${method.toUpperCase()} ${path}`,
        operation: {
          ...operation,
          parameters: [...arrayAt(item, 'parameters'), ...arrayAt(operation, 'parameters')],
        },
      });
    }
  }
  return found;
}

/** Compares two documents: every change that matters to a client, breaking or not. */
export function compareDocuments(base: Json, current: Json): Change[] {
  const changes: Change[] = [];
  const before = operationsOf(base);
  const after = operationsOf(current);
  for (const [key, { label, operation }] of before) {
    const operationId = typeof operation.operationId === 'string' ? operation.operationId : '';
    const now = after.get(key);
    if (!now) {
      changes.push({
        breaking: true,
        operation: label,
        operationId,
        where: 'operation',
        what: 'removed',
      });
      continue;
    }
    const report = (breaking: boolean, where: string, what: string) =>
      changes.push({ breaking, operation: now.label, operationId, where, what });
    compareOperation({ base, current, report }, operation, now.operation);
  }
  for (const [key, { label, operation }] of after) {
    if (before.has(key)) continue;
    const operationId = typeof operation.operationId === 'string' ? operation.operationId : '';
    changes.push({
      breaking: false,
      operation: label,
      operationId,
      where: 'operation',
      what: 'added',
    });
  }
  return changes;
}

interface Context {
  base: Json;
  current: Json;
  report(breaking: boolean, where: string, what: string): void;
}

function compareOperation(context: Context, before: Json, after: Json): void {
  const { report } = context;
  if (before.operationId !== after.operationId) {
    report(
      false,
      'operationId',
      `renamed from ${String(before.operationId)} to ${String(after.operationId)}`,
    );
  }
  if (before.deprecated !== true && after.deprecated === true)
    report(false, 'operation', 'deprecated');
  compareSecurity(context, before, after);
  compareParameters(context, before, after);
  compareRequestBody(context, before, after);
  compareResponses(context, before, after);
}

/**
 * Each way of calling the operation, as a scheme and the scopes a credential of it needs
 * (an API-key requirement lists none: the operation's `x-required-scopes` apply to it).
 * `anonymous` when it may be called with no credentials at all.
 */
function accessOf(
  document: Json,
  operation: Json,
): { anonymous: boolean; ways: Map<string, string[]> } {
  const security = Array.isArray(operation.security)
    ? operation.security
    : arrayAt(document, 'security');
  const schemes = objectAt(objectAt(document, 'components'), 'securitySchemes');
  const extra = stringsAt(operation, 'x-required-scopes');
  const ways = new Map<string, string[]>();
  let anonymous = security.length === 0;
  for (const requirement of security) {
    if (!isObject(requirement)) continue;
    const names = Object.keys(requirement);
    if (names.length === 0) anonymous = true;
    for (const name of names) {
      const listed = stringsAt(requirement, name);
      const type = objectAt(schemes, name).type;
      const scoped = type === 'oauth2' || type === 'openIdConnect';
      ways.set(name, [...new Set([...listed, ...(scoped ? [] : extra)])].sort());
    }
  }
  return { anonymous, ways };
}

function compareSecurity(context: Context, before: Json, after: Json): void {
  const old = accessOf(context.base, before);
  const now = accessOf(context.current, after);
  if (old.anonymous && !now.anonymous) {
    context.report(true, 'security', 'now requires credentials');
    return;
  }
  if (now.anonymous) {
    if (!old.anonymous) context.report(false, 'security', 'no longer requires credentials');
    return;
  }
  for (const [scheme, scopes] of old.ways) {
    const required = now.ways.get(scheme);
    if (!required) {
      context.report(true, 'security', `${scheme} no longer accepted`);
      continue;
    }
    const added = required.filter((scope) => !scopes.includes(scope));
    const removed = scopes.filter((scope) => !required.includes(scope));
    if (added.length > 0)
      context.report(true, 'security', `${scheme} now needs ${added.join(', ')}`);
    if (removed.length > 0)
      context.report(false, 'security', `${scheme} no longer needs ${removed.join(', ')}`);
  }
  for (const scheme of now.ways.keys()) {
    if (!old.ways.has(scheme)) context.report(false, 'security', `${scheme} accepted too`);
  }
}

function parametersOf(document: Json, operation: Json): Map<string, Json> {
  const found = new Map<string, Json>();
  for (const raw of arrayAt(operation, 'parameters')) {
    const parameter = resolve(document, raw);
    found.set(`${String(parameter.in)} ${String(parameter.name)}`, parameter);
  }
  return found;
}

function compareParameters(context: Context, before: Json, after: Json): void {
  const old = parametersOf(context.base, before);
  const now = parametersOf(context.current, after);
  for (const [key, parameter] of old) {
    const where = `parameter ${key}`;
    const next = now.get(key);
    // A path parameter renamed is the same parameter to a client (the path matched).
    if (!next && parameter.in === 'path') continue;
    if (!next) {
      context.report(true, where, 'removed');
      continue;
    }
    if (parameter.required !== true && next.required === true)
      context.report(true, where, 'now required');
    if (parameter.required === true && next.required !== true)
      context.report(false, where, 'now optional');
    compareSchemas(context, 'request', where, parameter.schema, next.schema);
  }
  for (const [key, parameter] of now) {
    if (old.has(key) || parameter.in === 'path') continue;
    const required = parameter.required === true;
    context.report(required, `parameter ${key}`, required ? 'added, required' : 'added, optional');
  }
}

function compareRequestBody(context: Context, before: Json, after: Json): void {
  const old = resolve(context.base, before.requestBody);
  const now = resolve(context.current, after.requestBody);
  const hadBody = Object.keys(old).length > 0;
  const hasBody = Object.keys(now).length > 0;
  if (!hadBody && !hasBody) return;
  if (!hadBody) {
    context.report(
      now.required === true,
      'request body',
      now.required === true ? 'added, required' : 'added, optional',
    );
    return;
  }
  if (!hasBody) {
    context.report(true, 'request body', 'removed');
    return;
  }
  if (old.required !== true && now.required === true)
    context.report(true, 'request body', 'now required');
  compareContent(context, 'request', 'request body', old.content, now.content);
}

function compareResponses(context: Context, before: Json, after: Json): void {
  const old = objectAt(before, 'responses');
  const now = objectAt(after, 'responses');
  for (const [status, response] of Object.entries(old)) {
    const where = `response ${status}`;
    if (!(status in now)) {
      context.report(true, where, 'removed');
      continue;
    }
    const was = resolve(context.base, response);
    const is = resolve(context.current, now[status]);
    compareContent(context, 'response', where, was.content, is.content);
  }
  for (const status of Object.keys(now)) {
    if (!(status in old)) context.report(false, `response ${status}`, 'added');
  }
}

function compareContent(
  context: Context,
  direction: Direction,
  where: string,
  before: unknown,
  after: unknown,
): void {
  const old = isObject(before) ? before : {};
  const now = isObject(after) ? after : {};
  for (const [mediaType, media] of Object.entries(old)) {
    if (!(mediaType in now)) {
      context.report(true, `${where} ${mediaType}`, 'removed');
      continue;
    }
    compareSchemas(
      context,
      direction,
      `${where} ${mediaType}`,
      objectAt(media, 'schema'),
      objectAt(now[mediaType], 'schema'),
    );
  }
  for (const mediaType of Object.keys(now)) {
    // A new request type is a new way to call; a new answer type is sent only when asked for.
    if (!(mediaType in old)) context.report(false, `${where} ${mediaType}`, 'added');
  }
}

const refOf = (value: unknown) =>
  isObject(value) && typeof value.$ref === 'string' ? value.$ref : '';

/** JSON Schema's types, `null` included; an absent `type` is any type. */
function typesOf(schema: Json): string[] | undefined {
  const type = schema.type;
  if (typeof type === 'string') return type === 'integer' ? ['integer'] : [type];
  if (Array.isArray(type)) return type.filter((item): item is string => typeof item === 'string');
  return undefined;
}

/** Whether every value of type `inner` is of one of `outer` (an integer is a number). */
const typeWithin = (inner: string, outer: string[]) =>
  outer.includes(inner) || (inner === 'integer' && outer.includes('number'));

/**
 * Compares two schemas of the same place. Narrower means fewer values allowed: breaking in a
 * request; wider means more: breaking in an answer.
 */
function compareSchemas(
  context: Context,
  direction: Direction,
  where: string,
  beforeRaw: unknown,
  afterRaw: unknown,
  seen = new Set<string>(),
): void {
  // A recursive schema is compared once per pair of components, so the walk ends.
  const refs = `${refOf(beforeRaw)} ${refOf(afterRaw)}`;
  if (refs !== ' ') {
    if (seen.has(refs)) return;
    seen.add(refs);
  }
  const before = resolve(context.base, beforeRaw);
  const after = resolve(context.current, afterRaw);
  const narrowed = (what: string) => context.report(direction === 'request', where, what);
  const widened = (what: string) => context.report(direction === 'response', where, what);

  const oldTypes = typesOf(before);
  const newTypes = typesOf(after);
  if (oldTypes && !newTypes) widened(`type ${oldTypes.join(' | ')} now any`);
  if (!oldTypes && newTypes) narrowed(`type now ${newTypes.join(' | ')}`);
  if (oldTypes && newTypes) {
    const lost = oldTypes.filter((type) => !typeWithin(type, newTypes));
    const gained = newTypes.filter((type) => !typeWithin(type, oldTypes));
    if (lost.length > 0) narrowed(`type ${lost.join(' | ')} no longer allowed`);
    if (gained.length > 0) widened(`type ${gained.join(' | ')} now allowed`);
  }

  compareEnums(before, after, narrowed, widened);
  compareBounds(before, after, narrowed, widened);
  for (const keyword of ['format', 'pattern', 'const']) {
    const was = before[keyword];
    const is = after[keyword];
    if (JSON.stringify(was) === JSON.stringify(is)) continue;
    if (was === undefined) narrowed(`${keyword} ${JSON.stringify(is)} added`);
    else if (is === undefined) widened(`${keyword} ${JSON.stringify(was)} removed`);
    else {
      // Neither contains the other, as far as can be told: breaking both ways.
      context.report(
        true,
        where,
        `${keyword} changed from ${JSON.stringify(was)} to ${JSON.stringify(is)}`,
      );
    }
  }

  compareProperties(context, direction, where, before, after, seen);
  if (before.items !== undefined || after.items !== undefined) {
    compareSchemas(context, direction, `${where}[]`, before.items, after.items, seen);
  }
  for (const keyword of ['anyOf', 'oneOf', 'allOf']) {
    const was = arrayAt(before, keyword);
    const is = arrayAt(after, keyword);
    if (was.length === 0 && is.length === 0) continue;
    if (keyword !== 'allOf' && was.length !== is.length) {
      (is.length < was.length ? narrowed : widened)(
        `${keyword} has ${is.length} choices, was ${was.length}`,
      );
      continue;
    }
    if (keyword === 'allOf' && was.length !== is.length) {
      (is.length > was.length ? narrowed : widened)(
        `allOf has ${is.length} parts, was ${was.length}`,
      );
      continue;
    }
    was.forEach((variant, index) => {
      compareSchemas(
        context,
        direction,
        `${where} (${keyword} ${index + 1})`,
        variant,
        is[index],
        seen,
      );
    });
  }
}

function compareEnums(
  before: Json,
  after: Json,
  narrowed: (what: string) => void,
  widened: (what: string) => void,
): void {
  const listOf = (schema: Json) =>
    Array.isArray(schema.enum) ? schema.enum.map((value) => JSON.stringify(value)) : undefined;
  const was = listOf(before);
  const is = listOf(after);
  if (!was && is) narrowed(`enum ${is.join(', ')} added`);
  if (was && !is) widened('enum removed: any value');
  if (!was || !is) return;
  const lost = was.filter((value) => !is.includes(value));
  const gained = is.filter((value) => !was.includes(value));
  if (lost.length > 0) narrowed(`enum no longer has ${lost.join(', ')}`);
  if (gained.length > 0) widened(`enum now has ${gained.join(', ')}`);
}

const LOWER_BOUNDS = ['minimum', 'exclusiveMinimum', 'minLength', 'minItems', 'minProperties'];
const UPPER_BOUNDS = ['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems', 'maxProperties'];

function compareBounds(
  before: Json,
  after: Json,
  narrowed: (what: string) => void,
  widened: (what: string) => void,
): void {
  for (const [keywords, tighter] of [
    [LOWER_BOUNDS, (was: number, is: number) => is > was],
    [UPPER_BOUNDS, (was: number, is: number) => is < was],
  ] as const) {
    for (const keyword of keywords) {
      const was = typeof before[keyword] === 'number' ? before[keyword] : undefined;
      const is = typeof after[keyword] === 'number' ? after[keyword] : undefined;
      if (was === is) continue;
      if (was === undefined) narrowed(`${keyword} ${is} added`);
      else if (is === undefined) widened(`${keyword} ${was} removed`);
      else (tighter(was, is) ? narrowed : widened)(`${keyword} ${was} → ${is}`);
    }
  }
}

function compareProperties(
  context: Context,
  direction: Direction,
  where: string,
  before: Json,
  after: Json,
  seen: Set<string>,
): void {
  const old = objectAt(before, 'properties');
  const now = objectAt(after, 'properties');
  const wasRequired = stringsAt(before, 'required');
  const isRequired = stringsAt(after, 'required');
  for (const name of Object.keys(old)) {
    const field = `${where} › ${name}`;
    if (!(name in now)) {
      context.report(true, field, 'field removed');
      continue;
    }
    if (direction === 'request' && !wasRequired.includes(name) && isRequired.includes(name)) {
      context.report(true, field, 'now required');
    }
    if (direction === 'response' && wasRequired.includes(name) && !isRequired.includes(name)) {
      context.report(true, field, 'no longer always present');
    }
    compareSchemas(context, direction, field, old[name], now[name], seen);
  }
  for (const name of Object.keys(now)) {
    if (name in old) continue;
    const required = isRequired.includes(name);
    const breaking = direction === 'request' && required;
    context.report(
      breaking,
      `${where} › ${name}`,
      required ? 'field added, required' : 'field added, optional',
    );
  }
}
