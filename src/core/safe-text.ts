/**
 * Text no field of this service may hold, whatever its schema says. PostgreSQL refuses the
 * NUL character in text (SQLSTATE 22021), and an unpaired UTF-16 surrogate cannot be
 * encoded as UTF-8 at all: drivers silently replace it with U+FFFD, so what is stored is
 * not what was sent. Both are refused at the door instead, by the shared validation hook,
 * and by any other reader of outside text (a CSV import) through the same function.
 */

import { isPlainObject } from './plain-object.ts';

export interface UnsafeText {
  /** Dotted path of the offending string (or object key) inside the value. */
  path: string;
  message: string;
  code: 'nul_character' | 'lone_surrogate';
}

const NUL = '\u0000';

/** Why `text` cannot be stored, or undefined when it can. */
export function textProblem(text: string): Pick<UnsafeText, 'message' | 'code'> | undefined {
  if (text.includes(NUL)) {
    return { message: 'must not contain the NUL character (U+0000)', code: 'nul_character' };
  }
  if (!text.isWellFormed()) {
    return {
      message: 'must not contain an unpaired UTF-16 surrogate (not valid Unicode text)',
      code: 'lone_surrogate',
    };
  }
  return undefined;
}

const unstorable = (text: string): boolean => text.includes(NUL) || !text.isWellFormed();

/** Whether `entry` is text that cannot be stored; an object or array is queued to read. */
function unstorableOrQueued(entry: unknown, pending: object[]): boolean {
  if (typeof entry === 'string') return unstorable(entry);
  if (typeof entry === 'object' && entry !== null) pending.push(entry);
  return false;
}

/**
 * Whether any string in `value` (or object key) cannot be stored: what every valid request
 * asks of each part, answered without the paths `findUnsafeText` builds for a report. The
 * value itself is read first, not queued: a flat one (the path's parameters, the query)
 * leaves the list of what is left to read empty, without storage of its own. Walks what
 * `findUnsafeText` walks, iteratively for the same reason.
 */
export function holdsUnsafeText(value: unknown): boolean {
  if (typeof value === 'string') return unstorable(value);
  const pending: object[] = [];
  for (let current: unknown = value; current !== undefined; current = pending.pop()) {
    if (Array.isArray(current)) {
      for (const item of current) if (unstorableOrQueued(item, pending)) return true;
    } else if (isPlainObject(current)) {
      for (const key in current) {
        if (!Object.hasOwn(current, key)) continue;
        if (unstorable(key) || unstorableOrQueued(current[key], pending)) return true;
      }
    }
  }
  return false;
}

/**
 * The strings in `value` (and object keys) that cannot be stored, the first MAX_FOUND of
 * them. Walks plain objects and arrays only: files, dates and other instances carry no client
 * text to check here. Iterative, not recursive: a hostile body nested 500,000 deep must not
 * overflow the stack.
 *
 * @example
 * findUnsafeText({ name: 'a\u0000b' }) // [{ path: 'name', code: 'nul_character', ... }]
 */
export function findUnsafeText(value: unknown): UnsafeText[] {
  const found: UnsafeText[] = [];
  if (!holdsUnsafeText(value)) return found;
  // Last in, first out: children are pushed in reverse, so they are reported in order.
  const pending: Pending[] = [{ value, at: undefined }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (found.length >= MAX_FOUND) break;
    if ('found' in next) {
      found.push(next.found);
      continue;
    }
    const { value: current, at } = next;
    if (typeof current === 'string') {
      const problem = textProblem(current);
      if (problem) found.push({ path: pathText(at), ...problem });
    } else if (Array.isArray(current)) {
      for (let index = current.length - 1; index >= 0; index--)
        pending.push({ value: current[index], at: linkTo(at, index) });
    } else if (isPlainObject(current)) {
      for (const [key, entry] of Object.entries(current).reverse()) {
        const keyProblem = textProblem(key);
        // A key that cannot be stored is not echoed back either, not even inside a path.
        const here = linkTo(at, keyProblem ? '(key)' : key);
        pending.push({ value: entry, at: here });
        if (keyProblem) pending.push({ found: { path: pathText(here), ...keyProblem } });
      }
    }
  }
  return found;
}

/**
 * Problems past this many are not looked for: the value is refused already, and a body with
 * a bad string at each of 100,000 levels made a problem document of megabytes.
 */
const MAX_FOUND = 100;

/** Paths past this many segments are cut in the middle: a problem document stays small. */
const MAX_SEGMENTS = 32;
const HALF = MAX_SEGMENTS / 2;

/** A path as a chain to its parent: shared, so going deeper never copies it. */
interface PathLink {
  parent: PathLink | undefined;
  segment: string | number;
  /** Segments from the root to this one. */
  depth: number;
  /**
   * The link HALF segments from the root on this chain, once the chain is that long: a cut
   * path's beginning is read from it, not by walking up the whole chain, which for each
   * problem of a deeply nested value made finding them quadratic.
   */
  anchor: PathLink | undefined;
}

function linkTo(parent: PathLink | undefined, segment: string | number): PathLink {
  const link: PathLink = { parent, segment, depth: (parent?.depth ?? 0) + 1, anchor: undefined };
  link.anchor = link.depth === HALF ? link : parent?.anchor;
  return link;
}

type Pending = { value: unknown; at: PathLink | undefined } | { found: UnsafeText };

function pathText(at: PathLink | undefined): string {
  if (at === undefined || at.depth <= MAX_SEGMENTS) return segmentsUpFrom(at, MAX_SEGMENTS);
  return `${segmentsUpFrom(at.anchor, HALF)}.….${segmentsUpFrom(at, HALF)}`;
}

/** The last `count` segments of the path ending at `at`, joined. */
function segmentsUpFrom(at: PathLink | undefined, count: number): string {
  const segments: (string | number)[] = [];
  for (let link = at; link !== undefined && segments.length < count; link = link.parent) {
    segments.push(link.segment);
  }
  return segments.reverse().join('.');
}
