import { ProblemError } from './problem.ts';

/** Where the path starts in an absolute URL: after `scheme://authority`. */
function pathAndQuery(url: string): string {
  const authority = url.indexOf('://');
  const start = url.indexOf('/', authority === -1 ? 0 : authority + 3);
  return start === -1 ? '' : url.slice(start);
}

/**
 * Refuses a URL whose percent-encoding does not decode to UTF-8 (`%ED%A0%80`, a lone `%`):
 * 400. Hono keeps such a segment undecoded, so a path parameter or query value would reach
 * the handler as the literal text `%ED%A0%80`, which is not what the client meant.
 */
export function assertWellFormedUrl(url: string): void {
  const target = pathAndQuery(url);
  if (!target.includes('%')) return;
  try {
    decodeURIComponent(target);
  } catch {
    throw new ProblemError(400, {
      detail:
        'The URL is malformed: each % must start an escape (%XX) and the escapes must spell UTF-8 text',
    });
  }
}

/**
 * `text` without the slashes it ends with, in one pass from the end: `/\/+$/` tries the run
 * of slashes again from each of its starts, a second for 50,000 slashes before another
 * character.
 */
export function withoutTrailingSlashes(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x2f) end--;
  return text.slice(0, end);
}
