import type { Hook, RouteConfig } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import { type ZodError, type ZodType, z } from 'zod';
import type { AppEnv } from './app-env.ts';
import { type FieldError, ProblemError } from './problem.ts';
import { findUnsafeText } from './safe-text.ts';

type Target = 'json' | 'form' | 'query' | 'param' | 'header' | 'cookie';

const LOCATIONS: Record<Target, FieldError['location']> = {
  json: 'body',
  form: 'body',
  query: 'query',
  param: 'path',
  header: 'header',
  cookie: 'cookie',
};

/** Turns zod issues into the problem document's `errors` list. */
export function toFieldErrors(location: FieldError['location'], error: ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    location,
    path: issue.path.map(String).join('.'),
    message: issue.message,
    code: issue.code,
  }));
}

/** Strings in `value` no field may hold (NUL, unpaired surrogates), as field errors. */
export function unsafeTextErrors(location: FieldError['location'], value: unknown): FieldError[] {
  return findUnsafeText(value).map(({ path, message, code }) => ({
    location,
    path,
    message,
    code,
  }));
}

/** A part's errors: its schema's, then unstorable text in fields the schema did not reject. */
function partErrors(
  location: FieldError['location'],
  parsed: { success: true; data: unknown } | { success: false; error: ZodError },
  raw: unknown,
): FieldError[] {
  if (parsed.success) return unsafeTextErrors(location, parsed.data);
  const errors = toFieldErrors(location, parsed.error);
  const reported = new Set(errors.map((error) => error.path));
  for (const error of unsafeTextErrors(location, raw))
    if (!reported.has(error.path)) errors.push(error);
  return errors;
}

type HookResult = Parameters<Hook<unknown, AppEnv, string, unknown>>[0];

/**
 * Validates a request the way every router does, for a route that must word its refusal
 * differently (the OAuth token endpoint): undefined when the part is valid, else a promise
 * of every invalid field of every part. Synchronous when valid, so a route hook built on
 * it can return nothing on the happy path, as zod-openapi's hook type requires.
 */
export function invalidFields(
  result: HookResult,
  c: Context<AppEnv>,
): Promise<FieldError[]> | undefined {
  const failed = result.target as Target;
  // On failure the validator passes the raw input as `data`, beside the error.
  const raw = 'data' in result ? result.data : undefined;
  const errors = partErrors(LOCATIONS[failed], result, raw);
  if (errors.length === 0) return undefined;
  const request = c.get('routeRequest');
  if (!request) return Promise.resolve(errors);
  return otherPartErrors(request, c, failed).then((others) => [...errors, ...others]);
}

/**
 * The `defaultHook` of every router: a failed validation becomes one 422 problem listing
 * every invalid field of every request part, not only the part that failed first. Text no
 * field may hold (see `safe-text.ts`) fails here too, for every schema at once, so a route
 * cannot forget it and a NUL byte never reaches the database.
 */
export const validationHook: Hook<unknown, AppEnv, string, unknown> = async (result, c) => {
  const invalid = invalidFields(result, c);
  if (!invalid) return;
  throw invalidInput(await invalid);
};

/** The one answer to invalid input: 422, listing every invalid field. */
export function invalidInput(errors: FieldError[]): ProblemError {
  return new ProblemError(422, {
    detail: 'The request has invalid fields; see `errors`.',
    extensions: { errors },
  });
}

async function otherPartErrors(
  request: NonNullable<RouteConfig['request']>,
  c: Context<AppEnv>,
  failed: Target,
): Promise<FieldError[]> {
  const body = bodySchema(request, c);
  const parts: [Target, ZodType | undefined, () => unknown | Promise<unknown>][] = [
    ['query', request.query, () => queryValues(c)],
    ['param', request.params, () => c.req.param()],
    ['header', request.headers as ZodType | undefined, () => headerValues(c, request.headers)],
    ['cookie', request.cookies, () => getCookie(c)],
    [body.target, body.schema, body.read],
  ];
  const errors: FieldError[] = [];
  for (const [target, schema, read] of parts) {
    if (target === failed || !schema) continue;
    let value: unknown;
    try {
      value = await read();
    } catch {
      continue; // an unreadable body is reported on its own once the query and path are fixed
    }
    errors.push(...partErrors(LOCATIONS[target], await schema.safeParseAsync(value), value));
  }
  return errors;
}

