/**
 * `releaseMemoryWhenQuiet`: one collection after a quiet period, and only when the heap grew
 * enough since the last; none while requests keep starting, none for a heap that stayed
 * small; and, in a real process with `--expose-gc`, the young generation a burst grew is
 * given back.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { releaseMemoryWhenQuiet } from '../../src/core/quiet-memory-release.ts';
import { waitFor } from '../support/jobs.ts';
import { youngGenerationProbe } from '../support/young-generation.ts';

const MB = 2 ** 20;
const QUIET_MS = 40;

/** A process's heap and requests, driven by the test: while busy, requests keep starting. */
function fakeProcess(heapMb: number, periods: { quietMs?: number; startUpQuietMs?: number } = {}) {
  const state = {
    heapMb,
    rssMb: 100,
    /** The resident set a collection leaves: less than it found, when it could give back. */
    rssAfterCollection: 100,
    busy: false,
    requests: 0,
    collections: 0,
    after: [] as string[],
  };
  const release = releaseMemoryWhenQuiet({
    quietMs: periods.quietMs ?? QUIET_MS,
    ...(periods.startUpQuietMs === undefined ? {} : { startUpQuietMs: periods.startUpQuietMs }),
    requestsStarted: () => (state.busy ? ++state.requests : state.requests),
    growthBytes: 32 * MB,
    heapBytes: () => state.heapMb * MB,
    residentBytes: () => state.rssMb * MB,
    collect: () => {
      state.collections++;
      state.heapMb = 50;
      state.rssMb = state.rssAfterCollection;
    },
    released: ({ after }) => state.after.push(after),
  });
  assert.ok(release);
  return { state, release };
}

describe('releaseMemoryWhenQuiet', () => {
  // A burst of cheap requests grows the resident set far more than V8's heap (decision 102).
  const bursts = [
    { grew: 'the heap', heapMb: 170, rssMb: 100 },
    { grew: 'the resident set but hardly the heap', heapMb: 60, rssMb: 140 },
  ];
  for (const burst of bursts) {
    test(`after a burst grew ${burst.grew}, one collection once no request started for a period`, async () => {
      const { state, release } = fakeProcess(50);
      try {
        state.heapMb = burst.heapMb;
        state.rssMb = burst.rssMb;
        await waitFor('a collection', () => state.collections > 0, { intervalMs: 5 });
        await sleep(QUIET_MS * 4);
        assert.equal(state.collections, 1, 'not again while memory stays as it was left');
      } finally {
        release.stop();
      }
    });
  }

  test('none while requests keep starting, however large the heap', async () => {
    const { state, release } = fakeProcess(50);
    try {
      state.busy = true;
      state.heapMb = 170;
      await sleep(QUIET_MS * 6);
      assert.equal(state.collections, 0);
      state.busy = false;
      await waitFor('a collection once they stop', () => state.collections === 1, {
        intervalMs: 5,
      });
    } finally {
      release.stop();
    }
  });

  test('none for a heap and a resident set that grew less than the threshold', async () => {
    const { state, release } = fakeProcess(50);
    try {
      state.heapMb = 80;
      state.rssMb = 130;
      await sleep(QUIET_MS * 4);
      assert.equal(state.collections, 0);
    } finally {
      release.stop();
    }
  });

  test('a resident set that stays high after its release is the new baseline, not a reason to collect again', async () => {
    const { state, release } = fakeProcess(50);
    try {
      // What the collection cannot give back (the allocator's, say) stays.
      state.rssAfterCollection = 140;
      state.rssMb = 140;
      await waitFor('a collection', () => state.collections > 0, { intervalMs: 5 });
      state.rssMb = 150;
      await sleep(QUIET_MS * 4);
      assert.equal(state.collections, 1);
    } finally {
      release.stop();
    }
  });

  test('what starting left: collected once after a short quiet moment, whatever the growth, then as after load', async () => {
    const { state, release } = fakeProcess(60, { startUpQuietMs: QUIET_MS / 2 });
    try {
      state.busy = true;
      await sleep(QUIET_MS * 3);
      assert.equal(state.collections, 0, 'not while requests keep starting (readiness probes)');
      state.busy = false;
      await waitFor('the start-up release', () => state.collections === 1, { intervalMs: 5 });
      state.heapMb = 170;
      await waitFor('a release after load', () => state.collections === 2, { intervalMs: 5 });
      assert.deepEqual(state.after, ['start-up', 'load']);
    } finally {
      release.stop();
    }
  });

  test('with no release after load (a period of 0), the start-up one still comes, once', async () => {
    const { state, release } = fakeProcess(60, { quietMs: 0, startUpQuietMs: QUIET_MS / 2 });
    try {
      await waitFor('the start-up release', () => state.collections === 1, { intervalMs: 5 });
      state.heapMb = 170;
      await sleep(QUIET_MS * 4);
      assert.equal(state.collections, 1);
    } finally {
      release.stop();
    }
  });

  test('nothing without a collection to run, or with a period of 0', () => {
    const requestsStarted = () => 0;
    if (typeof globalThis.gc !== 'function') {
      assert.equal(releaseMemoryWhenQuiet({ quietMs: 1_000, requestsStarted }), undefined);
    }
    const collect = () => assert.fail('never collects');
    assert.equal(releaseMemoryWhenQuiet({ quietMs: 0, requestsStarted, collect }), undefined);
  });

  test('in a process run with --expose-gc, the young generation a burst grew is given back', () => {
    const { before, after } = youngGenerationProbe(['--expose-gc', '--max-semi-space-size=32'], {
      imports: "import { releaseMemoryWhenQuiet } from './src/core/quiet-memory-release.ts';",
      setup:
        'const release = releaseMemoryWhenQuiet({ quietMs: 100, requestsStarted: () => 0, growthBytes: 16 * 2 ** 20 });',
      // Quiet for a while after the burst; then the young generation is measured again.
      release: 'await new Promise((resolve) => setTimeout(resolve, 500)); release.stop();',
    });
    assert.ok(before >= 16, `the burst grew the young generation (${before} MB)`);
    assert.ok(after <= before / 4, `${before} MB → ${after} MB`);
  });
});
