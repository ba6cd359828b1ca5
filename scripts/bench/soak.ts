/**
 * The soak of `npm run bench -- --soak`: the mixed workload against the full server for a
 * long while (10 minutes unless told), its memory sampled every few seconds, to show whether
 * it keeps growing once warm.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningTarget } from './processes.ts';
import type { BenchLoad } from './scenarios.ts';
import { runWrk, type WrkOptions, type WrkResult } from './wrk.ts';

export interface SoakSample {
  /** Seconds since the load began. */
  atSeconds: number;
  rssMb: number;
  /** V8 heap in use, from the server's /metrics; undefined if it could not be read. */
  heapUsedMb: number | undefined;
}

export interface SoakResult {
  wrk: WrkResult;
  /** Taken while the load ran. */
  samples: SoakSample[];
  /** Taken once the load had stopped. */
  after: SoakSample;
  /** The sample the growth is measured from: the first at or after the warm-up. */
  warm: SoakSample | undefined;
  /** The last sample under load. */
  end: SoakSample | undefined;
}

async function heapUsedMb(baseUrl: string): Promise<number | undefined> {
  try {
    const response = await fetch(`${baseUrl}/metrics`);
    const text = await response.text();
    const match = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? ([\d.e+]+)/m.exec(text);
    return match ? Number(match[1]) / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

export async function runSoak(options: {
  app: RunningTarget;
  load: BenchLoad;
  wrk: WrkOptions;
  warmupSeconds: number;
  sampleSeconds: number;
  onSample?: (sample: SoakSample) => void;
}): Promise<SoakResult> {
  const { app, wrk } = options;
  const sample = async (began: number): Promise<SoakSample> => {
    const [memory, heap] = await Promise.all([app.memory(), heapUsedMb(app.baseUrl)]);
    return {
      atSeconds: Math.round((performance.now() - began) / 1_000),
      rssMb: memory.rssMb,
      heapUsedMb: heap,
    };
  };
  const began = performance.now();
  let finished = false;
  const load = runWrk(app.baseUrl, options.load, wrk).finally(() => {
    finished = true;
  });
  const samples: SoakSample[] = [];
  for (let tick = 1; ; tick++) {
    const at = tick * options.sampleSeconds;
    // The last tick must come before wrk stops, so every sample is taken under load.
    if (at > wrk.durationSeconds - 1) break;
    const wait = began + at * 1_000 - performance.now();
    if (wait > 0) await sleep(wait);
    if (finished) break;
    const taken = await sample(began);
    samples.push(taken);
    options.onSample?.(taken);
  }
  const result = await load;
  const after = await sample(began);
  const warm = samples.find((taken) => taken.atSeconds >= options.warmupSeconds);
  const end = samples.at(-1);
  return { wrk: result, samples, after, warm, end };
}
