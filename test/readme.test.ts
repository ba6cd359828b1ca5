import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { withCurrentTable } from '../scripts/config-docs.ts';

test('the README configuration table matches the settings schema (npm run docs:config)', () => {
  const readme = readFileSync('README.md', 'utf8');
  assert.equal(readme, withCurrentTable(readme));
});

test('the README quick start shows the exact commands CI runs', () => {
  const readme = readFileSync('README.md', 'utf8');
  const ci = readFileSync('.ci/run', 'utf8');
  assert.match(readme, /^npm test\b/m);
  assert.match(ci, /\bnpm test\b/);
  assert.match(readme, /npm run dev/);
});

test('the committed openapi.json matches the code (npm run openapi)', async () => {
  const { renderOpenApi, OPENAPI_FILE } = await import('../scripts/openapi.ts');
  assert.equal(readFileSync(OPENAPI_FILE, 'utf8'), await renderOpenApi());
});
