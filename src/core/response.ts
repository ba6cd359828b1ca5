import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import type { AppEnv } from './app-env.ts';
import { instantsAsText } from './instants-as-text.ts';
import { isPlainObject } from './plain-object.ts';
import { NOT_VOUCHED, responseReader } from './schema-reader.ts';

function extraKeys(input: unknown, output: unknown, path: string, found: string[]): void {
  if (Array.isArray(input) && Array.isArray(output)) {
    input.forEach((item, index) => {
      extraKeys(item, output[index], `${path}[${index}]`, found);
    });
    return;
  }
  if (!isPlainObject(input) || !isPlainObject(output)) return;
  for (const key of Object.keys(input)) {
    const at = path ? `${path}.${key}` : key;
    if (!Object.hasOwn(output, key)) found.push(at);
    else extraKeys(input[key], output[key], at, found);
  }
}

/** A handler returned fields its response schema does not declare (development and tests). */
export class ResponseLeakError extends Error {
  constructor(fields: string[]) {
    super(`Response carries undeclared fields: ${fields.join(', ')}`);
    this.name = 'ResponseLeakError';
  }
}

/**
 * Sends `value` as JSON after passing it through its response schema, FastAPI's
 * `response_model`: fields the schema does not declare never leave. In production they are
 * dropped; in development and tests the request fails, so the mistake is seen and fixed.
 *
 * @example
 * return sendJson(c, UserPublic, userRow, 200); // no passwordHash, whatever the row holds
 */
export function sendJson<E extends AppEnv, S extends z.ZodType, Code extends ContentfulStatusCode>(
  c: Context<E>,
  schema: S,
  value: z.input<S>,
  status: Code,
) {
  let output = responseReader(schema)(value);
  // What the reader cannot vouch for, zod parses: the same value, or zod's own error.
  if (output === NOT_VOUCHED) output = instantsAsText(schema.parse(value));
  if (c.get('services').strictResponses) {
    const leaks: string[] = [];
    extraKeys(value, output, '', leaks);
    if (leaks.length > 0) throw new ResponseLeakError(leaks);
  }
  // The JSON of z.output<S>: its instants already written as the text JSON gives them.
  return c.json(output as z.output<S>, status);
}
