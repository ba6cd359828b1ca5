import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { type Context, Hono } from 'hono';
import type { AppEnv } from './app-env.ts';
import { type BundleCandidates, type BundleLookup, locateScalarBundle } from './docs-assets.ts';
import type { Logger } from './logger.ts';
import { ProblemError } from './problem.ts';
import { cspNonce, pagePolicy } from './security-headers.ts';

const gzipAsync = promisify(gzip);

/** Where the page loads Scalar's browser bundle from: this server, never a CDN. */
const SCRIPT_PATH = '/docs/scalar.js';

interface Bundle {
  raw: Buffer;
  gzipped: Buffer;
  etag: string;
}

/** Read and compressed once per file, however many apps serve it (tests build many). */
const bundles = new Map<string, Promise<Bundle>>();

/**
 * Run before the bundle: the zod inside it probes for `Function('')` to compile its parsers,
 * which the page's policy (no `'unsafe-eval'`) refuses and reports as a violation. Told to do
 * without, it uses its interpreter from the start.
 */
const ZOD_WITHOUT_EVAL = 'globalThis.__zod_globalConfig = { jitless: true };\n';

async function loadBundle(path: string): Promise<Bundle> {
  const raw = Buffer.concat([Buffer.from(ZOD_WITHOUT_EVAL), await readFile(path)]);
  const gzipped = await gzipAsync(raw);
  const hash = (await crypto.subtle.digest('SHA-256', raw)).slice(0, 12);
  return { raw, gzipped, etag: `"${Buffer.from(hash).toString('base64url')}"` };
}

function bundleAt(path: string): Promise<Bundle> {
  let bundle = bundles.get(path);
  if (bundle === undefined) {
    // A failed read is not kept: the next request tries again.
    bundle = loadBundle(path).catch((error: unknown) => {
      bundles.delete(path);
      throw error;
    });
    bundles.set(path, bundle);
  }
  return bundle;
}

/** Scalar's options: everything from this server, nothing from Scalar's hosted services. */
const SCALAR_CONFIG = {
  // What Scalar's own Hono integration tells the bundle it runs under.
  _integration: 'hono',
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
} as const;

const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JSON for an inline script: no value can close the `<script>` element or break the line. */
const scriptJson = (value: unknown) =>
  JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');

/**
 * The page Scalar's standalone bundle renders into: the bundle as a script of this server,
 * then one inline script (allowed by `nonce`) that starts it. The bundle reads the nonce
 * from `csp-nonce` for the stylesheet it injects.
 */
export function docsHtml(options: { title: string; specPath: string; nonce: string }): string {
  const nonce = escapeHtml(options.nonce);
  const config = { ...SCALAR_CONFIG, url: options.specPath };
  return `<!doctype html>
<html>
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta property="csp-nonce" content="${nonce}">
    <title>${escapeHtml(options.title)}</title>
  </head>
  <body>
    <div id="app"></div>
    <script src="${SCRIPT_PATH}" nonce="${nonce}"></script>
    <script nonce="${nonce}">Scalar.createApiReference('#app', ${scriptJson(config)});</script>
  </body>
</html>
`;
}

export interface DocsPageOptions {
  /** Where to look for Scalar's bundle (tests); default: the image's asset, then the package. */
  bundle?: BundleCandidates;
}

/**
 * `/docs`: the Scalar API reference for the document at `specPath`, with every operation
 * listed open, and nothing fetched from elsewhere: no web fonts, telemetry, AI agent or MCP,
 * and its script served from `/docs/scalar.js`. Its Content-Security-Policy allows this
 * origin only, and inline code only by the response's nonce.
 *
 * The script is Scalar's prebuilt bundle, a file (decision 016): `assets/scalar/standalone.js`
 * in the Docker image, else the `@scalar/api-reference` devDependency. Without either, both
 * paths answer 503 with a problem document, and the first such request logs where it looked.
 */
export function docsPage(
  specPath: string,
  title: string,
  options: DocsPageOptions = {},
): Hono<AppEnv> {
  let found: Extract<BundleLookup, { found: true }> | undefined;
  let missingLogged = false;

  /** The bundle's path; looked for until found, then remembered. */
  async function bundlePath(c: Context<AppEnv>): Promise<string> {
    if (found) return found.path;
    const lookup = await locateScalarBundle(options.bundle);
    if (lookup.found) {
      found = lookup;
      return lookup.path;
    }
    if (!missingLogged) {
      missingLogged = true;
      const logger: Logger | undefined = c.get('logger');
      logger?.warn(
        { searched: lookup.searched },
        "/docs is unavailable: Scalar's browser bundle is not installed (the Docker build copies it to assets/scalar/standalone.js; in development `npm ci` installs @scalar/api-reference)",
      );
    }
    throw new ProblemError(503, {
      detail: 'The API reference is not installed on this server; /openapi.json still is',
    });
  }

  return new Hono<AppEnv>()
    .get('/', async (c) => {
      await bundlePath(c);
      // Styles need 'unsafe-inline': the bundle's components (CodeMirror among them) add
      // <style> elements and style attributes as they render, without a nonce. Inline styles
      // can restyle the page, not run code; scripts stay nonce-only.
      const nonce = cspNonce();
      c.header(
        'content-security-policy',
        pagePolicy({ scripts: [`'nonce-${nonce}'`], styles: ["'unsafe-inline'"] }),
      );
      return c.html(docsHtml({ title, specPath, nonce }));
    })
    .get('/scalar.js', async (c) => {
      // Read lazily: most processes (workers, tests) never serve the docs.
      const { raw, gzipped, etag } = await bundleAt(await bundlePath(c));
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
