import { type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Counter, type Registry } from 'prom-client';
import { Histogram } from '../../core/histogram.ts';

/**
 * OpenTelemetry's semantic conventions for generative AI, in one place: the names a tracing
 * backend's GenAI views look for. (https://opentelemetry.io/docs/specs/semconv/gen-ai/)
 */
export const GEN_AI = {
  operation: 'gen_ai.operation.name',
  provider: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  requestTemperature: 'gen_ai.request.temperature',
  requestMaxTokens: 'gen_ai.request.max_tokens',
  requestSeed: 'gen_ai.request.seed',
  responseModel: 'gen_ai.response.model',
  responseId: 'gen_ai.response.id',
  finishReasons: 'gen_ai.response.finish_reasons',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  cachedInputTokens: 'gen_ai.usage.cache_read.input_tokens',
  tokenType: 'gen_ai.token.type',
  serverAddress: 'server.address',
  errorType: 'error.type',
} as const;

/** The gateway's metrics, named after the conventions' (`gen_ai.client.token.usage` ...). */
export interface AiMetrics {
  tokens: Histogram<'operation' | 'model' | 'type'>;
  duration: Histogram<'operation' | 'model' | 'status'>;
  timeToFirstToken: Histogram<'model'>;
  calls: Counter<'operation' | 'model' | 'status' | 'cache'>;
  retries: Counter<'model'>;
}

const byRegistry = new WeakMap<Registry, AiMetrics>();

/** The gateway's metrics in `registry`, registered once per registry. */
export function aiMetrics(registry: Registry): AiMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const metrics: AiMetrics = {
    tokens: new Histogram({
      name: 'gen_ai_client_token_usage',
      help: 'Tokens per call, by type (input, cached_input, output) and model.',
      labelNames: ['operation', 'model', 'type'],
      buckets: [1, 4, 16, 64, 256, 1_024, 4_096, 16_384, 65_536, 262_144, 1_048_576],
      registers,
    }),
    duration: new Histogram({
      name: 'gen_ai_client_operation_duration_seconds',
      help: 'Time of a call through the gateway, to its last token.',
      labelNames: ['operation', 'model', 'status'],
      buckets: [0.01, 0.04, 0.16, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92],
      registers,
    }),
    timeToFirstToken: new Histogram({
      name: 'gen_ai_server_time_to_first_token_seconds',
      help: 'Time to the first token of a streamed answer.',
      labelNames: ['model'],
      buckets: [
        0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
      ],
      registers,
    }),
    calls: new Counter({
      name: 'gen_ai_gateway_calls_total',
      help: 'Calls through the gateway, by status and whether the cache answered.',
      labelNames: ['operation', 'model', 'status', 'cache'],
      registers,
    }),
    retries: new Counter({
      name: 'gen_ai_gateway_upstream_retries_total',
      help: 'Upstream calls tried again after a 429, a 5xx or a connection error.',
      labelNames: ['model'],
      registers,
    }),
  };
  byRegistry.set(registry, metrics);
  return metrics;
}

/**
 * A span for one call, named as the conventions name it (`chat <model>`), open until the
 * answer's last token (a stream outlives the handler that started it).
 */
export function startCallSpan(
  operation: 'chat' | 'embeddings',
  model: string,
  attributes: Record<string, string | number>,
): Span {
  return trace.getTracer('ai-gateway').startSpan(`${operation} ${model}`, {
    kind: SpanKind.CLIENT,
    attributes: { [GEN_AI.operation]: operation, [GEN_AI.requestModel]: model, ...attributes },
  });
}

export function endCallSpan(span: Span, error: unknown): void {
  if (error !== undefined) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setAttribute(GEN_AI.errorType, error instanceof Error ? error.name : 'error');
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}
