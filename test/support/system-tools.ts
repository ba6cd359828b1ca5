/**
 * Programs from the operating system's packages that some tests run (PgBouncer, HAProxy,
 * redis-server, redis-cli). A test skips, saying which and how to install it, when one is
 * missing; with `REQUIRE_TOOLS=1` (CI, which installs them) it fails instead, so a skipped
 * test cannot pass silently there.
 *
 * @example
 * const pgbouncer = findTool('pgbouncer');
 * if (!pgbouncer) return t.skip(missingToolReason('pgbouncer'));
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Where Debian puts daemons (not on a non-root PATH) besides the PATH itself. */
const EXTRA_DIRECTORIES = ['/usr/sbin', '/usr/bin', '/sbin', '/usr/local/sbin', '/usr/local/bin'];

const PACKAGES: Record<string, string> = {
  pgbouncer: 'pgbouncer',
  haproxy: 'haproxy',
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
};

/** The path of `name`, or `undefined` when it is not installed (throws under REQUIRE_TOOLS=1). */
export function findTool(name: string): string | undefined {
  const directories = [...(process.env.PATH ?? '').split(delimiter), ...EXTRA_DIRECTORIES];
  for (const directory of directories.filter((entry) => entry.length > 0)) {
    const candidate = join(directory, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  if (process.env.REQUIRE_TOOLS === '1')
    throw new Error(`REQUIRE_TOOLS=1 but ${missingToolReason(name)}`);
  return undefined;
}

/** Why a test skipped: the program and the Debian package that has it. */
export function missingToolReason(name: string): string {
  return `${name} is not installed (apt-get install ${PACKAGES[name] ?? name}); REQUIRE_TOOLS=1 fails instead of skipping`;
}

/** One of these programs running for a test, with what it printed, for a failure's message. */
export interface ToolProcess {
  child: ChildProcess;
  /** Its standard output and error so far. */
  output(): string;
}

/** Starts `binary` with `args`, keeping what it prints. */
export function runTool(binary: string, args: string[], options: SpawnOptions = {}): ToolProcess {
  let output = '';
  const child = spawn(binary, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk: string) => {
    output += chunk;
  };
  child.stdout?.setEncoding('utf8').on('data', keep);
  child.stderr?.setEncoding('utf8').on('data', keep);
  return { child, output: () => output };
}

/** Kills the program with SIGKILL; resolves once it has exited (at once if it had). */
export function killTool(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
