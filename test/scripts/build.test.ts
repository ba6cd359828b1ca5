/**
 * `npm run build`: the production bundle works where the sources work. Its three processes run
 * from `dist/` against real PostgreSQL and Redis: the migration on an empty database, the API
 * (the same OpenAPI document as the sources', the files it reads beside its sources), and the
 * worker running the jobs the API enqueued (an export, an uploaded import). And the build
 * refuses a package that finds its own files at run time.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { asciiOnly, buildBundle } from '../../scripts/build.ts';
import { MODULE_REPLACEMENTS } from '../../src/module-replacements.ts';
import { createTestUser } from '../support/auth.ts';
import { TEST_DATABASE_URL } from '../support/database.ts';
import { createTestDeps, type TestDeps } from '../support/deps.ts';
import { followJobOverHttp } from '../support/jobs.ts';
import {
  type ApiProcess,
  depsEnv,
  killAllServices,
  type ServiceProcess,
  spawnService,
  startApi,
} from '../support/processes.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

// The build is deterministic: any test or command building `dist/` meanwhile writes the same.
before(() => buildBundle());
after(() => killAllServices());

/** This process's environment under `env`, minus the test runner's own variable. */
function childEnv(env: Record<string, string>) {
  const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
  return { ...inherited, ...env };
}

test('the migration runs from the bundle on an empty database', async () => {
  const name = `build_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`);
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  try {
    const result = spawnSync(process.execPath, ['dist/migrate.js'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: childEnv({ NODE_ENV: 'test', DATABASE_URL: url.href, LOG_LEVEL: 'warn' }),
      timeout: 60_000,
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^Migrations applied \(postgres database\)\./m);
    const database = postgres(url.href, { max: 1, onnotice: () => {} });
    try {
      const [row] = await database`select to_regclass('public.items') as items`;
      assert.equal(row?.items, 'items');
    } finally {
      await database.end();
    }
  } finally {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
});

describe('the API and the worker from the bundle', () => {
  let deps: TestDeps;
  let bundleApi: ApiProcess;
  let sourcesApi: ApiProcess;
  let worker: ServiceProcess;

  before(async () => {
    deps = await createTestDeps();
    const env = {
      ...depsEnv(deps),
      JWT_SECRET: deps.settings.JWT_SECRET ?? '',
      PUBLIC_URL: 'https://api.example.com',
    };
    worker = spawnService('dist/worker.js', env);
    [bundleApi, sourcesApi] = await Promise.all([
      startApi(env, { entry: 'dist/server.js' }),
      startApi(env),
    ]);
    await worker.waitForRecord('the worker to run', (record) => record.msg === 'worker running');
  });
  after(async () => {
    const services = [worker, bundleApi, sourcesApi];
    for (const service of services) service?.child.kill('SIGTERM');
    const exits = await Promise.all(services.map((service) => service?.exited));
    await deps.close();
    for (const [index, exit] of exits.entries()) {
      assert.deepEqual([exit?.code, exit?.signal], [0, null], services[index]?.stderr());
    }
  });

  test('it is ready, and serves the same OpenAPI document as the sources', async () => {
    assert.equal((await fetch(`${bundleApi.base}/readyz`)).status, 200);
    const [bundled, sources] = await Promise.all(
      [bundleApi, sourcesApi].map(async ({ base }) => {
        const res = await fetch(`${base}/openapi.json`);
        assert.equal(res.status, 200);
        return res.json();
      }),
    );
    assert.deepEqual(bundled, sources);
  });

  test('it finds the files its sources read beside them: the docs bundle, the chat page', async () => {
    const docs = await fetch(`${bundleApi.base}/docs/scalar.js`);
    assert.equal(docs.status, 200);
    assert.ok((await docs.arrayBuffer()).byteLength > 1_000_000, 'Scalar’s browser bundle');
    for (const path of ['/docs', '/ai/chat']) {
      const [bundled, sources] = await Promise.all(
        [bundleApi, sourcesApi].map(async ({ base }) => {
          const res = await fetch(`${base}${path}`);
          assert.equal(res.status, 200, path);
          // Each answer has a nonce of its own.
          return (await res.text()).replace(/(nonce="|csp-nonce" content=")[^"]+/g, '$1');
        }),
      );
      assert.equal(bundled, sources, path);
    }
  });

  test('the worker runs the jobs the API enqueued: an export, and an uploaded import', async () => {
    const ada = await createTestUser(deps);
    const call = (path: string, init: RequestInit = {}) =>
      fetch(`${bundleApi.base}${path}`, {
        ...init,
        headers: { ...ada.headers, ...init.headers },
      });
    const follow = (jobId: string) =>
      followJobOverHttp<{ state: string; error: string | null; result: unknown }>(call, jobId);

    const exported = await call('/v1/exports', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ format: 'csv' }),
    });
    assert.equal(exported.status, 202, await exported.clone().text());
    const exportJob = await follow(((await exported.json()) as { jobId: string }).jobId);
    assert.equal(exportJob.state, 'completed', String(exportJob.error));

    // The upload's form parser (busboy, CommonJS) is loaded lazily, on the first upload.
    const form = new FormData();
    form.append('file', new Blob(['name,price,tags,status\nLamp,12.50,home,active\n']), 'a.csv');
    const uploaded = await call('/v1/imports', { method: 'POST', body: form });
    assert.equal(uploaded.status, 202, await uploaded.clone().text());
    const importJob = await follow(((await uploaded.json()) as { jobId: string }).jobId);
    assert.equal(importJob.state, 'completed', String(importJob.error));
    assert.deepEqual(importJob.result, { inserted: 1, rejectedCount: 0, rejected: [] });
  });
});

