import {
  type IncomingMessage,
  type OutgoingHttpHeader,
  type OutgoingHttpHeaders,
  ServerResponse,
} from 'node:http';
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
 * Node's response, carrying headers set before the handler answered (the request id, the
 * security headers, the rate limit's) until the head is written, then written in one object
 * with the handler's own, which win. Through `setHeader`, each of them costs Node a
 * validation and a map entry first, then a merge: about 14 µs for the ten every answer
 * carries, on the machine the bench ran on, against 6 µs for the same ten in `writeHead`'s
 * object (decision 041). The HTTP server makes every response one of these.
 */
export class AnswerResponse<
  Incoming extends IncomingMessage = IncomingMessage,
> extends ServerResponse<Incoming> {
  /** Headers every answer carries, shared by all responses: no work per request to add. */
  #fixed: FixedHeaders | undefined;
  /** By lower-case name: a later value replaces an earlier one, as `setHeader` would. */
  readonly #early = new Map<string, string>();

  /** Adds a header that the handler's response may still replace. */
  addEarlyHeader(name: string, value: string): void {
    // Kept by lower-case name: `writeHead` matches the handler's names, in any case, to these.
    this.#early.set(name.toLowerCase(), value);
  }

  /** Adds a set of headers, as `addEarlyHeader` would each of them. */
  addFixedHeaders(headers: FixedHeaders): void {
    this.#fixed = this.#fixed ? { ...this.#fixed, ...headers } : headers;
  }

  override writeHead(
    statusCode: number,
    reasonOrHeaders?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
    maybeHeaders?: OutgoingHttpHeaders | OutgoingHttpHeader[],
  ): this {
    const reason = typeof reasonOrHeaders === 'string' ? reasonOrHeaders : undefined;
    const headers = typeof reasonOrHeaders === 'string' ? maybeHeaders : reasonOrHeaders;
    const early = this.#early;
    const fixed = this.#fixed;
    if ((early.size === 0 && fixed === undefined) || this.headersSent) {
      return super.writeHead(statusCode, reason, headers);
    }
    // The fixed ones first: an early header of the same name was set after them.
    const merged: OutgoingHttpHeaders = fixed ? { ...fixed } : {};
    for (const [name, value] of early) merged[name] = value;
    if (headers === undefined || Array.isArray(headers)) {
      // One the handler set on this response itself stays.
      for (const [name, value] of Object.entries(merged)) {
        if (value !== undefined && !this.hasHeader(name)) this.setHeader(name, value);
      }
      return super.writeHead(statusCode, reason, headers);
    }
    for (const name of Object.keys(headers)) {
      const lower = name.toLowerCase();
      // The handler's header wins, whatever the case of its name.
      if (lower !== name) delete merged[lower];
      merged[name] = headers[name];
    }
    return super.writeHead(statusCode, reason, merged);
  }
}

/** Headers the same for every answer, their names in lower case (`fixedHeaders`). */
export type FixedHeaders = Readonly<Record<string, string>>;

/** Prepares headers every answer carries once, for `setFixedAnswerHeaders`. */
export function fixedHeaders(entries: Iterable<readonly [string, string]>): FixedHeaders {
  return Object.freeze(
    Object.fromEntries(Array.from(entries, ([name, value]) => [name.toLowerCase(), value])),
  );
}

/**
 * Sets `headers` on the answer to this request as `setAnswerHeader` sets one, for a set
 * prepared once (`fixedHeaders`): served by Node, the answer keeps a reference to the set,
 * and the set is copied once, when the head is written.
 */
export function setFixedAnswerHeaders(c: Context, headers: FixedHeaders): void {
  const outgoing = nodeBindingsOf(c)?.outgoing;
  if (outgoing instanceof AnswerResponse && !outgoing.headersSent) {
    outgoing.addFixedHeaders(headers);
    return;
  }
  for (const [name, value] of Object.entries(headers)) setAnswerHeader(c, name, value);
}

/**
 * Sets a header on the answer to this request, whatever response the handler goes on to
 * build; a header of the same name on that response wins (a page replaces the
 * Content-Security-Policy). Served by Node, it waits on Node's response until the head is
 * written (`AnswerResponse`); put into the web `Headers` being prepared instead, each
 * header costs a validation, and the response then leaves @hono/node-server's fast path.
 * Without Node (`app.request()` in tests) it goes on the response being built.
 */
export function setAnswerHeader(c: Context, name: string, value: string): void {
  const outgoing = nodeBindingsOf(c)?.outgoing;
  if (outgoing instanceof AnswerResponse && !outgoing.headersSent) {
    outgoing.addEarlyHeader(name, value);
  } else if (outgoing && !outgoing.headersSent) outgoing.setHeader(name, value);
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
