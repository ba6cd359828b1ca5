/**
 * `releaseStartUpMemory`: with `--expose-gc`, one collection shrinks the young generation that
 * loading grew to its maximum; without the flag it does nothing. The processes run with the
 * flag wherever they run in production: `npm start`, `npm run worker` and the image, which
 * also set up the allocator alike: jemalloc where the system has it (decision 113), glibc's
 * with one arena otherwise (decisions 099 and 101).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runModuleScript } from '../support/module-script.ts';
import { youngGenerationProbe } from '../support/young-generation.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

const probe = (flags: string[]) =>
  youngGenerationProbe(flags, {
    imports: "import { releaseStartUpMemory } from './src/core/start-up-memory.ts';",
    release: 'return releaseStartUpMemory();',
  });

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

/**
 * V8's own account of `process.nextTick` after collections made while no tick waited: the
 * slots of the tick object's literal, one line each (`%DebugPrint`, a V8 internal whose
 * format the first assertion below checks is still the one read).
 */
function tickLiteralSlots(): string[] {
  const source = `
import { lastResortCollection } from './src/core/start-up-memory.ts';
const collect = lastResortCollection();
const noop = () => {};
const pause = () => new Promise((resolve) => setTimeout(resolve, 20));
for (let round = 0; round < 3; round++) {
  for (let index = 0; index < 2_000; index++) process.nextTick(noop);
  await pause();
  collect();
}
for (let index = 0; index < 2_000; index++) process.nextTick(noop);
await pause();
new Function('f', '%DebugPrint(f)')(process.nextTick);
`;
  return runModuleScript(['--expose-gc', '--allow-natives-syntax'], source)
    .split('\n')
    .filter((line) => line.includes('DefineKeyedOwnPropertyInLiteral'));
}

test("a collection leaves process.nextTick's tick objects on V8's fast path (decision 109)", () => {
  const slots = tickLiteralSlots();
  assert.ok(slots.length >= 4, `the tick object's keys were read: ${slots.join('; ')}`);
  assert.deepEqual(
    slots.filter((slot) => slot.includes('MEGAMORPHIC')),
    [],
    'each key of the tick object is defined through the runtime',
  );
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

/** The glibc allocator settings (`MALLOC_…`) a script or the Dockerfile's ENV sets. */
const allocatorSettings = (text: string): Record<string, string> =>
  Object.fromEntries(
    [...text.matchAll(/(?:^|\s)(MALLOC_[A-Z_]+)=(\S+)/g)].map((match) => [match[1], match[2]]),
  );

test('npm start, npm run worker and the image set up the allocator alike', () => {
  // One arena (decision 099), and nothing else of glibc's set (decision 101); jemalloc's
  // one arena and its thread that hands memory back (decision 113).
  const expected = { MALLOC_ARENA_MAX: '1', MALLOC_CONF: 'background_thread:true,narenas:1' };
  const { scripts } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8'));
  assert.deepEqual(allocatorSettings(scripts.start), expected, scripts.start);
  assert.deepEqual(allocatorSettings(scripts.worker), expected, scripts.worker);
  const dockerfile = readFileSync(`${ROOT}Dockerfile`, 'utf8').replace(/^#.*$/gm, '');
  assert.deepEqual(allocatorSettings(dockerfile), expected, 'the Dockerfile’s ENV');
  // jemalloc where the system has it (decision 113): the scripts run node through the
  // script that finds it; the image installs it and preloads the copy it links.
  for (const script of [scripts.start, scripts.worker]) {
    assert.match(script, /\ssh scripts\/with-jemalloc\.sh node\s/, script);
  }
  const linked = /ln -s .* (\/\S+libjemalloc\.so\.2)$/m.exec(dockerfile)?.[1];
  assert.ok(linked, 'the Dockerfile links the libjemalloc2 it installs');
  assert.match(dockerfile, /apt-get install [^\n]*libjemalloc2/);
  assert.match(dockerfile, new RegExp(`LD_PRELOAD=${linked.replaceAll('.', '\\.')}(\\s|$)`));
});
