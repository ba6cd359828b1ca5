import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { Histogram } from './histogram.ts';

/** Every metric the service records, in its own registry (so tests never share one). */
export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  httpInFlight: Gauge;
  jobRuns: Counter<'job' | 'outcome'>;
  jobDuration: Histogram<'job' | 'outcome'>;
  rateLimiterErrors: Counter;
  /** Set by the owner of the job queue: how many jobs wait, run, and so on. */
  setQueueDepth(collect: () => Promise<Record<string, Record<string, number>>>): void;
}

/**
 * Prometheus metrics: HTTP by method, route template and status; jobs by outcome; queue
 * depth; and Node's own process and event-loop figures.
 */
export function createMetrics(options: { prefix?: string } = {}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: options.prefix ?? '' });
  let queueDepth: (() => Promise<Record<string, Record<string, number>>>) | undefined;
  new Gauge({
    name: 'jobs_queue_depth',
    help: 'Jobs in each queue, by state.',
    labelNames: ['job', 'state'],
    registers: [registry],
    async collect() {
      if (!queueDepth) return;
      this.reset();
      try {
        const depths = await queueDepth();
        for (const [job, states] of Object.entries(depths)) {
          for (const [state, count] of Object.entries(states)) this.set({ job, state }, count);
        }
      } catch {
        // Redis down: the scrape still answers, without queue depths.
      }
    },
  });
  return {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to answer HTTP requests, by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    httpInFlight: new Gauge({
      name: 'http_requests_in_flight',
      help: 'HTTP requests being answered.',
      registers: [registry],
    }),
    jobRuns: new Counter({
      name: 'job_runs_total',
      help: 'Job tries, by job and outcome (completed, failed).',
      labelNames: ['job', 'outcome'],
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: 'job_duration_seconds',
      help: 'Time each job try took, by job and outcome.',
      labelNames: ['job', 'outcome'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    rateLimiterErrors: new Counter({
      name: 'rate_limiter_errors_total',
      help: 'Rate-limit checks that failed because Redis did not answer.',
      registers: [registry],
    }),
    setQueueDepth(collect) {
      queueDepth = collect;
    },
  };
}
