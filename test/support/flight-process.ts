/**
 * A process that joins one shared flight through Redis, for the single-flight tests that
 * need a second process (spawned with `spawnService`). It prints one JSON line per event:
 * `joined` (with its role), then as a follower `part` per part and `ended` or `failed`; as
 * a leader `published` after each part of `FLIGHT_PARTS`, then `finished`, unless
 * `FLIGHT_FINISH=false` makes it wait to be killed.
 *
 *   REDIS_URL=... REDIS_KEY_PREFIX=... FLIGHT_KEY=k FLIGHT_TTL_MS=500 \
 *     node --import ./src/preload.ts test/support/flight-process.ts
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedis, waitForRedis } from '../../src/core/redis.ts';
import { redisSharedFlights } from '../../src/core/single-flight.ts';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is required`);
  return value;
};
const print = (record: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ pid: process.pid, ...record })}\n`);

const redis = createRedis({
  url: env('REDIS_URL'),
  keyPrefix: env('REDIS_KEY_PREFIX'),
  role: 'request',
});
// The connection fails fast, as the app's do: a join before it is ready would lead alone.
if (!(await waitForRedis(redis, 10_000))) throw new Error('Redis is not there');
const flights = redisSharedFlights(redis);
const flight = await flights.join(env('FLIGHT_KEY'), { ttlMs: Number(env('FLIGHT_TTL_MS')) });
print({ event: 'joined', role: flight.role });

if (flight.role === 'follower') {
  const parts: string[] = [];
  try {
    for await (const part of flight.parts) {
      parts.push(part);
      print({ event: 'part', part });
    }
    print({ event: 'ended', parts });
  } catch (error) {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    print({ event: 'failed', name, message, parts });
  }
} else {
  const parts: unknown = JSON.parse(env('FLIGHT_PARTS', '[]'));
  if (!Array.isArray(parts)) throw new Error('FLIGHT_PARTS is a JSON array');
  for (const part of parts) {
    await flight.publish(String(part));
    print({ event: 'published', part: String(part) });
    await sleep(Number(env('FLIGHT_PART_DELAY_MS', '0')));
  }
  if (env('FLIGHT_FINISH', 'true') === 'false') {
    // Holding the lead without a word, until killed.
    await new Promise(() => setInterval(() => {}, 60_000));
  }
  await flight.finish();
  print({ event: 'finished' });
}
await flights.close();
redis.disconnect();
