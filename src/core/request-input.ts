import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from './app-env.ts';
import { requestHeader } from './node-response.ts';
import { ProblemError } from './problem.ts';
import { assertWellFormedUrl } from './url-encoding.ts';

/**
 * Whether a request sends a body of at least one byte, read from a copy so the body is still
 * there to read. For a request that says nothing of one (no type, length or chunking).
 */
export async function hasBody(request: Request): Promise<boolean> {
  if (request.body === null) return false;
  return (await request.clone().arrayBuffer()).byteLength > 0;
}

const tooLarge = (maxSize: number) =>
  new ProblemError(413, { detail: `The body is larger than the limit of ${maxSize} bytes` });

function limitOf(maxSize: number): MiddlewareHandler {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw tooLarge(maxSize);
    },
  });
}

/**
 * Bodies their routes read as they arrive, a line at a time (JSON Lines): a file of any size
 * must never be held whole, so these are not gathered first as `bodyLimit` gathers a body of
 * unknown length.
 */
const STREAMED = /^application\/(jsonl|x-ndjson)\s*(;|$)/i;

/**
 * The limit for a streamed body: refused at once when its `Content-Length` says it is too
 * large, else counted as it is read; past the limit, reading it fails with the 413. The
 * body's source is never cancelled, so the answer still reaches a client that is sending.
 */
function limitStreamed(maxSize: number): MiddlewareHandler {
  return async function limitStreamedBody(c, next) {
    const body = c.req.raw.body;
    if (!body) return next();
    if (Number(c.req.header('content-length') ?? 0) > maxSize) throw tooLarge(maxSize);
    let size = 0;
    const counted = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          size += chunk.byteLength;
          if (size > maxSize) controller.error(tooLarge(maxSize));
          else controller.enqueue(chunk);
        },
      }),
      { preventCancel: true },
    );
    c.req.raw = new Request(c.req.raw, { body: counted, duplex: 'half' });
    return next();
  };
}

/**
 * Refuses what no route should read, before any does: a malformed URL (400), and a body over
 * its limit (413), by `Content-Length` or by counting a chunked body as it arrives. File
 * uploads (multipart, or JSON Lines streamed as the body) get their own, larger limit.
 */
export function checkRequestInput(limits: {
  bytes: number;
  uploadBytes: number;
}): MiddlewareHandler<AppEnv> {
  const regular = limitOf(limits.bytes);
  const upload = limitOf(limits.uploadBytes);
  const streamed = limitStreamed(limits.uploadBytes);
  return function checkRequestInput(c, next) {
    assertWellFormedUrl(c.req.url);
    // Reading no body keeps the cheap path of @hono/node-server's request for GET and HEAD.
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const type = requestHeader(c, 'content-type') ?? '';
    if (STREAMED.test(type)) return streamed(c, next);
    const multipart = /^multipart\//i.test(type);
    // A declared length is checked from Node's own headers, as `bodyLimit` would check it, but
    // without touching the web Request: once built, @hono/node-server reads the body through
    // web streams, where untouched it reads it straight from the socket (`c.req.json()`).
    const length = requestHeader(c, 'content-length');
    if (length !== undefined && requestHeader(c, 'transfer-encoding') === undefined) {
      const maxSize = multipart ? limits.uploadBytes : limits.bytes;
      if (Number.parseInt(length, 10) > maxSize) throw tooLarge(maxSize);
      return next();
    }
    return (multipart ? upload : regular)(c, next);
  };
}
