/**
 * Response coverage, the recording half: which (method, route, status) a test file's apps
 * answered, read from the app's own request metric (every answer is observed there, by
 * method, route template and status) and written to a file of its own under
 * `RESPONSE_COVERAGE_DIR` when the file's dependencies close. `npm run responses:check`
 * (scripts/response-coverage.ts) merges the files and holds them against the document.
 *
 * Reading the metric rather than hooking the app keeps the app free of test code, and
 * covers every app a test builds from `createTestDeps`, however it calls it.
 *
 * @example
 * RESPONSE_COVERAGE_DIR=$(mktemp -d) npm test && npm run responses:check -- --dir "$dir"
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Metrics } from '../../src/core/metrics.ts';

export const RESPONSE_COVERAGE_DIR_VARIABLE = 'RESPONSE_COVERAGE_DIR';

/** One operation answered with one status, `count` times. */
export interface RecordedResponse {
  method: string;
  /** The route template as the router knows it (`/v1/items/:id`), or `unmatched`. */
  route: string;
  status: number;
  count: number;
}

/** What the request metric holds: every (method, route, status) answered, with counts. */
export async function recordedResponses(metrics: Metrics): Promise<RecordedResponse[]> {
  const metric = await metrics.httpDuration.get();
  return metric.values
    .filter((sample) => sample.metricName?.endsWith('_count') && sample.value > 0)
    .map((sample) => ({
      method: String(sample.labels.method),
      route: String(sample.labels.route),
      status: Number(sample.labels.status),
      count: sample.value,
    }));
}

/**
 * Writes what `metrics` recorded to a new file under `dir` (default: the directory
 * `RESPONSE_COVERAGE_DIR` names; nothing is written when it is unset or nothing was answered).
 */
export async function saveRecordedResponses(
  metrics: Metrics,
  dir = process.env[RESPONSE_COVERAGE_DIR_VARIABLE],
): Promise<string | undefined> {
  if (!dir) return undefined;
  const responses = await recordedResponses(metrics);
  if (responses.length === 0) return undefined;
  await mkdir(dir, { recursive: true });
  // One file per app's deps: processes run in parallel and never share a file.
  const file = join(dir, `${process.pid}-${randomBytes(6).toString('hex')}.json`);
  await writeFile(file, `${JSON.stringify({ source: process.argv[1] ?? '', responses })}\n`);
  return file;
}
