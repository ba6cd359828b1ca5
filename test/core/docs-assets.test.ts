/**
 * Where `/docs` finds Scalar's browser bundle (decision 016): the asset the Docker build
 * copies into the image, else the `@scalar/api-reference` devDependency, else nowhere, which
 * is a 503 problem document and one log line, not a crash.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { Hono } from 'hono';
import { pino } from 'pino';
import type { AppEnv } from '../../src/core/app-env.ts';
import {
  locateScalarBundle,
  SCALAR_BUNDLE_ASSET,
  scalarBundleInPackage,
} from '../../src/core/docs-assets.ts';
import { type DocsPageOptions, docsHtml, docsPage } from '../../src/core/docs-page.ts';
import { createErrorHandler } from '../../src/core/error-handler.ts';

let dir: string;
let asset: string;
let inPackage: string;
const nowhere = () => join(dir, 'absent', 'standalone.js');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'docs-assets-'));
  asset = join(dir, 'assets', 'scalar', 'standalone.js');
  inPackage = join(dir, 'node_modules', 'standalone.js');
  await mkdir(join(dir, 'assets', 'scalar'), { recursive: true });
  await mkdir(join(dir, 'node_modules'));
  await writeFile(asset, 'window.fromAsset = true;\n');
  await writeFile(inPackage, 'window.fromPackage = true;\n');
});

after(() => rm(dir, { recursive: true, force: true }));

test('the asset copied into the image comes first', async () => {
  assert.deepEqual(await locateScalarBundle({ asset, inPackage: () => inPackage }), {
    found: true,
    path: asset,
    source: 'asset',
  });
});

test('without the asset, the bundle comes from the installed package', async () => {
  assert.deepEqual(await locateScalarBundle({ asset: nowhere(), inPackage: () => inPackage }), {
    found: true,
    path: inPackage,
    source: 'package',
  });
});

test('without either, the lookup says where it looked', async () => {
  assert.deepEqual(await locateScalarBundle({ asset: nowhere(), inPackage: () => undefined }), {
    found: false,
    searched: [nowhere(), '@scalar/api-reference (not installed)'],
  });
  // A directory, or a package without the file, is not a bundle either.
  assert.deepEqual(await locateScalarBundle({ asset: dir, inPackage: nowhere }), {
    found: false,
    searched: [dir, nowhere()],
  });
});

test('by default: assets/scalar/standalone.js, then the devDependency of this checkout', async () => {
  // The Dockerfile copies the bundle to /app/assets/scalar/standalone.js, /app being the root.
  const root = fileURLToPath(new URL('../..', import.meta.url));
  assert.equal(SCALAR_BUNDLE_ASSET, join(root, 'assets', 'scalar', 'standalone.js'));
  const fromPackage = scalarBundleInPackage();
  assert.ok(fromPackage, '@scalar/api-reference is installed (a devDependency)');
  assert.ok(existsSync(fromPackage), `${fromPackage} exists`);
  const lookup = await locateScalarBundle();
  assert.equal(lookup.found, true);
  // No bundle is ever left in the work tree: only the Docker build writes the asset.
  assert.equal(existsSync(SCALAR_BUNDLE_ASSET), false, `${SCALAR_BUNDLE_ASSET} is not committed`);
});

/** The docs page mounted as the app mounts it, with a logger that keeps what it is told. */
function docsApp(options: DocsPageOptions) {
  const lines: { level: number; msg: string; searched?: string[] }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const app = new Hono<AppEnv>()
    .use(async (c, next) => {
      c.set('logger', logger);
      await next();
    })
    .route('/docs', docsPage('/openapi.json', 'Test API', options));
  app.onError(createErrorHandler(logger));
  return { app, lines };
}

