import type { Hook, RouteConfig } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import type { AppEnv } from './app-env.ts';
import { requestHeader } from './node-response.ts';
import { hasBody } from './request-input.ts';
import { inputReader, NOT_VOUCHED } from './schema-reader.ts';
import { headerValues, invalidFields, invalidInput, queryValues } from './validation.ts';

type Part = 'query' | 'param' | 'header' | 'cookie' | 'json';
type Parsed = z.ZodSafeParseResult<unknown>;
/** What a middleware returns: its own answer, or none once `next` has run. */
type Answer = ReturnType<MiddlewareHandler<AppEnv>>;

/** A hook a route passes to `openapi()`, answering for invalid input in its own way. */
export type PartsHook = Hook<unknown, AppEnv, string, unknown>;

interface Check {
  target: Part;
  schema: z.ZodType;
  /**
   * The value a hook sees when validation fails, where it is not the value validated: for
   * headers, all of them.
   */
  readWhole?(c: Context<AppEnv>): unknown;
}

/** A part read from the request as it stands (the body is read apart, being a promise). */
interface PartCheck extends Check {
  /** The value to validate: for headers, only the ones the schema declares. */
  read(c: Context<AppEnv>): unknown;
}

/**
 * A reader of the values an object schema declares, each looked up by its own name
 * (`lookupName` of it) rather than all of the part read first; undefined when the schema
 * takes undeclared names too (a catchall, `strict`), which must then get them all.
 */
function declaredReader(
  schema: z.ZodType,
  lookupName: (name: string) => string,
  lookup: (c: Context<AppEnv>, name: string) => string | undefined,
): PartCheck['read'] | undefined {
  if (!(schema instanceof z.ZodObject) || schema.def.catchall !== undefined) return undefined;
  const names = Object.keys(schema.shape).map((name) => [name, lookupName(name)] as const);
  return (c) => {
    const declared: Record<string, string> = {};
    for (const [name, key] of names) {
      const value = lookup(c, key);
      if (value !== undefined) declared[name] = value;
    }
    return declared;
  };
}

/**
 * Headers by the names the schema gives them, read one by one from Node's request. Reading
 * them all, as Hono's validator does, builds a web `Headers` object per request.
 */
function headerReaders(schema: z.ZodType): Pick<PartCheck, 'read' | 'readWhole'> {
  const readWhole = (c: Context<AppEnv>) => headerValues(c, schema);
  const read = declaredReader(schema, (name) => name.toLowerCase(), requestHeader);
  return read ? { read, readWhole } : { read: readWhole };
}

/**
 * The path's parameters by the names the schema gives them, each decoded alone:
 * `c.req.param()` lists and decodes every one into a new object first.
 */
function paramReader(schema: z.ZodType): PartCheck['read'] {
  const read = declaredReader(
    schema,
    (name) => name,
    (c, name) => c.req.param(name),
  );
  return read ?? ((c) => c.req.param());
}

function partChecks(request: NonNullable<RouteConfig['request']>): PartCheck[] {
  const checks: PartCheck[] = [];
  const add = (target: Part, schema: z.ZodType, read: (c: Context<AppEnv>) => unknown) =>
    checks.push({ target, schema, read });
  // The order zod-openapi validates in, so the first part reported is the same.
  if (request.query) add('query', request.query, queryValues);
  if (request.params) add('param', request.params, paramReader(request.params));
  if (request.headers instanceof z.ZodType)
    checks.push({ target: 'header', schema: request.headers, ...headerReaders(request.headers) });
  if (request.cookies) add('cookie', request.cookies, (c) => getCookie(c));
  return checks;
}

/**
 * What a failed or passed part comes to: `undefined` when it is settled here and now (valid,
 * and recorded for `c.req.valid()`), else a promise of the hook's answer, or of the 422.
 */
function settle(
  check: Check,
  c: Context<AppEnv>,
  raw: unknown,
  parsed: Parsed,
  hook: PartsHook | undefined,
): Promise<Response | undefined> | undefined {
  // As zod-openapi's hook sees it: the parsed value, or on failure the raw one beside the error.
  const result = parsed.success
    ? { ...parsed, target: check.target }
    : { ...parsed, data: check.readWhole ? check.readWhole(c) : raw, target: check.target };
  if (hook) {
    return Promise.resolve(hook(result, c)).then((answer: unknown) => {
      if (answer instanceof Response) return answer;
      if (typeof answer === 'object' && answer !== null && 'response' in answer)
        if (answer.response instanceof Response) return answer.response;
      if (!parsed.success) return c.json(parsed, 400);
      c.req.addValidatedData(check.target, parsed.data as object);
      return undefined;
    });
  }
  const invalid = invalidFields(result, c);
  if (invalid)
    return invalid.then((errors) => {
      throw invalidInput(errors);
    });
  c.req.addValidatedData(check.target, parsed.data as object);
  return undefined;
}

