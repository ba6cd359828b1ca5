import { z } from '@hono/zod-openapi';

/**
 * A point in time in a response: the `Date` a handler sends, or the same instant as the ISO
 * string a stored answer replays (an idempotent request's, a job's record). Not
 * `z.coerce.date()`: zod-to-openapi tells nullability by parsing `null`, which coercion
 * accepts (as 1970), so such a field reached the document as `string | null` and every
 * generated client made it nullable; it let a `null` through the response check, too.
 */
export const ResponseInstant = z.preprocess(
  (value) => (typeof value === 'string' ? new Date(value) : value),
  z.date(),
);
