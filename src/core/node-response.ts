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
