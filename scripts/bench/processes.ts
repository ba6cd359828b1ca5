import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = new URL('../..', import.meta.url).pathname;

/**
 * How `npm start` runs the service, read from its script so the bench runs what it runs:
 * the environment it sets (the allocator's arena, decisions 097 and 099), Node's flags
 * (decision 043), its compile cache (decision 042; the image's is filled as it is built) and
 * the bundle's entry point (decision 056: `npm start` builds it first, the bench calls
 * `buildBundle`).
 */
function startScript(): {
  env: Record<string, string>;
  launcher: string[];
  nodeFlags: string[];
  compileCache: string;
  entry: string;
} {
  const manifest: { scripts: Record<string, string> } = JSON.parse(
    readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
  );
  const words = (manifest.scripts.start ?? '').split(/\s+/);
  const node = words.indexOf('node');
  const entry = words.findIndex((word, index) => index > node && !word.startsWith('-'));
  const assignment = (word: string) => /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word);
  // `NAME=value …`, then what runs node in its place (`sh scripts/with-jemalloc.sh`).
  const launcherAt = words.findIndex((word) => !assignment(word));
  const assignments = words.slice(0, launcherAt).map(assignment);
  const env = Object.fromEntries(
    assignments.flatMap((match) =>
      match?.[1] && match[2] !== undefined ? [[match[1], match[2]]] : [],
    ),
  );
  const { NODE_COMPILE_CACHE: compileCache, ...rest } = env;
  if (node < 0 || entry < 0 || launcherAt < 0 || launcherAt > node || !compileCache) {
    throw new Error(
      'package.json: the start script is no longer `NAME=value … NODE_COMPILE_CACHE=… [launcher …] node <flags> <entry>`; update scripts/bench/processes.ts',
    );
  }
  return {
    env: rest,
    launcher: words.slice(launcherAt, node),
    nodeFlags: words.slice(node + 1, entry),
    compileCache,
    entry: words[entry] ?? '',
  };
}

const production = startScript();

/**
 * The environment `npm start` sets (NODE_ENV, MALLOC_ARENA_MAX; the image's ENV holds the
 * same), but for the compile cache, which every target gets (COMPILE_CACHE).
 */
export const PRODUCTION_ENV: Readonly<Record<string, string>> = production.env;

/**
 * What `npm start` runs node through, in its place (`sh scripts/with-jemalloc.sh`: jemalloc
 * when the system has it, decision 113); empty when it runs node itself.
 */
export const PRODUCTION_LAUNCHER: readonly string[] = production.launcher;

/** The flags `npm start` runs the service with (the image's NODE_OPTIONS holds the same). */
export const PRODUCTION_NODE_FLAGS: readonly string[] = production.nodeFlags;

/** The file `npm start` runs: the API in the production bundle. */
export const PRODUCTION_ENTRY = production.entry;

/**
 * The compile cache `npm start` uses. Every target gets it, baselines too: they are
 * TypeScript files that would otherwise keep Node's TypeScript stripper loaded. The first
 * start of each fills it.
 */
export const COMPILE_CACHE = production.compileCache;

/** Which allocator a process runs on: jemalloc preloaded, or the C library's own. */
export type Allocator = 'jemalloc' | 'glibc';

/** The allocator a running process has: jemalloc when it is mapped in, else the C library's. */
export async function allocatorOf(pid: number): Promise<Allocator> {
  const maps = await readFile(`/proc/${pid}/maps`, 'utf8').catch(() => '');
  return maps.includes('libjemalloc') ? 'jemalloc' : 'glibc';
}

/** A server process the bench starts: its entry point, environment and readiness probe. */
export interface Target {
  name: string;
  /** Entry point, relative to the repository root. */
  entry: string;
  /** Start with `--import ./src/preload.ts`, as TypeScript entry points run (development, tests). */
  preload?: boolean;
  /** Node's own flags, before the preload. */
  nodeFlags?: readonly string[];
  /** A command that runs node in its place, as `npm start` does (`PRODUCTION_LAUNCHER`). */
  launcher?: readonly string[];
  env: Record<string, string>;
  /** Answers 200 once the process can serve. */
  readyPath: string;
  /** Listen on this port (when others must know it first); a free one when absent. */
  port?: number;
  /** Log lines holding this text are kept, for the bench to report (`linesWith`). */
  keepLinesWith?: string;
}

