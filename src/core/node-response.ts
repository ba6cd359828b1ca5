import {
  type IncomingMessage,
  type OutgoingHttpHeader,
  type OutgoingHttpHeaders,
  ServerResponse,
  validateHeaderName,
  validateHeaderValue,
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

/** Whether this Node's responses take the fixed headers' lines as they are (`_storeHeader`). */
let headLinesTaken = false;

/**
 * Node's response, carrying headers set before the handler answered (the request id, the
 * security headers, the rate limit's) until the head is written, then written in one list
 * with the handler's own, which win. Through `setHeader`, each of them costs Node a
 * validation and a map entry first, then a merge: about 14 µs for the ten every answer
 * carries, on the machine the bench ran on, against 6 µs for the same ten in `writeHead`'s
 * object (decision 041), less again as a flat list (decision 119). The HTTP server makes
 * every response one of these.
 *
 * A whole answer (one `end` with all of its body, nothing written before) leaves at the end
 * of the event loop's turn (`setImmediate`), with the other answers finished in that turn:
 * written the moment each was ready, one every few dozen microseconds while the turn's
 * requests ran, each write woke a client that had gone back to sleep, and the kernel did
 * that waking on our CPU, about 9 µs of a 70 µs item read (decision 117). An answer waits
 * at most for the rest of its turn; a stream's parts (`write`) and its end are never held,
 * and the event stream already holds its own to the turn's end (decision 074).
 */
export class AnswerResponse<
  Incoming extends IncomingMessage = IncomingMessage,
> extends ServerResponse<Incoming> {
  /** Answers ended in this turn, in the order they ended; written at its end. */
  static #held: AnswerResponse[] = [];

  static #writeHeld(): void {
    const held = AnswerResponse.#held;
    AnswerResponse.#held = [];
    for (const response of held) {
      try {
        response.#releaseEnd();
      } catch (error) {
        // Not the rest of the turn's answers too; this one cannot be finished.
        response.destroy(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  /** Headers every answer carries, shared by all responses: no work per request to add. */
  #fixed: FixedHeaders | undefined;
  /**
   * By lower-case name: a later value replaces an earlier one in its place, as `setHeader`
   * would. A handful: a scan costs less than a `Map` a request.
   */
  readonly #early: HeaderPair[] = [];
  /** The fixed headers' lines, for `_storeHeader` to put after the status line. */
  #headLines: string | undefined;
  /** What `end` was given, while the answer waits for the turn's end. */
  #heldEnd: unknown[] | undefined;
  /** Written in parts: the end of a stream goes out at once, after them. */
  #streamed = false;

  static {
    // Ended as far as any caller can tell while it waits (Node's own is a getter on the
    // prototype, which the types declare as a field a class cannot override).
    Object.defineProperty(AnswerResponse.prototype, 'writableEnded', {
      configurable: true,
      get(this: AnswerResponse): boolean {
        return (
          this.#heldEnd !== undefined ||
          Reflect.get(ServerResponse.prototype, 'writableEnded', this) === true
        );
      },
    });
    // Node writes the head in `_storeHeader(statusLine, headers)`, validating each header of
    // a list again at every answer (`validateHeaderName`, `validateHeaderValue`: two patterns
    // each). The fixed set was validated once, when prepared: its lines go in after the status
    // line as they are (decision 125). Where a Node has no such method, nothing is put in
    // (`headLinesTaken` is false) and the set goes in the list like any other header.
    const storeHeader: unknown = Reflect.get(ServerResponse.prototype, '_storeHeader');
    if (typeof storeHeader === 'function') {
      headLinesTaken = true;
      Object.defineProperty(AnswerResponse.prototype, '_storeHeader', {
        configurable: true,
        writable: true,
        value(this: AnswerResponse, firstLine: unknown, headers: unknown): unknown {
          // Set only while `writeHead` runs Node's own, which calls this once; it clears them.
          const lines = this.#headLines;
          const first =
            lines !== undefined && typeof firstLine === 'string' ? firstLine + lines : firstLine;
          return Reflect.apply(storeHeader, this, [first, headers]);
        },
      });
    }
  }

  // `unknown[]` for Node's overloads of each; the arguments go to Node's own as they came.
  override write(...args: unknown[]): boolean {
    this.#streamed = true;
    // Written after a held end, it meets it as Node would: after the end.
    this.#releaseEnd();
    return Reflect.apply(ServerResponse.prototype.write, this, args);
  }

  override end(...args: unknown[]): this {
    if (!this.#mayHold(args)) {
      this.#releaseEnd();
      return Reflect.apply(ServerResponse.prototype.end, this, args);
    }
    this.#heldEnd = args;
    const held = AnswerResponse.#held;
    if (held.length === 0) setImmediate(AnswerResponse.#writeHeld);
    held.push(this);
    return this;
  }

  /**
   * Only a whole answer whose head is written (as @hono/node-server writes every one), ended
   * with a body Node takes as it is: anything Node would refuse or throw at, it still does at
   * the call, and a header set after the end still throws as it would.
   */
  #mayHold(args: unknown[]): boolean {
    // `writableEnded` is true while an end is held too: a second `end` goes through.
    if (this.#streamed || !this.headersSent || this.writableEnded || this.destroyed) return false;
    const [body, callback, more] = args;
    return (
      args.length <= 2 &&
      more === undefined &&
      (body === undefined || typeof body === 'string' || body instanceof Uint8Array) &&
      (callback === undefined || typeof callback === 'function')
    );
  }

  #releaseEnd(): void {
    const args = this.#heldEnd;
    if (args === undefined) return;
    this.#heldEnd = undefined;
    Reflect.apply(ServerResponse.prototype.end, this, args);
  }

  /** Adds a header that the handler's response may still replace. */
  addEarlyHeader(name: string, value: string): void {
    // Kept by lower-case name: `writeHead` matches the handler's names, in any case, to these.
    setPair(this.#early, name.toLowerCase(), value);
  }

  /** Adds a set of headers, as `addEarlyHeader` would each of them. */
  addFixedHeaders(headers: FixedHeaders): void {
    const before = this.#fixed;
    this.#fixed = before ? preparedHeaders([...before.pairs, ...headers.pairs]) : headers;
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
    if ((early.length === 0 && fixed === undefined) || this.headersSent) {
      return super.writeHead(statusCode, reason, headers);
    }
    if (headers === undefined || Array.isArray(headers)) {
      // One the handler set on this response itself stays.
      for (const [name, value] of fixed ? fixed.pairs : []) {
        if (findPair(early, name) === undefined && !this.hasHeader(name))
          this.setHeader(name, value);
      }
      for (const [name, value] of early) if (!this.hasHeader(name)) this.setHeader(name, value);
      return super.writeHead(statusCode, reason, headers);
    }
    // One flat list for Node, which takes it without the own-key check and the key
    // enumeration an object costs it, header by header (decision 119).
    const names = Object.keys(headers);
    const given = names.map((name) => name.toLowerCase());
    const flat: OutgoingHttpHeader[] = [];
    let lines: string | undefined;
    if (fixed) {
      if (headLinesTaken && noneReplaced(fixed, early, given)) lines = fixed.lines;
      else for (const pair of fixed.pairs) if (kept(pair[0], early, given)) flat.push(...pair);
    }
    for (const pair of early) if (!given.includes(pair[0])) flat.push(pair[0], pair[1]);
    for (const name of names) {
      const value = headers[name];
      if (value !== undefined) flat.push(name, value);
    }
    this.#headLines = lines;
    try {
      return super.writeHead(statusCode, reason, flat);
    } finally {
      // Refused before the head was stored (a bad status), they go with no other head.
      this.#headLines = undefined;
    }
  }
}

/** A header's name, in lower case, and its value. */
type HeaderPair = [name: string, value: string];

/**
 * Whether a fixed header named `name` goes out: not when an early header of that name was
 * set (after the fixed ones, it replaces them), nor when the handler gives one (`given`, in
 * lower case), which wins over both.
 */
function kept(name: string, early: readonly HeaderPair[], given: readonly string[]): boolean {
  return findPair(early, name) === undefined && !given.includes(name);
}

/**
 * Whether every header of the fixed set goes out (`kept`), as most answers send them: no
 * early header and none of the handler's is named as one of the set. Looked up by name in
 * the set's own names, not by a scan of the early headers for each of the set's.
 */
function noneReplaced(
  fixed: FixedHeaders,
  early: readonly HeaderPair[],
  given: readonly string[],
): boolean {
  for (const pair of early) if (fixed.names.has(pair[0])) return false;
  for (const name of given) if (fixed.names.has(name)) return false;
  return true;
}

/** The pair named `name` (lower case) among `pairs`, if any. */
function findPair<Pair extends readonly [string, string]>(
  pairs: readonly Pair[],
  name: string,
): Pair | undefined {
  for (const pair of pairs) if (pair[0] === name) return pair;
  return undefined;
}

/** Sets `name` (lower case) among `pairs`: its value replaced in its place, else added. */
function setPair(pairs: HeaderPair[], name: string, value: string): void {
  const found = findPair(pairs, name);
  if (found) found[1] = value;
  else pairs.push([name, value]);
}

/** Headers Node reads as it writes the head, to frame the answer: each answer's own. */
const HEAD_MANAGED = new Set([
  'connection',
  'content-disposition',
  'content-length',
  'date',
  'expect',
  'keep-alive',
  'trailer',
  'transfer-encoding',
]);

/** Headers the same for every answer (`fixedHeaders`), each name once, in lower case. */
export interface FixedHeaders {
  readonly pairs: readonly (readonly [name: string, value: string])[];
  /** The pairs as lines of a head (`name: value` and CRLF each), validated. */
  readonly lines: string;
  /** The pairs' names. */
  readonly names: ReadonlySet<string>;
}

/**
 * Prepares headers every answer carries once, for `setFixedAnswerHeaders`; a later name wins.
 * Throws, as Node would at the first answer, for a name or value no head may carry, and for
 * a header that frames one answer (`Content-Length`, `Connection`, …).
 */
export function fixedHeaders(entries: Iterable<readonly [string, string]>): FixedHeaders {
  const checked: (readonly [string, string])[] = [];
  for (const [name, value] of entries) {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    const lower = name.toLowerCase();
    if (HEAD_MANAGED.has(lower)) throw new TypeError(`${name} is the answer's own, never fixed`);
    checked.push([lower, value]);
  }
  return preparedHeaders(checked);
}

/**
 * A set of pairs already checked by `fixedHeaders` (names in lower case), a later name
 * winning: how two sets added to one answer merge, without checking them again.
 */
function preparedHeaders(entries: readonly (readonly [string, string])[]): FixedHeaders {
  const pairs: HeaderPair[] = [];
  for (const [name, value] of entries) setPair(pairs, name, value);
  const lines = pairs.map(([name, value]) => `${name}: ${value}\r\n`).join('');
  // Read-only by its type alone: V8 reads a frozen array's elements on a slower path.
  return { pairs, lines, names: new Set(pairs.map((pair) => pair[0])) };
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
  for (const [name, value] of headers.pairs) setAnswerHeader(c, name, value);
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
