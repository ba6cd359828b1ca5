/**
 * `GET /metrics` as Prometheus reads it: a well-formed text exposition, with HTTP figures by
 * route template, job runs and queue depth, and the process's own figures; and a token
 * that keeps strangers out when set.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../../src/app.ts';
import type { JobWorker } from '../../src/core/jobs/job-queue.ts';
import { purgeExpired } from '../../src/modules/maintenance/maintenance.jobs.ts';
import { JOBS } from '../../src/modules.ts';
import { createTestDeps, type TestDeps } from '../support/deps.ts';
import { waitFor } from '../support/jobs.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  name: string;
  type: string;
  help: string | undefined;
}

interface Exposition {
  families: Map<string, Family>;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/**
 * A sample value: a float, or a special value as Prometheus reads it (Go's `ParseFloat`:
 * `NaN`, `+Inf`, `-Inf`, any case; prom-client writes NaN as `Nan`).
 */
function parseValue(text: string, line: string): number {
  const special = /^([-+]?)(inf|infinity|nan)$/i.exec(text);
  if (special) {
    if (special[2]?.toLowerCase() === 'nan') return Number.NaN;
    return special[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }
  assert.match(text, /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, `a number in: ${line}`);
  return Number(text);
}

/** `{a="1",b="x\"y"}` from `line` at `start`; returns the labels and where they end. */
function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let at = start + 1;
  for (;;) {
    if (line[at] === '}') return { labels, end: at + 1 };
    const nameEnd = line.indexOf('=', at);
    assert.ok(nameEnd > at, `a label name in: ${line}`);
    const name = line.slice(at, nameEnd);
    assert.match(name, LABEL_NAME, `label name in: ${line}`);
    assert.equal(line[nameEnd + 1], '"', `a quoted label value in: ${line}`);
    let value = '';
    let index = nameEnd + 2;
    for (;;) {
      const char = line[index];
      assert.ok(char !== undefined, `an unterminated label value in: ${line}`);
      if (char === '\\') {
        const escaped = line[index + 1];
        assert.ok(escaped === '\\' || escaped === '"' || escaped === 'n', `escape in: ${line}`);
        value += escaped === 'n' ? '\n' : escaped;
        index += 2;
      } else if (char === '"') {
        index += 1;
        break;
      } else {
        value += char;
        index += 1;
      }
    }
    assert.ok(!(name in labels), `label ${name} repeated in: ${line}`);
    labels[name] = value;
    if (line[index] === ',') index += 1;
    at = index;
  }
}

/**
 * Parses the Prometheus text format (0.0.4): `# HELP`, `# TYPE` and sample lines
 * `name{labels} value [timestamp]`; fails on anything malformed.
 */
function parseExposition(text: string): Exposition {
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!match) continue; // A plain comment.
      const [, kind, name = '', rest = ''] = match;
      assert.match(name, METRIC_NAME, `metric name in: ${line}`);
      if (kind === 'HELP') {
        assert.ok(!helps.has(name), `HELP repeated for ${name}`);
        helps.set(name, rest);
      } else {
        assert.ok(TYPES.has(rest), `a known type in: ${line}`);
        assert.ok(!families.has(name), `TYPE repeated for ${name}`);
        assert.ok(
          !samples.some((sample) => familyOf(sample.name, families) === name),
          `TYPE of ${name} comes before its samples`,
        );
        families.set(name, { name, type: rest, help: undefined });
      }
      continue;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    assert.ok(nameMatch, `a sample line: ${line}`);
    const name = nameMatch[0];
    let at = name.length;
    let labels: Record<string, string> = {};
    if (line[at] === '{') {
      const parsed = parseLabels(line, at);
      labels = parsed.labels;
      at = parsed.end;
    }
    const [valueText, timestamp, ...extra] = line.slice(at).trim().split(/\s+/);
    assert.ok(valueText !== undefined && valueText !== '', `a value in: ${line}`);
    assert.equal(extra.length, 0, `nothing after the timestamp in: ${line}`);
    if (timestamp !== undefined) assert.match(timestamp, /^-?\d+$/, `timestamp in: ${line}`);
    samples.push({ name, labels, value: parseValue(valueText, line) });
  }
  for (const [name, help] of helps) {
    const family = families.get(name);
    if (family) family.help = help;
  }
  return { families, samples };
}

