import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './app-env.ts';
import type { BackgroundTasks } from './background-tasks.ts';

interface NodeBindings {
  outgoing?: {
    writableFinished: boolean;
    once(event: 'finish' | 'close', listener: () => void): unknown;
  };
}

/**
 * Gives handlers `c.get('defer')(name, task)`: the tasks start once the response has been
 * written out (or right after the handler, in `app.request()` tests, which have no socket).
 */
export function deferredTasks(background: BackgroundTasks): MiddlewareHandler<AppEnv> {
  return async function deferredTasks(c, next) {
    const tasks: [string, () => Promise<void>][] = [];
    c.set('defer', (name, task) => {
      tasks.push([name, task]);
    });
    await next();
    if (tasks.length === 0) return;
    const logger = c.get('logger');
    const start = () => {
      for (const [name, task] of tasks) background.run(name, task, logger);
    };
    const outgoing = (c.env as NodeBindings | undefined)?.outgoing;
    // 'close' fires after the last byte is handed to the socket, and also when the client left.
    if (outgoing && !outgoing.writableFinished) outgoing.once('close', start);
    else setImmediate(start);
  };
}
