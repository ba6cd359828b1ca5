import type { Deps } from '../../deps.ts';
import { inSpan, SpanKind } from '../tracing.ts';
import type { JobContext, JobDefinition } from './define-job.ts';
import { PermanentJobError } from './define-job.ts';
import type { JobMeta } from './job-queue.ts';

export interface RunRequest {
  definition: JobDefinition;
  jobId: string;
  attempt: number;
  input: unknown;
  meta: JobMeta;
  deps: Deps;
  /** Aborted when the worker stops. */
  shutdown: AbortSignal;
  progress(percent: number): Promise<void>;
}

/**
 * Runs one try of a job, the same way for every driver: the input is validated again (it
 * may have been stored by an older version of the code), and the try is aborted after the
 * job's timeout or when the worker stops.
 */
export async function runJobOnce(request: RunRequest): Promise<unknown> {
  const { definition, deps } = request;
  const parsed = definition.input.safeParse(request.input);
  if (!parsed.success) {
    throw new PermanentJobError(`Invalid input for ${definition.name}: ${parsed.error.message}`);
  }
  const signal = AbortSignal.any([request.shutdown, AbortSignal.timeout(definition.timeoutMs)]);
  const context: JobContext = {
    jobId: request.jobId,
    attempt: request.attempt,
    logger: deps.logger.child({
      job: definition.name,
      jobId: request.jobId,
      requestId: request.meta.requestId,
    }),
    signal,
    deps,
    progress: (percent) => request.progress(Math.max(0, Math.min(100, Math.round(percent)))),
    ownerId: request.meta.ownerId,
  };
  const aborted = new Promise<never>((_, reject) => {
    const fail = () =>
      reject(
        request.shutdown.aborted
          ? new Error('The worker stopped before the job finished')
          : new Error(`The job ran longer than its ${definition.timeoutMs} ms timeout`),
      );
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
  const attributes = {
    'job.name': definition.name,
    'job.id': request.jobId,
    'job.attempt': request.attempt,
  };
  // The job's span continues the trace of the request that enqueued it, in whatever process.
  return inSpan(`job ${definition.name}`, request.meta.trace, attributes, SpanKind.CONSUMER, () =>
    runMeasured(definition, deps, parsed.data, context, aborted),
  );
}

async function runMeasured(
  definition: JobDefinition,
  deps: Deps,
  input: unknown,
  context: JobContext,
  aborted: Promise<never>,
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
    throw error;
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
