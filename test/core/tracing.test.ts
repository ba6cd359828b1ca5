import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { createApp } from '../../src/app.ts';
import type { JobWorker } from '../../src/core/jobs/job-queue.ts';
import { JOBS } from '../../src/modules.ts';
import { createTestUser, type TestUser } from '../support/auth.ts';
import { captureLogs, createTestDeps, type TestDeps } from '../support/deps.ts';

const exporter = new InMemorySpanExporter();
const logs = await captureLogs();
let deps: TestDeps;
let app: ReturnType<typeof createApp>;
let worker: JobWorker;
let ada: TestUser;

before(async () => {
  deps = await createTestDeps({ traceExporter: exporter, logger: logs.logger });
  app = createApp(deps);
  worker = await deps.jobs.startWorker(JOBS, deps);
  ada = await createTestUser(deps);
});
after(async () => {
  await worker.close(1_000);
  await deps.close();
});

const spansOf = (traceId: string) =>
  exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

async function until<T>(find: () => T | undefined, what: string): Promise<T> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const found = find();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('tracing', () => {
  test('a request is one server span named by its route template, with SQL spans inside', async () => {
    const created = await app.request('/v1/items', {
      method: 'POST',
      headers: { ...ada.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Traced', price: '1.00' }),
    });
    const { id } = (await created.json()) as { id: string };
    exporter.reset();
    const res = await app.request(`/v1/items/${id}`, {
      headers: {
        ...ada.headers,
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      },
    });
    assert.equal(res.status, 200);
    const spans = await until(() => {
      const found = spansOf('0af7651916cd43dd8448eb211c80319c');
      return found.some((span) => span.name === 'GET /v1/items/:id') ? found : undefined;
    }, 'the server span');
    const server = spans.find((span) => span.name === 'GET /v1/items/:id');
    assert.ok(server, 'named by the route template');
    assert.equal(parentOf(server), 'b7ad6b7169203331', 'continues the caller’s trace');
    assert.equal(server.attributes['http.response.status_code'], 200);
    const queries = spans.filter((span) => span.name.startsWith('db '));
    assert.ok(queries.length >= 1, 'the SQL lookup has a span');
    assert.ok(queries.every((span) => parentOf(span) === server.spanContext().spanId));
  });

  test('Redis calls have spans', async () => {
    exporter.reset();
    await app.request('/readyz');
    const ping = await until(
      () => exporter.getFinishedSpans().find((span) => span.name === 'redis ping'),
      'a redis span',
    );
    assert.equal(ping.attributes['db.system.name'], 'redis');
  });

  test('a job continues the trace of the request that enqueued it, and its logs carry the trace id', async () => {
    exporter.reset();
    const res = await app.request('/v1/exports', {
      method: 'POST',
      headers: {
        ...ada.headers,
        'content-type': 'application/json',
        'x-request-id': 'trace-export-1',
      },
      body: JSON.stringify({ format: 'csv' }),
    });
    assert.equal(res.status, 202);
    const server = await until(
      () => exporter.getFinishedSpans().find((span) => span.name === 'POST /v1/exports'),
      'the request span',
    );
    const traceId = server.spanContext().traceId;
    const job = await until(
      () => exporter.getFinishedSpans().find((span) => span.name === 'job exports.generate'),
      'the job span',
    );
    assert.equal(job.spanContext().traceId, traceId, 'one trace across the queue');
    const jobLines = logs
      .records()
      .filter((line) => line.jobId !== undefined && line.traceId === traceId);
    assert.ok(jobLines.length > 0, 'the job’s log lines carry the trace id');
    const requestLines = logs
      .records()
      .filter((line) => line.requestId === 'trace-export-1' && line.msg === 'request');
    assert.equal(requestLines[0]?.traceId, traceId, 'the access log line carries it too');
  });
});
