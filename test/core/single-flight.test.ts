/**
 * Single flights: one behaviour suite run against Redis and against memory (one leader
 * among concurrent joins, followers get every part in order from the first, the end starts
 * a new flight, failures and silent leaders fail the followers, aborts end a follower's
 * reading at once), then what only Redis promises: one leader across connections, followers
 * in another process, a leader killed with -9, keys cleaned up, one blocking connection per
 * process, and what happens when Redis is unreachable or dies mid-flight.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis as RedisServer } from 'ioredis';
import { createRedis, type Redis, waitForRedis } from '../../src/core/redis.ts';
import {
  type Flight,
  FlightFailedError,
  type FlightFollower,
  type FlightLeader,
  memorySharedFlights,
  redisSharedFlights,
  type SharedFlights,
} from '../../src/core/single-flight.ts';
import { deleteRedisKeys, TEST_REDIS_URL } from '../support/deps.ts';
import { waitFor } from '../support/jobs.ts';
import {
  closedPort,
  freePort,
  killAllServices,
  type ServiceProcess,
  spawnService,
} from '../support/processes.ts';

const prefix = `test:flights:${randomBytes(6).toString('hex')}:`;
const connections: Redis[] = [];
const opened: SharedFlights[] = [];

/** A connection under this file's prefix, fail-fast as the app's are; ready unless `down`. */
async function connect(
  url = TEST_REDIS_URL,
  options: { name?: string; down?: boolean } = {},
): Promise<Redis> {
  const base = createRedis({ url, keyPrefix: prefix, role: 'request' });
  assert.ok(base instanceof RedisServer, 'one server, not a cluster');
  // A name in the options, which duplicates (the followers' reader) inherit.
  const redis = options.name ? base.duplicate({ connectionName: options.name }) : base;
  if (options.name) base.disconnect();
  connections.push(redis);
  if (options.down) return redis;
  assert.ok(await waitForRedis(redis, 10_000), 'Redis is up');
  return redis;
}

function track(flights: SharedFlights): SharedFlights {
  opened.push(flights);
  return flights;
}

after(async () => {
  await killAllServices();
  await Promise.all(opened.map((flights) => flights.close()));
  // Not closeRedis: a connection to a server that is gone stays reconnecting after QUIT.
  for (const redis of connections) redis.disconnect();
  await deleteRedisKeys(prefix);
});

const newKey = () => `k-${randomBytes(4).toString('hex')}`;

function asLeader(flight: Flight | undefined): FlightLeader {
  assert.equal(flight?.role, 'leader');
  return flight;
}

function asFollower(flight: Flight | undefined): FlightFollower {
  assert.equal(flight?.role, 'follower');
  return flight;
}

/** Everything a follower reads, and how its reading ended. */
/** Reads a follower to its end; `parts` fills as they come, for a test that watches them. */
async function collect(follower: FlightFollower, parts: string[] = []) {
  try {
    for await (const part of follower.parts) parts.push(part);
    return { parts, error: undefined, at: performance.now() };
  } catch (error) {
    return { parts, error, at: performance.now() };
  }
}