test('the bundle is served from the asset: gzipped when asked, cached, revalidated', async () => {
  const { app } = docsApp({ bundle: { asset, inPackage: () => inPackage } });
  const plain = await app.request('/docs/scalar.js');
  assert.equal(plain.status, 200);
  assert.equal(plain.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(plain.headers.get('cache-control'), 'public, max-age=3600');
  const text = await plain.text();
  assert.match(text, /window\.fromAsset = true;\n$/);
  assert.match(text, /^globalThis\.__zod_globalConfig = \{ jitless: true \};/);

  const zipped = await app.request('/docs/scalar.js', {
    headers: { 'accept-encoding': 'gzip, br' },
  });
  assert.equal(zipped.headers.get('content-encoding'), 'gzip');
  assert.equal(gunzipSync(Buffer.from(await zipped.arrayBuffer())).toString(), text);

  const etag = plain.headers.get('etag') ?? '';
  assert.match(etag, /^"[\w-]+"$/);
  const again = await app.request('/docs/scalar.js', { headers: { 'if-none-match': etag } });
  assert.equal(again.status, 304);
});

test('without a bundle, /docs and /docs/scalar.js are a 503 problem, logged once', async () => {
  const { app, lines } = docsApp({ bundle: { asset: nowhere(), inPackage: () => undefined } });
  for (const path of ['/docs/scalar.js', '/docs', '/docs/scalar.js']) {
    const response = await app.request(path);
    assert.equal(response.status, 503, path);
    assert.equal(response.headers.get('content-type'), 'application/problem+json');
    const problem = (await response.json()) as { status: number; title: string; detail: string };
    assert.equal(problem.status, 503);
    assert.equal(problem.title, 'Service Unavailable');
    assert.match(problem.detail, /API reference is not installed/);
    assert.doesNotMatch(problem.detail, /standalone|node_modules/, 'no server path told');
  }
  const warnings = lines.filter((line) => line.level === 40);
  assert.equal(warnings.length, 1, 'one warning, however many requests');
  assert.match(warnings[0]?.msg ?? '', /Scalar's browser bundle is not installed/);
  assert.deepEqual(warnings[0]?.searched, [nowhere(), '@scalar/api-reference (not installed)']);
  assert.equal(
    lines.filter((line) => line.level >= 50).length,
    0,
    'not logged as an unhandled error',
  );
});

test('a bundle installed after a miss is found on the next request', async () => {
  const later = join(dir, 'later', 'standalone.js');
  const { app } = docsApp({ bundle: { asset: later, inPackage: () => undefined } });
  assert.equal((await app.request('/docs/scalar.js')).status, 503);
  await mkdir(join(dir, 'later'));
  await writeFile(later, 'window.later = true;\n');
  const response = await app.request('/docs/scalar.js');
  assert.equal(response.status, 200);
  assert.match(await response.text(), /window\.later = true;/);
});

test('the page escapes its title and starts the bundle from this server', async () => {
  const { app } = docsApp({ bundle: { asset, inPackage: () => inPackage } });
  const response = await app.request('/docs');
  assert.equal(response.status, 200);
  const html = await response.text();
  const nonce = /'nonce-([^']+)'/.exec(response.headers.get('content-security-policy') ?? '')?.[1];
  assert.ok(nonce, 'the policy names a nonce');
  assert.ok(html.includes(`<script src="/docs/scalar.js" nonce="${nonce}"></script>`), html);
  assert.match(html, /Scalar\.createApiReference\('#app', \{.*"url":"\/openapi\.json"/);
  assert.doesNotMatch(html, /https?:\/\//, 'nothing from elsewhere');

  const hostile = docsHtml({
    title: '</title><script>alert(1)</script>',
    specPath: '/x</script><script>alert(2)//',
    nonce: 'n"onload="x',
  });
  assert.doesNotMatch(hostile, /<script>alert/);
  assert.match(hostile, /<title>&lt;\/title&gt;&lt;script&gt;/);
  assert.match(hostile, /"url":"\/x\\u003c\/script>\\u003cscript>alert\(2\)\/\/"/);
  assert.match(hostile, /nonce="n&quot;onload=&quot;x"/);
});
