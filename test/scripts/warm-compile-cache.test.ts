/**
 * `scripts/warm-compile-cache.ts`: once it has filled a compile cache, the API, the worker and
 * the migration load their whole module graph without Node's TypeScript stripper.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'compile-cache-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

// Reports, as the process exits, whether the stripper was ever loaded.
const REPORT_STRIPPER = `data:text/javascript,${encodeURIComponent(
  `process.on('exit', () => process.stderr.write('stripper loaded: ' + process.moduleLoadList.some((name) => name.includes('amaro')) + '\\n'));`,
)}`;
const ENTRIES = ['src/server.ts', 'src/worker.ts', 'scripts/migrate.ts'];

function node(args: string[], env: Record<string, string>) {
  const { NODE_TEST_CONTEXT: _, NODE_COMPILE_CACHE: __, ...inherited } = process.env;
  return spawnSync(process.execPath, args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...inherited, ...env },
    timeout: 60_000,
  });
}

/** Loads an entry point's graph, then stops at its settings (a JWT_SECRET production refuses). */
function loadEntry(entry: string, cache: string) {
  const result = node(['--import', REPORT_STRIPPER, '--import', './src/preload.ts', entry], {
    NODE_COMPILE_CACHE: cache,
    NODE_ENV: 'production',
    JWT_SECRET: 'short',
  });
  assert.equal(result.status, 1, result.stderr);
  assert.match(result.stderr, /JWT_SECRET/);
  return /stripper loaded: (true|false)/.exec(result.stderr)?.[1];
}

test('without a filled cache, every entry point loads the stripper', () => {
  const empty = join(scratch, 'empty');
  for (const entry of ENTRIES) assert.equal(loadEntry(entry, empty), 'true', entry);
});

test('once filled, no entry point loads the stripper', () => {
  const cache = join(scratch, 'filled');
  const warm = node(['--import', './src/preload.ts', 'scripts/warm-compile-cache.ts'], {
    NODE_COMPILE_CACHE: cache,
  });
  assert.equal(warm.status, 0, warm.stderr);
  assert.match(warm.stdout, /^Compile cache filled: /);
  for (const entry of ENTRIES) assert.equal(loadEntry(entry, cache), 'false', entry);
});

test('without NODE_COMPILE_CACHE, it says which variable to set and fills nothing', () => {
  const result = node(['--import', './src/preload.ts', 'scripts/warm-compile-cache.ts'], {});
  assert.equal(result.status, 1);
  assert.match(result.stderr, /^NODE_COMPILE_CACHE: /);
});