function behaviourSuite(name: string, make: () => Promise<SharedFlights>) {
  describe(`${name}: behaviour`, { timeout: 30_000 }, () => {
    let flights: SharedFlights;
    before(async () => {
      flights = track(await make());
    });

    test('20 concurrent joins: one leader; 19 followers each get every part, in order', async () => {
      const key = newKey();
      const joined = await Promise.all(
        Array.from({ length: 20 }, () => flights.join(key, { ttlMs: 5_000 })),
      );
      const leaders = joined.filter((flight) => flight.role === 'leader');
      const followers = joined.filter((flight) => flight.role === 'follower');
      assert.equal(leaders.length, 1);
      assert.equal(followers.length, 19);
      const reading = followers.map((follower) => collect(follower));
      const leader = asLeader(leaders[0]);
      const parts = Array.from({ length: 30 }, (_, i) => `part ${i} ${'é'.repeat(i)}`);
      for (const [i, part] of parts.entries()) {
        await leader.publish(part);
        if (i % 5 === 0) await sleep(5);
      }
      await leader.finish();
      for (const result of await Promise.all(reading)) {
        assert.equal(result.error, undefined);
        assert.deepEqual(result.parts, parts);
      }
    });

    test('a follower joining after some parts still gets them all, from the first', async () => {
      const key = newKey();
      const leader = asLeader(await flights.join(key, { ttlMs: 5_000 }));
      await leader.publish('one');
      await leader.publish('two');
      const early = asFollower(await flights.join(key, { ttlMs: 5_000 }));
      const earlyReading = collect(early);
      await leader.publish('three');
      await sleep(50);
      const late = asFollower(await flights.join(key, { ttlMs: 5_000 }));
      const lateReading = collect(late);
      await leader.publish('four');
      await leader.finish();
      assert.deepEqual((await earlyReading).parts, ['one', 'two', 'three', 'four']);
      assert.deepEqual((await lateReading).parts, ['one', 'two', 'three', 'four']);
    });

    test('a flight with no parts ends empty', async () => {
      const key = newKey();
      const leader = asLeader(await flights.join(key, { ttlMs: 5_000 }));
      const reading = collect(asFollower(await flights.join(key, { ttlMs: 5_000 })));
      await leader.finish();
      assert.deepEqual(await reading, { ...(await reading), parts: [], error: undefined });
    });

    test('after the end, the next join starts a new flight, which never shows the old parts', async () => {
      const key = newKey();
      const first = asLeader(await flights.join(key, { ttlMs: 5_000 }));
      await first.publish('old');
      await first.finish();
      const second = asLeader(await flights.join(key, { ttlMs: 5_000 }));
      const reading = collect(asFollower(await flights.join(key, { ttlMs: 5_000 })));
      await second.publish('new');
      await second.finish();
      assert.deepEqual((await reading).parts, ['new']);
      // After a failure too.
      const third = asLeader(await flights.join(key, { ttlMs: 5_000 }));
      await third.fail('upstream said no');
      asLeader(await flights.join(key, { ttlMs: 5_000 }));
    });

    test('a leader that fails fails its followers with the reason, after the parts before it', async () => {
      const key = newKey();
      const leader = asLeader(await flights.join(key, { ttlMs: 5_000 }));
      const followers = await Promise.all([1, 2, 3].map(() => flights.join(key, { ttlMs: 5_000 })));
      const readings = followers.map((flight) => collect(asFollower(flight)));
      await leader.publish('partial');
      await leader.fail('upstream timed out');
      for (const result of await Promise.all(readings)) {
        assert.deepEqual(result.parts, ['partial']);
        assert.ok(result.error instanceof FlightFailedError, String(result.error));
        assert.match(result.error.message, /upstream timed out/);
      }
    });

    test('a leader that goes silent for longer than ttlMs fails its followers, within about ttlMs', async () => {
      const ttlMs = 400;
      const key = newKey();
      const leader = asLeader(await flights.join(key, { ttlMs }));
      const reading = collect(asFollower(await flights.join(key, { ttlMs })));
      await leader.publish('last words');
      const silentSince = performance.now();
      // The leader stops here, as a killed one would.
      const result = await reading;
      assert.deepEqual(result.parts, ['last words']);
      assert.ok(result.error instanceof FlightFailedError, String(result.error));
      assert.match(result.error.message, /silent/);
      const waited = result.at - silentSince;
      assert.ok(waited >= ttlMs - 50, `failed after ${waited} ms, before the lead expired`);
      assert.ok(waited < ttlMs + 2_000, `failed only after ${waited} ms`);
      // Its lead is gone: what it publishes now reaches no one, and the next join leads.
      await leader.publish('too late');
      await leader.finish();
      const next = asLeader(await flights.join(key, { ttlMs }));
      await next.finish();
    });

    test('publishing renews the lead: a leader slower than ttlMs overall but never silent that long keeps its followers', async () => {
      const ttlMs = 400;
      const key = newKey();
      const leader = asLeader(await flights.join(key, { ttlMs }));
      const reading = collect(asFollower(await flights.join(key, { ttlMs })));
      const parts: string[] = [];
      for (let i = 0; i < 10; i++) {
        await sleep(ttlMs / 4);
        parts.push(String(i));
        await leader.publish(String(i));
      }
      await leader.finish();
      const result = await reading;
      assert.equal(result.error, undefined);
      assert.deepEqual(result.parts, parts);
    });

    test("aborting a follower's signal ends its reading at once; the others read on", async () => {
      const key = newKey();
      const leader = asLeader(await flights.join(key, { ttlMs: 30_000 }));
      const controller = new AbortController();
      const leaving = collect(
        asFollower(await flights.join(key, { ttlMs: 30_000, signal: controller.signal })),
      );
      const staying = collect(asFollower(await flights.join(key, { ttlMs: 30_000 })));
      await leader.publish('before');
      await sleep(100);
      const reason = new Error('the client went away');
      const abortedAt = performance.now();
      controller.abort(reason);
      const left = await leaving;
      assert.equal(left.error, reason);
      assert.deepEqual(left.parts, ['before']);
      assert.ok(left.at - abortedAt < 1_000, `ended ${left.at - abortedAt} ms after the abort`);
      await leader.publish('after');
      await leader.finish();
      assert.deepEqual((await staying).parts, ['before', 'after']);
    });

    test('closing fails the followers still reading', async () => {
      const own = track(await make());
      const key = newKey();
      const leader = asLeader(await own.join(key, { ttlMs: 30_000 }));
      const received: string[] = [];
      const reading = collect(asFollower(await own.join(key, { ttlMs: 30_000 })), received);
      await leader.publish('one');
      // Closed once the part is read (a fixed wait lost the race on a loaded machine).
      while (!received.includes('one')) await sleep(10);
      await own.close();
      const result = await reading;
      assert.deepEqual(result.parts, ['one']);
      assert.ok(result.error instanceof FlightFailedError, String(result.error));
      assert.match(result.error.message, /closed/);
      await leader.finish();
    });

    test('an aborted signal refuses the join', async () => {
      const signal = AbortSignal.abort(new Error('gone already'));
      await assert.rejects(flights.join(newKey(), { ttlMs: 1_000, signal }), /gone already/);
    });

    test('a leader cannot publish after its end, and ending twice does nothing', async () => {
      const leader = asLeader(await flights.join(newKey(), { ttlMs: 5_000 }));
      await leader.finish();
      await leader.finish();
      await leader.fail('late');
      await assert.rejects(leader.publish('late'), /after the flight was finished/);
      await assert.rejects(flights.join(newKey(), { ttlMs: 0 }), RangeError);
    });
  });
}

