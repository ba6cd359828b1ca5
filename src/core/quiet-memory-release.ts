import { getHeapStatistics } from 'node:v8';
import { lastResortCollection } from './start-up-memory.ts';

/** What a process logs with each release (the bench looks for it in the API's log). */
export const QUIET_RELEASE_MESSAGE = 'memory given back in a quiet moment';

export interface QuietMemoryReleaseOptions {
  /** A period in which no request starts counts as quiet; 0: no release after load. */
  quietMs: number;
  /**
   * A first release, of what starting the process left, once no request has started for
   * this long, whatever the heap's growth: the process serves first and collects when it
   * can (decision 070).
   */
  startUpQuietMs?: number;
  /** How many requests have started so far: the same count a while apart means quiet. */
  requestsStarted: () => number;
  /**
   * How far V8's heap, or the process's resident memory, must have grown since the last
   * release for one to be worth its pause.
   */
  growthBytes?: number;
  /** V8's heap as committed now; replaceable in tests. */
  heapBytes?: () => number;
  /** The process's resident set now; replaceable in tests. */
  residentBytes?: () => number;
  /** The collection that gives memory back; V8's last-resort collection when `gc` exists. */
  collect?: () => void;
  /**
   * Told of each release: which, V8's heap and the resident set before and after, in MB, and
   * the pause.
   */
  released?: (release: {
    after: 'start-up' | 'load';
    heapMb: number;
    heapAfterMb: number;
    rssMb: number;
    rssAfterMb: number;
    pauseMs: number;
  }) => void;
}

export interface QuietMemoryRelease {
  stop(): void;
}

/** Growth that makes a release worth it: the young generation at 32 MiB a half is 64 MiB. */
const DEFAULT_GROWTH_BYTES = 32 * 2 ** 20;

/**
 * Hands back what a burst of load made V8's heap hold, once the process has been quiet for a
 * period: V8 keeps a young generation grown to its maximum (64 MiB at 32 MiB a half) and the
 * old generation's garbage until it next collects with memory in mind, which an idle process
 * does not do for minutes (decision 069). The collection pauses the process (tens to a few
 * hundred milliseconds, by the heap's size): it runs only after a whole quiet period, and only
 * when V8's heap or the resident set has grown by `growthBytes` since the last release or the
 * lowest size seen (a burst of cheap requests grows the second far more than the first,
 * decision 102), so a steadily loaded process or one serving a trickle never pays it. A
 * request that arrives during it waits for it. With `startUpQuietMs`, the first release comes
 * after that much quiet whatever the growth. Nothing happens without a collection
 * (`--expose-gc`).
 */
export function releaseMemoryWhenQuiet(
  options: QuietMemoryReleaseOptions,
): QuietMemoryRelease | undefined {
  const collect = options.collect ?? lastResortCollection();
  const { quietMs, startUpQuietMs } = options;
  if (!collect || (quietMs <= 0 && startUpQuietMs === undefined)) return undefined;
  const heapBytes = options.heapBytes ?? (() => getHeapStatistics().total_heap_size);
  const residentBytes = options.residentBytes ?? process.memoryUsage.rss;
  const growth = options.growthBytes ?? DEFAULT_GROWTH_BYTES;
  let startUp = startUpQuietMs !== undefined;
  let heapBaseline = heapBytes();
  let residentBaseline = residentBytes();
  let seen = options.requestsStarted();
  let lastStarted = performance.now();
  let timer: NodeJS.Timeout | undefined;

  const release = (after: 'start-up' | 'load', heap: number, resident: number, began: number) => {
    collect();
    const pauseMs = Math.round(performance.now() - began);
    heapBaseline = heapBytes();
    residentBaseline = residentBytes();
    const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
    options.released?.({
      after,
      heapMb: mb(heap),
      heapAfterMb: mb(heapBaseline),
      rssMb: mb(resident),
      rssAfterMb: mb(residentBaseline),
      pauseMs,
    });
  };

  const look = () => {
    const started = options.requestsStarted();
    const now = performance.now();
    if (started !== seen) {
      seen = started;
      lastStarted = now;
    } else {
      const heap = heapBytes();
      const resident = residentBytes();
      heapBaseline = Math.min(heapBaseline, heap);
      residentBaseline = Math.min(residentBaseline, resident);
      const quietFor = now - lastStarted;
      const grown = heap >= heapBaseline + growth || resident >= residentBaseline + growth;
      if (startUp && quietFor >= (startUpQuietMs ?? 0)) {
        release('start-up', heap, resident, now);
        startUp = false;
      } else if (!startUp && quietMs > 0 && quietFor >= quietMs && grown) {
        release('load', heap, resident, now);
      }
    }
    if (startUp || quietMs > 0) schedule();
  };

  // Looked at a few times a period, at most every second: a release comes at most that late
  // (within 16 s of the last request at the default 15 s).
  const schedule = () => {
    const period = startUp ? (startUpQuietMs ?? 0) : quietMs;
    timer = setTimeout(look, Math.max(1, Math.min(1_000, Math.round(period / 4))));
    // A process with nothing else to do ends; this is no reason to stay.
    timer.unref();
  };

  schedule();
  return { stop: () => clearTimeout(timer) };
}
