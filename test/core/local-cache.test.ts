import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { localCache } from '../../src/core/local-cache.ts';

/** A load that counts its calls and answers when told to. */
function controlledLoad() {
  const calls: string[] = [];
  const waiting: (() => void)[] = [];
  let version = 0;
  return {
    calls,
    release: () => {
      for (const resume of waiting.splice(0)) resume();
    },
    bump: () => {
      version += 1;
    },
    load: async (key: string) => {
      calls.push(key);
      const seen = version;
      await new Promise<void>((resume) => waiting.push(resume));
      return `${key}@${seen}`;
    },
  };
}

describe('the local cache', () => {
  test('peek answers what is cached, boxed, and never loads', async () => {
    const source = controlledLoad();
    const cache = localCache<string | null>({ max: 10, ttlMs: 60_000, load: source.load });
    assert.equal(cache.peek('k'), undefined, 'nothing cached yet');
    assert.deepEqual(source.calls, [], 'peek does not load');
    const loaded = cache.get('k');
    assert.equal(cache.peek('k'), undefined, 'a load under way is not an answer yet');
    source.release();
    await loaded;
    assert.deepEqual(cache.peek('k'), { value: 'k@0' });
    const nulls = localCache<string | null>({ max: 10, ttlMs: 60_000, load: async () => null });
    await nulls.get('gone');
    assert.deepEqual(nulls.peek('gone'), { value: null }, 'a cached null is an answer');
    cache.delete('k');
    assert.equal(cache.peek('k'), undefined, 'deleted');
    assert.deepEqual(source.calls, ['k']);
  });

  test('use hands over what is cached at once, without a promise, and loads the rest', async () => {
    const source = controlledLoad();
    const cache = localCache<string>({ max: 10, ttlMs: 60_000, load: source.load });
    const missed = cache.use('k', (value) => `used ${value}`);
    assert.ok(missed instanceof Promise, 'a miss waits for the load');
    source.release();
    assert.equal(await missed, 'used k@0');
    const hit = cache.use('k', (value) => `used ${value}`);
    assert.equal(hit, 'used k@0', 'a hit is answered in the same turn');
    const chained = cache.use('k', async (value) => `later ${value}`);
    assert.equal(await chained, 'later k@0');
    assert.deepEqual(source.calls, ['k']);
  });

  test('concurrent misses for one key make one load', async () => {
    const source = controlledLoad();
    const cache = localCache({ max: 10, ttlMs: 60_000, load: source.load });
    const answers = Array.from({ length: 50 }, () => cache.get('k'));
    source.release();
    assert.deepEqual(new Set(await Promise.all(answers)), new Set(['k@0']));
    assert.deepEqual(source.calls, ['k']);
    assert.equal(await cache.get('k'), 'k@0');
    assert.deepEqual(source.calls, ['k'], 'kept after loading');
  });

  test('past its bound it drops the least recently used entry, not the oldest insert', async () => {
    const loads: string[] = [];
    const cache = localCache({
      max: 2,
      ttlMs: 60_000,
      load: async (key) => {
        loads.push(key);
        return key;
      },
    });
    await cache.get('a');
    await cache.get('b');
    await cache.get('a'); // a is now the most recently used
    await cache.get('c'); // evicts b
    loads.length = 0;
    await cache.get('a');
    await cache.get('b');
    assert.deepEqual(loads, ['b']);
  });

  test('entries expire after the TTL', async () => {
    let loads = 0;
    const cache = localCache({ max: 10, ttlMs: 30, load: async () => ++loads });
    assert.equal(await cache.get('k'), 1);
    assert.equal(await cache.get('k'), 1);
    await sleep(60);
    assert.equal(cache.peek('k'), undefined, 'peek does not answer an expired entry');
    assert.equal(await cache.get('k'), 2);
  });

  test('a load under way when the entry is deleted answers its callers but is not kept', async () => {
    const source = controlledLoad();
    const cache = localCache({ max: 10, ttlMs: 60_000, load: source.load });
    const early = cache.get('k');
    source.bump(); // the data changes...
    cache.delete('k'); // ...and the change is announced while the old read is under way
    const late = cache.get('k'); // a request after the change does not join the old read
    source.release();
    assert.equal(await early, 'k@0');
    assert.equal(await late, 'k@1');
    assert.equal(source.calls.length, 2);
    assert.equal(await cache.get('k'), 'k@1');
  });

  test('deleteWhere drops matching entries; keep decides what is cached; failures are not', async () => {
    let failNext = true;
    let loads = 0;
    const cache = localCache<{ owner: string } | null>({
      max: 10,
      ttlMs: 60_000,
      load: async (key) => {
        loads += 1;
        if (key === 'flaky' && failNext) {
          failNext = false;
          throw new Error('database down');
        }
        return key === 'missing' ? null : { owner: key.split(':')[0] ?? '' };
      },
      keep: (value) => value !== null,
    });
    await cache.get('ada:1');
    await cache.get('ada:2');
    await cache.get('bob:1');
    cache.deleteWhere((value) => value?.owner === 'ada');
    loads = 0;
    await cache.get('ada:1');
    await cache.get('bob:1');
    assert.equal(loads, 1, 'only the deleted entry is read again');
    await cache.get('missing');
    await cache.get('missing');
    assert.equal(loads, 3, 'a value not kept is loaded every time');
    await assert.rejects(cache.get('flaky'), /database down/);
    assert.deepEqual(await cache.get('flaky'), { owner: 'flaky' });
  });
});