behaviourSuite('Redis', async () => redisSharedFlights(await connect()));
behaviourSuite('memory', async () => memorySharedFlights());

/** The keys of this file's Redis prefix that match `pattern` (the prefix left off). */
async function keysMatching(raw: Redis, pattern: string): Promise<string[]> {
  const keys = await raw.keys(`${prefix}${pattern}`);
  return keys.map((key) => key.slice(prefix.length)).sort();
}

describe('Redis: across connections and processes', { timeout: 60_000 }, () => {
  let raw: Redis;
  before(async () => {
    raw = await connect();
  });

  test('20 joins over 4 connections: one leader in all', async () => {
    const sides = await Promise.all(
      Array.from({ length: 4 }, async () => track(redisSharedFlights(await connect()))),
    );
    const key = newKey();
    const joined = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sides[i % 4]?.join(key, { ttlMs: 5_000 })),
    );
    assert.equal(joined.filter((flight) => flight?.role === 'leader').length, 1);
    const leader = asLeader(joined.find((flight) => flight?.role === 'leader'));
    const readings = joined
      .filter((flight) => flight?.role === 'follower')
      .map((flight) => collect(asFollower(flight)));
    await leader.publish('a');
    await leader.publish('b');
    await leader.finish();
    for (const result of await Promise.all(readings)) assert.deepEqual(result.parts, ['a', 'b']);
  });

  /** A `test/support/flight-process.ts` process on this file's prefix. */
  function flightProcess(key: string, env: Record<string, string> = {}): ServiceProcess {
    return spawnService('test/support/flight-process.ts', {
      REDIS_KEY_PREFIX: prefix,
      FLIGHT_KEY: key,
      FLIGHT_TTL_MS: '5000',
      LOG_LEVEL: 'silent',
      ...env,
    });
  }

  const event =
    (name: string) =>
    (record: Record<string, unknown>): boolean =>
      record.event === name;

  test('followers in other processes receive the same parts, from the first', async () => {
    const key = newKey();
    const flights = track(redisSharedFlights(await connect()));
    const leader = asLeader(await flights.join(key, { ttlMs: 5_000 }));
    await leader.publish('first');
    const children = [flightProcess(key), flightProcess(key)];
    for (const child of children) {
      const joined = await child.waitForRecord('joined', event('joined'));
      assert.equal(joined.role, 'follower');
    }
    const local = collect(asFollower(await flights.join(key, { ttlMs: 5_000 })));
    const parts = ['first', ...Array.from({ length: 20 }, (_, i) => `part ${i}`)];
    for (const part of parts.slice(1)) await leader.publish(part);
    await leader.finish();
    for (const child of children) {
      const ended = await child.waitForRecord('ended', event('ended'));
      assert.deepEqual(ended.parts, parts);
    }
    assert.deepEqual((await local).parts, parts);
  });

  test('a leader killed with -9 fails the followers of every process within about ttlMs', async () => {
    const key = newKey();
    const ttlMs = 600;
    // The leader writes a part every 100 ms until it is killed, each renewing its lead: a
    // follower process that takes longer than ttlMs to start still finds it leading.
    const published = Array.from({ length: 300 }, (_, at) => `p${at}`);
    const leader = flightProcess(key, {
      FLIGHT_TTL_MS: String(ttlMs),
      FLIGHT_PARTS: JSON.stringify(published),
      FLIGHT_PART_DELAY_MS: '100',
      FLIGHT_FINISH: 'false',
    });
    assert.equal((await leader.waitForRecord('joined', event('joined'))).role, 'leader');
    await leader.waitForRecord('the first part', event('published'));
    const remote = flightProcess(key, { FLIGHT_TTL_MS: String(ttlMs) });
    assert.equal((await remote.waitForRecord('joined', event('joined'))).role, 'follower');
    const flights = track(redisSharedFlights(await connect()));
    const local = collect(asFollower(await flights.join(key, { ttlMs })));
    const read = await remote.waitForRecord('a part read after joining', event('part'));
    await remote.waitForRecord('the next part', (record) => record.part !== read.part);
    leader.child.kill('SIGKILL');
    const killedAt = performance.now();
    await leader.exited;

    // Each follower has the parts from the first, up to one the leader wrote before it died.
    const fromTheFirst = (parts: unknown) =>
      Array.isArray(parts) &&
      parts.length >= 2 &&
      parts.every((part, at) => part === published[at]);
    const result = await local;
    assert.ok(fromTheFirst(result.parts), result.parts.join(' '));
    assert.ok(result.error instanceof FlightFailedError, String(result.error));
    assert.ok(result.at - killedAt < ttlMs + 2_000, `failed ${result.at - killedAt} ms after`);
    const failed = await remote.waitForRecord('failed', event('failed'));
    assert.equal(failed.name, 'FlightFailedError');
    assert.ok(fromTheFirst(failed.parts), String(failed.parts));
    // Nothing is left behind, and the key can lead again.
    await sleep(ttlMs);
    assert.deepEqual(await keysMatching(raw, `{flight}:${key}:*`), []);
    asLeader(await flights.join(key, { ttlMs }));
  });
});

