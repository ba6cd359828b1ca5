import type { Logger } from './logger.ts';

/**
 * FastAPI's `BackgroundTasks`: small work that runs after the response is sent (a welcome
 * log line, a cache warm-up), too small for a durable job. Tasks are tracked, so shutdown
 * waits for them; a failure is logged, never shown to the client.
 */
export interface BackgroundTasks {
  run(name: string, task: () => Promise<void>, logger: Logger): void;
  /** Waits for running tasks, at most `timeoutMs`. */
  drain(timeoutMs: number): Promise<void>;
}

export function createBackgroundTasks(): BackgroundTasks {
  const running = new Set<Promise<void>>();
  return {
    run(name, task, logger) {
      const done = task()
        .catch((error: unknown) =>
          logger.error({ err: error, task: name }, 'background task failed'),
        )
        .finally(() => running.delete(done));
      running.add(done);
    },
    async drain(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([Promise.allSettled(running), deadline]);
      clearTimeout(timer);
    },
  };
}
