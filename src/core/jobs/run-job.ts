import type { z } from 'zod';
import type { Logger } from '../logger.ts';
import { inSpan, SpanKind } from '../tracing.ts';
import type { JobContext, JobDefinition, JobRuntime } from './define-job.ts';
import { PermanentJobError } from './define-job.ts';
import type { JobMeta } from './job-queue.ts';

export interface RunRequest<D extends JobRuntime> {
  definition: JobDefinition<z.ZodType, unknown, D>;
  jobId: string;
  /** This try: 1 on the first. */
  attempt: number;
  /** Tries the job gets in all; this one is the last when `attempt` reaches it. */
  maxAttempts: number;
  input: unknown;
  meta: JobMeta;
  deps: D;
  /** Aborted when the worker stops. */
  shutdown: AbortSignal;
  /**
   * Aborted when this try must stop though the worker goes on: its lock was lost, so the
   * queue may already have handed the job to another try.
   */
  cancelled?: AbortSignal;
  progress(percent: number): Promise<void>;
}

/**
 * Runs one try of a job, the same way for every driver: the input is validated again (it
 * may have been stored by an older version of the code), the try is aborted after the
 * job's timeout or when the worker stops, and a failed try is logged.
 */
export async function runJobOnce<D extends JobRuntime>(request: RunRequest<D>): Promise<unknown> {
  const { definition, deps } = request;
  // The job's name and id, and the request that enqueued it; never its input, which may
  // hold personal data (and is in Redis for whoever needs it).
  const logger = deps.logger.child({
    job: definition.name,
    jobId: request.jobId,
    requestId: request.meta.requestId,
  });
  const parsed = definition.input.safeParse(request.input);
  if (!parsed.success) {
    const error = new PermanentJobError(
      `Invalid input for ${definition.name}: ${parsed.error.message}`,
    );
    logFailedTry(logger, request, error);
    throw error;
  }
  // One controller, its timer and its listeners released when the try ends.
  // (`AbortSignal.any` with `AbortSignal.timeout` cost 13 µs a try, and left each try's
  // timer alive for the whole timeout after it had finished.) The stop ends the race itself
  // rather than through a listener on the signal it aborts.
  const controller = new AbortController();
  const { signal } = controller;
  let endRace: (reason: Error) => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    endRace = reject;
  });
  // Raced below; handled here too, for a stop before the race has started.
  aborted.catch(() => {});
  const stop = (reason: Error) => {
    if (signal.aborted) return;
    controller.abort(reason);
    endRace(reason);
  };
  const timer = setTimeout(
    () => stop(new Error(`The job ran longer than its ${definition.timeoutMs} ms timeout`)),
    definition.timeoutMs,
  );
  timer.unref();
  const releaseShutdown = stopWith(
    stop,
    request.shutdown,
    () => new Error('The worker stopped before the job finished'),
  );
  const releaseCancel = stopWith(
    stop,
    request.cancelled,
    (reason) => new Error(`The job's try was cancelled: ${String(reason)}`),
  );
  const context: JobContext<D> = {
    jobId: request.jobId,
    attempt: request.attempt,
    logger,
    signal,
    deps,
    progress: (percent) => request.progress(Math.max(0, Math.min(100, Math.round(percent)))),
    ownerId: request.meta.ownerId,
  };
  const attributes = {
    'job.name': definition.name,
    'job.id': request.jobId,
    'job.attempt': request.attempt,
  };
  // The job's span continues the trace of the request that enqueued it, in whatever process;
  // the failure is logged inside it, so the line carries the trace id.
  try {
    return await inSpan(
      `job ${definition.name}`,
      request.meta.trace,
      attributes,
      SpanKind.CONSUMER,
      () =>
        runMeasured(definition, deps, parsed.data, context, aborted, (error) =>
          logFailedTry(logger, request, error),
        ),
    );
  } finally {
    clearTimeout(timer);
    releaseShutdown();
    releaseCancel();
  }
}

/**
 * Calls `stop` with `error(source.reason)` when `source` aborts (at once if it has); returns
 * what removes the listener.
 */
function stopWith(
  stop: (reason: Error) => void,
  source: AbortSignal | undefined,
  error: (reason: unknown) => Error,
): () => void {
  if (!source) return () => {};
  const onAbort = () => stop(error(source.reason));
  if (source.aborted) onAbort();
  else source.addEventListener('abort', onAbort, { once: true });
  return () => source.removeEventListener('abort', onAbort);
}

/**
 * One line per failed try, so a failure is seen where it happens, not only counted: a
 * warning while the job will be tried again, an error when this was its last try or the
 * failure is permanent. A try cut off by the worker stopping is not the job's fault: the
 * job goes back to the queue (BullMQ), so it is a warning.
 */
function logFailedTry<D extends JobRuntime>(
  logger: Logger,
  request: RunRequest<D>,
  error: unknown,
): void {
  const { attempt, maxAttempts } = request;
  const fields = { err: error, attempt, maxAttempts };
  if (request.shutdown.aborted) {
    logger.warn(fields, 'job try stopped by the worker shutting down');
  } else if (request.cancelled?.aborted) {
    logger.warn(fields, 'job try cancelled: its lock was lost');
  } else if (error instanceof PermanentJobError) {
    logger.error(fields, 'job failed for good (permanent error)');
  } else if (attempt >= maxAttempts) {
    logger.error(fields, 'job failed on its last try');
  } else {
    logger.warn(fields, 'job try failed; it will be retried');
  }
}

async function runMeasured<D extends JobRuntime>(
  definition: JobDefinition<z.ZodType, unknown, D>,
  deps: D,
  input: unknown,
  context: JobContext<D>,
  aborted: Promise<never>,
  onFailure: (error: unknown) => void,
): Promise<unknown> {
  const started = performance.now();
  const record = (outcome: 'completed' | 'failed') => {
    const labels = { job: definition.name, outcome };
    deps.metrics.jobRuns.inc(labels);
    deps.metrics.jobDuration.observe(labels, (performance.now() - started) / 1000);
  };
  try {
    // A job that ignores its signal cannot hold the worker past the timeout.
    const result = await Promise.race([definition.run(input, context), aborted]);
    record('completed');
    return result;
  } catch (error) {
    record('failed');
    onFailure(error);
    throw error;
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