describe('Redis: keys and connections', { timeout: 30_000 }, () => {
  let raw: Redis;
  before(async () => {
    raw = await connect();
  });

  test('a flight is its lead and one stream; the end frees the lead and the stream expires', async () => {
    const flights = track(redisSharedFlights(await connect()));
    const key = newKey();
    const ttlMs = 500;
    const leader = asLeader(await flights.join(key, { ttlMs }));
    const flightId = await raw.get(`{flight}:${key}:lead`);
    assert.ok(flightId, 'the lead holds the flight id');
    const lead = await raw.pttl(`{flight}:${key}:lead`);
    assert.ok(lead > 0 && lead <= ttlMs, `the lead expires: PTTL ${lead}`);
    await leader.publish('p');
    const stream = `{flight}:${key}:parts:${flightId}`;
    assert.deepEqual(await keysMatching(raw, `{flight}:${key}:*`), [
      `{flight}:${key}:lead`,
      stream,
    ]);
    const streamTtl = await raw.pttl(stream);
    assert.ok(streamTtl > 0 && streamTtl <= ttlMs, `the stream expires: PTTL ${streamTtl}`);
    await leader.finish();
    assert.deepEqual(await keysMatching(raw, `{flight}:${key}:*`), [stream], 'the lead is freed');
    await sleep(ttlMs + 200);
    assert.deepEqual(await keysMatching(raw, `{flight}:${key}:*`), [], 'nothing left behind');
  });

  test('followers of many flights share one blocking connection, and never hold up the shared one', async () => {
    const name = `flights-${randomBytes(4).toString('hex')}`;
    const shared = await connect(TEST_REDIS_URL, { name });
    await shared.ping();
    // Reads block for 10 s: a PING queued behind one would wait seconds, not milliseconds.
    const flights = track(redisSharedFlights(shared, { blockMs: 10_000 }));
    const otherSide = track(redisSharedFlights(await connect()));
    const keys = Array.from({ length: 5 }, newKey);
    const leaders = await Promise.all(keys.map((key) => otherSide.join(key, { ttlMs: 10_000 })));
    const readings = (
      await Promise.all(
        keys.flatMap((key) =>
          Array.from({ length: 4 }, () => flights.join(key, { ttlMs: 10_000 })),
        ),
      )
    ).map((flight) => collect(asFollower(flight)));
    await sleep(200);
    const clients = String(await raw.client('LIST'))
      .split('\n')
      .filter((line) => line.includes(` name=${name} `));
    assert.equal(clients.length, 2, `the shared connection and one reader:\n${clients.join('\n')}`);
    assert.equal(clients.filter((line) => line.includes('cmd=xread')).length, 1);
    // The shared connection answers while the read blocks.
    const started = performance.now();
    await shared.ping();
    assert.ok(performance.now() - started < 5_000, 'PING waited on a blocked read');
    for (const leader of leaders) {
      await asLeader(leader).publish('done');
      await asLeader(leader).finish();
    }
    for (const result of await Promise.all(readings)) assert.deepEqual(result.parts, ['done']);
    // With nothing left to follow, the reader's connection goes.
    await sleep(1_500);
    const left = String(await raw.client('LIST'))
      .split('\n')
      .filter((line) => line.includes(` name=${name} `));
    assert.equal(left.length, 1, left.join('\n'));
  });
});

