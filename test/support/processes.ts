/**
 * Real service processes for end-to-end tests: spawned with `node --import ./src/preload.ts`,
 * their JSON log lines parsed, stopped with real signals. `startApi` runs `src/server.ts` on a
 * free port and waits for its `/livez`; `startApiPair` runs two on one database; an `after`
 * hook ends whatever is left with `killAllServices`.
 *
 * @example
 * const api = await startApi({ ...depsEnv(deps), LOG_LEVEL: 'warn' });
 * await fetch(`${api.base}/readyz`);
 * after(() => killAllServices());
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase } from './database.ts';
import { deleteRedisKeys, TEST_REDIS_URL, type TestDeps } from './deps.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** `Date.now()` when the process exited. */
  at: number;
  /** `performance.now()` when the process exited, to compare with other such readings. */
  monotonicAt: number;
}

export interface ServiceProcess {
  child: ChildProcess;
  pid: number;
  /** Every complete line written to standard output so far. */
  lines(): string[];
  /** Every JSON line written to standard output so far (other lines are skipped). */
  records(): Record<string, unknown>[];
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  /** How the process exited, once it has. */
  exit(): Exit | undefined;
  /** The first log record that matches, waiting for it (fails if the process exits first). */
  waitForRecord(
    what: string,
    match: (record: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
}

const running = new Set<ServiceProcess>();

/**
 * A port nothing listens on right now, for a process to listen on. Not for a port that must
 * stay closed: the kernel hands the same range to every `listen(0)`, and a test file running
 * beside this one may be given it next (`closedPort`).
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  assert.ok(address && typeof address === 'object');
  return address.port;
}

/** The lowest of the ports the kernel hands out for `listen(0)` and outgoing connections. */
async function lowestEphemeralPort(): Promise<number> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  const low = Number(text.trim().split(/\s+/)[0]);
  return Number.isInteger(low) && low > 1_024 ? low : 32_768;
}

/**
 * A port nothing listens on, that stays so while a test points a client at it ("the database
 * is down"): taken below the kernel's ephemeral range, from which every port this suite opens
 * for itself comes (`freePort`, `listen(0)`), and above the fixed ports of services (3000,
 * 5432, 6379, 15432, …). A `freePort` handed out for that was once given to a server of a test
 * file running alongside, and a client expecting a refusal got a silent listener instead.
 */
export async function closedPort(): Promise<number> {
  const low = await lowestEphemeralPort();
  const from = Math.min(20_000, low - 1_000);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = from + Math.floor(Math.random() * (low - from));
    const server = createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (free) {
      await new Promise((resolve) => server.close(resolve));
      return port;
    }
  }
  throw new Error(`no closed port found between ${from} and ${low}`);
}

/**
 * Spawns `entry` (a path from the repository root, e.g. `src/worker.ts`, or `dist/worker.js`
 * of the production bundle, which runs without the preload as in production) with the test
 * environment under `env`. A variable set to `undefined` in `env` is left unset, so the
 * service's own default applies.
 */
