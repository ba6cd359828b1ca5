import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function statusTitle(status: number): string {
  return STATUS_TITLES[status] ?? 'Error';
}

export const FieldErrorSchema = z
  .object({
    location: z.enum(['path', 'query', 'header', 'cookie', 'body']),
    path: z.string().meta({ description: 'Dotted path of the field inside its location.' }),
    message: z.string(),
    code: z.string().meta({ description: 'Machine-readable reason, e.g. `too_small`.' }),
  })
  .openapi('FieldError');

export const ProblemSchema = z
  .object({
    type: z.string().meta({ description: 'URI reference naming the kind of problem.' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    requestId: z.string().optional(),
    errors: z.array(FieldErrorSchema).optional(),
  })
  .catchall(z.unknown())
  .openapi('Problem', {
    description: 'An RFC 9457 problem document.',
    example: {
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      detail: 'No route matches GET /v1/nothing',
      requestId: '01J9Z3K4Q5R6S7T8V9W0X1Y2Z3',
    },
  });

export type FieldError = z.infer<typeof FieldErrorSchema>;
export type Problem = z.infer<typeof ProblemSchema>;

export interface ProblemInit {
  detail?: string;
  type?: string;
  title?: string;
  headers?: Record<string, string>;
  /** Extra members of the problem document, e.g. `errors` or `retryAfter`. */
  extensions?: Record<string, unknown>;
}

/**
 * The one error type handlers and services throw for a client-visible failure; the app's
 * error handler turns it into an `application/problem+json` response.
 *
 * @example
 * throw new ProblemError(409, { detail: 'An item with this name already exists' });
 */
export class ProblemError extends Error {
  readonly status: number;
  readonly init: ProblemInit;

  constructor(status: number, init: ProblemInit = {}) {
    super(init.detail ?? statusTitle(status));
    this.name = 'ProblemError';
    this.status = status;
    this.init = init;
  }
}

/**
 * Answers with a problem document through the context, so the headers every response
 * carries (request id, security headers) are on it too. The request id is added when known.
 */
export function problemResponse(
  c: Context,
  status: number,
  init: ProblemInit & { instance?: string } = {},
): Response {
  const requestId: unknown = c.get('requestId');
  const body: Problem = {
    ...init.extensions,
    type: init.type ?? 'about:blank',
    title: init.title ?? statusTitle(status),
    status,
    ...(init.detail === undefined ? {} : { detail: init.detail }),
    ...(init.instance === undefined ? {} : { instance: init.instance }),
    ...(typeof requestId === 'string' ? { requestId } : {}),
  };
  return c.body(JSON.stringify(body), status as ContentfulStatusCode, {
    ...init.headers,
    'content-type': PROBLEM_CONTENT_TYPE,
  });
}
