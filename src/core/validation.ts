import type { Hook, RouteConfig } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import type { ZodError, ZodType } from 'zod';
import type { AppEnv } from './app-env.ts';
import { type FieldError, ProblemError } from './problem.ts';

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

/**
 * The `defaultHook` of every router: a failed validation becomes one 422 problem listing
 * every invalid field of every request part, not only the part that failed first.
 */
export const validationHook: Hook<unknown, AppEnv, string, unknown> = async (result, c) => {
  if (result.success) return;
  const failed = result.target as Target;
  const errors = toFieldErrors(LOCATIONS[failed], result.error);
  const request = c.get('routeRequest');
  if (request) errors.push(...(await otherPartErrors(request, c, failed)));
  throw new ProblemError(422, {
    detail: 'The request has invalid fields; see `errors`.',
    extensions: { errors },
  });
};

async function otherPartErrors(
  request: NonNullable<RouteConfig['request']>,
  c: Context<AppEnv>,
  failed: Target,
): Promise<FieldError[]> {
  const parts: [Target, ZodType | undefined, () => unknown | Promise<unknown>][] = [
    ['query', request.query, () => queryValues(c)],
    ['param', request.params, () => c.req.param()],
    ['header', request.headers as ZodType | undefined, () => c.req.header()],
    ['cookie', request.cookies, () => getCookie(c)],
    ['json', jsonBodySchema(request, c), () => c.req.json()],
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
    const parsed = await schema.safeParseAsync(value);
    if (!parsed.success) errors.push(...toFieldErrors(LOCATIONS[target], parsed.error));
  }
  return errors;
}

function jsonBodySchema(
  request: NonNullable<RouteConfig['request']>,
  c: Context,
): ZodType | undefined {
  const contentType = c.req.header('content-type') ?? '';
  if (!/^application\/([\w.-]+\+)?json/i.test(contentType)) return undefined;
  const media = request.body?.content['application/json'];
  const schema = media && 'schema' in media ? media.schema : undefined;
  return isZodType(schema) ? schema : undefined;
}

function isZodType(value: unknown): value is ZodType {
  return typeof value === 'object' && value !== null && 'safeParseAsync' in value;
}

function queryValues(c: Context): Record<string, string | string[]> {
  return Object.fromEntries(
    Object.entries(c.req.queries()).map(([key, values]) => [
      key,
      values.length === 1 ? (values[0] ?? '') : values,
    ]),
  );
}
