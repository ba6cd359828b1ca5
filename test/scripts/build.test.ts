/**
 * `npm run build`: the production bundle works where the sources work. Its three processes run
 * from `dist/` against real PostgreSQL and Redis: the migration on an empty database, the API
 * (the same OpenAPI document as the sources', the files it reads beside its sources), and the
 * worker running a job the API enqueued. And the build refuses a package that finds its own
 * files at run time.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { buildBundle } from '../../scripts/build.ts';
import { createTestUser } from '../support/auth.ts';
import { TEST_DATABASE_URL } from '../support/database.ts';
import { createTestDeps, type TestDeps } from '../support/deps.ts';
import { followJobOverHttp } from '../support/jobs.ts';
import {
  depsEnv,
  freePort,
  killAllServices,
  type ServiceProcess,
  spawnService,
} from '../support/processes.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

// The build is deterministic: any test or command building `dist/` meanwhile writes the same.
before(() => buildBundle());
after(() => killAllServices());

/** The environment of the services, but a variable set to `undefined` is left unset. */
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
  const apis: Record<'bundle' | 'sources', { service: ServiceProcess; base: string }> = {} as never;
  let worker: ServiceProcess;

  before(async () => {
    deps = await createTestDeps();
    const env = {
      ...depsEnv(deps),
      JWT_SECRET: deps.settings.JWT_SECRET ?? '',
      PUBLIC_URL: 'https://api.example.com',
    };
    worker = spawnService('dist/worker.js', env);
    for (const [which, entry] of [
      ['bundle', 'dist/server.js'],
      ['sources', 'src/server.ts'],
    ] as const) {
      const service = spawnService(entry, { ...env, PORT: String(await freePort()) });
      const listening = await service.waitForRecord(
        `${entry} to listen`,
        (record) => record.msg === 'API listening',
      );
      apis[which] = { service, base: String(listening.url) };
    }
    await worker.waitForRecord('the worker to run', (record) => record.msg === 'worker running');
  });
  after(async () => {
    const services = [worker, apis.bundle?.service, apis.sources?.service];
    for (const service of services) service?.child.kill('SIGTERM');
    const exits = await Promise.all(services.map((service) => service?.exited));
    await deps.close();
    for (const [index, exit] of exits.entries()) {
      assert.deepEqual([exit?.code, exit?.signal], [0, null], services[index]?.stderr());
    }
  });

  test('it is ready, and serves the same OpenAPI document as the sources', async () => {
    assert.equal((await fetch(`${apis.bundle.base}/readyz`)).status, 200);
    const [bundled, sources] = await Promise.all(
      [apis.bundle, apis.sources].map(async ({ base }) => {
        const res = await fetch(`${base}/openapi.json`);
        assert.equal(res.status, 200);
        return res.json();
      }),
    );
    assert.deepEqual(bundled, sources);
  });

  test('it finds the files its sources read beside them: the docs bundle, the chat page', async () => {
    const docs = await fetch(`${apis.bundle.base}/docs/scalar.js`);
    assert.equal(docs.status, 200);
    assert.ok((await docs.arrayBuffer()).byteLength > 1_000_000, 'Scalar’s browser bundle');
    for (const path of ['/docs', '/ai/chat']) {
      const [bundled, sources] = await Promise.all(
        [apis.bundle, apis.sources].map(async ({ base }) => {
          const res = await fetch(`${base}${path}`);
          assert.equal(res.status, 200, path);
          // Each answer has a nonce of its own.
          return (await res.text()).replace(/(nonce="|csp-nonce" content=")[^"]+/g, '$1');
        }),
      );
      assert.equal(bundled, sources, path);
    }
  });

  test('the worker runs a job the API enqueued: an export, to completion', async () => {
    const ada = await createTestUser(deps);
    const created = await fetch(`${apis.bundle.base}/v1/exports`, {
      method: 'POST',
      headers: { ...ada.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ format: 'csv' }),
    });
    assert.equal(created.status, 202, await created.clone().text());
    const { jobId } = (await created.json()) as { jobId: string };
    const job = await followJobOverHttp<{ state: string; error: string | null }>(
      (path) => fetch(`${apis.bundle.base}${path}`, { headers: ada.headers }),
      jobId,
    );
    assert.equal(job.state, 'completed', String(job.error));
  });
});

describe('the build', () => {
  const scratch = mkdtempSync(join(ROOT, 'node_modules/.cache/build-test-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

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