export interface RunningTarget {
  target: Target;
  pid: number;
  baseUrl: string;
  /** From spawn to the first 200 on `readyPath`. */
  readyMs: number;
  /** Bytes the process wrote to standard output (its log), drained by the bench. */
  stdoutBytes(): number;
  /** The log lines holding the target's `keepLinesWith`, oldest first (at most 100). */
  keptLines(): string[];
  /** Resident and peak resident set size, in MB (10^6 bytes). */
  memory(): Promise<{ rssMb: number; peakMb: number }>;
  /** CPU time the process has used so far, every thread, user and system, in seconds. */
  cpuSeconds(): Promise<number>;
  /** SIGTERM, then the exit code (SIGKILL after 15 s). */
  stop(): Promise<number | null>;
}

/** The unit of /proc's CPU times (USER_HZ): 100 on Linux but for rare builds; asked once. */
const CLOCK_TICKS_PER_SECOND =
  Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

const alive = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address !== 'object') throw new Error('no port');
  return address.port;
}

/** The status of one GET, or undefined when the connection failed. */
export function status(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
      res.on('error', () => resolve(undefined));
    });
    req.on('error', () => resolve(undefined));
  });
}

/** Spawns a target and resolves once it is ready, timing how long that took. */
export async function startTarget(target: Target): Promise<RunningTarget> {
  const port = target.port ?? (await freePort());
  const baseUrl = `http://127.0.0.1:${port}`;
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODE_COMPILE_CACHE: COMPILE_CACHE,
    ...target.env,
    HOST: '127.0.0.1',
    PORT: String(port),
  };
  delete env.NODE_TEST_CONTEXT;
  const spawned = performance.now();
  const nodeArgs = [
    ...(target.nodeFlags ?? []),
    ...(target.preload ? ['--import', './src/preload.ts'] : []),
    target.entry,
  ];
  const [launcher, ...launcherArgs] = target.launcher ?? [];
  const child = spawn(
    launcher ?? process.execPath,
    launcher ? [...launcherArgs, process.execPath, ...nodeArgs] : nodeArgs,
    {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  alive.add(child);
  let stdoutBytes = 0;
  let tail = '';
  let stderr = '';
  const kept: string[] = [];
  let partialLine = '';
  const keep = target.keepLinesWith;
  // Drained as fast as it comes, like a log collector reading the pipe.
  child.stdout?.on('data', (chunk: Buffer) => {
    stdoutBytes += chunk.length;
    const text = chunk.toString('utf8');
    tail = (tail + text).slice(-2_000);
    if (!keep) return;
    // Split into lines only when a whole line holds the text: the pipe carries every request's
    // access line, and a drain that falls behind slows the server it measures.
    const joined = partialLine + text;
    const lastBreak = joined.lastIndexOf('\n');
    const complete = joined.slice(0, Math.max(0, lastBreak));
    partialLine = joined.slice(lastBreak + 1);
    if (!complete.includes(keep)) return;
    for (const line of complete.split('\n')) {
      if (line.includes(keep) && kept.length < 100) kept.push(line);
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      alive.delete(child);
      exitCode = code;
      resolve(code);
    });
  });

  const deadline = spawned + 30_000;
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(`${target.name} exited with ${exitCode} before ready:\n${stderr}\n${tail}`);
    }
    if ((await status(`${baseUrl}${target.readyPath}`)) === 200) break;
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${target.name} not ready within 30 s:\n${stderr}\n${tail}`);
    }
    await sleep(5);
  }
  const readyMs = performance.now() - spawned;
  const pid = child.pid as number;

  return {
    target,
    pid,
    baseUrl,
    readyMs,
    stdoutBytes: () => stdoutBytes,
    keptLines: () => [...kept],
    async memory() {
      const text = await readFile(`/proc/${pid}/status`, 'utf8');
      const kB = (field: string) =>
        Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1]);
      return { rssMb: (kB('VmRSS') * 1024) / 1e6, peakMb: (kB('VmHWM') * 1024) / 1e6 };
    },
    async cpuSeconds() {
      // utime and stime, the 14th and 15th fields, after the command in parentheses.
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
    },
    async stop() {
      if (exitCode !== undefined) return exitCode;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
  };
}