describe('the build', () => {
  // Inside the repository, as a package must be under a node_modules folder to be one; the
  // cache folder may not exist yet in a fresh clone.
  mkdirSync(join(ROOT, 'node_modules/.cache'), { recursive: true });
  const scratch = mkdtempSync(join(ROOT, 'node_modules/.cache/build-test-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  test("bundles our replacements of dependencies' files in their place (decision 086)", () => {
    const bundle = readFileSync(join(ROOT, 'dist/server.js'), 'utf8');
    for (const { original, replacement } of MODULE_REPLACEMENTS) {
      // esbuild heads each module it bundles with its path, from the working folder.
      const path = (url: string) => `// ${relative(ROOT, fileURLToPath(url))}\n`;
      assert.ok(bundle.includes(path(replacement)), `${path(replacement)} bundled`);
      assert.ok(!bundle.includes(path(original)), `${path(original)} left out`);
    }
  });

  test('writes pure ASCII: code escaped, and comments keeping their length in UTF-16 units', async () => {
    const text = 'caf\u00e9 \u2192 \u{1f600}';
    writeFileSync(
      join(scratch, 'unicode.js'),
      `export function greeting() {\n  return (\n    // Kept by esbuild: ${text}\n    '${text}'\n  );\n}\n`,
    );
    const outdir = join(scratch, 'out-unicode');
    await buildBundle({ outdir, entryPoints: { unicode: join(scratch, 'unicode.js') } });
    const bundle = readFileSync(join(outdir, 'unicode.js'), 'utf8');
    assert.match(bundle, /^\p{ASCII}*$/u, 'every character of the bundle is ASCII');
    assert.match(bundle, /Kept by esbuild: caf\? \? \?\?/, 'the comment is there, its length kept');
    const loaded: { greeting(): string } = await import(join(outdir, 'unicode.js'));
    assert.equal(loaded.greeting(), text, 'strings in the code are unchanged');
    assert.equal(asciiOnly(text).length, text.length);
  });

  test('refuses a package that finds its own files at run time, naming it and how', async () => {
    const pkg = join(scratch, 'node_modules/reads-beside-itself');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'reads-beside-itself' }));
    writeFileSync(
      join(pkg, 'index.js'),
      "module.exports = require('node:fs').readFileSync(__dirname + '/data.bin');\n",
    );
    writeFileSync(join(scratch, 'entry.js'), "import data from 'reads-beside-itself';\ndata;\n");
    await assert.rejects(
      buildBundle({
        outdir: join(scratch, 'out'),
        entryPoints: { entry: join(scratch, 'entry.js') },
      }),
      /reads-beside-itself \(.*index\.js: __dirname\)[\s\S]*EXTERNAL/,
    );
  });
});
