import type { Context } from 'hono';
import type { AppEnv } from './app-env.ts';
import type { BackgroundTasks } from './background-tasks.ts';
import { nodeBindingsOf } from './node-response.ts';

/** The tasks a request deferred, not started yet. */
export type DeferredTasks = [string, () => Promise<void>][];

/** Gives handlers `c.get('defer')(name, task)`; returns where the tasks are kept. */
export function acceptDeferredTasks(c: Context<AppEnv>): DeferredTasks {
  const tasks: DeferredTasks = [];
  c.set('defer', (name, task) => {
    tasks.push([name, task]);
  });
  return tasks;
}

/**
 * Starts a request's deferred tasks once its response has been written out (or at once in
 * `app.request()` tests, which have no socket).
 */
export function runAfterAnswer(
  c: Context<AppEnv>,
  tasks: DeferredTasks,
  background: BackgroundTasks,
): void {
  if (tasks.length === 0) return;
  const logger = c.get('logger');
  const start = () => {
    for (const [name, task] of tasks) background.run(name, task, logger);
  };
  const outgoing = nodeBindingsOf(c)?.outgoing;
  // 'close' fires after the last byte is handed to the socket, and also when the client left.
  if (outgoing && !outgoing.writableFinished) outgoing.once('close', start);
  else setImmediate(start);
}