/** The body's schema for the request's content type, and how to read the body for it. */
function bodySchema(
  request: NonNullable<RouteConfig['request']>,
  c: Context,
): { target: Target; schema: ZodType | undefined; read: () => unknown | Promise<unknown> } {
  const contentType = c.req.header('content-type') ?? '';
  const content = request.body?.content ?? {};
  if (/^application\/([\w.-]+\+)?json/i.test(contentType)) {
    return {
      target: 'json',
      schema: schemaOf(content['application/json']),
      read: () => c.req.json(),
    };
  }
  const form = /^multipart\/form-data/i.test(contentType)
    ? content['multipart/form-data']
    : /^application\/x-www-form-urlencoded/i.test(contentType)
      ? content['application/x-www-form-urlencoded']
      : undefined;
  return { target: 'form', schema: schemaOf(form), read: () => c.req.parseBody({ all: true }) };
}

function schemaOf(media: unknown): ZodType | undefined {
  const schema =
    typeof media === 'object' && media !== null && 'schema' in media ? media.schema : undefined;
  return isZodType(schema) ? schema : undefined;
}

function isZodType(value: unknown): value is ZodType {
  return typeof value === 'object' && value !== null && 'safeParseAsync' in value;
}

/**
 * Every header of the request, each under the name the schema declares it by (headers are
 * case-insensitive, a schema's keys are not), as zod-openapi hands them to a header schema.
 */
export function headerValues(c: Context, schema: unknown): Record<string, string> {
  const declared = schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
  const byLowerCase = new Map(declared.map((name) => [name.toLowerCase(), name]));
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(c.req.header()))
    values[byLowerCase.get(name) ?? name] = value;
  return values;
}

/** What Hono's reading of a query undoes: an escape, a `+` for a space, a fragment. */
const ENCODED_URL = /[%+#]/;

/**
 * The query as zod-openapi validates it: a value per name, a list for a repeated one. A query
 * with nothing to decode (`?limit=20`) is split here; through `c.req.queries()` it cost a
 * dictionary object of lists and a copy of it, about 5 µs of a page's 200 in a CPU profile.
 * Anything to decode goes through Hono, so every reading of an escape is Hono's.
 */
export function queryValues(c: Context): Record<string, string | string[]> {
  const url = c.req.url;
  const start = url.indexOf('?', 8);
  if (start === -1) return {};
  if (ENCODED_URL.test(url)) {
    return Object.fromEntries(
      Object.entries(c.req.queries()).map(([key, values]) => [
        key,
        values.length === 1 ? (values[0] ?? '') : values,
      ]),
    );
  }
  // Split as Hono splits: at each `&`, the name up to the first `=`, a part with no `=` a
  // name with an empty value, a part with no name left out.
  // Linear in the query's length whatever it holds: names kept in a map, not searched for in
  // a list, and the next `=` looked for again only once the parts have passed it (a query of
  // thousands of parts without one would scan the rest of it for each).
  const entries = new Map<string, string | string[]>();
  let equals = start;
  for (let from = start + 1; from <= url.length; ) {
    const next = url.indexOf('&', from);
    const end = next === -1 ? url.length : next;
    if (equals < from) {
      equals = url.indexOf('=', from);
      if (equals === -1) equals = url.length;
    }
    const nameEnd = Math.min(equals, end);
    const name = url.slice(from, nameEnd);
    from = end + 1;
    if (name === '') continue;
    const value = nameEnd === end ? '' : url.slice(nameEnd + 1, end);
    const seen = entries.get(name);
    if (seen === undefined) entries.set(name, value);
    else if (Array.isArray(seen)) seen.push(value);
    else entries.set(name, [seen, value]);
  }
  // `fromEntries`, not assignment: a name like `__proto__` is an own key, as Hono gives it.
  return Object.fromEntries(entries);
}
