/**
 * `npm run bench -- --counts`: what a request makes, which does not move with the machine's
 * speed as its throughput does (decision 088): the promises a server creates and the bytes it
 * allocates a request, under the same load as the throughput rounds. The server runs with
 * `counts-preload.ts`, told when to start and stop by SIGUSR2.
 */
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Counts } from './counts-preload.ts';
import type { Target } from './processes.ts';
import type { BenchLoad } from './scenarios.ts';
import { runWrk, type WrkOptions } from './wrk.ts';

/** The target, counting: the preload loaded first, and the file it writes to. */
export function counting(target: Target): Target & { countsFile: string } {
  const countsFile = join(tmpdir(), `bench-counts-${process.pid}-${target.name}.json`);
  return {
    ...target,
    nodeFlags: [...(target.nodeFlags ?? []), '--import', './scripts/bench/counts-preload.ts'],
    env: { ...target.env, BENCH_COUNTS_FILE: countsFile },
    countsFile,
  };
}

export interface PerRequest {
  promises: number;
  bytes: number;
  requests: number;
}

/** Counts over one `wrk` run of `load` against a server started through `counting`. */
export async function countPerRequest(
  server: { pid: number; baseUrl: string; countsFile: string },
  load: BenchLoad,
  options: WrkOptions,
): Promise<PerRequest> {
  await rm(server.countsFile, { force: true });
  process.kill(server.pid, 'SIGUSR2');
  // The profiler starts on the server's next turn; a request or two either side is noise.
  await sleep(100);
  const result = await runWrk(server.baseUrl, load, options);
  process.kill(server.pid, 'SIGUSR2');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = await readFile(server.countsFile, 'utf8').catch(() => undefined);
    if (text) {
      const counts: Counts = JSON.parse(text);
      await rm(server.countsFile, { force: true });
      const requests = Math.max(1, result.requests);
      return { promises: counts.promises / requests, bytes: counts.bytes / requests, requests };
    }
    if (Date.now() > deadline) throw new Error(`no counts from ${server.baseUrl} within 10 s`);
    await sleep(50);
  }
}
