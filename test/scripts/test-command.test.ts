/**
 * `npm test` counts every test that ran: its flags (forced exit, several files at once) once
 * lost results on the way from a test file's process to the runner and still passed
 * (test/support/whole-test-reports.ts). Runs the same flags on 40 files of 50 empty tests.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import packageJson from '../../package.json' with { type: 'json' };

const ROOT = new URL('../..', import.meta.url).pathname;
const FILES = 40;
const TESTS = 50;

/** The Node flags of package.json's test script (with their values): all but `node` and the files. */
function testScriptFlags(): string[] {
  const [command, ...words] = packageJson.scripts.test.split(' ');
  assert.equal(command, 'node');
  assert.match(words.at(-1) ?? '', /\*\.test\.ts"?$/, 'the files come last');
  return words.slice(0, -1);
}

const scratch = mkdtempSync(join(tmpdir(), 'test-command-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

test('every test of many files run at once is counted, under the test script’s flags', () => {
  const flags = testScriptFlags();
  assert.ok(flags.includes('--test-force-exit'), 'the case this guards: a forced exit');
  for (let file = 0; file < FILES; file++) {
    const lines = ["import { test } from 'node:test';"];
    for (let index = 0; index < TESTS; index++) {
      lines.push(`test('file ${file}, test ${index}, with a name of some length', () => {});`);
    }
    writeFileSync(join(scratch, `f${file}.test.mjs`), `${lines.join('\n')}\n`);
  }
  // Not this runner's child: the spawned runner is a runner of its own.
  const { NODE_TEST_CONTEXT: _, NODE_OPTIONS: __, ...env } = process.env;
  // The runner's report goes to a file, not a pipe. A forced exit ends the runner too: it
  // calls `process.exit` once its reporter has handed the last of the report to standard
  // output, and what a pipe still queued then is dropped. Twice on a busy CI machine the
  // report stopped 6 KB short (1,964 of 2,000, no summary, exit 0): the runner's loss, not a
  // file's. A file is written as the runner writes.
  const reportPath = join(scratch, 'report.tap');
  const report = openSync(reportPath, 'w');
  const run = spawnSync(
    process.execPath,
    [...flags, '--test-reporter=tap', join(scratch, '*.test.mjs')],
    { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', report, 'pipe'] },
  );
  closeSync(report);
  const stdout = readFileSync(reportPath, 'utf8');
  // What the runner said, for a failure to be read from CI's log alone.
  const said = `${run.error ?? ''}\nsignal ${run.signal}, ${stdout.length} characters out, ending:\n${stdout.slice(-600)}\nerr:\n${run.stderr.slice(-2000)}`;
  assert.equal(run.status, 0, said);
  // Each test's own line, as the runner received it from its file's process: what #64833 lost.
  const passed = new Set(
    Array.from(stdout.matchAll(/^ok \d+ - (file \d+, test \d+),/gm), (match) => match[1]),
  );
  assert.equal(passed.size, FILES * TESTS, `tests passed, each named once; ${said}`);
  const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(stdout)?.[1]);
  assert.equal(count('tests'), FILES * TESTS, `tests reported; ${said}`);
  assert.equal(count('pass'), FILES * TESTS, `tests passed; ${said}`);
});