/** The family a sample belongs to: its own name, or a histogram's/summary's base name. */
function familyOf(sampleName: string, families: Map<string, Family>): string | undefined {
  if (families.has(sampleName)) return sampleName;
  for (const suffix of ['_bucket', '_sum', '_count', '_created']) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = sampleName.slice(0, -suffix.length);
    const family = families.get(base);
    if (family && (family.type === 'histogram' || family.type === 'summary')) return base;
  }
  return undefined;
}

const labelKey = (labels: Record<string, string>, without: string[] = []) =>
  JSON.stringify(
    Object.entries(labels)
      .filter(([name]) => !without.includes(name))
      .sort(([x], [y]) => x.localeCompare(y)),
  );

/** Checks what the format requires beyond syntax; throws on the first violation. */
function checkExposition(exposition: Exposition): void {
  const { families, samples } = exposition;
  const seen = new Set<string>();
  for (const sample of samples) {
    const family = familyOf(sample.name, families);
    assert.ok(family, `sample ${sample.name} has a TYPE`);
    assert.ok(families.get(family)?.help !== undefined, `${family} has a HELP line`);
    const key = `${sample.name}${labelKey(sample.labels)}`;
    assert.ok(!seen.has(key), `one sample per series: ${key}`);
    seen.add(key);
    const type = families.get(family)?.type;
    if (type === 'counter' || sample.name.endsWith('_count') || sample.name.endsWith('_bucket')) {
      assert.ok(sample.value >= 0, `${key} is not negative`);
    }
    if (type !== 'histogram' && type !== 'summary') {
      assert.ok(!Number.isNaN(sample.value) || type === 'gauge', `${key} is a number`);
    }
  }
  for (const family of families.values()) {
    if (family.type !== 'histogram') continue;
    const bySeries = new Map<string, { le: number; value: number }[]>();
    for (const sample of samples.filter((s) => s.name === `${family.name}_bucket`)) {
      const le = sample.labels.le;
      assert.ok(le !== undefined, `${family.name}_bucket has le`);
      const series = labelKey(sample.labels, ['le']);
      const buckets = bySeries.get(series) ?? [];
      buckets.push({ le: parseValue(le, `le of ${family.name}`), value: sample.value });
      bySeries.set(series, buckets);
    }
    for (const [series, buckets] of bySeries) {
      for (let index = 1; index < buckets.length; index++) {
        const previous = buckets[index - 1];
        const current = buckets[index];
        assert.ok(previous && current);
        assert.ok(current.le > previous.le, `${family.name}${series}: le increases`);
        assert.ok(
          current.value >= previous.value,
          `${family.name}${series}: buckets are cumulative (${previous.value} then ${current.value})`,
        );
      }
      const last = buckets.at(-1);
      assert.equal(last?.le, Number.POSITIVE_INFINITY, `${family.name}${series} ends in +Inf`);
      const count = samples.find(
        (s) => s.name === `${family.name}_count` && labelKey(s.labels) === series,
      );
      const sum = samples.find(
        (s) => s.name === `${family.name}_sum` && labelKey(s.labels) === series,
      );
      assert.ok(count, `${family.name}${series} has _count`);
      assert.ok(sum, `${family.name}${series} has _sum`);
      assert.equal(last?.value, count.value, `${family.name}${series}: +Inf equals _count`);
    }
  }
}

/** The samples of `name` whose labels include `labels`. */
function find(exposition: Exposition, name: string, labels: Record<string, string> = {}) {
  return exposition.samples.filter(
    (sample) =>
      sample.name === name &&
      Object.entries(labels).every(([label, value]) => sample.labels[label] === value),
  );
}

function sampleValue(exposition: Exposition, name: string, labels: Record<string, string> = {}) {
  const found = find(exposition, name, labels);
  assert.ok(found.length <= 1, `one ${name}${JSON.stringify(labels)}, got ${found.length}`);
  return found[0]?.value;
}

