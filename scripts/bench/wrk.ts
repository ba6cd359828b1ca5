import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BenchLoad, isMix, requestsOf, UNIQUE } from './scenarios.ts';

export interface WrkOptions {
  threads: number;
  connections: number;
  durationSeconds: number;
}

export interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
}

/** A Lua string literal in long brackets, whatever the text holds. */
function luaString(text: string): string {
  let level = '';
  while (text.includes(`]${level}]`)) level += '=';
  return `[${level}[${text}]${level}]`;
}

function luaTable(entries: Record<string, string>): string {
  // Spaces inside the brackets: `[[[name]]]` would lex as a long string and fail.
  return `{ ${Object.entries(entries)
    .map(([name, value]) => `[ ${luaString(name)} ] = ${luaString(value)}`)
    .join(', ')} }`;
}

/**
 * Smooth weighted round robin (nginx's): weights 7, 2, 1 give a cycle of 10 slots with each
 * entry spread out, rather than seven of one in a row.
 */
export function weightedSlots(weights: number[]): number[] {
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const current = weights.map(() => 0);
  const slots: number[] = [];
  for (let step = 0; step < total; step++) {
    let best = 0;
    for (let index = 0; index < weights.length; index++) {
      current[index] = (current[index] as number) + (weights[index] as number);
      if ((current[index] as number) > (current[best] as number)) best = index;
    }
    current[best] = (current[best] as number) - total;
    slots.push(best);
  }
  return slots;
}

/**
 * The wrk script for a load: none for a plain GET; static method, headers and body for one
 * fixed request; otherwise a `request()` that picks by weight and fills in `UNIQUE` with
 * the run's token, the thread's number and a per-thread counter.
 */
export function luaScript(load: BenchLoad, runToken: string): string | undefined {
  if (!isMix(load) && !load.body?.includes(UNIQUE)) {
    const method = load.method ?? 'GET';
    if (method === 'GET' && !load.headers && load.body === undefined) return undefined;
    const lines = [`wrk.method = ${luaString(method)}`];
    for (const [name, value] of Object.entries(load.headers ?? {})) {
      lines.push(`wrk.headers[ ${luaString(name)} ] = ${luaString(value)}`);
    }
    if (load.body !== undefined) lines.push(`wrk.body = ${luaString(load.body)}`);
    return `${lines.join('\n')}\n`;
  }
  const entries = isMix(load) ? load.mix : [{ weight: 1, label: 'only', request: load }];
  const slots = weightedSlots(entries.map((entry) => entry.weight));
  const lines = [
    `local run = ${luaString(runToken)}`,
    'local count = 0',
    `local slots = { ${slots.map((slot) => slot + 1).join(', ')} }`,
    'local entries = {',
    ...entries.map(({ request }) => {
      const [prefix, ...rest] = (request.body ?? '').split(UNIQUE);
      const fields = [
        `method = ${luaString(request.method ?? 'GET')}`,
        `path = ${luaString(request.path)}`,
        `headers = ${luaTable(request.headers ?? {})}`,
      ];
      if (request.body !== undefined && rest.length === 0) {
        fields.push(`body = ${luaString(request.body)}`);
      }
      if (rest.length > 0) {
        fields.push(`prefix = ${luaString(prefix ?? '')}`, `suffix = ${luaString(rest.join(''))}`);
      }
      return `  { ${fields.join(', ')} },`;
    }),
    '}',
    'local formatted = {}',
    'local threads = 0',
    // In wrk's own state, once per thread: numbers the threads.
    'function setup(thread)',
    '  threads = threads + 1',
    '  thread:set("tid", threads)',
    'end',
    // In each thread, after wrk.init has set the Host header: the fixed requests, once.
    'function init(args)',
    '  for i, e in ipairs(entries) do',
    '    if not e.prefix then formatted[i] = wrk.format(e.method, e.path, e.headers, e.body) end',
    '  end',
    'end',
    'function request()',
    '  count = count + 1',
    '  local i = slots[(count - 1) % #slots + 1]',
    '  local f = formatted[i]',
    '  if f then return f end',
    '  local e = entries[i]',
    '  local unique = run .. "-" .. tostring(tid or 0) .. "-" .. tostring(count)',
    '  return wrk.format(e.method, e.path, e.headers, e.prefix .. unique .. e.suffix)',
    'end',
  ];
  return `${lines.join('\n')}\n`;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1_000, m: 60_000 };

function durationMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!match) throw new Error(`unreadable wrk duration: ${text}`);
  return Number(match[1]) * (UNIT_MS[match[2] as string] ?? Number.NaN);
}

/** Reads the figures out of `wrk --latency` output. */
export function parseWrk(output: string): WrkResult {
  const find = (pattern: RegExp) => {
    const match = pattern.exec(output);
    if (!match) throw new Error(`wrk output lacks ${pattern}:\n${output}`);
    return match;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    output,
  );
  return {
    requestsPerSecond: Number(find(/Requests\/sec:\s+([\d.]+)/)[1]),
    p50Ms: durationMs(find(/^\s+50%\s+(\S+)/m)[1] as string),
    p99Ms: durationMs(find(/^\s+99%\s+(\S+)/m)[1] as string),
    requests: Number(find(/(\d+) requests in/)[1]),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0),
    socketErrors: socket ? socket.slice(1).reduce((sum, count) => sum + Number(count), 0) : 0,
  };
}

/** Runs wrk once against `baseUrl` with a load; killed if it overruns its duration. */
export async function runWrk(
  baseUrl: string,
  load: BenchLoad,
  options: WrkOptions,
): Promise<WrkResult> {
  const script = luaScript(load, randomBytes(4).toString('hex'));
  const dir = script ? await mkdtemp(join(tmpdir(), 'bench-wrk-')) : undefined;
  try {
    const args = [
      `-t${options.threads}`,
      `-c${options.connections}`,
      `-d${options.durationSeconds}s`,
      '--timeout',
      '2s',
      '--latency',
    ];
    if (dir && script) {
      const file = join(dir, 'scenario.lua');
      await writeFile(file, script);
      args.push('-s', file);
    }
    args.push(`${baseUrl}${requestsOf(load)[0]?.path ?? '/'}`);
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      const watchdog = setTimeout(
        () => child.kill('SIGKILL'),
        (options.durationSeconds + 15) * 1_000,
      );
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(watchdog);
        // wrk reports a script it cannot load, then goes on with plain GETs and exits 0.
        if (code === 0 && !/\.lua:\d+:/.test(text)) resolve(text);
        else reject(new Error(`wrk exited with ${code}:\n${text}`));
      });
    });
    return parseWrk(output);
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

/** How a variant is warmed before its scenario's rounds (`warmUp`). */
export interface WarmUpOptions {
  /** The seconds of one spell of load. */
  spellSeconds: number;
  /** The most seconds of spells; one spell at least. */
  maxSeconds: number;
  /**
   * The fewest seconds of spells, however flat their rates (decision 134): a fast first
   * spell and two slow ones read as flat while V8 is still optimising the server's code.
   */
  minSeconds: number;
  /** A spell this much faster than the best before it means the server is still warming. */
  rise: number;
  /** Spells in a row that must not rise so, for the server to count as warm (decision 126). */
  settled: number;
}

/**
 * Runs spells of load (`spell`, which gives the spell's rate) until the rate stops rising:
 * until `settled` spells in a row are no more than `rise` above the best spell before them
 * and `minSeconds` have gone, or `maxSeconds` have gone. A server whose code V8 has not yet
 * optimised for a load climbs for tens of seconds (the full server's first item reads ran at
 * half its later rate, decision 121); one spell of a second left that climb in the rounds,
 * and for the server that had not served the load before more than for the one that had.
 * One slow spell alone is the machine as often as the server: a climb of 6,981 / 8,921 /
 * 5,572 req/s stopped there and went on through the rounds (decision 126). Each spell's
 * rate, in order.
 */
export async function warmUp(
  spell: () => Promise<number>,
  options: WarmUpOptions,
): Promise<number[]> {
  const rates: number[] = [];
  let best = 0;
  let flat = 0;
  for (let seconds = 0; seconds < options.maxSeconds || rates.length === 0; ) {
    const rate = await spell();
    rates.push(rate);
    seconds += options.spellSeconds;
    if (rates.length > 1 && rate <= best * (1 + options.rise)) flat += 1;
    else flat = 0;
    best = Math.max(best, rate);
    if (flat >= options.settled && seconds >= options.minSeconds) break;
  }
  return rates;
}
