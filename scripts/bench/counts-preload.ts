/**
 * Loaded into a server by `npm run bench -- --counts` (`--import`, before its entry point):
 * the first SIGUSR2 starts counting the promises the process creates and the bytes it
 * allocates, the next stops and writes both to BENCH_COUNTS_FILE as JSON. Bytes come from
 * V8's sampling heap profiler with the objects collected since kept in the profile, so they
 * are everything allocated, not what survived; an estimate from one sample every 4 KB, close
 * over the megabytes a measure allocates.
 */
import { writeFileSync } from 'node:fs';
import type { HeapProfiler } from 'node:inspector';
import { Session } from 'node:inspector/promises';
import { promiseHooks } from 'node:v8';

export interface Counts {
  promises: number;
  bytes: number;
}

const file = process.env.BENCH_COUNTS_FILE;
if (!file) throw new Error('counts-preload: BENCH_COUNTS_FILE is not set');

function bytesBelow(node: HeapProfiler.SamplingHeapProfileNode): number {
  return node.children.reduce((sum, child) => sum + bytesBelow(child), node.selfSize);
}

const session = new Session();
session.connect();
let stopCounting: (() => void) | undefined;
let promises = 0;

async function toggle(target: string): Promise<void> {
  if (!stopCounting) {
    promises = 0;
    const stop = promiseHooks.onInit(() => {
      promises += 1;
    });
    // Typed as a bare `Function` by @types/node; it is the hook's stop, called with nothing.
    stopCounting = () => Reflect.apply(stop, undefined, []);
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 4_096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    return;
  }
  stopCounting();
  stopCounting = undefined;
  const { profile } = await session.post('HeapProfiler.stopSampling');
  const counts: Counts = { promises, bytes: bytesBelow(profile.head) };
  writeFileSync(target, JSON.stringify(counts));
}

process.on('SIGUSR2', () => {
  toggle(file).catch((error: unknown) => {
    console.error('counts-preload:', error);
  });
});
