/**
 * `npm ci` as a newcomer runs it, with npm on a Node older than 24 (decisions 001 and 007):
 * a few lines saying that Node 24 is now in node_modules/.bin, not hundreds of engine
 * warnings; and npm's errors still shown. Runs in a scratch copy of the committed tree, with
 * the install's own files from the working tree laid over it; skipped, saying so, when no
 * older Node is on PATH.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  copyFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, describe, test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;
/** The files that decide what `npm ci` does and says. */
const INSTALL_FILES = ['.npmrc', 'package.json', 'package-lock.json', 'scripts/check-node.mjs'];

/** PATH without any node_modules/.bin, and the Node first on it, if that is older than 24. */
function olderNode(): { path: string; version: string } | undefined {
  const dirs = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir && !/node_modules[\\/]\.bin[\\/]?$/.test(dir));
  for (const dir of dirs) {
    try {
      accessSync(join(dir, 'node'), constants.X_OK);
    } catch {
      continue;
    }
    const version = execFileSync(join(dir, 'node'), ['--version'], { encoding: 'utf8' }).trim();
    const major = Number(/^v(\d+)/.exec(version)?.[1]);
    return major < 24 ? { path: dirs.join(delimiter), version } : undefined;
  }
  return undefined;
}

const older = olderNode();
const scratches: string[] = [];
after(() => {
  for (const dir of scratches) rmSync(dir, { recursive: true, force: true });
});

function scratchCopy(): string {
  const scratch = mkdtempSync(join(tmpdir(), 'npm-ci-'));
  scratches.push(scratch);
  execFileSync('sh', ['-c', `git archive HEAD | tar -x -C '${scratch}'`], { cwd: ROOT });
  for (const file of INSTALL_FILES) copyFileSync(join(ROOT, file), join(scratch, file));
  // Never install through a node_modules link to another tree: npm ci empties it first.
  // (rm removes a link, not what it points to.)
  rmSync(join(scratch, 'node_modules'), { recursive: true, force: true });
  return scratch;
}

function npmCi(cwd: string, path: string) {
  const result = spawnSync('npm', ['ci', '--prefer-offline'], {
    cwd,
    env: { PATH: path, HOME: process.env.HOME ?? '' },
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('npm ci with npm on an older Node', {
  skip: older ? false : 'no Node older than 24 on PATH',
}, () => {
  test('says in one line that Node 24 is installed in node_modules/.bin; no engine warnings', () => {
    assert.ok(older);
    const scratch = scratchCopy();
    const { status, output } = npmCi(scratch, older.path);
    assert.equal(status, 0, output);
    assert.doesNotMatch(output, /EBADENGINE|npm warn/);
    assert.match(
      output,
      new RegExp(
        `Node\\.js v24\\.[\\d.]+ is installed in node_modules/\\.bin and every npm script runs on it \\(npm itself runs on ${older.version.replaceAll('.', '\\.')}`,
      ),
    );
    const lines = output.split('\n').filter((line) => line.trim() !== '');
    assert.ok(lines.length <= 6, `${lines.length} lines:\n${output}`);
  });

  test('an error is still shown in full: a lockfile out of step with package.json', () => {
    assert.ok(older);
    const scratch = scratchCopy();
    const manifest = JSON.parse(readFileSync(join(scratch, 'package.json'), 'utf8'));
    manifest.dependencies['left-pad'] = '^1.3.0';
    writeFileSync(join(scratch, 'package.json'), JSON.stringify(manifest, null, 2));
    const { status, output } = npmCi(scratch, older.path);
    assert.notEqual(status, 0);
    assert.match(output, /npm error .*in sync/);
    assert.match(output, /npm error Missing: left-pad@/);
  });
});
