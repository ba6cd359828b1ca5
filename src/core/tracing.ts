import { tracingChannel } from 'node:diagnostics_channel';
import {
  context,
  INVALID_SPAN_CONTEXT,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace';

export interface Tracing {
  /** Sends what is buffered and stops. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  serviceName: string;
  /** OTLP/HTTP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`); or give an exporter (tests). */
  endpoint?: string;
  exporter?: SpanExporter;
}

const tracer = () => trace.getTracer('hono-service-template');

/**
 * Whether `startTracing` has run in this process. Until it has, the spans of jobs (and the
 * trace context carried with them) are skipped outright, as the requests' spans are (their
 * middleware is installed only with tracing on): even OpenTelemetry's no-op path builds a
 * context and a span per call, and looks its tracer up again.
 */
let tracingStarted = false;

/** The span `inSpan` hands over with tracing off: records nothing, as the no-op one. */
const NOT_TRACED = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

interface RedisCommandContext {
  command: string;
  serverAddress?: string;
  serverPort?: number;
  span?: Span;
  error?: unknown;
}

/** Spans for every Redis command, from the tracing channel ioredis publishes on. */
function traceRedisCommands(): void {
  tracingChannel<object, RedisCommandContext>('ioredis:command').subscribe({
    start(message) {
      message.span = tracer().startSpan(`redis ${message.command}`, {
        kind: SpanKind.CLIENT,
        attributes: {
          'db.system.name': 'redis',
          'db.operation.name': message.command,
          ...(message.serverAddress ? { 'server.address': message.serverAddress } : {}),
        },
      });
    },
    end() {},
    asyncStart() {},
    asyncEnd(message) {
      message.span?.end();
    },
    error(message) {
      message.span?.recordException(
        message.error instanceof Error ? message.error : String(message.error),
      );
      message.span?.setStatus({ code: SpanStatusCode.ERROR });
    },
  });
}

interface PreparedQuery {
  query?: { sql: string };
  execute(placeholders?: unknown): Promise<unknown>;
}

/**
 * Spans for every SQL statement drizzle runs, on either driver. A statement run directly
 * (`src/core/db/direct-execute.ts`) sees drizzle's `execute` replaced and goes through it.
 */
async function traceDatabaseQueries(): Promise<void> {
  const [{ PostgresJsPreparedQuery }, { PglitePreparedQuery }] = await Promise.all([
    import('drizzle-orm/postgres-js/session'),
    import('drizzle-orm/pglite/session'),
  ]);
  // Patching a library's prototype is untyped by nature: only `execute` and the SQL text are used.
  const prototypes = [
    PostgresJsPreparedQuery.prototype,
    PglitePreparedQuery.prototype,
  ] as unknown as PreparedQuery[];
  for (const prototype of prototypes) {
    const execute = prototype.execute;
    prototype.execute = function tracedExecute(this: PreparedQuery, placeholders?: unknown) {
      const statement = this.query?.sql ?? '';
      return tracer().startActiveSpan(
        `db ${statement.split(' ', 1)[0]?.toLowerCase() ?? 'query'}`,
        {
          kind: SpanKind.CLIENT,
          attributes: { 'db.system.name': 'postgresql', 'db.query.text': statement },
        },
        async (span) => {
          try {
            return await execute.call(this, placeholders);
          } catch (error) {
            span.recordException(error instanceof Error ? error : String(error));
            span.setStatus({ code: SpanStatusCode.ERROR });
            throw error;
          } finally {
            span.end();
          }
        },
      );
    };
  }
}

/**
 * Turns OpenTelemetry on: W3C trace context, spans exported over OTLP/HTTP (or to the given
 * exporter), spans for SQL and Redis. The SDK is only imported here, so with tracing off
 * nothing of it loads and the only cost is a no-op check in a few places.
 */
export async function startTracing(options: TracingOptions): Promise<Tracing> {
  const [
    { TracerProvider, BatchSpanProcessor, SimpleSpanProcessor },
    { AsyncLocalStorageContextManager },
    { W3CTraceContextPropagator },
    { resourceFromAttributes },
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
  ]);
  let exporter = options.exporter;
  if (!exporter) {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    exporter = new OTLPTraceExporter({
      url: `${(options.endpoint ?? '').replace(/\/$/, '')}/v1/traces`,
    });
  }
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    // Tests read spans as soon as they end; production batches them.
    spanProcessors: [
      options.exporter
        ? new SimpleSpanProcessor({ exporter })
        : new BatchSpanProcessor({ exporter }),
    ],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  traceRedisCommands();
  await traceDatabaseQueries();
  tracingStarted = true;
  return { shutdown: () => provider.shutdown() };
}

/** The active trace's ids, for log lines; nothing when no span is active. */
export function activeTraceIds(): { traceId?: string; spanId?: string } {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { traceId, spanId };
}

/** The current trace context as headers (`traceparent`), to carry across a process boundary. */
export function currentTraceCarrier(): Record<string, string> | undefined {
  if (!tracingStarted) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return Object.keys(carrier).length > 0 ? carrier : undefined;
}

/** Runs `work` in a span that continues the trace in `carrier` (from another process). */
export function inSpan<T>(
  name: string,
  carrier: Record<string, string> | undefined,
  attributes: Record<string, string | number>,
  kind: SpanKind,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  if (!tracingStarted) {
    try {
      return work(NOT_TRACED);
    } catch (error) {
      return Promise.reject(error);
    }
  }
  const parent = carrier ? propagation.extract(context.active(), carrier) : context.active();
  return tracer().startActiveSpan(name, { kind, attributes }, parent, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}

export { SpanKind };
