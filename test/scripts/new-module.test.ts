/**
 * `npm run new:module`: the article before the singular ("a widget", "an order"), checked on
 * the rewriting itself and by running the generator in scratch copies of the repository (the
 * committed tree, as CI does, with the generator under test laid over it).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { articleFor, renameResource } from '../../scripts/new-module.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const scratches: string[] = [];
after(() => {
  for (const dir of scratches) rmSync(dir, { recursive: true, force: true });
});

describe('the article before a resource name', () => {
  test('follows the first letter, with the listed exceptions', () => {
    const cases: Record<string, string> = {
      widget: 'a',
      order: 'an',
      invoice: 'an',
      apple: 'an',
      euro: 'a',
      user: 'a',
      unit: 'a',
      uniform: 'a',
      umbrella: 'an',
      hour: 'an',
      honour: 'an',
      house: 'a',
      one: 'a',
    };
    for (const [word, article] of Object.entries(cases)) {
      assert.equal(articleFor(word), article, word);
    }
  });

  test('renaming rewrites "an item" and "An item" with the right article', () => {
    assert.equal(
      renameResource('Create an item. An item is yours; the items are.', {
        plural: 'widgets',
        singular: 'widget',
      }),
      'Create a widget. A widget is yours; the widgets are.',
    );
    assert.equal(
      renameResource('Delete an item', { plural: 'orders', singular: 'order' }),
      'Delete an order',
    );
  });
});

/** `npm run new:module -- <args>` in a fresh scratch copy. */
function runGenerator(...args: string[]) {
  const scratch = mkdtempSync(join(tmpdir(), 'new-module-'));
  scratches.push(scratch);
  execFileSync('sh', ['-c', `git archive HEAD | tar -x -C '${scratch}'`], { cwd: ROOT });
  symlinkSync(join(ROOT, 'node_modules'), join(scratch, 'node_modules'));
  copyFileSync(join(ROOT, 'scripts/new-module.ts'), join(scratch, 'scripts/new-module.ts'));
  const result = spawnSync('npm', ['run', '--silent', 'new:module', '--', ...args], {
    cwd: scratch,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { scratch, ...result };
}

/** Generates a module in a scratch copy; returns the copy's path. */
function generate(...args: string[]): string {
  const result = runGenerator(...args);
  assert.equal(result.status, 0, `${result.stderr}\n${result.stdout}`);
  return result.scratch;
}

describe('npm run new:module in a scratch copy', () => {
  for (const [plural, singular, article] of [
    ['widgets', 'widget', 'a'],
    ['invoices', 'invoice', 'an'],
  ] as const) {
    test(`${plural}: "${article} ${singular}" in summaries and messages, never the other article`, () => {
      const scratch = generate(plural);
      const routes = readFileSync(
        join(scratch, `src/modules/${plural}/${plural}.routes.ts`),
        'utf8',
      );
      const service = readFileSync(
        join(scratch, `src/modules/${plural}/${plural}.service.ts`),
        'utf8',
      );
      const openapi = readFileSync(join(scratch, 'openapi.json'), 'utf8');
      const other = article === 'a' ? 'an' : 'a';
      assert.match(routes, new RegExp(`summary: 'Create ${article} ${singular}'`));
      assert.match(service, new RegExp(`You already have ${article} ${singular} with this name`));
      assert.match(openapi, new RegExp(`"Get ${article} ${singular}"`));
      for (const text of [routes, service, openapi]) {
        assert.doesNotMatch(text, new RegExp(`\\b${other} ${singular}\\b`, 'i'));
      }
    });
  }

  test('a name the items module uses for something else is refused with one line', () => {
    const result = runGenerator('orders');
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      'The items module, which the new one is copied from, already uses the word "order" for something else; choose another name.\n',
    );
  });
});
