/**
 * What an AI call leaves behind for operators: a span named and attributed by OpenTelemetry's
 * GenAI conventions, Prometheus token, duration and time-to-first-token histograms, and one
 * log line with sizes, tokens and timings but not the prompt or the answer. Through the
 * built-in development model, as `npm run dev` runs it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { createApp } from '../../../src/app.ts';
import { createTestApiKey, createTestUser } from '../../support/auth.ts';
import { captureLogs, createTestDeps, type TestDeps } from '../../support/deps.ts';

const exporter = new InMemorySpanExporter();
const logs = await captureLogs();
let deps: TestDeps;
let app: ReturnType<typeof createApp>;
let headers: Record<string, string>;
const SECRET_PROMPT = 'my secret plan is to paint the shed purple';

before(async () => {
  deps = await createTestDeps({ traceExporter: exporter, logger: logs.logger });
  app = createApp(deps);
  const owner = await createTestUser(deps);
  const { key } = await createTestApiKey(deps, owner.user, ['ai:chat']);
  headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
});
after(() => deps.close());

async function chat(body: Record<string, unknown>): Promise<string> {
  const res = await app.request('/v1/chat/completions', {
    method: 'POST',
    headers,
    body: JSON.stringify({
      model: 'dev-local-echo',
      messages: [{ role: 'user', content: SECRET_PROMPT }],
      ...body,
    }),
  });
  assert.equal(res.status, 200);
  const text = await res.text();
  // The span, metrics and log line are written after the answer (decision 077).
  await deps.background.drain(5_000);
  return text;
}

describe('telemetry of AI calls', () => {
  test('a span per call, with the GenAI semantic conventions’ names', async () => {
    await chat({ temperature: 0.5 });
    const span = exporter
      .getFinishedSpans()
      .find((candidate) => candidate.name === 'chat dev-local-echo');
    assert.ok(
      span,
      exporter
        .getFinishedSpans()
        .map((s) => s.name)
        .join(', '),
    );
    const attributes = span.attributes;
    assert.equal(attributes['gen_ai.operation.name'], 'chat');
    assert.equal(attributes['gen_ai.request.model'], 'dev-local-echo');
    assert.equal(attributes['gen_ai.provider.name'], 'local');
    assert.equal(attributes['gen_ai.request.temperature'], 0.5);
    assert.ok(Number(attributes['gen_ai.usage.input_tokens']) > 0);
    assert.ok(Number(attributes['gen_ai.usage.output_tokens']) > 0);
    assert.deepEqual(attributes['gen_ai.response.finish_reasons'], ['stop']);
  });

  test('token, duration and time-to-first-token histograms on /metrics', async () => {
    const streamed = await chat({ stream: true });
    assert.match(streamed, /data: \[DONE\]\n\n$/);
    const metrics = await (await app.request('/metrics')).text();
    assert.match(
      metrics,
      /gen_ai_client_token_usage_count\{operation="chat",model="dev-local-echo",type="input"\} [1-9]/,
    );
    assert.match(
      metrics,
      /gen_ai_client_token_usage_sum\{operation="chat",model="dev-local-echo",type="output"\} [1-9]/,
    );
    assert.match(
      metrics,
      /gen_ai_client_operation_duration_seconds_count\{operation="chat",model="dev-local-echo",status="ok"\} [1-9]/,
    );
    assert.match(
      metrics,
      /gen_ai_server_time_to_first_token_seconds_count\{model="dev-local-echo"\} [1-9]/,
    );
  });

  test('one log line per call with tokens and timings, never the prompt or the answer', () => {
    const lines = logs.records().filter((record) => record.msg === 'AI call');
    assert.ok(lines.length >= 2);
    const line = lines[0]?.ai as Record<string, unknown>;
    for (const field of ['inputTokens', 'outputTokens', 'latencyMs', 'promptChars', 'cost'])
      assert.ok(field in line, field);
    assert.ok(!logs.text().includes('paint the shed'), 'the prompt reached the log');
  });
});
