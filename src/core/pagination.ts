import { createHmac, createSecretKey, hash, timingSafeEqual } from 'node:crypto';
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
    .openapi({
      param: { name: 'limit', in: 'query' },
      description: 'How many to return: 1 to 100.',
      example: 20,
    }),
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

/** What every cursor carries besides its position: the hash of its query. Built once. */
const BOUND_TO_A_QUERY = z.looseObject({ query: z.string() });

/**
 * Keyset pagination, the same for every list: the page after a position (the last row's
 * sort value and id) rather than after n rows, so rows added or removed elsewhere never
 * shift a page. The cursor is signed (`cursorCodec`) and bound to its query (the sort,
 * order and filters that shaped the list, named by a hash), so it cannot be forged, read
 * for more than it was given, or reused with another query.
 *
 * @example
 * const pages = keysetPages(settings.JWT_SECRET);
 * const after = pages.start(query.cursor, [query.sort, query.order], Position);
 * const rows = await listThings(db, { after, limit: query.limit + 1 }); // one more than shown
 * return pages.page(rows, query.limit, [query.sort, query.order], (row) => ({ id: row.id }));
 */
export function keysetPages(secret: string) {
  const codec = cursorCodec(secret);
  return {
    /**
     * Where the page starts: undefined for the first page, else the position in `cursor`,
     * which must come from the same `query` and fit `position`. A bad cursor is a 422.
     */
    start<P extends ZodType<object>>(
      cursor: string | undefined,
      query: unknown,
      position: P,
    ): z.output<P> | undefined {
      if (cursor === undefined) return undefined;
      const decoded = codec.decode(cursor, BOUND_TO_A_QUERY);
      if (decoded.query !== queryKey(query)) throw cursorOfAnotherQuery();
      const parsed = position.safeParse(decoded);
      if (!parsed.success) throw invalidCursor();
      return parsed.data;
    },
    /**
     * The page from `rows`, fetched as `limit + 1` (the extra row says whether a next page
     * exists), and the cursor of the next page: null on the last one.
     */
    page<Row>(
      rows: readonly Row[],
      limit: number,
      query: unknown,
      positionOf: (row: Row) => object,
    ): { data: Row[]; nextCursor: string | null } {
      const data = rows.slice(0, limit);
      const last = data.at(-1);
      const nextCursor =
        rows.length > limit && last !== undefined
          ? codec.encode({ ...positionOf(last), query: queryKey(query) })
          : null;
      return { data, nextCursor };
    },
  };
}

/** A short name for a list's query: JSON, hashed, as a cursor carries it. */
function queryKey(query: unknown): string {
  return hash('sha256', JSON.stringify(query), 'base64url').slice(0, 16);
}

function cursorOfAnotherQuery(): ProblemError {
  return new ProblemError(422, {
    detail: 'The cursor belongs to another sort or filter; start again without one',
    extensions: {
      errors: [
        {
          location: 'query',
          path: 'cursor',
          message: 'does not match the query',
          code: 'invalid_cursor',
        },
      ],
    },
  });
}

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
