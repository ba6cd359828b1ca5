import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchRequest } from './scenarios.ts';

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

/** The wrk script that sends a request's method, headers and body; none for a plain GET. */
function luaScript(request: BenchRequest): string | undefined {
  const method = request.method ?? 'GET';
  if (method === 'GET' && !request.headers && request.body === undefined) return undefined;
  const lines = [`wrk.method = ${luaString(method)}`];
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    // Spaces inside the brackets: `headers[[[name]]]` would lex as a long string and fail.
    lines.push(`wrk.headers[ ${luaString(name)} ] = ${luaString(value)}`);
  }
  if (request.body !== undefined) lines.push(`wrk.body = ${luaString(request.body)}`);
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

/** Runs wrk once against `baseUrl` with a request; killed if it overruns its duration. */
export async function runWrk(
  baseUrl: string,
  request: BenchRequest,
  options: WrkOptions,
): Promise<WrkResult> {
  const script = luaScript(request);
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
    args.push(`${baseUrl}${request.path}`);
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
