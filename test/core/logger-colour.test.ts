/**
 * Development logs (LOG_FORMAT=pretty) are coloured only on a terminal: a real process logs
 * one line into a file, a pipe and a pseudo-terminal (`script` from util-linux), under
 * NO_COLOR and FORCE_COLOR.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'logger-colour-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const LOG_ONE_LINE = `const { createLogger } = await import('./src/core/logger.ts');
const logger = await createLogger({ level: 'info', format: 'pretty' });
logger.info({ answer: 42 }, 'hello');`;
const ARGS = ['--import', './src/preload.ts', '--input-type=module', '-e', LOG_ONE_LINE];
const ESCAPE = '\x1b[';

/** The environment of a process with only `extra` among the colour variables. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !['NO_COLOR', 'FORCE_COLOR', 'NODE_DISABLE_COLORS'].includes(key))
      base[key] = value;
  }
  return { ...base, TERM: 'xterm-256color', ...extra };
}

/** What the process writes to standard output when it is a file. */
function intoFile(extra: Record<string, string> = {}): string {
  const path = join(scratch, `${Math.random().toString(36).slice(2)}.log`);
  const fd = openSync(path, 'w');
  try {
    const result = spawnSync(process.execPath, ARGS, {
      cwd: ROOT,
      env: env(extra),
      stdio: ['ignore', fd, 'pipe'],
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 0, result.stderr);
  } finally {
    closeSync(fd);
  }
  return readFileSync(path, 'utf8');
}

/** What the process writes on a terminal: run under `script`, which gives it a pty. */
function onTerminal(extra: Record<string, string> = {}): string {
  const command = [process.execPath, ...ARGS].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`);
  return execFileSync('script', ['-qec', command.join(' '), '/dev/null'], {
    cwd: ROOT,
    env: env(extra),
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe('pretty logs', () => {
  test('into a file: no colour codes', () => {
    const text = intoFile();
    assert.match(text, /hello/);
    assert.ok(!text.includes(ESCAPE), JSON.stringify(text));
  });

  test('into a pipe: no colour codes', () => {
    const result = spawnSync(process.execPath, ARGS, {
      cwd: ROOT,
      env: env(),
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.match(result.stdout, /hello/);
    assert.ok(!result.stdout.includes(ESCAPE), JSON.stringify(result.stdout));
  });

  test('into a file with FORCE_COLOR=1: coloured', () => {
    const text = intoFile({ FORCE_COLOR: '1' });
    assert.ok(text.includes(ESCAPE), JSON.stringify(text));
  });

  test('on a terminal: coloured; with NO_COLOR set, not', () => {
    const coloured = onTerminal();
    assert.match(coloured, /hello/);
    assert.ok(coloured.includes(ESCAPE), JSON.stringify(coloured));
    const plain = onTerminal({ NO_COLOR: '1' });
    assert.match(plain, /hello/);
    assert.ok(!plain.includes(ESCAPE), JSON.stringify(plain));
  });
});