describe('GET /metrics', () => {
  let deps: TestDeps;
  let app: ReturnType<typeof createApp>;
  let worker: JobWorker | undefined;

  before(async () => {
    deps = await createTestDeps();
    app = createApp(deps);
  });
  after(async () => {
    await worker?.close(5_000);
    await deps.close();
  });

  async function scrape(headers: Record<string, string> = {}): Promise<Exposition> {
    const res = await app.request('/metrics', { headers });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const exposition = parseExposition(text);
    checkExposition(exposition);
    return exposition;
  }

  test('is a well-formed Prometheus text exposition', async () => {
    const exposition = await scrape();
    assert.ok(exposition.samples.length > 0);
    assert.ok(exposition.families.size > 10, `${exposition.families.size} families`);
  });

  test('the parser refuses what Prometheus would', () => {
    assert.throws(() => checkExposition(parseExposition('no_type 1\n')), /has a TYPE/);
    assert.throws(() => parseExposition('# TYPE x counter\nx one\n'), /a number/);
    assert.throws(() => parseExposition('# TYPE x counter\nx{a="1} 1\n'), /unterminated/);
    const notCumulative = [
      '# HELP h h',
      '# TYPE h histogram',
      'h_bucket{le="1"} 3',
      'h_bucket{le="+Inf"} 2',
      'h_sum 1',
      'h_count 2',
    ].join('\n');
    assert.throws(() => checkExposition(parseExposition(notCumulative)), /cumulative/);
    const countMismatch = [
      '# HELP h h',
      '# TYPE h histogram',
      'h_bucket{le="1"} 1',
      'h_bucket{le="+Inf"} 2',
      'h_sum 1',
      'h_count 3',
    ].join('\n');
    assert.throws(() => checkExposition(parseExposition(countMismatch)), /equals _count/);
    const escaped = parseExposition('# HELP x x\n# TYPE x gauge\nx{a="q\\"\\\\\\n"} 1.5e3\n');
    assert.deepEqual(escaped.samples[0], { name: 'x', labels: { a: 'q"\\\n' }, value: 1500 });
  });

  test('counts each request by method, route template and status', async () => {
    const series = { method: 'GET', route: '/livez', status: '200' };
    const before = sampleValue(await scrape(), 'http_request_duration_seconds_count', series) ?? 0;
    const LIVEZ = 7;
    for (let index = 0; index < LIVEZ; index++) {
      assert.equal((await app.request('/livez')).status, 200);
    }
    const after = await scrape();
    assert.equal(
      sampleValue(after, 'http_request_duration_seconds_count', series),
      before + LIVEZ,
      'one observation per /livez request',
    );
    const inf = sampleValue(after, 'http_request_duration_seconds_bucket', {
      ...series,
      le: '+Inf',
    });
    assert.equal(inf, before + LIVEZ);
    // The scrape before this one is counted too, under its own route.
    assert.ok(
      (sampleValue(after, 'http_request_duration_seconds_count', {
        method: 'GET',
        route: '/metrics',
        status: '200',
      }) ?? 0) >= 1,
    );
  });

  test('labels a parametrised route by its template, not the raw path', async () => {
    const id = '0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e';
    const res = await app.request(`/v1/items/${id}`);
    assert.equal(res.status, 401);
    const exposition = await scrape();
    assert.equal(
      sampleValue(exposition, 'http_request_duration_seconds_count', {
        method: 'GET',
        route: '/v1/items/:id',
        status: '401',
      }),
      1,
    );
    assert.equal(
      exposition.samples.filter((sample) => sample.labels.route?.includes(id)).length,
      0,
      'no raw id in any label',
    );
  });

  test('an unknown path counts under route="unmatched"', async () => {
    const series = { method: 'GET', route: 'unmatched', status: '404' };
    const before = sampleValue(await scrape(), 'http_request_duration_seconds_count', series) ?? 0;
    for (const path of ['/no/such/thing', '/another/unknown-path', '/no/such/thing']) {
      assert.equal((await app.request(path)).status, 404);
    }
    const exposition = await scrape();
    assert.equal(
      sampleValue(exposition, 'http_request_duration_seconds_count', series),
      before + 3,
    );
    assert.equal(
      exposition.samples.filter((sample) => sample.labels.route?.includes('no/such')).length,
      0,
      'unknown paths never become label values',
    );
  });

  test('http_requests_in_flight is a gauge that counts the scrape itself', async () => {
    const exposition = await scrape();
    assert.equal(exposition.families.get('http_requests_in_flight')?.type, 'gauge');
    assert.equal(sampleValue(exposition, 'http_requests_in_flight'), 1);
  });

  test('job_runs_total counts a job run; jobs_queue_depth has series per job', async () => {
    worker = await deps.jobs.startWorker(JOBS, deps);
    const { id } = await deps.jobs.enqueue(purgeExpired, {});
    await waitFor(
      'the purge job to complete',
      async () => (await deps.jobs.get(id))?.state === 'completed',
      { timeoutMs: 60_000 },
    );
    const exposition = await waitFor('job_runs_total to show the run', async () => {
      const scraped = await scrape();
      return (sampleValue(scraped, 'job_runs_total', {
        job: 'maintenance.purge',
        outcome: 'completed',
      }) ?? 0) >= 1
        ? scraped
        : undefined;
    });
    assert.equal(exposition.families.get('job_runs_total')?.type, 'counter');
    const runs = sampleValue(exposition, 'job_runs_total', {
      job: 'maintenance.purge',
      outcome: 'completed',
    });
    // Only the hourly schedule could add another run, and the queue keeps each it completed.
    assert.equal(
      runs,
      sampleValue(exposition, 'jobs_queue_depth', { job: 'maintenance.purge', state: 'completed' }),
      'every completed run is counted once',
    );
    assert.equal(
      sampleValue(exposition, 'job_duration_seconds_count', {
        job: 'maintenance.purge',
        outcome: 'completed',
      }),
      runs,
    );
    assert.equal(
      find(exposition, 'job_runs_total', { job: 'maintenance.purge', outcome: 'failed' }).length,
      0,
    );
    assert.equal(exposition.families.get('jobs_queue_depth')?.type, 'gauge');
    for (const job of JOBS) {
      const states = find(exposition, 'jobs_queue_depth', { job: job.name }).map(
        (sample) => sample.labels.state,
      );
      assert.deepEqual(
        states.sort(),
        ['active', 'completed', 'delayed', 'failed', 'waiting'],
        `queue depth of ${job.name}`,
      );
    }
  });

  test('process and event-loop figures are there', async () => {
    const exposition = await scrape();
    for (const name of [
      'nodejs_eventloop_lag_seconds',
      'process_resident_memory_bytes',
      'process_cpu_seconds_total',
      'nodejs_heap_size_used_bytes',
    ]) {
      const value = sampleValue(exposition, name);
      assert.ok(value !== undefined && Number.isFinite(value) && value >= 0, `${name}: ${value}`);
    }
    assert.ok((sampleValue(exposition, 'process_resident_memory_bytes') ?? 0) > 1_000_000);
    assert.ok(find(exposition, 'nodejs_eventloop_lag_p99_seconds').length === 1);
  });

  test('with Redis gone the scrape still answers, without queue depths', async () => {
    const broken = await createTestDeps({
      env: { REDIS_URL: 'redis://127.0.0.1:1', READINESS_TIMEOUT_MS: '200' },
    });
    try {
      const res = await createApp(broken).request('/metrics');
      const text = await res.text();
      assert.equal(res.status, 200, text);
      const exposition = parseExposition(text);
      checkExposition(exposition);
      assert.equal(find(exposition, 'jobs_queue_depth').length, 0);
      assert.ok(find(exposition, 'process_resident_memory_bytes').length === 1);
    } finally {
      await broken.close();
    }
  });

  test('with METRICS_TOKEN, only `Authorization: Bearer <token>` may scrape', async () => {
    const token = 'metrics-token-0123456789abcdef';
    const guarded = createApp({ ...deps, settings: { ...deps.settings, METRICS_TOKEN: token } });
    const anonymous = await guarded.request('/metrics');
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('content-type'), 'application/problem+json');
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer /);
    assert.doesNotMatch(await anonymous.text(), /http_request_duration_seconds/);
    for (const wrong of [`Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, token, 'Bearer ']) {
      const res = await guarded.request('/metrics', { headers: { authorization: wrong } });
      assert.equal(res.status, 401, `refused: ${wrong}`);
    }
    const allowed = await guarded.request('/metrics', {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(allowed.status, 200);
    checkExposition(parseExposition(await allowed.text()));
  });
});