export function spawnService(
  entry: string,
  env: Record<string, string | undefined>,
): ServiceProcess {
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
  const preload = entry.endsWith('.ts') ? ['--import', './src/preload.ts'] : [];
  const child = spawn(process.execPath, [...preload, entry], {
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
      gone = { code, signal, at: Date.now(), monotonicAt: performance.now() };
      resolve(gone);
    });
  });
  const lines = () => stdout.split('\n').slice(0, -1);
  const records = () =>
    lines().flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  const service: ServiceProcess = {
    child,
    pid: child.pid ?? 0,
    lines,
    records,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    exit: () => gone,
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

/**
 * What a failure message says of a service: how it exited, if it has, and the end of what it
 * wrote, so a test failing after the process started still shows why (a process gone, an
 * error it logged).
 */
export function serviceReport(service: ServiceProcess, chars = 4_000): string {
  const exit = service.exit();
  return [
    exit ? `exited: ${JSON.stringify(exit)}` : 'still running',
    `stderr: ${service.stderr().slice(-chars)}`,
    `stdout: ${service.stdout().slice(-chars)}`,
  ].join('\n');
}

/** The environment that points a service at the database and Redis prefix of `deps`. */
export function depsEnv(deps: TestDeps): Record<string, string> {
  return { DATABASE_URL: deps.settings.DATABASE_URL ?? '', REDIS_KEY_PREFIX: deps.redisPrefix };
}

/** An API process (`src/server.ts`, or the bundle's), listening on `port` of 127.0.0.1. */
export interface ApiProcess extends ServiceProcess {
  /** What failure messages call it: `A`, `B`... (its entry point unless named). */
  name: string;
  port: number;
  /** `http://127.0.0.1:<port>` */
  base: string;
}

/** The status of `GET <path>` on a fresh connection, or 0 when no answer came. */
function statusOf(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/**
 * Spawns `entry` (`src/server.ts` unless given) on a free port with `env` (see
 * `spawnService`) and resolves once its `/livez` answers 200; fails if the process exits
 * first, or after `timeoutMs` (killing it).
 */
export async function startApi(
  env: Record<string, string | undefined>,
  options: { entry?: string; name?: string; timeoutMs?: number } = {},
): Promise<ApiProcess> {
  const port = await freePort();
  const entry = options.entry ?? 'src/server.ts';
  const name = options.name ?? entry;
  const service = spawnService(entry, { ...env, PORT: String(port) });
  const api: ApiProcess = Object.assign(service, {
    name,
    port,
    base: `http://127.0.0.1:${port}`,
  });
  const deadline = performance.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (api.exit()) assert.fail(`${name} exited while starting:\n${serviceReport(api)}`);
    if ((await statusOf(port, '/livez')) === 200) return api;
    if (performance.now() > deadline) {
      api.child.kill('SIGKILL');
      assert.fail(`${name}: /livez never answered:\n${serviceReport(api)}`);
    }
    await sleep(50);
  }
}

/** Two `src/server.ts` processes, A and B, sharing one database and one Redis key prefix. */
export interface ApiPair {
  a: ApiProcess;
  b: ApiProcess;
  /** The Redis key prefix of both. */
  redisPrefix: string;
  /** The database both use. */
  databaseUrl: string;
  /** Stops both (`stopService`), drops their database and deletes their Redis keys. */
  close(): Promise<void>;
}

/**
 * Starts A and B (`startApi`, logging at `warn`) on a new test database and the Redis key
 * prefix `test:<tag>:<random>:`, with `env` on top; if either fails to start, cleans up.
 */
export async function startApiPair(
  tag: string,
  env: Record<string, string | undefined> = {},
): Promise<ApiPair> {
  const redisPrefix = `test:${tag}:${randomBytes(6).toString('hex')}:`;
  const database = await createTestDatabase();
  const close = async (apis: ApiProcess[]) => {
    await Promise.all(apis.map((api) => stopService(api)));
    await Promise.all([database.drop(), deleteRedisKeys(redisPrefix)]);
  };
  const pairEnv = {
    DATABASE_URL: database.url,
    REDIS_KEY_PREFIX: redisPrefix,
    LOG_LEVEL: 'warn',
    ...env,
  };
  const started = await Promise.allSettled([
    startApi(pairEnv, { name: 'A' }),
    startApi(pairEnv, { name: 'B' }),
  ]);
  const [a, b] = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = started.find((result) => result.status === 'rejected');
  if (failed || !a || !b) {
    await close([a, b].filter((api) => api !== undefined));
    throw failed?.reason;
  }
  return { a, b, redisPrefix, databaseUrl: database.url, close: () => close([a, b]) };
}

/**
 * Stops a service unless it is gone already: SIGTERM, then SIGKILL if it is still there
 * after `graceMs`. Resolves with how it exited.
 */
export async function stopService(service: ServiceProcess, graceMs = 5_000): Promise<Exit> {
  if (!service.exit()) {
    service.child.kill('SIGTERM');
    const stopped = await Promise.race([
      service.exited.then(() => true),
      sleep(graceMs, false, { ref: false }),
    ]);
    if (!stopped) service.child.kill('SIGKILL');
  }
  return service.exited;
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

/**
 * Samples `pid`'s resident memory every 10 ms from now until `stop()`, which resolves with
 * the first sample and the highest, in bytes.
 */
export async function watchResidentMemory(
  pid: number,
): Promise<{ stop(): Promise<{ before: number; peak: number }> }> {
  const before = await residentBytes(pid);
  let peak = before;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await residentBytes(pid));
      await sleep(10);
    }
  })();
  return {
    async stop() {
      sampling = false;
      await sampler;
      return { before, peak };
    },
  };
}
