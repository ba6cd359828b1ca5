/**
 * `scripts/watch.ts`, the runner of `npm run dev`, with real processes: a child script in a
 * scratch directory it watches, changed on disk to make it restart, fail or become ready.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = new URL('../..', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'watch-test-'));
const started = new Set<ChildProcess>();
after(() => {
  for (const child of started) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

/** Child scripts: each prints `run <pid>` first, so the test can count its runs. */
const CHILD = {
  /**
   * Reports ready, then serves until SIGTERM (or the runner is gone), then exits 0. The
   * handlers come first: a SIGTERM right after `run` must not find the default one.
   */
  serving: `process.on('SIGTERM', () => { console.log('stopping', process.pid); process.exit(0); });
process.on('disconnect', () => process.exit(0));
console.log('run', process.pid); process.send?.('ready');
setInterval(() => {}, 1000);`,
  /** Fails at start, before reporting ready, as a port in use does. */
  failingAtStart: `console.log('run', process.pid); console.error('PORT: in use'); process.exit(3);`,
  /** Reports ready, then crashes: a bug an edit may fix. */
  crashingLater: `console.log('run', process.pid); process.send?.('ready');
setTimeout(() => { throw new Error('a bug'); }, 200);`,
};

interface Runner {
  child: ChildProcess;
  output(): string;
  runs(): number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(what: string, check: () => boolean, timeoutMs?: number): Promise<void>;
}

function runWatch(dir: string, entry: string): Runner {
  const child = spawn(
    process.execPath,
    ['scripts/watch.ts', '--watch', dir, '--', join(dir, entry)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  started.add(child);
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  let gone = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      gone = true;
      resolve({ code, signal });
    }),
  );
  return {
    child,
    output: () => output,
    runs: () => output.match(/^run \d+$/gm)?.length ?? 0,
    exited,
    async waitFor(what, check, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!check()) {
        if (gone) assert.fail(`the runner exited before ${what}:\n${output}`);
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}:\n${output}`);
        await sleep(50);
      }
    },
  };
}

function scratchDir(name: string, entry: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'child.mjs'), entry);
  return dir;
}

describe('scripts/watch.ts (the runner of npm run dev)', () => {
  test('a child failing at its first start ends the runner at once, with its exit code and nothing else said', async () => {
    const dir = scratchDir('fails', CHILD.failingAtStart);
    const runner = runWatch(dir, 'child.mjs');
    const exit = await Promise.race([runner.exited, sleep(20_000, undefined, { ref: false })]);
    assert.ok(exit, `the runner still waits:\n${runner.output()}`);
    assert.deepEqual(exit, { code: 3, signal: null });
    assert.equal(runner.output().replace(/^run \d+\n/, ''), 'PORT: in use\n');
  });

  test('a change restarts the child; after a change a failure waits for the next change', async () => {
    const dir = scratchDir('restarts', CHILD.serving);
    const runner = runWatch(dir, 'child.mjs');
    await runner.waitFor('the first run', () => runner.runs() === 1);
    writeFileSync(join(dir, 'child.mjs'), CHILD.failingAtStart);
    await runner.waitFor('the failing run', () => runner.runs() === 2);
    await runner.waitFor('the runner to wait', () => /waiting for a change/.test(runner.output()));
    assert.match(runner.output(), /stopping \d+/, 'the first child was stopped with SIGTERM');
    await sleep(500);
    assert.equal(runner.child.exitCode, null, 'the runner waits for a change');
    writeFileSync(join(dir, 'child.mjs'), CHILD.serving);
    await runner.waitFor('the third run', () => runner.runs() === 3);
    runner.child.kill('SIGTERM');
    assert.deepEqual(await runner.exited, { code: 0, signal: null }, runner.output());
    assert.equal(runner.output().match(/^stopping \d+$/gm)?.length, 2, runner.output());
  });

  test('a crash after the child reported ready waits for a change', async () => {
    const dir = scratchDir('crashes', CHILD.crashingLater);
    const runner = runWatch(dir, 'child.mjs');
    await runner.waitFor('the runner to wait', () => /waiting for a change/.test(runner.output()));
    assert.equal(runner.child.exitCode, null);
    runner.child.kill('SIGTERM');
    assert.equal((await runner.exited).code, 0, runner.output());
  });
});
