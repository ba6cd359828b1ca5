import { z } from '@hono/zod-openapi';
import { problemResponses } from './route.ts';

/** A strong entity tag from a resource's version counter. */
export function etagOf(version: number): string {
  return `"${version}"`;
}

/** One entity tag of a header (RFC 9110 §8.8.3): `"3"` or, weak, `W/"3"`. */
interface EntityTag {
  weak: boolean;
  /** What is between the quotes. */
  opaque: string;
}

const OWS = new Set([' ', '\t']);

/** etagc: any visible character but `"`, or obs-text (RFC 9110 §8.8.3). */
function isEtagChar(char: string): boolean {
  const code = char.charCodeAt(0);
  return code === 0x21 || (code >= 0x23 && code <= 0x7e) || (code >= 0x80 && code <= 0xff);
}

/**
 * `If-Match` / `If-None-Match` as RFC 9110 defines them: `*`, or a comma-separated list of
 * entity tags (empty list elements allowed, §5.6.1) holding at least one tag. Undefined when
 * the value is neither, e.g. an unquoted `3`.
 */
function parseEntityTags(value: string): '*' | EntityTag[] | undefined {
  if (value.trim() === '*') return '*';
  const tags: EntityTag[] = [];
  let at = 0;
  const skipSpace = () => {
    while (at < value.length && OWS.has(value.charAt(at))) at += 1;
  };
  for (;;) {
    skipSpace();
    if (at >= value.length) break;
    if (value.charAt(at) === ',') {
      at += 1;
      continue;
    }
    const weak = value.startsWith('W/', at);
    if (weak) at += 2;
    if (value.charAt(at) !== '"') return undefined;
    at += 1;
    const start = at;
    while (at < value.length && isEtagChar(value.charAt(at))) at += 1;
    if (value.charAt(at) !== '"') return undefined;
    tags.push({ weak, opaque: value.slice(start, at) });
    at += 1;
    skipSpace();
    if (at < value.length && value.charAt(at) !== ',') return undefined;
  }
  return tags.length > 0 ? tags : undefined;
}

/** What to tell a client whose `If-Match` is not one: the form, with its own value fixed. */
function malformedMessage(input: unknown): string {
  const bare = typeof input === 'string' ? input.trim() : '';
  const fixed = /^(W\/)?[\x21\x23-\x7e]+$/.test(bare) ? bare.replace(/^(W\/)?(.*)$/, '$1"$2"') : '';
  const hint = fixed && fixed !== bare ? `: send ${fixed}, not ${bare}` : '';
  return `must be * or ETags in double quotes, as the ETag header gives them, e.g. "3"${hint}`;
}

/**
 * The schema of an `If-Match` header: a malformed one is the client's mistake (422, with
 * the expected form), not a precondition that failed (412).
 */
export function ifMatchHeader() {
  return z
    .string()
    .max(200)
    .refine((value) => parseEntityTags(value) !== undefined, {
      error: (issue) => malformedMessage(issue.input),
    });
}

/**
 * `If-Match` (RFC 9110 §13.1.1), as the versions an update may apply to: `any` when the
 * header is absent or `*`; otherwise the versions its strong tags name, by the strong
 * comparison, so a weak tag never matches. An empty list means nothing can match (412).
 */
export function ifMatchVersions(ifMatch: string | undefined): 'any' | number[] {
  if (ifMatch === undefined) return 'any';
  const tags = parseEntityTags(ifMatch);
  if (tags === '*') return 'any';
  const versions = (tags ?? [])
    .filter((tag) => !tag.weak && /^\d{1,9}$/.test(tag.opaque))
    .map((tag) => Number(tag.opaque));
  return [...new Set(versions)];
}

/**
 * `If-None-Match` (RFC 9110 §13.1.2): true when the client's copy is current (answer 304),
 * by the weak comparison: `W/"3"` matches `"3"`. `*` matches any current representation. A
 * malformed header is ignored (a full answer does no harm).
 */
export function isNotModified(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const tags = parseEntityTags(ifNoneMatch);
  if (tags === '*') return true;
  const current = parseEntityTags(etag);
  if (!tags || !current || current === '*') return false;
  return tags.some((tag) => current.some((ours) => ours.opaque === tag.opaque));
}

/** `If-Match` as a request header of an operation that changes a versioned resource. */
export const IfMatchHeaders = z.object({
  'if-match': ifMatchHeader().optional().openapi({
    description:
      'The ETag you last saw, quoted as the `ETag` header gives it (or several, comma-separated, or `*`); a stale one gets 412 instead of overwriting. Compared strongly: a weak `W/` tag never matches. Not an entity tag (e.g. unquoted `3`): 422.',
    example: '"1"',
  }),
});

/** `If-None-Match` as a request header of a read that can answer 304. */
export const IfNoneMatchHeaders = z.object({
  'if-none-match': z
    .string()
    .max(200)
    .optional()
    .openapi({ description: '304 when it names the current ETag.', example: '"1"' }),
});

/** The `ETag` response header, documented: `description` says what it versions. */
export function etagResponseHeader(description: string) {
  return { ETag: { schema: { type: 'string' as const }, description } };
}

/** The 422 of an operation taking `If-Match`, which also covers a malformed header. */
export const ifMatchProblems = {
  422: {
    ...problemResponses(422)[422],
    description:
      'One or more fields are invalid, or `If-Match` is not `*` or a list of quoted ETags such as `"3"`; `errors` lists each of them.',
  },
};
