/**
 * `scripts/warm-compile-cache.ts`: once it has filled a compile cache, the API, the worker and
 * the migration find their bundle compiled there.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildBundle, ENTRY_POINTS } from '../../scripts/build.ts';
import { BUNDLE_ENTRIES } from '../../scripts/warm-compile-cache.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const DIST_URL = new URL('../../dist/', import.meta.url).href.replace(
  /[.*+?^${}()|[\]\\]/g,
  '\\$&',
);
const scratch = mkdtempSync(join(tmpdir(), 'compile-cache-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
// The script warms `dist/`, which `npm run build` writes; the build is deterministic, so one
// built here is the one any other test or command builds.
before(() => buildBundle());

function node(args: string[], env: Record<string, string>) {
  const { NODE_TEST_CONTEXT: _, NODE_COMPILE_CACHE: __, ...inherited } = process.env;
  return spawnSync(process.execPath, args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...inherited, ...env },
    timeout: 60_000,
  });
}

/**
 * Runs an entry point of the bundle, which stops at its settings (a JWT_SECRET production
 * refuses), and lists the files it found compiled in `cache` and those it had to compile.
 */
function loadEntry(entry: string, cache: string) {
  const result = node([`dist/${entry}`], {
    NODE_COMPILE_CACHE: cache,
    NODE_DEBUG_NATIVE: 'COMPILE_CACHE',
    NODE_ENV: 'production',
    JWT_SECRET: 'short',
  });
  assert.equal(result.status, 1, result.stderr);
  assert.match(result.stderr, /JWT_SECRET/);
  const files = (state: string) =>
    [...result.stderr.matchAll(new RegExp(`for ESM ${DIST_URL}(\\S+) was ${state}`, 'g'))].map(
      (match) => match[1],
    );
  return { compiled: files('not initialized'), cached: files('accepted') };
}

test('its list of entry points is the build’s', () => {
  assert.deepEqual(
    BUNDLE_ENTRIES,
    Object.keys(ENTRY_POINTS).map((name) => `${name}.js`),
  );
});

test('without a filled cache, every entry point compiles its bundle', () => {
  for (const entry of BUNDLE_ENTRIES) {
    // The cache fills as it goes: a fresh folder for each.
    const { compiled, cached } = loadEntry(entry, join(scratch, `empty-${entry}`));
    assert.deepEqual([compiled, cached], [[entry], []], entry);
  }
});

test('once filled, every entry point reads its bundle from the cache, and nothing started', () => {
  const cache = join(scratch, 'filled');
  const warm = node(['scripts/warm-compile-cache.ts'], { NODE_COMPILE_CACHE: cache });
  assert.equal(warm.status, 0, warm.stderr);
  // Imported, not run: a started process would have logged, or failed on its settings.
  assert.equal(warm.stdout, `Compile cache filled: ${warm.stdout.slice(22, -1)}\n`);
  assert.equal(warm.stderr, '');
  for (const entry of BUNDLE_ENTRIES) {
    const { compiled, cached } = loadEntry(entry, cache);
    assert.deepEqual([compiled, cached], [[], [entry]], entry);
  }
});

test('without NODE_COMPILE_CACHE, it says which variable to set and fills nothing', () => {
  const result = node(['scripts/warm-compile-cache.ts'], {});
  assert.equal(result.status, 1);
  assert.match(result.stderr, /^NODE_COMPILE_CACHE: /);
});
