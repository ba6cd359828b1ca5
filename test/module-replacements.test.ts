/**
 * Our replacements of dependencies' files (decision 086) are what a process started the way
 * ours are loads, and each stays written for the original it replaces: when the package
 * changes that file (perhaps fixing what ours works around), this fails, to have it read
 * again. The bundle's side is in test/scripts/build.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MODULE_REPLACEMENTS } from '../src/module-replacements.ts';

for (const { original, originalSha256, replacement } of MODULE_REPLACEMENTS) {
  const name = fileURLToPath(original).replace(/.*node_modules\//, '');

  test(`${name}: the original is the one ours was written for`, () => {
    const digest = createHash('sha256')
      .update(readFileSync(fileURLToPath(original)))
      .digest('hex');
    assert.equal(
      digest,
      originalSha256,
      `${name} changed: read it again, and drop or update ${fileURLToPath(replacement)} (src/module-replacements.ts)`,
    );
  });

  test(`${name}: its package imports it by the name the preload replaces`, () => {
    const folder = fileURLToPath(new URL('.', original));
    const importing = readdirSync(folder)
      .filter((file) => file.endsWith('.js'))
      .map((file) => readFileSync(join(folder, file), 'utf8'));
    const byName = new RegExp(`from '\\./${basename(fileURLToPath(original))}'`);
    assert.ok(
      importing.some((source) => byName.test(source)),
      `no file beside ${name} imports it`,
    );
  });

  test(`${name}: this process, started with the preload, loads ours in its place`, async () => {
    const loaded = await import(original);
    const ours = await import(replacement);
    assert.equal(loaded, ours);
  });
}
