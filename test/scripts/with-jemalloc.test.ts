/**
 * `scripts/with-jemalloc.sh`, which `npm start` and `npm run worker` run node through: node
 * takes its place (the same process, so signals reach it), with jemalloc as its allocator
 * where the system has it (decision 113).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';
import { test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Where the script looks first: Debian's and Ubuntu's libjemalloc2. */
const systemJemalloc = globSync('/usr/lib/*-linux-gnu/libjemalloc.so.2')[0];

/** What a node run through the script reports of itself. */
function throughScript(env: Record<string, string>, code = '') {
  const { NODE_TEST_CONTEXT: _, LD_PRELOAD: __, ...inherited } = process.env;
  const report = `
    const maps = require('node:fs').readFileSync('/proc/self/maps', 'utf8');
    process.stdout.write(JSON.stringify({
      ppid: process.ppid,
      preload: process.env.LD_PRELOAD ?? null,
      jemalloc: maps.includes('libjemalloc'),
      args: process.argv.slice(1),
    }));
    ${code}`;
  const result = spawnSync(
    'sh',
    ['scripts/with-jemalloc.sh', process.execPath, '-e', report, 'one', 'two words'],
    { cwd: ROOT, encoding: 'utf8', env: { ...inherited, ...env }, timeout: 30_000 },
  );
  return {
    status: result.status,
    stderr: result.stderr,
    seen: JSON.parse(result.stdout || '{}') as {
      ppid?: number;
      preload?: string | null;
      jemalloc?: boolean;
      args?: string[];
    },
  };
}

test('node runs in the shell’s place, its arguments and exit status passed through', () => {
  const { status, seen } = throughScript({}, 'process.exitCode = 7;');
  assert.equal(status, 7);
  // Its parent is this test's process: no shell was left between them.
  assert.equal(seen.ppid, process.pid);
  assert.deepEqual(seen.args, ['one', 'two words']);
});

test('with the system’s jemalloc, node allocates with it', { skip: !systemJemalloc }, () => {
  const { status, stderr, seen } = throughScript({});
  assert.equal(status, 0, stderr);
  assert.equal(seen.preload, systemJemalloc);
  assert.equal(seen.jemalloc, true);
  assert.equal(stderr, '', 'no word from the loader');
});

test('a preload already naming jemalloc is kept as it is; another gets jemalloc after it', {
  skip: !systemJemalloc,
}, () => {
  assert.ok(systemJemalloc);
  const kept = throughScript({ LD_PRELOAD: systemJemalloc });
  assert.equal(kept.seen.preload, systemJemalloc);
  // Any other library the system has: the C library's maths.
  const other = globSync('/usr/lib/*-linux-gnu/libm.so.6')[0];
  assert.ok(other);
  const added = throughScript({ LD_PRELOAD: other });
  assert.equal(added.seen.preload, `${other}:${systemJemalloc}`);
  assert.equal(added.seen.jemalloc, true);
});
