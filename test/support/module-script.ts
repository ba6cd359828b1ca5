/**
 * A script run as an ES module in a fresh Node process, from the repository's root (so
 * `./src/...` imports resolve), without the test runner's or the shell's Node options: for
 * what needs its own flags (`--expose-gc`, `--allow-natives-syntax`) or a heap of its own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Its standard output; the test fails when it exits otherwise than with 0. */
export function runModuleScript(flags: readonly string[], source: string): string {
  const { NODE_TEST_CONTEXT: _, NODE_OPTIONS: __, ...env } = process.env;
  const result = spawnSync(process.execPath, [...flags, '--input-type=module', '--eval', source], {
    cwd: ROOT,
    encoding: 'utf8',
    env,
    timeout: 60_000,
  });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

/**
 * `source` run as the app runs (the preload's module replacements) in a process that may ask
 * V8 for an object's mode (`%HasFastProperties`); what it prints, parsed as JSON.
 */
export function runWithV8Natives(source: string): unknown {
  return JSON.parse(
    runModuleScript(['--allow-natives-syntax', '--import', './src/preload.ts'], source),
  );
}
