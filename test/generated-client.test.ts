/**
 * A client generated from the served OpenAPI document by a generator that knows nothing of
 * this code (swagger-typescript-api, a fetch client), and a program written against it
 * (`test/fixtures/generated-client/scenario.ts`): the program must compile under `strict`
 * against the generated types, then run against the real server on a socket. A document
 * that generators read differently from the server (a nullable field, a form or multipart
 * body, a header parameter, a problem document) breaks one or the other.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { createApp } from '../src/app.ts';
import { listen, type RunningServer } from '../src/core/http-server.ts';
import type { Observed } from './fixtures/generated-client/observed.ts';
import { createTestDeps, type TestDeps } from './support/deps.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'node_modules', '.bin');

type Scenario = (baseUrl: string, email: string) => Promise<Observed>;

function isScenarioModule(value: unknown): value is { scenario: Scenario } {
  return (
    typeof value === 'object' &&
    value !== null &&
    'scenario' in value &&
    typeof value.scenario === 'function'
  );
}

let deps: TestDeps;
let server: RunningServer;
let baseUrl: string;
let folder: string;

/**
 * Runs a tool in the scratch folder. Not `spawnSync`: blocked for the seconds the generator
 * and `tsc` take, neither the server nor fetch's pool saw the server's idle keep-alive
 * sockets close, and the scenario's first request went out on one as it closed (ECONNRESET).
 */
async function run(command: string, args: string[]): Promise<void> {
  try {
    await promisify(execFile)(join(BIN, command), args, { cwd: folder });
  } catch (error) {
    const output =
      typeof error === 'object' && error !== null && 'stdout' in error && 'stderr' in error
        ? `${String(error.stdout)}\n${String(error.stderr)}`
        : String(error);
    assert.fail(`${command} failed:\n${output}`);
  }
}

before(async () => {
  deps = await createTestDeps();
  const app = createApp(deps);
  server = await listen({ fetch: app.fetch, host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${server.port}`;
  folder = await mkdtemp(join(tmpdir(), 'generated-client-'));
  const document = await fetch(`${baseUrl}/openapi.json`);
  assert.equal(document.status, 200);
  await writeFile(join(folder, 'openapi.json'), await document.text());
  await writeFile(join(folder, 'package.json'), '{ "type": "module", "private": true }\n');
  await symlink(join(ROOT, 'node_modules'), join(folder, 'node_modules'), 'dir');
  for (const file of ['scenario.ts', 'observed.ts']) {
    await copyFile(join(ROOT, 'test', 'fixtures', 'generated-client', file), join(folder, file));
  }
  await writeFile(
    join(folder, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'es2024',
        lib: ['es2024', 'dom'],
        types: ['node'],
        module: 'nodenext',
        moduleResolution: 'nodenext',
        allowImportingTsExtensions: true,
        erasableSyntaxOnly: true,
        verbatimModuleSyntax: true,
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
        skipLibCheck: true,
      },
      files: ['Api.ts', 'observed.ts', 'scenario.ts'],
    }),
  );
});
after(async () => {
  await server.drain(2_000);
  await deps.close();
  await rm(folder, { recursive: true, force: true });
});

test('a client generated from the document compiles with a program using it, and works', async () => {
  await run('swagger-typescript-api', [
    'generate',
    '--path',
    'openapi.json',
    '--output',
    '.',
    '--name',
    'Api.ts',
    '--enum-style=union',
    '--type-only-imports',
    '--silent',
  ]);
  await run('tsc', ['-p', '.']);

  const loaded: unknown = await import(pathToFileURL(join(folder, 'scenario.ts')).href);
  assert.ok(isScenarioModule(loaded));
  const { scenario } = loaded;
  const email = `generated-${randomBytes(4).toString('hex')}@example.com`;
  const seen = await scenario(baseUrl, email);

  assert.equal(seen.registeredEmail, email);
  assert.equal(seen.meId, seen.userId);
  assert.equal(seen.tokenType, 'bearer');
  assert.match(seen.keyPrefix, /^hsk_/);
  assert.equal(seen.created.name, 'Watering can');
  assert.equal(seen.created.price, '24.50');
  assert.deepEqual(seen.created.tags, ['garden', 'tools']);
  assert.equal(seen.created.version, 1);
  assert.ok(!Number.isNaN(Date.parse(seen.created.createdAt)));
  assert.deepEqual(seen.fetched, seen.created);
  // Tagged `garden`, by name: Rake, then Watering can on the next page.
  assert.deepEqual(seen.listedNames, ['Rake']);
  assert.deepEqual(seen.nextPage, ['Watering can']);
  assert.equal(seen.updatedVersion, 2);
  assert.equal(seen.stale.status, 412);
  assert.equal(seen.stale.problem.status, 412);
  assert.equal(seen.invalid.status, 422);
  assert.equal(seen.invalid.problem.errors?.[0]?.location, 'path');
  assert.equal(seen.invalid.problem.errors?.[0]?.path, 'id');
  assert.equal(seen.importJob.state, 'queued');
  assert.equal(typeof seen.chat.content, 'string');
  assert.equal(seen.chat.finish, 'stop');
  assert.equal(seen.afterDelete.status, 404);
  assert.equal(seen.afterDelete.problem.title, 'Not Found');
});