function checkPart(
  check: PartCheck,
  c: Context<AppEnv>,
  hook: PartsHook | undefined,
): Promise<Response | undefined> | undefined {
  return checkValue(check, check.read(c), c, hook);
}

function checkValue(
  check: Check,
  raw: unknown,
  c: Context<AppEnv>,
  hook: PartsHook | undefined,
): Promise<Response | undefined> | undefined {
  // What zod would make of a valid part, without zod's result objects (decision 124); a part
  // the reader does not vouch for is zod's to refuse, in its own words.
  const read = inputReader(check.schema)(raw);
  if (read !== NOT_VOUCHED) return settle(check, c, raw, { success: true, data: read }, hook);
  let parsed: Parsed;
  try {
    parsed = check.schema.safeParse(raw);
  } catch (error) {
    // A schema with an async refinement or transform cannot be parsed synchronously.
    if (!(error instanceof z.core.$ZodAsyncError)) throw error;
    return check.schema.safeParseAsync(raw).then((later) => settle(check, c, raw, later, hook));
  }
  return settle(check, c, raw, parsed, hook);
}

/**
 * Checks the parts from `from` on, then calls `next`: in this turn while each settles here,
 * after the promise of the first that cannot.
 */
function checkFrom(
  checks: readonly PartCheck[],
  from: number,
  c: Context<AppEnv>,
  next: () => Answer,
  hook: PartsHook | undefined,
): Answer {
  for (let index = from; index < checks.length; index++) {
    const check = checks[index];
    if (!check) continue;
    const pending = checkPart(check, c, hook);
    if (pending)
      return pending.then((answer) => answer ?? checkFrom(checks, index + 1, c, next, hook));
  }
  return next();
}

/** zod-openapi's test of a JSON content type, parameters and all (its media-type gate). */
const JSON_REQUEST = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;
/** Hono's validator's test, of the type without its parameters. */
const JSON_ESSENCE = /^application\/([\w.-]+\+)?json$/i;

/**
 * The schema of a body this validator reads: a required body of `application/json` alone.
 * Any other (a form, an upload, more than one type, an optional body) stays with
 * zod-openapi's validators.
 */
export function jsonBodySchema(request: RouteConfig['request']): z.ZodType | undefined {
  const body = request?.body;
  if (!body?.required) return undefined;
  const media = body.content['application/json'];
  const schema = media && 'schema' in media ? media.schema : undefined;
  return Object.keys(body.content).length === 1 && schema instanceof z.ZodType ? schema : undefined;
}

/**
 * The body, read and checked as zod-openapi's gate and Hono's validator would: a type other
 * than JSON is 415 ("Unsupported Media Type"), and so is a body with no type; a body that
 * does not parse is 400 ("Malformed JSON in request body"); a request sent with no body and
 * no type (or an empty one, as zod-openapi takes it) is validated as `{}`.
 */
async function readJsonBody(c: Context<AppEnv>): Promise<unknown> {
  const type = requestHeader(c, 'content-type');
  if (!type) {
    if (await hasBody(c.req.raw))
      throw new HTTPException(415, { message: 'Unsupported Media Type' });
    return {};
  }
  if (!JSON_REQUEST.test(type)) throw new HTTPException(415, { message: 'Unsupported Media Type' });
  if (!JSON_ESSENCE.test(type.split(';')[0]?.trim() ?? '')) return {};
  try {
    return await c.req.json();
  } catch {
    throw new HTTPException(400, { message: 'Malformed JSON in request body' });
  }
}

/**
 * Validates the query, path, headers and cookies of a request, and a JSON body
 * (`jsonBodySchema`), against the route's schemas, in one middleware, as @hono/zod-openapi's
 * validators would, with the same hook and the same 422. Its validators are one async
 * middleware per part, each parsing asynchronously and reading every header into a web
 * `Headers` object, and for a body two layers more (its media-type gate, then Hono's
 * validator around zod's async parse): 13 of the validated write's 77 promises a request
 * (decision 089). A request whose parts are valid goes through here with no promise of its
 * own but the body's read, and reads only the headers its route declares.
 */
export function requestPartsValidator(
  request: RouteConfig['request'],
  hook: PartsHook | undefined,
): MiddlewareHandler<AppEnv> | undefined {
  const checks = request ? partChecks(request) : [];
  const body = jsonBodySchema(request);
  if (body) {
    const bodyCheck: Check = { target: 'json', schema: body };
    return function validateRequestParts(c, next) {
      const afterParts = (): Answer =>
        readJsonBody(c).then((value): Answer => {
          const pending = checkValue(bodyCheck, value, c, hook);
          if (!pending) return next();
          return pending.then((answer): Answer | Response => answer ?? next());
        });
      return checkFrom(checks, 0, c, afterParts, hook);
    };
  }
  if (checks.length === 0) return undefined;
  return function validateRequestParts(c, next) {
    return checkFrom(checks, 0, c, next, hook);
  };
}
