/**
 * Real service processes for end-to-end tests: spawned with `node --import ./src/preload.ts`,
 * their JSON log lines parsed, stopped with real signals.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { TEST_REDIS_URL } from './deps.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** `Date.now()` when the process exited. */
  at: number;
}

export interface ServiceProcess {
  child: ChildProcess;
  pid: number;
  /** Every JSON line written to standard output so far. */
  records(): Record<string, unknown>[];
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  /** The first log record that matches, waiting for it (fails if the process exits first). */
  waitForRecord(
    what: string,
    match: (record: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
}

const running = new Set<ServiceProcess>();

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  assert.ok(address && typeof address === 'object');
  return address.port;
}

/**
 * Spawns `entry` (a path from the repository root, e.g. `src/worker.ts`) with the test
 * environment under `env`.
 */
export function spawnService(entry: string, env: Record<string, string>): ServiceProcess {
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    REDIS_URL: TEST_REDIS_URL,
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    MIGRATE_ON_START: 'false',
    WORKER_HEALTH_PORT: '0',
    ...env,
  };
  // A service is not a test process: it must not report to this runner.
  delete childEnv.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, ['--import', './src/preload.ts', entry], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  let gone: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      gone = { code, signal, at: Date.now() };
      resolve(gone);
    });
  });
  const records = () =>
    stdout
      .split('\n')
      .slice(0, -1)
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  const service: ServiceProcess = {
    child,
    pid: child.pid ?? 0,
    records,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    async waitForRecord(what, match, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = records().find(match);
        if (found) return found;
        if (gone) {
          assert.fail(
            `${entry} exited (${JSON.stringify(gone)}) before ${what}:\n${stderr}\n${stdout}`,
          );
        }
        if (Date.now() > deadline)
          assert.fail(`${entry}: timed out waiting for ${what}:\n${stderr}\n${stdout}`);
        await sleep(50);
      }
    },
  };
  running.add(service);
  void exited.then(() => running.delete(service));
  return service;
}

/** Kills (SIGKILL) every service still running; for `after` hooks. */
export async function killAllServices(): Promise<void> {
  await Promise.all(
    [...running].map(async (service) => {
      service.child.kill('SIGKILL');
      await service.exited;
    }),
  );
}

/** The resident set size of a process, in bytes, from `/proc/<pid>/status`. */
export async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  assert.ok(match, `no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}
