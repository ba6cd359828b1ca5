/**
 * The soak of `npm run bench -- --soak`: the mixed workload against the full server for a
 * long while (10 minutes unless told), its memory and its rate sampled every few seconds, to
 * show whether it keeps growing, or slowing down, once warm: a cost that grows with the
 * requests a process has served (postgres.js's pool queue did, decision 086) shows as a
 * rate that falls from one sample to the next.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningTarget } from './processes.ts';
import { median } from './report.ts';
import type { BenchLoad } from './scenarios.ts';
import { runWrk, type WrkOptions, type WrkResult } from './wrk.ts';

export interface SoakSample {
  /** Seconds since the load began. */
  atSeconds: number;
  rssMb: number;
  /** V8 heap in use, from the server's /metrics; undefined if it could not be read. */
  heapUsedMb: number | undefined;
  /** Requests answered a second since the sample before (/metrics' HTTP histogram counts). */
  requestsPerSecond: number | undefined;
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
  /**
   * The median rate of the samples after the warm-up, in their first half and in their
   * second: a process that slows as it serves answers fewer in the second.
   */
  rates: { first: number; second: number } | undefined;
}

const ANSWERED = /^http_request_duration_seconds_count(?:\{[^}]*\})? ([\d.e+]+)$/gm;

async function readMetrics(
  baseUrl: string,
): Promise<{ heapUsedMb: number | undefined; answered: number | undefined }> {
  try {
    const response = await fetch(`${baseUrl}/metrics`);
    const text = await response.text();
    const heap = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? ([\d.e+]+)/m.exec(text);
    const counts = Array.from(text.matchAll(ANSWERED), (match) => Number(match[1]));
    return {
      heapUsedMb: heap ? Number(heap[1]) / 1e6 : undefined,
      answered: counts.length > 0 ? counts.reduce((sum, count) => sum + count, 0) : undefined,
    };
  } catch {
    return { heapUsedMb: undefined, answered: undefined };
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
  let previous: { at: number; answered: number } | undefined;
  const sample = async (began: number): Promise<SoakSample> => {
    const [memory, metrics] = await Promise.all([app.memory(), readMetrics(app.baseUrl)]);
    const at = performance.now();
    const { answered } = metrics;
    const requestsPerSecond =
      answered !== undefined && previous
        ? ((answered - previous.answered) * 1_000) / (at - previous.at)
        : undefined;
    previous = answered === undefined ? undefined : { at, answered };
    return {
      atSeconds: Math.round((at - began) / 1_000),
      rssMb: memory.rssMb,
      heapUsedMb: metrics.heapUsedMb,
      requestsPerSecond,
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
  return { wrk: result, samples, after, warm, end, rates: ratesOf(samples, warm) };
}

function ratesOf(
  samples: readonly SoakSample[],
  warm: SoakSample | undefined,
): SoakResult['rates'] {
  if (!warm) return undefined;
  // The rate a sample carries is of the interval before it: from the one after warm on.
  const rates = samples
    .slice(samples.indexOf(warm) + 1)
    .map((taken) => taken.requestsPerSecond)
    .filter((rate) => rate !== undefined);
  if (rates.length < 2) return undefined;
  const half = Math.floor(rates.length / 2);
  return { first: median(rates.slice(0, half)), second: median(rates.slice(-half)) };
}
