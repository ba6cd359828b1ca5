import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from './app-env.ts';
import { ProblemError } from './problem.ts';

function limitOf(maxSize: number): MiddlewareHandler {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new ProblemError(413, {
        detail: `The body is larger than the limit of ${maxSize} bytes`,
      });
    },
  });
}

/**
 * Refuses bodies over the limit before reading them (by `Content-Length`, or by counting a
 * chunked body as it arrives): 413. File uploads (multipart) get their own, larger limit.
 */
export function limitBodies(limits: {
  bytes: number;
  uploadBytes: number;
}): MiddlewareHandler<AppEnv> {
  const regular = limitOf(limits.bytes);
  const upload = limitOf(limits.uploadBytes);
  return async function limitBodies(c, next) {
    // Reading no body keeps the cheap path of @hono/node-server's request for GET and HEAD.
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const multipart = /^multipart\//i.test(c.req.header('content-type') ?? '');
    return (multipart ? upload : regular)(c, next);
  };
}
