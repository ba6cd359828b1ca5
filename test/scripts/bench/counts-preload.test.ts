/**
 * `npm run bench -- --counts` reads what a server made between two SIGUSR2s: a process
 * that makes a known number of promises and allocates a known amount between them must
 * report them.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Counts } from '../../../scripts/bench/counts-preload.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'counts-preload-'));
});
after(() => rm(dir, { recursive: true, force: true }));

// Between the two signals: 10,000 promises, and 2,500 arrays of 1,000 small integers (8 KB
// each on V8's heap: 20 MB), dropped as they go. Timers, not promises, wait for the profiler.
const CHILD = `
const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
process.kill(process.pid, 'SIGUSR2');
setTimeout(() => {
  for (let i = 0; i < 10000; i++) Promise.resolve(i);
  let kept = 0;
  for (let i = 0; i < 2500; i++) kept += new Array(1000).fill(i).length;
  globalThis.kept = kept;
  process.kill(process.pid, 'SIGUSR2');
  setTimeout(() => process.exit(0), 1000);
}, 200);
`;

test('a process reports the promises it made and the bytes it allocated between the signals', async () => {
  const file = join(dir, 'counts.json');
  const child = spawn(
    process.execPath,
    ['--import', './scripts/bench/counts-preload.ts', '--input-type=module', '-e', CHILD],
    { env: { ...process.env, BENCH_COUNTS_FILE: file }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, stderr);
  const counts: Counts = JSON.parse(await readFile(file, 'utf8'));
  assert.ok(counts.promises >= 10_000 && counts.promises < 10_100, `${counts.promises} promises`);
  assert.ok(counts.bytes > 18e6 && counts.bytes < 30e6, `${counts.bytes} bytes`);
});
