/**
 * The histogram keeps its own counts: what a scrape and `get()` show must be what
 * prom-client's own histogram shows for the same observations.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Histogram as PromHistogram, Registry } from 'prom-client';
import { Histogram } from '../../src/core/histogram.ts';

type Make = (registry: Registry) => PromHistogram<'method' | 'status'>;

const config = (registry: Registry) => ({
  name: 'h',
  help: 'A histogram',
  labelNames: ['method', 'status'] as const,
  buckets: [0.01, 0.1, 1],
  registers: [registry],
});
const ours: Make = (registry) => new Histogram(config(registry));
const prom: Make = (registry) => new PromHistogram(config(registry));

/** Observations on every path: labels in any order, numbers for strings, bounds exactly. */
function observe(histogram: PromHistogram<'method' | 'status'>) {
  histogram.observe({ method: 'GET', status: '200' }, 0.01);
  histogram.observe({ status: '200', method: 'GET' }, 0.05);
  histogram.observe({ method: 'GET', status: 200 }, 2);
  histogram.labels({ method: 'POST', status: '201' }).observe(0.1);
  histogram.labels('POST', '201').observe(0);
  assert.throws(() => histogram.labels('DELETE'), /Invalid number of arguments/);
  histogram.labels({ method: 'DELETE' }).observe(1);
  histogram.observe({ method: 'PUT' }, 0.5);
}

async function both(run: (histogram: PromHistogram<'method' | 'status'>) => void) {
  const results = [];
  for (const make of [ours, prom]) {
    const registry = new Registry();
    const histogram = make(registry);
    run(histogram);
    const { values } = await histogram.get();
    results.push({
      text: await registry.metrics(),
      values: values.map(({ value, labels, metricName }) => ({ value, labels, metricName })),
    });
  }
  return results;
}

describe('Histogram', () => {
  test('shows what prom-client’s histogram shows, in the text and in get()', async () => {
    const [mine, theirs] = await both(observe);
    assert.ok(mine && theirs);
    assert.match(mine.text, /h_bucket\{le="0.01",method="GET",status="200"\} 1\n/);
    assert.match(mine.text, /h_count\{method="GET",status="200"\} 3\n/);
    assert.equal(mine.text, theirs.text);
    assert.deepEqual(mine.values, theirs.values);
  });

  test('reset, zero and remove as prom-client does', async () => {
    const [mine, theirs] = await both((histogram) => {
      observe(histogram);
      histogram.remove({ method: 'POST', status: '201' });
      histogram.observe({ method: 'POST', status: '201' }, 0.2);
      histogram.zero({ method: 'GET', status: '200' });
      histogram.observe({ method: 'GET', status: '200' }, 0.3);
    });
    assert.ok(mine && theirs);
    assert.equal(mine.text, theirs.text);
    const [afterReset] = await both((histogram) => {
      observe(histogram);
      histogram.reset();
      histogram.observe({ method: 'HEAD', status: '204' }, 0.02);
    });
    assert.equal(afterReset?.text.match(/_count/g)?.length, 1);
  });

  test('a histogram without labels shows its one series before any observation', async () => {
    const registry = new Registry();
    const histogram = new Histogram({
      name: 'n',
      help: 'None',
      buckets: [1],
      registers: [registry],
    });
    assert.match(await registry.metrics(), /n_count 0/);
    histogram.observe(0.5);
    histogram.observe(3);
    assert.match(
      await registry.metrics(),
      /n_bucket\{le="1"\} 1\nn_bucket\{le="\+Inf"\} 2\nn_sum 3.5\nn_count 2/,
    );
  });

  test('refuses a label it was not given, on a new series and on a known one', () => {
    const histogram = ours(new Registry());
    histogram.observe({ method: 'GET', status: '200' }, 1);
    for (const labels of [{ route: '/x' }, { method: 'GET', status: '200', route: '/x' }]) {
      assert.throws(() => histogram.observe(labels as never, 1), /label "route" is not included/);
    }
  });

  test('refuses a value that is not a finite number', () => {
    const histogram = ours(new Registry());
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => histogram.observe({ method: 'GET' }, value), TypeError);
    }
  });

  test('a timer observes the time it ran, under its labels', async () => {
    const registry = new Registry();
    const histogram = ours(registry);
    const end = histogram.labels({ method: 'GET' }).startTimer();
    end();
    assert.match(await registry.metrics(), /h_count\{method="GET"\} 1/);
  });
});
