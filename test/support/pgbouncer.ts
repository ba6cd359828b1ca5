/**
 * PgBouncer (the Debian package) in transaction mode in front of the test PostgreSQL, on a
 * spare loopback port, with an ini written to a temporary directory. PgBouncer refuses to run
 * as root, so when the tests do it runs as `nobody`.
 *
 * @example
 * const bouncer = await startPgBouncer();
 * if (!bouncer) return t.skip(missingToolReason('pgbouncer'));
 * const url = bouncer.urlFor(database.url); // the same database, through the pooler
 */
import assert from 'node:assert/strict';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { TEST_DATABASE_URL } from './database.ts';
import { freePort } from './processes.ts';
import { findTool, killTool, runTool } from './system-tools.ts';

export interface TestPgBouncer {
  port: number;
  /** `url` (a database of the test server) rewritten to go through PgBouncer. */
  urlFor(url: string): string;
  /** What PgBouncer wrote to its standard error (its log). */
  log(): string;
  close(): Promise<void>;
}

const NOBODY = { uid: 65_534, gid: 65_534 };

/**
 * Starts PgBouncer with `pool_mode = transaction` and `poolSize` server connections per
 * database and user, every database name forwarded to the test server; `undefined` when
 * PgBouncer is not installed.
 */
export async function startPgBouncer(
  options: { poolSize?: number } = {},
): Promise<TestPgBouncer | undefined> {
  const binary = findTool('pgbouncer');
  if (!binary) return undefined;
  const server = new URL(TEST_DATABASE_URL);
  const user = decodeURIComponent(server.username || 'postgres');
  const password = decodeURIComponent(server.password);
  const directory = await mkdtemp(join(tmpdir(), 'pgbouncer-'));
  const port = await freePort();
  const quote = (value: string) => `"${value.replaceAll('"', '""')}"`;
  // `trust`: the tests' clients are not asked for a password; PgBouncer logs in to the
  // server with the one in the user list (none for a trust server).
  await writeFile(join(directory, 'userlist.txt'), `${quote(user)} ${quote(password)}\n`);
  await writeFile(
    join(directory, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      "unix_socket_dir = ''",
      'auth_type = trust',
      `auth_file = ${join(directory, 'userlist.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize ?? 4}`,
      'max_client_conn = 500',
      // postgres.js sends none of these today; a client that does is not refused for it.
      'ignore_startup_parameters = extra_float_digits,options',
      'server_check_delay = 1',
      'admin_users = ',
      '',
    ].join('\n'),
  );
  const root = process.getuid?.() === 0;
  if (root) {
    await chown(directory, NOBODY.uid, NOBODY.gid);
    await chmod(directory, 0o700);
  }
  const { child, output } = runTool(binary, [join(directory, 'pgbouncer.ini')], root ? NOBODY : {});
  const urlFor = (url: string) => {
    const pooled = new URL(url);
    pooled.hostname = '127.0.0.1';
    pooled.port = String(port);
    return pooled.toString();
  };
  const close = async () => {
    await killTool(child);
    await rm(directory, { recursive: true, force: true });
  };
  // Up when a query goes through it.
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      await close();
      assert.fail(`pgbouncer exited (${child.exitCode}):\n${output()}`);
    }
    const probe = postgres(urlFor(TEST_DATABASE_URL), {
      max: 1,
      prepare: false,
      connect_timeout: 1,
      onnotice: () => {},
    });
    try {
      await probe`select 1`;
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        await close();
        assert.fail(`pgbouncer never answered (${String(error)}):\n${output()}`);
      }
      await sleep(50);
    } finally {
      await probe.end({ timeout: 1 });
    }
  }
  return { port, urlFor, log: output, close };
}