describe('Redis: a new follower does not wait for the read under way', { timeout: 30_000 }, () => {
  test('a follower joining while the reader blocks on other streams gets its parts at once', async () => {
    // Reads block for 20 s here: without waking the read under way, the new stream would
    // wait that long to be read.
    const flights = track(redisSharedFlights(await connect(), { blockMs: 20_000 }));
    const otherSide = track(redisSharedFlights(await connect()));
    const first = newKey();
    const firstLeader = asLeader(await otherSide.join(first, { ttlMs: 30_000 }));
    const firstReading = collect(asFollower(await flights.join(first, { ttlMs: 30_000 })));
    await sleep(200); // the reader is blocked on the first stream now
    const second = newKey();
    const secondLeader = asLeader(await otherSide.join(second, { ttlMs: 30_000 }));
    const follower = asFollower(await flights.join(second, { ttlMs: 30_000 }));
    const parts = follower.parts[Symbol.asyncIterator]();
    const started = performance.now();
    await secondLeader.publish('hello');
    // The flight goes on: only the read can bring the part (a finished flight's parts would
    // also come through the follower's check of the lead).
    assert.deepEqual(await parts.next(), { value: 'hello', done: false });
    const waited = performance.now() - started;
    assert.ok(waited < 5_000, `read after ${waited} ms`);
    await secondLeader.finish();
    assert.deepEqual(await parts.next(), { value: undefined, done: true });
    await firstLeader.finish();
    assert.deepEqual((await firstReading).parts, []);
  });
});

/** A Redis server of this test's own, to kill. */
async function privateRedis(): Promise<{ url: string; process: ChildProcess }> {
  const port = await freePort();
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const url = `redis://127.0.0.1:${port}`;
  const probe = createRedis({ url, keyPrefix: '', role: 'worker' });
  try {
    await probe.ping();
  } finally {
    probe.disconnect();
  }
  return { url, process: server };
}

describe('Redis unavailable', { timeout: 30_000 }, () => {
  test('a join when Redis is unreachable leads alone: the work goes on, unshared', async () => {
    let failures = 0;
    const down = await connect(`redis://127.0.0.1:${await closedPort()}`, { down: true });
    const flights = track(
      redisSharedFlights(down, {
        onFailure: () => {
          failures += 1;
        },
      }),
    );
    const leader = asLeader(await flights.join(newKey(), { ttlMs: 1_000 }));
    await leader.publish('nobody hears this');
    await leader.finish();
    assert.equal(failures, 1);
  });

  test('Redis dying mid-flight fails the followers within about ttlMs; the leader never throws', async () => {
    const server = await privateRedis();
    try {
      const ttlMs = 500;
      const leaderSide = track(redisSharedFlights(await connect(server.url)));
      const followerSide = track(redisSharedFlights(await connect(server.url)));
      const key = newKey();
      const leader = asLeader(await leaderSide.join(key, { ttlMs }));
      const read: string[] = [];
      const reading = collect(asFollower(await followerSide.join(key, { ttlMs })), read);
      await leader.publish('before');
      // Killed only once the follower has the part: a busy machine can take longer than any
      // fixed wait to deliver it.
      await waitFor('the follower to read the first part', () => read.length > 0, {
        intervalMs: 5,
        timeoutMs: 10_000,
      });
      server.process.kill('SIGKILL');
      const killedAt = performance.now();
      await leader.publish('lost');
      await leader.finish();
      const result = await reading;
      assert.deepEqual(result.parts, ['before']);
      assert.ok(result.error instanceof FlightFailedError, String(result.error));
      assert.ok(result.at - killedAt < ttlMs + 3_000, `failed ${result.at - killedAt} ms after`);
    } finally {
      server.process.kill('SIGKILL');
    }
  });
});
