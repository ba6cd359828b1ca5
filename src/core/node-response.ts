import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'hono';

/**
 * What @hono/node-server hands the app beside the request (`c.env`): Node's request and
 * response. Absent in `app.request()` tests, which have no socket.
 */
export interface NodeBindings {
  incoming?: IncomingMessage;
  outgoing?: ServerResponse;
}

/** The Node bindings of this request, when Node serves it. */
export function nodeBindingsOf(c: Context): NodeBindings | undefined {
  const env: NodeBindings | undefined = c.env;
  return env;
}

/**
 * Sets a header on the answer to this request, whatever response the handler goes on to
 * build. Served by Node, it goes on Node's response directly, which merges it into the head
 * the handler's response writes, that response's own headers taking precedence (so a page
 * can still replace the Content-Security-Policy). Put into the web `Headers` being prepared
 * instead, each header costs a validation, and the response then leaves @hono/node-server's
 * fast path. Without Node (`app.request()` in tests) it goes on the response being built.
 */
export function setAnswerHeader(c: Context, name: string, value: string): void {
  const outgoing = nodeBindingsOf(c)?.outgoing;
  if (outgoing && !outgoing.headersSent) outgoing.setHeader(name, value);
  else c.header(name, value);
}

/**
 * A header of the request, from Node's own parsed headers when Node serves it. Through
 * `c.req.header()`, the first header read builds the whole web `Headers` of the request
 * (every name and value validated again), which bare Hono never pays for a route that reads
 * none. Repeated headers come joined by `, `, as `Headers.get` joins them; `set-cookie` is
 * never a request header.
 */
export function requestHeader(c: Context, name: string): string | undefined {
  // Tests may hand the app a bare `{ socket }` as `incoming`, for the client's address.
  const headers = nodeBindingsOf(c)?.incoming?.headers;
  if (!headers) return c.req.header(name);
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
