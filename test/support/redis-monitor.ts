/**
 * What Redis is sent, as its `MONITOR` reports it: for tests that count the commands a
 * piece of code sends, not only their effect.
 *
 * @example
 * const deletes = await watchCommands(/^del$/i, prefix);
 * after(() => deletes.close());
 * // …
 * assert.equal(deletes.seen.length, 1);
 */
import { Redis } from 'ioredis';
import { TEST_REDIS_URL } from './deps.ts';

export interface WatchedCommands {
  /** Each matching command, its name first, in the order Redis received them. */
  seen: string[][];
  close(): void;
}

/** Commands named as `name` matches that touch a key under `prefix`. */
export async function watchCommands(name: RegExp, prefix: string): Promise<WatchedCommands> {
  const connection = new Redis(TEST_REDIS_URL);
  const monitor = await connection.monitor();
  const seen: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (name.test(args[0] ?? '') && args.some((arg) => arg.startsWith(prefix))) seen.push(args);
  });
  return {
    seen,
    close() {
      monitor.disconnect();
      connection.disconnect();
    },
  };
}
