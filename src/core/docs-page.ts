import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Scalar } from '@scalar/hono-api-reference';
import { Hono } from 'hono';
import type { AppEnv } from './app-env.ts';

const gzipAsync = promisify(gzip);

/** The browser bundle of Scalar, from the installed package: the page never needs a CDN. */
const SCALAR_BUNDLE = new URL(
  './browser/standalone.js',
  import.meta.resolve('@scalar/api-reference'),
);

interface Bundle {
  raw: Buffer;
  gzipped: Buffer;
  etag: string;
}

let bundle: Promise<Bundle> | undefined;

async function loadBundle(): Promise<Bundle> {
  const raw = await readFile(SCALAR_BUNDLE);
  const gzipped = await gzipAsync(raw);
  const hash = (await crypto.subtle.digest('SHA-256', raw)).slice(0, 12);
  return { raw, gzipped, etag: `"${Buffer.from(hash).toString('base64url')}"` };
}

/**
 * `/docs`: the Scalar API reference for the document at `specPath`, with every operation
 * listed open, and nothing fetched from elsewhere: no web fonts, telemetry, AI agent or MCP,
 * and its script served from `/docs/scalar.js`.
 */
export function docsPage(specPath: string, title: string): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get(
      '/',
      Scalar({
        url: specPath,
        pageTitle: title,
        cdn: '/docs/scalar.js',
        withDefaultFonts: false,
        telemetry: false,
        defaultOpenAllTags: true,
        expandAllResponses: false,
        // The client button opens Scalar's hosted client; "Test Request" works without it.
        hideClientButton: true,
        showDeveloperTools: 'never',
        // Persisted auth would keep the password in localStorage.
        persistAuth: false,
        // Both call Scalar's hosted services; the page must stay self-contained.
        agent: { disabled: true },
        mcp: { disabled: true },
      }),
    )
    .get('/scalar.js', async (c) => {
      // Read lazily: most processes (workers, tests) never serve the docs.
      bundle ??= loadBundle();
      const { raw, gzipped, etag } = await bundle;
      c.header('content-type', 'text/javascript; charset=utf-8');
      c.header('cache-control', 'public, max-age=3600');
      c.header('etag', etag);
      c.header('vary', 'accept-encoding');
      if (c.req.header('if-none-match') === etag) return c.body(null, 304);
      if (/\bgzip\b/.test(c.req.header('accept-encoding') ?? '')) {
        c.header('content-encoding', 'gzip');
        return c.body(new Uint8Array(gzipped));
      }
      return c.body(new Uint8Array(raw));
    });
}
