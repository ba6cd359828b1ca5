import type { Hook, RouteConfig } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler, Next } from 'hono';
import { getCookie } from 'hono/cookie';
import { z } from 'zod';
import type { AppEnv } from './app-env.ts';
import { requestHeader } from './node-response.ts';
import { headerValues, invalidFields, invalidInput, queryValues } from './validation.ts';

type Part = 'query' | 'param' | 'header' | 'cookie';
type Parsed = z.ZodSafeParseResult<unknown>;

/** A hook a route passes to `openapi()`, answering for invalid input in its own way. */
export type PartsHook = Hook<unknown, AppEnv, string, unknown>;

interface PartCheck {
  target: Part;
  schema: z.ZodType;
  /** The value to validate: for headers, only the ones the schema declares. */
  read(c: Context<AppEnv>): unknown;
  /** The value a hook sees when validation fails: for headers, all of them. */
  readWhole(c: Context<AppEnv>): unknown;
}

/**
 * Headers by the names the schema gives them, read one by one from Node's request. Reading
 * them all, as Hono's validator does, builds a web `Headers` object per request; a schema
 * that takes undeclared headers (a catchall) still gets them all.
 */
function headerReaders(schema: z.ZodType): Pick<PartCheck, 'read' | 'readWhole'> {
  const readWhole = (c: Context<AppEnv>) => headerValues(c, schema);
  const onlyDeclared = schema instanceof z.ZodObject && schema.def.catchall === undefined;
  if (!onlyDeclared) return { read: readWhole, readWhole };
  const names = Object.keys(schema.shape).map((name) => [name, name.toLowerCase()] as const);
  return {
    read(c) {
      const declared: Record<string, string> = {};
      for (const [name, lowerCase] of names) {
        const value = requestHeader(c, lowerCase);
        if (value !== undefined) declared[name] = value;
      }
      return declared;
    },
    readWhole,
  };
}

function partChecks(request: NonNullable<RouteConfig['request']>): PartCheck[] {
  const checks: PartCheck[] = [];
  const add = (target: Part, schema: z.ZodType, read: (c: Context<AppEnv>) => unknown) =>
    checks.push({ target, schema, read, readWhole: read });
  // The order zod-openapi validates in, so the first part reported is the same.
  if (request.query) add('query', request.query, queryValues);
  if (request.params) add('param', request.params, (c) => c.req.param());
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
  check: PartCheck,
  c: Context<AppEnv>,
  parsed: Parsed,
  hook: PartsHook | undefined,
): Promise<Response | undefined> | undefined {
  // As zod-openapi's hook sees it: the parsed value, or on failure the raw one beside the error.
  const result = parsed.success
    ? { ...parsed, target: check.target }
    : { ...parsed, data: check.readWhole(c), target: check.target };
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
  const raw = check.read(c);
  let parsed: Parsed;
  try {
    parsed = check.schema.safeParse(raw);
  } catch (error) {
    // A schema with an async refinement or transform cannot be parsed synchronously.
    if (!(error instanceof z.core.$ZodAsyncError)) throw error;
    return check.schema.safeParseAsync(raw).then((later) => settle(check, c, later, hook));
  }
  return settle(check, c, parsed, hook);
}

/**
 * Checks the parts from `from` on, then calls `next`: in this turn while each settles here,
 * after the promise of the first that cannot.
 */
function checkFrom(
  checks: readonly PartCheck[],
  from: number,
  c: Context<AppEnv>,
  next: Next,
  hook: PartsHook | undefined,
): ReturnType<MiddlewareHandler<AppEnv>> {
  for (let index = from; index < checks.length; index++) {
    const check = checks[index];
    if (!check) continue;
    const pending = checkPart(check, c, hook);
    if (pending)
      return pending.then((answer) => answer ?? checkFrom(checks, index + 1, c, next, hook));
  }
  return next();
}

/**
 * Validates the query, path, headers and cookies of a request against the route's schemas,
 * in one middleware, as @hono/zod-openapi's validators would, with the same hook and the
 * same 422. Its validators are one async middleware per part, each parsing asynchronously
 * and reading every header into a web `Headers` object; a request whose parts are valid goes
 * through here with no promise of its own, and reads only the headers its route declares.
 * Bodies stay with zod-openapi's validators.
 */
export function requestPartsValidator(
  request: RouteConfig['request'],
  hook: PartsHook | undefined,
): MiddlewareHandler<AppEnv> | undefined {
  const checks = request ? partChecks(request) : [];
  if (checks.length === 0) return undefined;
  return function validateRequestParts(c, next) {
    return checkFrom(checks, 0, c, next, hook);
  };
}
