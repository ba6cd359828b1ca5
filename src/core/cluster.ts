import cluster, { type Worker } from 'node:cluster';
import type { Logger } from './logger.ts';

/**
 * The primary process of `WEB_CONCURRENCY` > 1, as gunicorn's master: forks `count` API
 * processes that share the listening port, replaces any that dies, and on SIGTERM or SIGINT
 * passes the signal on and exits once every process has drained (or after `timeoutMs`).
 * A process that dies before any has listened failed at start (a port in use, say): another
 * would fail the same way, so the primary stops the rest and exits with its code.
 */
export function superviseWorkers(count: number, timeoutMs: number, logger: Logger): void {
  let stopping = false;
  let listened = false;
  const fork = () => {
    const worker = cluster.fork();
    worker.once('listening', () => {
      listened = true;
    });
    worker.on('exit', (code, signal) => onExit(worker, code, signal));
  };
  const restarts: number[] = [];
  function onExit(worker: Worker, code: number | null, signal: string | null): void {
    if (stopping) return;
    if (!listened) {
      // It said why on the standard error it shares with this process.
      stopping = true;
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGKILL');
      process.exit(code || 1);
    }
    logger.error({ pid: worker.process.pid, code, signal }, 'API process died; starting another');
    // A process that dies at once would be restarted in a tight loop: back off.
    const now = Date.now();
    restarts.push(now);
    while (restarts.length > 0 && (restarts[0] ?? now) < now - 60_000) restarts.shift();
    setTimeout(fork, Math.min(30_000, 100 * 2 ** Math.min(restarts.length, 8)));
  }
  for (let index = 0; index < count; index += 1) fork();
  logger.info({ processes: count }, 'API processes starting');

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping API processes');
    const workers = Object.values(cluster.workers ?? {}).filter(
      (worker): worker is Worker => worker !== undefined,
    );
    for (const worker of workers) worker.process.kill('SIGTERM');
    const deadline = setTimeout(() => {
      for (const worker of workers) worker.process.kill('SIGKILL');
      process.exit(1);
    }, timeoutMs + 5_000);
    void Promise.all(
      workers.map(
        (worker) =>
          new Promise((resolve) =>
            worker.isDead() ? resolve(undefined) : worker.once('exit', resolve),
          ),
      ),
    ).then(() => {
      clearTimeout(deadline);
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export const isClusterPrimary = () => cluster.isPrimary;
