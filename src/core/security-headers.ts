import { createHash, randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import { fixedHeaders, setFixedAnswerHeaders } from './node-response.ts';

/**
 * The Content-Security-Policy of every answer that sets none of its own: a JSON document or
 * a problem loads and runs nothing, so should a browser ever render one, nothing in it can
 * act. Pages (`/docs`, `/admin`) replace it with `pagePolicy`.
 */
const API_POLICY =
  "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/**
 * Hardening headers every answer carries (those of Hono's `secureHeaders` that matter to an
 * API and its docs page). Set before the handler runs, so they cost one object merge per
 * response rather than a header validation each afterwards (by `requestContext`); prepared
 * once, so a request adds them all by reference.
 */
const SECURITY_HEADERS = fixedHeaders([
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'SAMEORIGIN'],
  ['referrer-policy', 'no-referrer'],
  ['strict-transport-security', 'max-age=15552000; includeSubDomains'],
  ['cross-origin-opener-policy', 'same-origin'],
  ['cross-origin-resource-policy', 'same-site'],
  ['x-permitted-cross-domain-policies', 'none'],
  ['content-security-policy', API_POLICY],
]);

/** Sets them on the answer being built (before the handler, which may replace the policy). */
export function setSecurityHeaders(c: Context): void {
  setFixedAnswerHeaders(c, SECURITY_HEADERS);
}

export interface PageSources {
  /** Inline scripts allowed besides this origin's files: nonces or hashes. */
  scripts?: readonly string[];
  /** Inline styles allowed besides this origin's files: nonces, hashes, or keywords. */
  styles?: readonly string[];
  /** Where a `<base href>` may point: `'self'` for a page that has one, else `'none'`. */
  base?: "'self'" | "'none'";
}

/**
 * The Content-Security-Policy of an HTML page of this service: scripts, styles, images,
 * fonts and requests from this origin only, plus the inline scripts and styles named by
 * nonce or hash; forms post here only; framed by this origin only (as `X-Frame-Options`).
 */
export function pagePolicy(sources: PageSources = {}): string {
  const list = (extra: readonly string[] | undefined) => ["'self'", ...(extra ?? [])].join(' ');
  return [
    "default-src 'none'",
    `script-src ${list(sources.scripts)}`,
    `style-src ${list(sources.styles)}`,
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    `base-uri ${sources.base ?? "'none'"}`,
    "form-action 'self'",
    "frame-ancestors 'self'",
  ].join('; ');
}

/** A fresh nonce for one response's inline scripts and styles (`'nonce-…'` in the policy). */
export function cspNonce(): string {
  return randomBytes(18).toString('base64');
}

/** The policy source that allows exactly this inline script, style or style attribute. */
export function cspHash(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}
