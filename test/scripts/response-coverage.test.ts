/**
 * Response coverage: what an app answered is recorded from its request metric (by the
 * route that answered, so `/v1/users/me` is not taken for `/v1/users/{id}`), written under
 * RESPONSE_COVERAGE_DIR, and held against the document: never-exercised declared statuses
 * and undeclared ones both fail, 500 and 503 are exempt.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  compareCoverage,
  documentPath,
  formatCoverage,
  readRecorded,
} from '../../scripts/response-coverage.ts';
import { createApp } from '../../src/app.ts';
import { createTestUser } from '../support/auth.ts';
import { createTestDeps } from '../support/deps.ts';
import { recordedResponses, saveRecordedResponses } from '../support/response-recording.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

const DOCUMENT = {
  paths: {
    '/v1/things/{id}': {
      parameters: [],
      get: { responses: { '200': {}, '404': {}, '500': {}, '503': {} } },
      delete: { responses: { '204': {}, '4XX': {} } },
    },
  },
};

describe('compareCoverage', () => {
  test('reads router templates as document paths', () => {
    assert.equal(documentPath('/v1/things/:id'), '/v1/things/{id}');
    assert.equal(documentPath('/v1/a/:id{[0-9]+}/b/:other'), '/v1/a/{id}/b/{other}');
  });

  test('finds declared statuses never exercised and exercised ones never declared', () => {
    const report = compareCoverage(DOCUMENT, [
      { method: 'GET', route: '/v1/things/:id', status: 200, count: 3 },
      { method: 'GET', route: '/v1/things/:id', status: 409, count: 1 },
      { method: 'DELETE', route: '/v1/things/:id', status: 204, count: 1 },
      { method: 'DELETE', route: '/v1/things/:id', status: 404, count: 1 },
      { method: 'GET', route: 'unmatched', status: 404, count: 1 },
    ]);
    assert.deepEqual(
      report.map(({ label, missing, undeclared }) => ({ label, missing, undeclared })),
      [
        { label: 'GET /v1/things/{id}', missing: ['404'], undeclared: ['409'] },
        { label: 'DELETE /v1/things/{id}', missing: ['4XX'], undeclared: [] },
      ],
    );
    const table = formatCoverage(report);
    assert.match(table, /GET \/v1\/things\/\{id\} +200 {2}404✗ {2}\(500\) {2}\(503\) {2}409!/);
    assert.match(table, /Declared, never exercised:\n {2}GET \/v1\/things\/\{id\} 404/);
    assert.match(table, /Exercised, not declared:\n {2}GET \/v1\/things\/\{id\} 409/);
  });
});

describe('recording a test file’s answers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'responses-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('names the route that answered, and writes one file per app’s deps', async () => {
    const deps = await createTestDeps();
    try {
      const app = createApp(deps);
      const user = await createTestUser(deps);
      assert.equal((await app.request('/v1/users/me', { headers: user.headers })).status, 200);
      assert.equal((await app.request('/livez?%FF')).status, 400);
      const recorded = await recordedResponses(deps.metrics);
      assert.ok(
        recorded.some((r) => r.method === 'GET' && r.route === '/v1/users/me' && r.status === 200),
        JSON.stringify(recorded),
      );
      assert.ok(!recorded.some((r) => r.route === '/v1/users/:id'), JSON.stringify(recorded));
      assert.ok(recorded.some((r) => r.route === '/livez' && r.status === 400));
      assert.ok(await saveRecordedResponses(deps.metrics, dir));
    } finally {
      await deps.close();
    }
    const merged = await readRecorded(dir);
    assert.ok(merged.some((r) => r.route === '/v1/users/me'));
  });

  test('npm run responses:check fails on what one file recorded, and prints the table', () => {
    writeFileSync(
      join(dir, 'planted.json'),
      JSON.stringify({
        source: 'planted',
        responses: [{ method: 'GET', route: '/livez', status: 418, count: 1 }],
      }),
    );
    const result = spawnSync(
      process.execPath,
      [join(ROOT, 'scripts/response-coverage.ts'), '--dir', dir],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    );
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stdout, /^operation +statuses/m);
    assert.match(result.stdout, /Exercised, not declared:\n {2}GET \/livez 418/);
    assert.match(result.stdout, /Declared, never exercised:/);
  });
});
