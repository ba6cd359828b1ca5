import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import type { ZodType } from 'zod';
import { ProblemError } from './problem.ts';

/** `limit` and `cursor` query parameters of every list operation. */
export const PageQuery = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(20)
    .openapi({ param: { name: 'limit', in: 'query' }, type: 'integer', example: 20 }),
  cursor: z
    .string()
    .max(2048)
    .optional()
    .openapi({
      param: { name: 'cursor', in: 'query' },
      description: 'The `nextCursor` of the previous page.',
    }),
});

/**
 * Opaque, tamper-proof cursors: the position is JSON, signed with an HMAC so a client can
 * neither forge one nor read more than it was given. A bad cursor is the client's error (422).
 */
export function cursorCodec(secret: string) {
  const key = createSecretKey(createHmac('sha256', secret).update('pagination-cursor').digest());
  const sign = (body: string) => createHmac('sha256', key).update(body).digest().subarray(0, 16);
  return {
    encode(position: unknown): string {
      const body = Buffer.from(JSON.stringify(position)).toString('base64url');
      return `${body}.${sign(body).toString('base64url')}`;
    },
    decode<T extends ZodType>(cursor: string, schema: T): z.output<T> {
      const [body, signature, extra] = cursor.split('.');
      // Compared as text: base64url decoding would accept altered spellings of a signature.
      const given = Buffer.from(signature ?? '');
      const expected = Buffer.from(body ? sign(body).toString('base64url') : '');
      if (
        extra !== undefined ||
        !body ||
        given.length !== expected.length ||
        !timingSafeEqual(given, expected)
      ) {
        throw invalidCursor();
      }
      let position: unknown;
      try {
        position = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      } catch {
        throw invalidCursor();
      }
      const parsed = schema.safeParse(position);
      if (!parsed.success) throw invalidCursor();
      return parsed.data;
    },
  };
}

export type CursorCodec = ReturnType<typeof cursorCodec>;

function invalidCursor(): ProblemError {
  return new ProblemError(422, {
    detail: 'The cursor is not valid; start again without one.',
    extensions: {
      errors: [
        {
          location: 'query',
          path: 'cursor',
          message: 'Invalid or tampered cursor',
          code: 'invalid_cursor',
        },
      ],
    },
  });
}
