/**
 * `releaseStartUpMemory`: with `--expose-gc`, one collection shrinks the young generation that
 * loading grew to its maximum; without the flag it does nothing. The processes run with the
 * flag wherever they run in production: `npm start`, `npm run worker` and the image.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;

// Grows the young generation as loading modules does (many objects kept a while), then
// reports its size before and after the call, in MB, and what the call returned.
const PROBE = `
import { getHeapSpaceStatistics } from 'node:v8';
import { releaseStartUpMemory } from './src/core/start-up-memory.ts';
const newSpace = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size / 2 ** 20;
const kept = [];
for (let round = 0; round < 40; round++) {
  kept.push(Array.from({ length: 20_000 }, (_, index) => ({ round, index })));
  if (kept.length > 8) kept.shift();
}
kept.length = 0;
const before = newSpace();
const released = releaseStartUpMemory();
console.log(JSON.stringify({ before, after: newSpace(), released }));
`;

function probe(flags: string[]): { before: number; after: number; released: boolean } {
  const { NODE_TEST_CONTEXT: _, NODE_OPTIONS: __, ...env } = process.env;
  const result = spawnSync(process.execPath, [...flags, '--input-type=module', '--eval', PROBE], {
    cwd: ROOT,
    encoding: 'utf8',
    env,
    timeout: 60_000,
  });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}

test('with --expose-gc, the young generation loading grew is given back', () => {
  const { before, after, released } = probe(['--expose-gc', '--max-semi-space-size=32']);
  assert.equal(released, true);
  assert.ok(before >= 16, `the probe grew the young generation (${before} MB)`);
  assert.ok(after <= before / 4, `${before} MB → ${after} MB`);
});

test('without --expose-gc, it does nothing', () => {
  const { before, after, released } = probe(['--max-semi-space-size=32']);
  assert.equal(released, false);
  assert.equal(after, before);
});

/** The V8 flags a command line or NODE_OPTIONS value passes. */
const v8Flags = (text: string): string[] =>
  [...text.matchAll(/--(?:max-semi-space-size=\d+|expose-gc)/g)].map((match) => match[0]);

test('npm start, npm run worker and the image run with the same flags, --expose-gc among them', () => {
  const { scripts } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8'));
  const image =
    /NODE_OPTIONS=("[^"]*"|\S+)/.exec(readFileSync(`${ROOT}Dockerfile`, 'utf8'))?.[1] ?? '';
  const expected = v8Flags(scripts.start);
  assert.ok(expected.includes('--expose-gc'), scripts.start);
  assert.deepEqual(v8Flags(scripts.worker), expected, 'npm run worker');
  assert.deepEqual(v8Flags(image), expected, 'the Dockerfile’s NODE_OPTIONS');
});
