/**
 * `npm run create-superuser` as a real process on a test database: usage errors, the password
 * from SUPERUSER_PASSWORD or standard input, and on a terminal (a pseudo-terminal from
 * util-linux `script`) asked twice without being echoed.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { verifyPassword } from '../../src/core/security/passwords.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const SCRIPT = ['--import', './src/preload.ts', 'scripts/create-superuser.ts'];

let database: TestDatabase;
let sql: postgres.Sql;
before(async () => {
  database = await createTestDatabase();
  sql = postgres(database.url, { max: 1, onnotice: () => {} });
});
after(async () => {
  await sql.end();
  await database.drop();
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: database.url,
    TERM: 'dumb',
    ...extra,
  };
}

function run(args: string[], options: { env?: Record<string, string>; input?: string } = {}) {
  return spawnSync(process.execPath, [...SCRIPT, ...args], {
    cwd: ROOT,
    env: env(options.env),
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: 60_000,
  });
}

async function administrator(email: string): Promise<{ role: string; hash: string } | undefined> {
  const [row] = await sql<{ role: string; hash: string }[]>`
    select role, password_hash as hash from users where email = ${email}`;
  return row;
}

describe('create-superuser: usage', () => {
  for (const [what, args] of [
    ['no --email', []],
    ['an unknown option', ['--mail', 'a@example.com']],
    ['an --email that is not one', ['--email', 'admin']],
  ] as const) {
    test(`${what}: usage on standard error, exit code 2, no stack trace`, () => {
      const result = run([...args]);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, /^Usage: npm run create-superuser -- --email <email>/m);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(result.stdout, '');
    });
  }
});

describe('create-superuser: without a terminal', () => {
  test('the password from SUPERUSER_PASSWORD', async () => {
    const result = run(['--email', 'env@example.com'], {
      env: { SUPERUSER_PASSWORD: 'from-the-environment' },
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /Created administrator env@example\.com/);
    const row = await administrator('env@example.com');
    assert.equal(row?.role, 'admin');
    assert.ok(row && (await verifyPassword('from-the-environment', row.hash)));
  });

  test('the password from the first line of standard input', async () => {
    const result = run(['--email', 'stdin@example.com'], { input: 'from-standard-input\n' });
    assert.equal(result.status, 0, result.stderr);
    const row = await administrator('stdin@example.com');
    assert.ok(row && (await verifyPassword('from-standard-input', row.hash)));
  });

  test('no password anywhere: one line saying where to put it, exit 1', () => {
    const result = run(['--email', 'none@example.com'], { input: '' });
    assert.equal(result.status, 1);
    assert.equal(result.stderr.split('\n').filter(Boolean).length, 1, result.stderr);
    assert.match(result.stderr, /SUPERUSER_PASSWORD/);
  });

  test('a short password: one line, exit 1', () => {
    const result = run(['--email', 'short@example.com'], { input: 'short\n' });
    assert.equal(result.status, 1);
    assert.equal(result.stderr, 'The password needs 8 characters or more.\n');
  });
});

/** The script on a pseudo-terminal: `script` runs it on a pty and relays our writes. */
function onTerminal(email: string): { child: ChildProcess; screen(): string } {
  const command = [process.execPath, ...SCRIPT, '--email', email].join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    cwd: ROOT,
    env: env(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let screen = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    screen += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    screen += chunk;
  });
  return { child, screen: () => screen };
}

async function waitFor(what: string, check: () => boolean, screen: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}:\n${screen()}`);
    await sleep(50);
  }
}

/** Types `text` as a person would: a key at a time, then Enter. */
async function type(child: ChildProcess, text: string): Promise<void> {
  for (const key of text) {
    child.stdin?.write(key);
    await sleep(5);
  }
  child.stdin?.write('\r');
}

const prompts = (screen: string) => screen.match(/Password[^:]*:/g)?.length ?? 0;

describe('create-superuser on a terminal', () => {
  test('asks twice, echoes nothing of what is typed, and creates the administrator', async () => {
    const { child, screen } = onTerminal('tty@example.com');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await waitFor('the first prompt', () => prompts(screen()) === 1, screen);
    // Backspace takes back the character typed by mistake.
    await type(child, 'typed-on-a-terminalX\x7f');
    await waitFor('the second prompt', () => prompts(screen()) === 2, screen);
    await type(child, 'typed-on-a-terminal');
    assert.equal(await exited, 0, screen());
    assert.doesNotMatch(screen(), /typed-on/, 'the password was echoed');
    assert.match(screen(), /Created administrator tty@example\.com/);
    const row = await administrator('tty@example.com');
    assert.ok(row && (await verifyPassword('typed-on-a-terminal', row.hash)));
  });

  test('two different passwords: says so, creates nothing, exit 1', async () => {
    const { child, screen } = onTerminal('differ@example.com');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await waitFor('the first prompt', () => prompts(screen()) === 1, screen);
    await type(child, 'first-password');
    await waitFor('the second prompt', () => prompts(screen()) === 2, screen);
    await type(child, 'second-password');
    assert.equal(await exited, 1, screen());
    assert.match(screen(), /The passwords do not match/);
    assert.equal(await administrator('differ@example.com'), undefined);
  });
});
